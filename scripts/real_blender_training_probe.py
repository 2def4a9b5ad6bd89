"""In the real Blender window: start training from the UI, measure how responsive the UI stays,
take a screenshot mid-training, then start again and cancel. Prints `TRAINING_PROBE {json}`.

A timer ticks every 10 ms; a longer gap between ticks is a frame the interface spent drawing or waiting.
Phases: idle (every area redrawn each tick: what this screen costs anyway), idle_sidebar (only the
sidebar: what a progress update costs with nothing running), training, cancelling (a second training
stopped with Esc). The slowest frames are split into the add-on's Python and the regions drawn.

    blender SCENE.blend --python scripts/real_blender_training_probe.py -- --shot OUT.png [--out FIGURES.json]
(SCENE.blend from real_blender_panel.py --build; run under ../shared/tools/real-blender run --gui)
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import bpy  # noqa: I001
import addon_utils

MODULE = "bl_ext.user_default.design_space"
args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
shot = args[args.index("--shot") + 1] if "--shot" in args else None
out = args[args.index("--out") + 1] if "--out" in args else None
state = {"gaps": [], "messages": set(), "phase": "idle", "last": None, "results": {}}
calls = []  # (start, seconds, what): Python run by Blender between two probe ticks, to explain slow frames


def timed(what, function):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            calls.append((start, time.perf_counter() - start, what))
    return wrapper


# Blender passes a registered method as many arguments as its code names: the wrappers keep the count.
METHOD_WRAPPERS = {
    "draw": lambda f: (lambda self, context: f(self, context)),
    "modal": lambda f: (lambda self, context, event: f(self, context, event)),
    "draw_item": lambda f: (lambda self, context, layout, data, item, icon, active_data, active_propname, index:
                            f(self, context, layout, data, item, icon, active_data, active_propname, index)),
}


def instrument():
    """Time the add-on's main-thread Python (timer, listeners, panel draws, the modal handler) and note
    when the viewport's regions are drawn, so each slow frame can be split into its parts."""
    module = sys.modules[MODULE]
    calls.append((time.perf_counter(), 0.0, "instrumented"))
    jobs = runner()
    jobs._poll = timed("job timer", jobs._poll)
    jobs.listeners[:] = [timed(getattr(f, "__name__", "listener"), f) for f in jobs.listeners]
    for cls in module.panels.classes + module.operators.classes:
        for name, wrap in METHOD_WRAPPERS.items():
            if name in cls.__dict__:
                setattr(cls, name, wrap(timed(f"{cls.__name__}.{name}", cls.__dict__[name])))
    for region in ("WINDOW", "UI", "HEADER"):
        bpy.types.SpaceView3D.draw_handler_add(
            lambda r=region: calls.append((time.perf_counter(), 0.0, f"draw {r}")), (), region, 'POST_PIXEL')


def explain(start, end):
    """What ran between two ticks: Python seconds per callback and which regions were drawn."""
    parts = {}
    for when, seconds, what in calls:
        if start <= when <= end:
            parts[what] = parts.get(what, 0.0) + seconds
    return {what: round(1000 * seconds, 1) for what, seconds in parts.items()}


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


PHASES = ("idle", "idle_sidebar", "training", "cancelling")


def gap_figures(gaps):
    gaps = sorted(gaps)
    drawn = [gap for gap in gaps if gap > 0.02]  # ticks that waited for a redraw (the probe ticks every 10 ms)
    return {"max_gap_ms": 1000 * gaps[-1], "median_gap_ms": 1000 * gaps[len(gaps) // 2],
            "drawn_frames": len(drawn), "drawn_median_ms": 1000 * drawn[len(drawn) // 2] if drawn else 0.0,
            "p99_gap_ms": 1000 * gaps[int(0.99 * len(gaps))], "frames": len(gaps),
            "frames_over_100_ms": sum(gap > 0.1 for gap in gaps)}


def cpu_ticks():
    """{pid: (name, nice, CPU ticks so far)} from /proc (the chroot has no ps)."""
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        ticks[stat.parent.name] = (name, int(fields[16]), int(fields[11]) + int(fields[12]))
    return ticks


def cpu_shares(since, before, now):
    """The busiest processes between two cpu_ticks() calls: name, nice, % of one core."""
    after, hz = cpu_ticks(), os.sysconf("SC_CLK_TCK")
    used = [(100 * (t - before[pid][2]) / hz / (now - since), name, nice)
            for pid, (name, nice, t) in after.items() if pid in before]
    return [f"{name} (nice {nice}): {share:.0f}%" for share, name, nice in sorted(used, reverse=True)[:5]]


def epoch_of(message):
    """150 from "epoch 150/4000 · …" (0 before the first epoch): the screenshot waits for curves to show."""
    words = message.split()
    return int(words[1].split("/")[0]) if len(words) > 1 and words[0] == "epoch" else 0


def redraw_sidebar():
    for area in bpy.context.window_manager.windows[0].screen.areas:
        if area.type == 'VIEW_3D':
            next(r for r in area.regions if r.type == 'UI').tag_redraw()


def probe():
    """Runs every 10 ms; a long gap between runs is a frame the UI could not draw."""
    now = time.perf_counter()
    if state["last"] is not None and state["phase"] in PHASES:
        state["gaps"].append(now - state["last"])
        job = bpy.context.window_manager.design_space_job
        state.setdefault("slow", []).append((round(1000 * (now - state["last"])), state["phase"],
                                             round(now - state.get("started", now), 2), job.running,
                                             job.message[:40], explain(state["last"], now)))
        del calls[:-200]
    state["last"] = now
    job = bpy.context.window_manager.design_space_job
    if job.running:
        state["messages"].add(job.message)
    phase = state["phase"]
    if phase == "idle":  # the same probe with nothing running: what this screen costs per frame anyway
        if "idle_since" not in state:
            state["idle_since"] = now
            instrument()
            show_design_space_tab()
        for area in bpy.context.window_manager.windows[0].screen.areas:
            area.tag_redraw()
        if now - state["idle_since"] > 5:  # the clicks that fold the sections take about 4 s
            state["results"]["idle"] = gap_figures(state["gaps"])
            state["gaps"].clear()
            state.update(phase="idle_sidebar", idle_since=now)
    elif phase == "idle_sidebar":  # nothing running, only the sidebar redrawn: what a progress update costs
        redraw_sidebar()
        if now - state["idle_since"] > 3:
            state["results"]["idle_sidebar"] = gap_figures(state["gaps"])
            state["gaps"].clear()
            state["phase"] = "start"
    elif phase == "start":
        bpy.context.scene.design_space.training_collection = bpy.data.collections["Chairs"]
        with bpy.context.temp_override(**view3d_override()):
            bpy.ops.design_space.train_attribute_predictor('INVOKE_DEFAULT', target="height", epochs=4000,
                                                           learning_rate=0.003)
        state["results"]["start_click_ms"] = 1000 * (time.perf_counter() - now)  # read shapes, write job, spawn
        state.update(phase="training", started=now)
    elif phase == "training":
        job = bpy.context.window_manager.design_space_job
        if shot and not state.get("shot_taken") and job.running and epoch_of(job.message) >= 150:
            subprocess.run(["import", "-window", "root", shot], check=False)
            state["cpu_since"] = (now, cpu_ticks())
            state["shot_taken"] = True
            state["last"] = time.perf_counter()  # the screenshot's own pause is not the UI's
        if "cpu_since" in state and now - state["cpu_since"][0] > 2:  # who used the CPU meanwhile
            state["results"]["cpu_while_training"] = cpu_shares(*state.pop("cpu_since"), now)
        if not runner().running:
            state["results"]["train"] = {"seconds": now - state["started"], "summary": runner().last_summary,
                                         "models": len(bpy.context.scene.design_space.models),
                                         "progress_messages": len(state["messages"]),
                                         **gap_figures(state["gaps"])}
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
            state["results"]["esc_sent_at"] = round(now - state["started"], 2)
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
                                          **gap_figures(state["gaps"])}
            state["phase"] = "done"
            state["results"]["slowest_frames"] = {
                phase: sorted((f for f in state["slow"] if f[1] == phase), key=lambda frame: -frame[0])[:5]
                for phase in PHASES}
            print("TRAINING_PROBE " + json.dumps(state["results"]), flush=True)
            if out:
                Path(out).write_text(json.dumps(state["results"], indent=1) + "\n")
            bpy.ops.wm.quit_blender()
            return None
    return 0.01


addon_utils.enable(MODULE, default_set=True)
bpy.app.timers.register(probe, first_interval=3.0)
