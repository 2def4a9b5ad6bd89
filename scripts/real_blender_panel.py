"""Screens of the real Blender window with the Design Space sidebar open.

Two steps, both in real Blender with the installed extension:
    blender --background --python scripts/real_blender_panel.py -- --build SCENE.blend [--shape-space]
        enable Design Space, create the demo collections in an empty scene, save SCENE.blend; with
        --shape-space: MakeHuman bodies, their shape space and attribute sliders, one body edited
    blender SCENE.blend --python scripts/real_blender_panel.py -- --show
        (opening a file skips the splash) open the sidebar on the Design Space tab, frame the
        selected objects (or all)
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


def empty_scene(path):
    """Design Space enabled, an empty scene saved first (so model files lie beside it)."""
    addon_utils.enable(MODULE, default_set=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=path)


def build_shape_space(path, data):
    """Bodies with a shape space and attribute sliders; one body edited (+8 cm) is selected."""
    addon_utils.enable(MODULE, default_set=True)
    bpy.context.preferences.addons[MODULE].preferences.makehuman_data = data
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=path)  # first, so the model files lie beside it
    bpy.ops.design_space.create_demo_collections(families=set(), body_count=30, topology='SAME')
    settings = bpy.context.scene.design_space
    settings.training_collection = bpy.data.collections["Bodies"]
    settings.shape_attributes = "height_m, weight_kg, age_years, muscle"
    bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.999)
    bpy.ops.design_space.learn_attributes()
    bpy.data.collections["Design Space Demo"].hide_viewport = True
    bpy.data.collections["Design Space Shape Spaces"].hide_viewport = True
    source = bpy.data.objects["body_004"]
    bpy.context.view_layer.objects.active = source
    bpy.ops.design_space.project_shape(target='COPY')
    edited = bpy.context.active_object
    bpy.ops.design_space.edit_attributes(attribute="height_m", value=0.08, relative=True)
    edited.location.x += 0.8
    bpy.ops.wm.save_as_mainfile(filepath=path)


def build_parts(path):
    """Varied chairs, their part model and six assemblies; the first assembly is selected."""
    empty_scene(path)
    bpy.ops.design_space.create_demo_collections(families={'CHAIR'}, shapes_per_family=30, body_count=0,
                                                 topology='VARIED', seed=1)
    settings = bpy.context.scene.design_space
    settings.training_collection = bpy.data.collections["Chairs (varied topology)"]
    bpy.ops.design_space.learn_part_model()
    bpy.ops.design_space.assemble_parts(count=6, seed=0, collection="New Chairs")
    bpy.data.collections["Design Space Demo"].hide_viewport = True
    bpy.ops.wm.save_as_mainfile(filepath=path)


def build_comparisons(path):
    """Chairs in a shape space, 200 simulated answers about "sturdy" learned, the next pair on show."""
    import tempfile

    empty_scene(path)
    bpy.ops.design_space.create_demo_collections(families={'CHAIR'}, shapes_per_family=40, body_count=0,
                                                 topology='SAME', seed=3)
    chairs = bpy.data.collections["Chairs"]
    settings = bpy.context.scene.design_space
    settings.training_collection = chairs
    bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.9999)
    import importlib

    ranking = importlib.import_module(MODULE + ".learning.ranking")
    hidden = [o["leg_thickness"] / 0.006 + o["seat_width"] / 0.044 for o in chairs.objects]
    answers = ranking.simulate_comparisons(hidden, [o.name for o in chairs.objects], "sturdy", 200, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        csv_path = folder + "/sturdy.csv"
        with open(csv_path, "w") as f:
            f.write(ranking.write_comparisons_csv(answers))
        bpy.ops.design_space.import_comparisons(filepath=csv_path)
    bpy.ops.design_space.learn_comparisons()
    settings.comparison_attribute = "sturdy"
    bpy.ops.design_space.next_comparison()
    bpy.data.collections["Design Space Demo"].hide_viewport = True
    bpy.data.collections["Design Space Shape Spaces"].hide_viewport = True
    bpy.ops.wm.save_as_mainfile(filepath=path)


def build_volumes(path):
    """Five varied families, a volumetric VAE learned from them, four generated chairs asked to be 1 m
    tall (height ticked in the panel); the first generated chair is selected."""
    empty_scene(path)
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'TABLE', 'LAMP', 'AIRPLANE', 'VASE'},
                                                 shapes_per_family=24, body_count=0, topology='VARIED', seed=2)
    settings = bpy.context.scene.design_space
    settings.training_collection = bpy.data.collections["Design Space Demo"]
    bpy.ops.design_space.learn_volumetric(resolution='32', epochs=60)
    height = settings.volume_attributes["height"]
    height.use, height.value = True, 1.0
    settings.volume_category = "chair"
    bpy.ops.design_space.generate_volumetric(category="chair", count=4, seed=1, attributes="height=1.0")
    bpy.data.collections["Design Space Demo"].hide_viewport = True
    bpy.ops.object.select_all(action='DESELECT')
    generated = bpy.data.collections["Generated chair"].objects
    generated[0].select_set(True)
    bpy.context.view_layer.objects.active = generated[0]
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
                if bpy.context.selected_objects and "--frame-all" not in args:
                    bpy.ops.view3d.view_selected()
                else:
                    bpy.ops.view3d.view_all(center=False)
    # The sidebar tab cannot be chosen from Python in Blender 4.3 (Region.active_panel_category is
    # read-only there), so click it like a user: "Design Space" is the third tab (Tool, View, Design
    # Space) of the factory layout on a 1600×900 screen.
    clicks = ["xdotool", "mousemove", "1308", "226", "sleep", "0.5", "click", "1", "sleep", "0.5"]
    for i in range(COLLAPSE):  # fold the first sections (headers 27.5 px apart once folded) to make room
        clicks += ["mousemove", "1080", str(int(97 + 27.5 * i)), "sleep", "0.3", "click", "1", "sleep", "0.5"]
    subprocess.Popen(clicks + ["mousemove", "700", "450"])
    print("DESIGN_SPACE_PANEL_READY", flush=True)
    return None


args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
COLLAPSE = int(args[args.index("--collapse") + 1]) if "--collapse" in args else 0
if "--build" in args and "--volumes" in args:
    build_volumes(args[args.index("--build") + 1])
elif "--build" in args and "--comparisons" in args:
    build_comparisons(args[args.index("--build") + 1])
elif "--build" in args and "--parts" in args:
    build_parts(args[args.index("--build") + 1])
elif "--build" in args and "--shape-space" in args:
    build_shape_space(args[args.index("--build") + 1], args[args.index("--makehuman") + 1])
elif "--build" in args:
    build(args[args.index("--build") + 1], int(args[args.index("--count") + 1]) if "--count" in args else 40)
elif "--show" in args:
    addon_utils.enable(MODULE, default_set=True)
    bpy.app.timers.register(show, first_interval=3.0)
