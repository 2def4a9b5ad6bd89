"""Volumes inside Blender: learn (in the worker process), generate, interpolate, complete, classify —
and bad input that names the object and the fix, leaving the scene as it was."""

import re

import numpy as np
import pytest

from blender_helpers import positions


@pytest.fixture
def families(bpy):
    bpy.ops.design_space.create_demo_collections(families={'CHAIR', 'LAMP', 'TABLE'}, shapes_per_family=10,
                                                 body_count=0, topology='VARIED', seed=2)
    root = bpy.data.collections["Design Space Demo"]
    bpy.context.scene.design_space.training_collection = root
    return root


def _generated_chairs(bpy, count: int, seed: int):
    """Generate `count` chairs with the active volumetric model; [(object, mesh arrays)], each checked
    closed, outward, finite and standing on the ground."""
    from shapespace.primitives import is_closed_manifold, signed_volume

    before = set(bpy.data.objects)
    assert bpy.ops.design_space.generate_volumetric(category="chair", count=count, seed=seed) == {'FINISHED'}
    made = [(o, _mesh_arrays(o)) for o in bpy.data.objects if o not in before]
    assert len(made) == count
    for _, mesh in made:
        assert is_closed_manifold(mesh) and signed_volume(mesh) > 0 and np.isfinite(mesh.vertices).all()
        assert abs(float(mesh.vertices[:, 2].min())) < 1e-4  # standing on the ground
    return made


def _mesh_arrays(obj):
    from shapespace.mesh_arrays import MeshArrays

    sizes = np.empty(len(obj.data.polygons), np.int32)
    obj.data.polygons.foreach_get("loop_total", sizes)
    corners = np.empty(len(obj.data.loops), np.int32)
    obj.data.loops.foreach_get("vertex_index", corners)
    return MeshArrays(obj.name, positions(obj), sizes, corners)


def _select(bpy, objects, active):
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj in objects)
    bpy.context.view_layer.objects.active = active


def test_learn_generate_interpolate_complete_classify(bpy, addon, families, capfd):
    from shapespace.primitives import is_closed_manifold
    from test_bad_input import scene_hash
    from test_part_operators import ProgressRecorder

    settings = bpy.context.scene.design_space
    assert bpy.ops.design_space.learn_volumetric(resolution='16', epochs=150, validation_fraction=0.2) == {'FINISHED'}
    entry = settings.models[settings.active_model_index]
    assert entry.kind == "voxel_vae" and entry.target == "chair, lamp, table"
    assert "completion IoU" in entry.metrics and "s/epoch" in entry.metrics
    names = [row.name for row in settings.volume_attributes]
    assert "height" in names and "seat_height" in names and "category" not in names
    assert settings.volume_attributes["seat_height"].classes == "chair"  # the panel shows it for chairs only
    assert settings.volume_attributes["height"].classes == "chair, lamp, table"
    settings.volume_category = "chair"

    # Generate: closed meshes of the asked class, standing on the ground; the same seed, the same shapes.
    generated = _generated_chairs(bpy, 3, seed=5)
    made = [obj for obj, _ in generated]
    # At most as many pieces as the training chairs have at this resolution (counted at learn time, saved
    # with the model; at 16³ thin legs fall apart from the seat) and no specks: 32 VAE chairs at 32³ had
    # 2.4 pieces on average before, with loose specks.
    from shapespace.mesh_cleanup import SPECK_SHARE, surface_pieces

    model = addon.operators.volumes.volumetric_support.active_volumetric(bpy.context)[1]
    chair_pieces = int(model.pieces[model.conditions.classes.index("chair")])
    for _, mesh in generated:
        volumes = surface_pieces(mesh)[1]
        with capfd.disabled():  # shown with -s (capfd holds the reports)
            print(f"VAE chair {mesh.name}: {len(volumes)} pieces (training chairs: {chair_pieces})")
        assert 1 <= len(volumes) <= chair_pieces and volumes.min() >= SPECK_SHARE * volumes.sum(), (mesh.name, volumes)
    for obj in made:
        assert obj["category"] == "chair" and obj["design_space_seed"] == 5
        assert all(p.use_smooth for p in obj.data.polygons)
    again = set(bpy.data.objects)
    bpy.ops.design_space.generate_volumetric(category="chair", count=3, seed=5)
    repeat = sorted((o for o in bpy.data.objects if o not in again), key=lambda o: o["design_space_index"])
    first = sorted(made, key=lambda o: o["design_space_index"])
    assert all(np.allclose(positions(a), positions(b)) for a, b in zip(first, repeat))

    # Attributes asked for: a tall chair is made bigger than a short one (grids are normalised, the size
    # comes from the condition).
    tall = set(bpy.data.objects)
    bpy.ops.design_space.generate_volumetric(category="chair", count=1, attributes="height=1.05")
    tall_chair = next(o for o in bpy.data.objects if o not in tall)
    short = set(bpy.data.objects)
    bpy.ops.design_space.generate_volumetric(category="chair", count=1, attributes="height=0.85")
    short_chair = next(o for o in bpy.data.objects if o not in short)
    assert tall_chair["requested_height"] == pytest.approx(1.05)
    assert tall_chair["design_space_grid_size"] > short_chair["design_space_grid_size"] * 1.1

    # Interpolate between a chair and a lamp.
    chairs = bpy.data.collections["Chairs (varied topology)"].objects
    lamps = bpy.data.collections["Lamps (varied topology)"].objects
    _select(bpy, [chairs[0], lamps[0]], lamps[0])
    before = set(bpy.data.objects)
    assert bpy.ops.design_space.interpolate_volumetric(steps=4) == {'FINISHED'}
    strip = [o for o in bpy.data.objects if o not in before]
    assert len(strip) == 4 and sorted(o["interpolation_t"] for o in strip) == pytest.approx([0, 1 / 3, 2 / 3, 1])

    # Complete: half of a chair hidden by a cube; the source stays as it was.
    chair = chairs[1]
    source = positions(chair).copy()
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(0.3, 0.0, 0.5))
    region = bpy.context.active_object
    region.scale = (0.6, 1.5, 1.5)
    bpy.context.view_layer.update()
    _select(bpy, [region, chair], chair)
    before = set(bpy.data.objects)
    runner = addon.operators.background_jobs.runner
    capfd.readouterr()
    with ProgressRecorder(runner) as recorder:  # a job: voxelise, refine the code step by step, extract
        assert bpy.ops.design_space.complete_volumetric() == {'FINISHED'}
    fractions = [f for f, _ in recorder.seen]
    assert len(fractions) >= 10 and fractions == sorted(fractions) and fractions[-1] >= 0.9
    assert any("refining the shape code (mirrored)" in m for _, m in recorder.seen)
    completed = next(o for o in bpy.data.objects if o not in before)
    assert completed["completed_from"] == chair.name and completed["category"] in {"chair", "lamp", "table"}
    assert is_closed_manifold(_mesh_arrays(completed))
    volumes = surface_pieces(_mesh_arrays(completed))[1]  # no loose speck beside the completed chair
    assert volumes.min() >= SPECK_SHARE * volumes.sum(), volumes
    assert np.array_equal(positions(chair), source)
    # The report says how much of the shape the model made (the box hides about half of the chair), not
    # the share of the grid the box covers.
    made = re.search(r"the model made (\d+)% of its volume, inside '" + region.name, capfd.readouterr().out)
    assert made and 35 <= int(made.group(1)) <= 75  # 56% measured; the old figure said 29% of the grid

    # Cancelled while refining: nothing is written.
    _select(bpy, [region, chair], chair)
    state = scene_hash(bpy)
    with ProgressRecorder(runner, cancel_after=3) as recorder:
        assert bpy.ops.design_space.complete_volumetric() == {'CANCELLED'}
    assert len(recorder.seen) == 3 and scene_hash(bpy) == state and not runner.running

    # Classify with the same network.
    _select(bpy, [lamps[2], chairs[2]], lamps[2])
    assert bpy.ops.design_space.classify() == {'FINISHED'}
    assert lamps[2]["predicted_category"] in {"chair", "lamp", "table"}


def test_the_logistic_baseline_generates_from_attributes(bpy, families):
    settings = bpy.context.scene.design_space
    assert bpy.ops.design_space.learn_volumetric(model_kind='voxel_logistic', resolution='16', epochs=300) \
        == {'FINISHED'}
    assert settings.models[settings.active_model_index].kind == "voxel_logistic"
    # Its file loads back (class ranges hold NaN where a class lacks an attribute: seat_height on tables).
    logistic_file = bpy.path.abspath(settings.models[settings.active_model_index].filepath)
    assert bpy.ops.design_space.load_model(filepath=logistic_file) == {'FINISHED'}
    assert settings.models[-1].kind == "voxel_logistic"
    settings.active_model_index = len(settings.models) - 1
    before = set(bpy.data.objects)
    assert bpy.ops.design_space.generate_volumetric(category="table", count=2, seed=1) == {'FINISHED'}
    assert len(set(bpy.data.objects) - before) == 2
    with pytest.raises(RuntimeError, match="no shape codes to walk between"):
        bpy.ops.design_space.interpolate_volumetric()


def test_bad_input_names_the_fix_and_changes_nothing(bpy, families):
    with pytest.raises(RuntimeError, match="Make a volumetric model the active one first"):
        bpy.ops.design_space.generate_volumetric()
    assert bpy.ops.design_space.learn_volumetric(resolution='16', epochs=2, validation_fraction=0.0) == {'FINISHED'}
    count = len(bpy.data.objects)
    with pytest.raises(RuntimeError, match="Unknown class 'sofa'; the model knows chair, lamp, table"):
        bpy.ops.design_space.generate_volumetric(category="sofa")
    with pytest.raises(RuntimeError, match="'height-1' is not"):
        bpy.ops.design_space.generate_volumetric(category="chair", attributes="height-1")
    chairs = bpy.data.collections["Chairs (varied topology)"].objects
    _select(bpy, [chairs[0]], chairs[0])
    with pytest.raises(RuntimeError, match="Select exactly two mesh objects"):
        bpy.ops.design_space.interpolate_volumetric()
    with pytest.raises(RuntimeError, match=f"Nothing is marked missing on '{chairs[0].name}'"):
        bpy.ops.design_space.complete_volumetric()
    bpy.ops.object.empty_add(type='CUBE', location=(0, 0, 0.5))
    everything = bpy.context.active_object
    everything.empty_display_size = 5.0
    _select(bpy, [everything, chairs[0]], chairs[0])
    with pytest.raises(RuntimeError, match="hides all of"):
        bpy.ops.design_space.complete_volumetric()
    bpy.ops.mesh.primitive_plane_add()
    plane = bpy.context.active_object
    with pytest.raises(RuntimeError, match=f"'{plane.name}' encloses no volume"):
        bpy.ops.design_space.classify()
    assert len(bpy.data.objects) == count + 2  # only the two objects this test added


def test_grids_too_large_for_memory_are_refused_with_the_number(addon):
    with pytest.raises(ValueError, match=r"4000 grids of 256³ need 250\.0 GiB, more than"):
        addon.operators.volumes.volumetric_support.check_memory(256, 1000)


def test_the_implicit_decoder_learns_generates_upright_loads_and_completes(bpy, addon, families, capfd):
    """The implicit signed-distance model end to end, on the built-in families marked aligned: trained in
    the worker with its quality in the model list, generated shapes in one clean piece and upright at
    the training chairs' size, its file loaded back, a chair completed as a job."""
    import mathutils
    from shapespace.primitives import is_closed_manifold
    from shapespace.voxels import common_frame, voxelize

    settings = bpy.context.scene.design_space
    settings.collection_aligned = True
    assert bpy.ops.design_space.learn_volumetric(model_kind='implicit_sdf', resolution='32', epochs=20,
                                                 validation_fraction=0.2) == {'FINISHED'}
    entry = settings.models[settings.active_model_index]
    assert entry.kind == "implicit_sdf" and entry.target == "chair, lamp, table"
    numbers = re.search(r"completion IoU ([\d.]+) \(Chamfer ([\d.]+)% of the cube\); generated: class match (\d+)%, "
                        r"single piece (\d+)%, (\d+)% of the training shapes covered by (\d+)", entry.metrics)
    assert numbers, entry.metrics
    iou, chamfer, match, single, coverage, generated = (float(g) for g in numbers.groups())
    print("implicit model in the list:", entry.metrics)
    # measured: completion IoU 0.80 (held-out shapes, 40% cut away), class match 100%, single piece 100%
    assert iou >= 0.6 and match >= 60 and single >= 60
    assert 0 < chamfer < 10 and 0 < coverage <= 100 and generated >= 3 * 4  # three classes, at least 4 each

    chairs = bpy.data.collections["Chairs (varied topology)"].objects
    trained = np.array([tuple(o.dimensions) for o in chairs])
    made = [obj for obj, _ in _generated_chairs(bpy, 4, seed=5)]
    for obj in made:
        assert obj["design_space_pieces"] == 1 and obj["design_space_resolution"] == 64
    dims = np.array([tuple(o.dimensions) for o in made])
    print("generated chair sizes", dims.round(2).tolist(), "training mean", trained.mean(axis=0).round(2).tolist())
    # Upright and at the collection's size (canonical pose and scale undone): as wide and deep as the
    # training chairs, and most as tall (at level 0, before the half-voxel surface offset, most lost
    # their backs and legs: 0.58, 0.55, 0.08, 0.91 m tall against 0.81-1.06 m).
    assert np.all(dims[:, :2] > 0.6 * trained[:, :2].mean(axis=0))
    assert np.all(dims[:, :2] < 1.6 * trained[:, :2].mean(axis=0))
    assert dims[:, 2].max() > 0.8 * trained[:, 2].mean() and (dims[:, 2] > 0.6 * trained[:, 2].mean()).sum() >= 3

    # The Volumes panel shows a preview row of the shapes just generated.
    icons = []

    class Layout:  # records what the panel draws
        def __getattr__(self, name):
            def call(*args, **kwargs):
                if name == "template_icon":
                    icons.append(kwargs["icon_value"])
                return self
            return call

    addon.panels.volumes_panel.DESIGN_SPACE_PT_volumes.draw(type("Panel", (), {"layout": Layout()})(), bpy.context)
    assert len(icons) == 4 and bpy.data.images.get("Design Space Volume 4") is None

    # The model file loads back as a model of its kind.
    count = len(settings.models)
    assert bpy.ops.design_space.load_model(filepath=bpy.path.abspath(entry.filepath)) == {'FINISHED'}
    assert len(settings.models) == count + 1 and settings.models[-1].kind == "implicit_sdf"

    # Complete: the right half of a chair marked missing; a job whose progress is the refinement.
    from test_part_operators import ProgressRecorder

    settings.active_model_index = [m.name for m in settings.models].index(entry.name)
    chair = chairs[1]
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=tuple(chair.location + mathutils.Vector((0.3, 0.0, 0.5))))
    region = bpy.context.active_object
    region.scale = (0.6, 1.5, 1.5)
    bpy.context.view_layer.update()
    _select(bpy, [region, chair], chair)
    before = set(bpy.data.objects)
    capfd.readouterr()
    with ProgressRecorder(addon.operators.background_jobs.runner) as recorder:
        assert bpy.ops.design_space.complete_volumetric() == {'FINISHED'}
    assert any("refining the shape code" in m for _, m in recorder.seen)
    completed = next(o for o in bpy.data.objects if o not in before)
    assert completed["category"] == "chair" and completed["design_space_method"] == "implicit_sdf"
    said = capfd.readouterr().out
    box = re.escape(region.name)
    made_share = re.search(rf"the model made (\d+)% of its volume inside '{box}': a patch of \d+ faces added to the "
                           rf"\d+ faces of '{re.escape(chair.name)}' outside '{box}', kept as they were \((\d+) faces",
                           said)
    assert made_share and 25 <= int(made_share.group(1)) <= 75, said  # 56% measured
    a, b = _mesh_arrays(chair), _mesh_arrays(completed)
    # Keep Original Faces (the default): the chair's own faces outside the box come back exactly, first;
    # those wholly inside it are what the model made instead
    low, high = addon.operators.volumes.complete_volumetric.region_bounds(region, chair)
    kept, dropped = addon.learning.partial_placement.faces_outside(a, low, high, chair.name)
    assert dropped == int(made_share.group(2)) > 0 and b.face_count > kept.face_count
    assert np.array_equal(b.vertices[:len(kept.vertices)], kept.vertices)
    assert np.array_equal(b.corner_vertices[:len(kept.corner_vertices)], kept.corner_vertices)
    frame = common_frame([a.vertices, b.vertices], 32)
    truth, guess = voxelize(a.vertices, a.triangles, frame), voxelize(b.vertices, b.triangles, frame)
    overlap = (truth & guess).sum() / (truth | guess).sum()
    with capfd.disabled():
        print(f"completed chair IoU {overlap:.3f}; the model made {made_share.group(1)}% of it")
    # 0.88 measured with the chair's own faces kept (here and in Blender 4.3); 0.70 when what is there was
    # remeshed on a grid tight around the shape, 0.62 on the model's cube, 0.24 at surface level 0
    assert overlap > 0.75
    # Remeshed instead: one closed surface
    _select(bpy, [region, chair], chair)
    before = set(bpy.data.objects)
    assert bpy.ops.design_space.complete_volumetric(keep_faces=False, resolution=48) == {'FINISHED'}
    remeshed = next(o for o in bpy.data.objects if o not in before)
    assert is_closed_manifold(_mesh_arrays(remeshed)) and "(remeshed as one closed surface)" in capfd.readouterr().out

    # Interpolate from a chair to a lamp: each end's code fitted to its signed distances; the ends come
    # back at their shapes' own sizes (measured within 5%), the shapes between decoded from the codes between
    lamps = bpy.data.collections["Lamps (varied topology)"].objects
    _select(bpy, [chairs[0], lamps[0]], lamps[0])
    before = set(bpy.data.objects)
    capfd.readouterr()
    with ProgressRecorder(addon.operators.background_jobs.runner) as recorder:
        assert bpy.ops.design_space.interpolate_volumetric(steps=4) == {'FINISHED'}
    assert any("fitting the code of" in m for _, m in recorder.seen)
    assert f"from '{chairs[0].name}' (chair) to '{lamps[0].name}' (lamp)" in capfd.readouterr().out
    strip = sorted((o for o in bpy.data.objects if o not in before), key=lambda o: o["interpolation_t"])
    assert [o["interpolation_t"] for o in strip] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    for end, source in ((strip[0], chairs[0]), (strip[-1], lamps[0])):
        ratio = np.array(end.dimensions) / np.array(source.dimensions)
        assert np.all(np.abs(ratio - 1) < 0.15), (end.name, ratio)

    # Bad input: a class with one shape, a class the model never saw; nothing is written.
    from test_bad_input import scene_hash

    count = len(bpy.data.objects)
    with pytest.raises(RuntimeError, match="Unknown class 'sofa'; the model knows chair, lamp, table"):
        bpy.ops.design_space.generate_volumetric(category="sofa")
    chairs[0]["category"] = "sofa"
    state = scene_hash(bpy)
    with pytest.raises(RuntimeError, match=r"'sofa' \(1 shape\) in 'Design Space Demo' is too few to learn a class"):
        bpy.ops.design_space.learn_volumetric(model_kind='implicit_sdf', resolution='32', epochs=2)
    assert scene_hash(bpy) == state and len(bpy.data.objects) == count
