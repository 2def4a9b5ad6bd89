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

args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
shot = args[args.index("--shot") + 1] if "--shot" in args else None
out = args[args.index("--out") + 1] if "--out" in args else None
state = {"gaps": [], "messages": set(), "phase": "idle", "last": None, "results": {}}
sys.path.insert(0, str(Path(__file__).resolve().parent))
from window_probe import (MODULE, calls, explain, gap_figures, instrument, redraw_sidebar,  # noqa: E402
                          runner, show_design_space_tab, view3d_override)

PHASES = ("idle", "idle_sidebar", "training", "cancelling")


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
