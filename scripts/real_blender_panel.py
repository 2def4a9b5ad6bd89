"""Screens of the real Blender window with the Design Space sidebar open.

Two steps, both in real Blender with the installed extension:
    blender --background --python scripts/real_blender_panel.py -- --build SCENE.blend
        enable Design Space, create the demo collections in an empty scene, save SCENE.blend
    blender SCENE.blend --python scripts/real_blender_panel.py -- --show
        (opening a file skips the splash) open the sidebar on the Design Space tab, frame the shapes
"""

import subprocess
import sys

import bpy  # noqa: I001
import addon_utils

MODULE = "bl_ext.user_default.design_space"


def build(path, count):
    addon_utils.enable(MODULE, default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.design_space.create_demo_collections(shapes_per_family=count, body_count=0, topology='SAME')
    bpy.context.scene.design_space.training_collection = bpy.data.collections["Chairs"]
    bpy.ops.wm.save_as_mainfile(filepath=path)


def show():
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type != 'VIEW_3D':
                continue
            space = area.spaces.active
            space.show_region_ui = True
            space.shading.type = 'SOLID'
            space.shading.color_type = 'VERTEX'
            window_region = next(r for r in area.regions if r.type == 'WINDOW')
            with bpy.context.temp_override(window=window, area=area, region=window_region):
                bpy.ops.view3d.view_all(center=False)
    # The sidebar tab cannot be chosen from Python in Blender 4.3 (Region.active_panel_category is
    # read-only there), so click it like a user: "Design Space" is the third tab (Tool, View, Design
    # Space) of the factory layout on a 1600×900 screen.
    subprocess.Popen(["xdotool", "mousemove", "1308", "226", "sleep", "0.5", "click", "1", "sleep", "0.5",
                      "mousemove", "700", "450"])
    print("DESIGN_SPACE_PANEL_READY", flush=True)
    return None


args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
if "--build" in args:
    build(args[args.index("--build") + 1], int(args[args.index("--count") + 1]) if "--count" in args else 40)
elif "--show" in args:
    addon_utils.enable(MODULE, default_set=True)
    bpy.app.timers.register(show, first_interval=3.0)
