"""In a real Blender window: enable the installed Design Space, fill the scene with the demo
collections and open the sidebar on the Design Space tab, ready for a screenshot.

    blender --python scripts/real_blender_panel.py     (after `blender --command extension install-file`)
"""

import bpy  # noqa: I001
import addon_utils

MODULE = "bl_ext.user_default.design_space"


def prepare():
    addon_utils.enable(MODULE, default_set=True)
    bpy.ops.design_space.create_demo_collections(shapes_per_family=6, body_count=0, topology='SAME')
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type != 'VIEW_3D':
                continue
            space = area.spaces.active
            space.show_region_ui = True
            space.shading.type = 'SOLID'
            space.shading.color_type = 'VERTEX'
            for region in area.regions:
                if region.type == 'UI':
                    region.active_panel_category = "Design Space"
            with bpy.context.temp_override(window=window, area=area,
                                           region=next(r for r in area.regions if r.type == 'WINDOW')):
                bpy.ops.view3d.view_all(center=False)
    print("DESIGN_SPACE_PANEL_READY", flush=True)
    return None


bpy.app.timers.register(prepare, first_interval=1.0)
