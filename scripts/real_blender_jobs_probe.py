"""In the real Blender window: how responsive the interface stays while Find Similar describes a library
of shapes, once with the describing on a thread inside Blender (as every job ran before) and once in the
worker process (as it runs now). Prints `JOBS_PROBE {json}`.

    blender --background --python scripts/real_blender_jobs_probe.py -- --build SCENE.blend
    blender SCENE.blend --python scripts/real_blender_jobs_probe.py -- [--out FIGURES.json]
(run under ../shared/tools/real-blender run --gui, with the extension installed)
"""

import json
import sys
import time
from pathlib import Path

import bpy  # noqa: I001
import addon_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
from window_probe import (MODULE, calls, explain, gap_figures, instrument, redraw_sidebar,  # noqa: E402
                          runner, show_design_space_tab, view3d_override)

args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
out = args[args.index("--out") + 1] if "--out" in args else None
SHAPES_PER_FAMILY = 40  # 5 families: 200 shapes, about 5 s of describing on this machine
MODES = {"thread": 10 ** 9, "worker": 3}  # LightFieldJob.IN_PROCESS_LIMIT: everything here, or the worker
state = {"gaps": [], "phase": "idle", "last": None, "results": {}, "modes": list(MODES)}


def build(path):
    addon_utils.enable(MODULE, default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.design_space.create_demo_collections(shapes_per_family=SHAPES_PER_FAMILY, body_count=0,
                                                 topology='SAME')
    bpy.ops.wm.save_as_mainfile(filepath=path)


def start_search(mode):
    classifiers = sys.modules[MODULE + ".operators.recognition.classifiers"]
    classifiers.LightFieldJob.IN_PROCESS_LIMIT = MODES[mode]
    classifiers._light_fields.clear()  # describe the whole library again
    query = bpy.data.collections["Chairs"].objects[0]
    bpy.context.view_layer.objects.active = query
    with bpy.context.temp_override(**view3d_override()):
        bpy.ops.design_space.find_similar(library="Design Space Demo", method='TRAINING_FREE')


def probe():
    now = time.perf_counter()
    if state["last"] is not None and state["phase"] not in ("idle", "done"):
        gap = now - state["last"]
        state["gaps"].append(gap)
        state.setdefault("slow", []).append((round(1000 * gap), state["phase"], explain(state["last"], now)))
        del calls[:-200]
    state["last"] = now
    phase = state["phase"]
    if phase == "idle":
        if "since" not in state:
            state["since"] = now
            instrument()
            show_design_space_tab()
        if now - state["since"] > 5:
            state.update(phase="idle_sidebar", since=now)
            state["gaps"].clear()
    elif phase == "idle_sidebar":  # what a progress update costs with nothing running
        redraw_sidebar()
        if now - state["since"] > 3:
            state["results"]["idle_sidebar"] = gap_figures(state["gaps"])
            state["gaps"].clear()
            state["phase"] = "next"
    elif phase == "next":
        if not state["modes"]:
            state["phase"] = "done"
            state["results"]["slowest_frames"] = {
                mode: sorted((f for f in state["slow"] if f[1] == mode), key=lambda f: -f[0])[:5] for mode in MODES}
            print("JOBS_PROBE " + json.dumps(state["results"]), flush=True)
            if out:
                Path(out).write_text(json.dumps(state["results"], indent=1) + "\n")
            bpy.ops.wm.quit_blender()
            return None
        mode = state["modes"].pop(0)
        state["gaps"].clear()
        start_search(mode)
        state["results"][mode] = {"start_click_ms": 1000 * (time.perf_counter() - now)}
        state.update(phase=mode, since=now)
    elif not runner().running:  # a search has ended
        state["results"][phase].update(seconds=round(now - state["since"], 2), summary=runner().last_summary,
                                       **gap_figures(state["gaps"]))
        state["phase"] = "next"
    else:
        redraw_sidebar()  # the progress bar, as a user watching the panel sees it
    return 0.01


if "--build" in args:
    build(args[args.index("--build") + 1])
else:
    addon_utils.enable(MODULE, default_set=True)
    bpy.app.timers.register(probe, first_interval=3.0)
