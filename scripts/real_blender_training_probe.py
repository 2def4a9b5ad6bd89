"""In the real Blender window: start training from the UI, measure how responsive the UI stays,
take a screenshot mid-training, then start again and cancel. Prints `TRAINING_PROBE {json}`.

    blender SCENE.blend --python scripts/real_blender_training_probe.py -- --shot OUT.png
(SCENE.blend from real_blender_panel.py --build; run under ../shared/tools/real-blender run --gui)
"""

import json
import subprocess
import sys
import time

import bpy  # noqa: I001
import addon_utils

MODULE = "bl_ext.user_default.design_space"
args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
shot = args[args.index("--shot") + 1] if "--shot" in args else None
state = {"gaps": [], "messages": set(), "phase": "idle", "last": None, "results": {}}


def view3d_override():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == 'VIEW_3D')
    region = next(r for r in area.regions if r.type == 'WINDOW')
    return dict(window=window, area=area, region=region)


def show_design_space_tab():
    """Open the sidebar and click its Design Space tab (see real_blender_panel.py for why a click)."""
    for area in bpy.context.window_manager.windows[0].screen.areas:
        if area.type == 'VIEW_3D':
            area.spaces.active.show_region_ui = True
    clicks = ["xdotool", "sleep", "0.5", "mousemove", "1308", "226", "sleep", "0.3", "click", "1", "sleep", "0.3"]
    for i in range(6):  # fold the sections above Learning (headers 27.5 px apart once folded)
        clicks += ["mousemove", "1080", str(int(97 + 27.5 * i)), "sleep", "0.2", "click", "1", "sleep", "0.3"]
    subprocess.Popen(clicks + ["mousemove", "700", "450"])


def runner():
    return sys.modules[MODULE + ".operators.background_jobs"].runner


def probe():
    """Runs every 10 ms; a long gap between runs is a frame the UI could not draw."""
    now = time.perf_counter()
    if state["last"] is not None and state["phase"] in ("idle", "training", "cancelling"):
        state["gaps"].append(now - state["last"])
        job = bpy.context.window_manager.design_space_job
        state.setdefault("slow", []).append((round(1000 * (now - state["last"])), state["phase"], job.running,
                                             job.message[:40]))
    state["last"] = now
    job = bpy.context.window_manager.design_space_job
    if job.running:
        state["messages"].add(job.message)
    phase = state["phase"]
    if phase == "idle":  # the same probe with nothing running: what this screen costs per frame anyway
        if "idle_since" not in state:
            state["idle_since"] = now
            show_design_space_tab()
        for area in bpy.context.window_manager.windows[0].screen.areas:
            area.tag_redraw()
        if now - state["idle_since"] > 3:
            gaps = sorted(state["gaps"])
            state["results"]["idle"] = {"max_gap_ms": 1000 * gaps[-1], "median_gap_ms": 1000 * gaps[len(gaps) // 2],
                                        "frames": len(gaps)}
            state["gaps"].clear()
            state["phase"] = "start"
    elif phase == "start":
        bpy.context.scene.design_space.training_collection = bpy.data.collections["Chairs"]
        with bpy.context.temp_override(**view3d_override()):
            bpy.ops.design_space.train_attribute_predictor('INVOKE_DEFAULT', target="height", epochs=4000,
                                                           learning_rate=0.003)
        state.update(phase="training", started=now)
    elif phase == "training":
        job = bpy.context.window_manager.design_space_job
        if shot and not state.get("shot_taken") and job.running and job.message.startswith("epoch 1"):
            subprocess.run(["import", "-window", "root", shot], check=False)
            state["shot_taken"] = True
            state["last"] = time.perf_counter()  # the screenshot's own pause is not the UI's
        if not runner().running:
            state["results"]["train"] = {"seconds": now - state["started"], "summary": runner().last_summary,
                                         "models": len(bpy.context.scene.design_space.models),
                                         "progress_messages": len(state["messages"]),
                                         "max_gap_ms": 1000 * max(state["gaps"]),
                                         "median_gap_ms": 1000 * sorted(state["gaps"])[len(state["gaps"]) // 2],
                                         "p99_gap_ms": 1000 * sorted(state["gaps"])[int(0.99 * len(state["gaps"]))],
                                         "frames": len(state["gaps"])}
            state["gaps"].clear()
            with bpy.context.temp_override(**view3d_override()):
                bpy.ops.design_space.train_attribute_predictor('INVOKE_DEFAULT', target="seat_height",
                                                               epochs=100000)
            state.update(phase="cancelling", started=now)
    elif phase == "cancelling":
        if now - state["started"] > 3 and not state.get("cancel_sent"):
            # press Esc over the viewport, as a user would; the training operator's modal handler cancels
            subprocess.Popen(["xdotool", "mousemove", "500", "400", "sleep", "0.2", "key", "Escape"])
            state["cancel_sent"] = now
            state["cancelled_by"] = "Esc"
        if state.get("cancel_sent") and now - state["cancel_sent"] > 4 and runner().running \
                and state["cancelled_by"] == "Esc":
            with bpy.context.temp_override(**view3d_override()):
                bpy.ops.design_space.cancel_job()  # Esc did not reach it: the Cancel button's operator
            state["cancelled_by"] = "Cancel button (Esc did not stop it)"
        if state.get("cancel_sent") and not runner().running:
            state["results"]["cancel"] = {"stopped_after_ms": 1000 * (now - state["cancel_sent"]),
                                          "cancelled_by": state["cancelled_by"],
                                          "summary": runner().last_summary,
                                          "models": len(bpy.context.scene.design_space.models),
                                          "max_gap_ms": 1000 * max(state["gaps"])}
            state["phase"] = "done"
            state["results"]["slowest_frames"] = sorted(state["slow"], reverse=True)[:6]
            print("TRAINING_PROBE " + json.dumps(state["results"]), flush=True)
            bpy.ops.wm.quit_blender()
            return None
    return 0.01


addon_utils.enable(MODULE, default_set=True)
bpy.app.timers.register(probe, first_interval=3.0)
