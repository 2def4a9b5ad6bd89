"""In the real Blender window: draw a sketch with the annotation tool (xdotool drags the mouse), then
run Search by Sketch on the strokes. Prints `SKETCH_PROBE {json}`.

    blender --background --python scripts/real_blender_sketch_probe.py -- --build SCENE.blend
        a small library (varied chairs and vases) with a trained sketch search, saved
    blender SCENE.blend --python scripts/real_blender_sketch_probe.py -- --draw
        (under ../shared/tools/real-blender run --gui)
"""

import json
import subprocess
import sys

import bpy  # noqa: I001
import addon_utils

MODULE = "bl_ext.user_default.design_space"
args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []


def build(path):
    addon_utils.enable(MODULE, default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'VASE'}, shapes_per_family=12, body_count=0,
                                                 topology='VARIED', seed=2)
    bpy.context.scene.design_space.training_collection = bpy.data.collections["Design Space Demo"]
    bpy.ops.design_space.train_sketch_search(pairs=1500, epochs=6, doodle_epochs=4)
    bpy.data.collections["Design Space Demo"].hide_viewport = True
    bpy.ops.wm.save_as_mainfile(filepath=path)


def view3d():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == 'VIEW_3D')
    return dict(window=window, area=area, region=next(r for r in area.regions if r.type == 'WINDOW'),
                space_data=area.spaces.active)


def start_drawing():
    # The window's first click only focuses it (a stroke begun with it is lost): click once before the
    # annotate tool is on, then draw.
    subprocess.run(["xdotool", "mousemove", "300", "700", "sleep", "0.3", "click", "1", "sleep", "0.5"], check=False)
    with bpy.context.temp_override(**view3d()):
        bpy.ops.wm.tool_set_by_id(name="builtin.annotate")
    moves = ["xdotool"]
    # a vase outline: left side down, then right side up, as two strokes
    for xs in ((640, 610, 600, 620, 650), (760, 790, 800, 780, 750)):
        points = list(zip(xs, (300, 380, 460, 540, 600)))
        x0, y0 = points[0]
        # Blender starts a stroke where it last saw the cursor: a nudge at the start point first, or the
        # stroke opens with a straight chord from wherever the pointer was
        moves += ["mousemove", str(x0 + 3), str(y0), "sleep", "0.3", "mousemove", str(x0), str(y0), "sleep", "0.3",
                  "mousedown", "1"]
        for x, y in points[1:]:
            moves += ["sleep", "0.1", "mousemove", str(x), str(y)]
        moves += ["sleep", "0.2", "mouseup", "1", "sleep", "0.3"]
    subprocess.Popen(moves)
    bpy.app.timers.register(search, first_interval=8.0)


def search():
    notes = getattr(bpy.context.scene, "annotation", None) or getattr(bpy.context.scene, "grease_pencil", None)
    strokes = sum(len(layer.active_frame.strokes) for layer in notes.layers if layer.active_frame) if notes else 0
    with bpy.context.temp_override(**view3d()):
        result = bpy.ops.design_space.sketch_search(count=3)
    matches = [(m.name, round(m.score, 3)) for m in bpy.context.scene.design_space.matches]
    print("SKETCH_PROBE " + json.dumps({"strokes": strokes, "result": sorted(result), "matches": matches}),
          flush=True)
    if "--stay" not in args:
        bpy.ops.wm.quit_blender()
        return None
    # for a screenshot: the sidebar on the Design Space tab, the first four sections folded
    view3d()["space_data"].show_region_ui = True
    clicks = ["xdotool", "sleep", "0.5", "mousemove", "1308", "226", "sleep", "0.5", "click", "1", "sleep", "0.5"]
    for i in range(4):
        clicks += ["mousemove", "1080", str(int(97 + 27.5 * i)), "sleep", "0.3", "click", "1", "sleep", "0.5"]
    subprocess.Popen(clicks + ["mousemove", "300", "700"])
    return None


if "--build" in args:
    build(args[args.index("--build") + 1])
elif "--draw" in args:
    addon_utils.enable(MODULE, default_set=True)
    bpy.app.timers.register(start_drawing, first_interval=3.0)
