"""learn_shape_space and generate_shapes inside Blender."""

import numpy as np
import pytest
from rotations import turn
from blender_helpers import demo_collection, positions


@pytest.fixture
def vases(bpy):
    return demo_collection(bpy, 'VASE', "Vases", 12, 'SAME', seed=2)


def test_learn_writes_the_mean_with_one_key_per_component(bpy, addon, vases):
    training = [positions(o) for o in vases.objects]
    result = bpy.ops.design_space.learn_shape_space(component_mode='COUNT', components=4)
    assert result == {'FINISHED'}
    obj = bpy.data.objects["Vases Shape Space"]
    np.testing.assert_allclose(positions(obj), np.mean(training, axis=0), atol=1e-4)
    keys = obj.data.shape_keys.key_blocks
    assert [k.name.split()[0] for k in keys] == ["Basis", "PC1", "PC2", "PC3", "PC4"]
    assert keys[1].slider_min == -2.0 and keys[1].slider_max == 2.0 and keys[1].value == 0.0
    entry = bpy.context.scene.design_space.models[0]
    assert entry.kind == "shape_space" and "4 components" in entry.metrics
    # the first component moves the mean by 3σ at value 1
    from learning.shape_space import load_shape_space

    space, *_ = load_shape_space(addon.operators.model_store.absolute_path(entry.filepath))
    key = np.array([p.co[:] for p in keys[1].data])  # reference read of 1 key (small mesh)
    np.testing.assert_allclose(key.ravel(), space.mean + 3 * space.standard_deviations[0] * space.components[0],
                               atol=1e-4)


def test_generated_shapes_are_valid_new_and_seeded(bpy, addon, vases):
    training = np.stack([positions(o) for o in vases.objects])
    bpy.ops.design_space.learn_shape_space(component_mode='VARIANCE', variance=0.99)
    bpy.ops.design_space.generate_shapes(count=5, seed=7, collection="A")
    bpy.ops.design_space.generate_shapes(count=5, seed=7, collection="B")
    a = [positions(o) for o in bpy.data.collections["A"].objects]
    b = [positions(o) for o in bpy.data.collections["B"].objects]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for obj, vertices in zip(bpy.data.collections["A"].objects, a):
        assert np.isfinite(vertices).all()
        assert obj["design_space_seed"] == 7 and len(obj["shape_space_coefficients"]) >= 1
        distances = np.abs(training - vertices[None]).max(axis=(1, 2))
        assert distances.min() > 1e-3  # not a copy of any training shape
    face_areas = addon.shapespace.primitives.face_areas
    for shape in addon.operators.mesh_bridge.read_collection(bpy.data.collections["A"]):
        assert face_areas(shape).min() > 1e-10  # no degenerate faces


def test_mixed_topology_names_the_first_mismatch_and_changes_nothing(bpy, addon):
    bpy.ops.design_space.create_demo_collections(families={'CHAIR'}, shapes_per_family=5, body_count=0,
                                                 topology='VARIED', seed=1)
    collection = bpy.data.collections["Chairs (varied topology)"]
    bpy.context.scene.design_space.training_collection = collection
    objects, files = len(bpy.data.objects), sorted(addon.operators.model_store.model_directory().glob("*"))
    with pytest.raises(RuntimeError, match=r"'chair_varied_001' has \d+ vertices but 'chair_varied_000' has \d+"):
        bpy.ops.design_space.learn_shape_space()
    assert len(bpy.data.objects) == objects
    assert sorted(addon.operators.model_store.model_directory().glob("*")) == files
    assert len(bpy.context.scene.design_space.models) == 0


def test_too_few_shapes_for_the_components(bpy, vases):
    with pytest.raises(RuntimeError, match="12 shapes give at most 11"):
        bpy.ops.design_space.learn_shape_space(component_mode='COUNT', components=20)
    with pytest.raises(RuntimeError, match="Make a shape space the active model first"):
        bpy.ops.design_space.generate_shapes()


# --- projecting a mesh into the space (issue 17, item 4) ---------------------------------------

def _space_of(bpy, addon):
    from learning.shape_space import load_shape_space

    entry = next(m for m in bpy.context.scene.design_space.models if m.kind == "shape_space")
    return load_shape_space(addon.operators.model_store.absolute_path(entry.filepath))


def _write_positions(obj, vertices):
    obj.data.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(vertices, np.float32).ravel())
    obj.data.update()


def test_a_copy_is_the_projection_and_keeps_its_error(bpy, addon, vases, capfd):
    assert bpy.ops.design_space.learn_shape_space(component_mode='COUNT', components=2) == {'FINISHED'}
    space, *_ = _space_of(bpy, addon)
    source = vases.objects[3]
    before = positions(source).copy()
    bpy.context.view_layer.objects.active = source
    capfd.readouterr()
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    out = capfd.readouterr().out
    copy = bpy.context.active_object
    assert copy is not source and copy.name == f"{source.name} (projected)"
    projected = space.reconstruct(space.project(before[None])).reshape(-1, 3)
    np.testing.assert_allclose(positions(copy), projected, atol=1e-5)  # the space's version, not a duplicate
    distances = np.linalg.norm(positions(copy) - before, axis=1)
    assert distances.max() > 1e-3  # 2 components do not reproduce the vase: the copy shows that
    assert copy["design_space_projection_error"] == pytest.approx(float(distances.mean()), rel=1e-4)
    diagonal = float(np.linalg.norm(np.ptp(before, axis=0)))
    assert copy["design_space_projection_error_relative"] == pytest.approx(float(distances.mean()) / diagonal,
                                                                           rel=1e-4)
    assert f"within {1000 * distances.mean():.3g} mm per vertex" in out
    np.testing.assert_array_equal(positions(source), before)


def test_a_bare_shape_space_gives_component_sliders_that_clamp(bpy, addon, vases, capfd):
    assert bpy.ops.design_space.learn_shape_space(component_mode='COUNT', components=3) == {'FINISHED'}
    space, *_ = _space_of(bpy, addon)
    source = vases.objects[5]
    bpy.context.view_layer.objects.active = source
    capfd.readouterr()
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}  # no attributes learned
    assert "no attributes are learned for this space, so its sliders are its 3 components" in capfd.readouterr().out
    copy = bpy.context.active_object
    sliders = copy.design_space_edit.sliders
    assert [s.name for s in sliders] == ["PC1", "PC2", "PC3"]
    coefficients = space.project(positions(source)[None])[0]
    np.testing.assert_allclose([s.value for s in sliders], coefficients / space.standard_deviations, atol=1e-4)
    start = positions(copy).copy()
    sliders["PC1"].value += 1.0  # one standard deviation along the first component
    step = (space.standard_deviations[0] * space.components[0]).reshape(-1, 3)
    np.testing.assert_allclose(positions(copy) - start, step, atol=1e-5)
    # the slider path: a value past ±3σ stops at 3σ and says so under the sliders
    sliders["PC2"].value = 10.0
    assert sliders["PC2"].value == pytest.approx(3.0) and sliders["PC2"].applied == pytest.approx(3.0)
    assert "'PC2' of" in copy.design_space_edit.notice and "instead of 10" in copy.design_space_edit.notice
    # the operator path: the same bound, a warning
    capfd.readouterr()
    assert bpy.ops.design_space.edit_attributes(attribute="PC3", value=-50.0) == {'FINISHED'}
    assert "'PC3' of" in capfd.readouterr().out
    assert sliders["PC3"].value == pytest.approx(-3.0)
    rebuilt = space.reconstruct(np.array([[coefficients[0] / space.standard_deviations[0] + 1.0, 3.0, -3.0]])
                                * space.standard_deviations).reshape(-1, 3)
    np.testing.assert_allclose(positions(copy), rebuilt, atol=1e-4)  # the mesh is where the sliders say


def test_edits_come_back_where_a_turned_moved_scaled_mesh_was(bpy, addon, vases):
    assert bpy.ops.design_space.learn_shape_space(alignment='SIMILARITY', component_mode='COUNT',
                                                  components=11) == {'FINISHED'}
    space, *_ = _space_of(bpy, addon)
    moved = vases.objects[4]
    original = positions(moved).astype(np.float64)
    placed = 1.6 * original @ (turn(40, 2) @ turn(15, 0)).T + np.array([0.8, -0.5, 0.3])
    _write_positions(moved, placed)
    bpy.context.view_layer.objects.active = moved
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    copy = bpy.context.active_object
    size = float(np.linalg.norm(np.ptp(placed, axis=0)))
    # every training shape is in the space (11 components of 12 shapes): the projection is the input itself
    # (up to the slightly different fit of one alignment against the iterated Procrustes one), in the input's
    # place, orientation and size; without the stored translation it would sit at the mean, 0.5 m away
    assert np.linalg.norm(positions(copy) - placed, axis=1).max() < 0.005 * size
    assert copy["design_space_projection_error_relative"] < 1e-3
    assert np.linalg.norm(space.mean.reshape(-1, 3).mean(axis=0) - placed.mean(axis=0)) > 0.5
    frame = np.asarray(copy["shape_space_frame"])
    assert len(frame) == 13  # rotation, scale and translation
    rotation, scale, translation = frame[:9].reshape(3, 3), frame[9], frame[10:]
    into_space = scale * placed @ rotation.T + translation  # the stored similarity takes the input to the space
    assert np.linalg.norm(into_space - space.mean.reshape(-1, 3), axis=1).mean() < 0.1 * size
    start = positions(copy).copy()
    copy.design_space_edit.sliders["PC1"].value += 1.0
    step = (space.standard_deviations[0] * space.components[0]).reshape(-1, 3) @ rotation / scale
    np.testing.assert_allclose(positions(copy) - start, step, atol=1e-5)  # the edit, turned and sized like the input


def test_the_automatic_alignment_is_chosen_by_measuring_and_stated(bpy, addon, vases, capfd):
    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(component_mode='COUNT', components=3) == {'FINISHED'}
    assert "alignment None (automatic: the shapes share one frame" in capfd.readouterr().out
    assert _space_of(bpy, addon)[3]["info"]["alignment"] == "none"
    rng = np.random.default_rng(0)
    for obj in vases.objects:  # as scans: each turned a little and standing somewhere else
        turned = positions(obj).astype(np.float64) @ turn(rng.uniform(-10, 10), 2).T + rng.normal(0, 0.05, 3)
        _write_positions(obj, turned)
    bpy.context.scene.design_space.models.clear()
    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(component_mode='COUNT', components=3) == {'FINISHED'}
    assert "alignment Rigid (automatic: the shapes do not share one frame" in capfd.readouterr().out
    _, _, _, metadata = _space_of(bpy, addon)
    assert metadata["info"]["alignment"] == "rigid" and "do not share one frame" in metadata["info"]["alignment_reason"]
    assert "rigid alignment" in bpy.context.scene.design_space.models[0].metrics


# --- rigged output (issue 17: the projection written as a rigged mesh) ---------------------------

def _column_mesh(rings=31, around=12, height=3.0, radius=0.2):
    """A tube standing on z = 0: `rings` rings of `around` vertices, quads between them."""
    z = np.linspace(0.0, height, rings)
    angle = np.linspace(0.0, 2 * np.pi, around, endpoint=False)
    vertices = np.stack([np.repeat(np.ones(rings), around) * np.tile(radius * np.cos(angle), rings),
                         np.tile(radius * np.sin(angle), rings), np.repeat(z, around)], axis=1)
    ring, step = np.meshgrid(np.arange(rings - 1), np.arange(around), indexing="ij")
    a = ring * around + step
    b = ring * around + (step + 1) % around
    corners = np.stack([a, b, b + around, a + around], axis=-1).reshape(-1)
    return vertices.astype(np.float32), np.full(len(corners) // 4, 4, np.int32), corners.astype(np.int32)


def test_a_written_armature_deforms_the_mesh_as_the_models_own_skinning(bpy, addon):
    from shapespace import body_rig
    from shapespace.mesh_arrays import MeshArrays

    bridge = addon.operators.mesh_bridge
    vertices, sizes, corners = _column_mesh()
    heads = np.array([[0, 0, 0], [0, 0, 1.0], [0, 0, 2.0]])
    tails = np.array([[0, 0, 1.0], [0, 0, 2.0], [0.4, 0.2, 3.0]])  # the last bone leans, and rolls
    rolls, parents, names = np.array([0.0, 0.5, -0.3]), np.array([-1, 0, 1]), ("root", "middle", "top")
    centres = (heads + tails)[:, 2] / 2
    weights = np.exp(-((vertices[:, 2:3] - centres[None]) / 0.45) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    with bridge.SceneWriter() as writer:
        collection = writer.collection("Rig test")
        mesh_obj = writer.mesh_object(MeshArrays("column", vertices, sizes, corners), collection)
    armature = bridge.write_armature("column rig", heads, tails, rolls, parents, names, collection)
    bridge.write_vertex_weights(mesh_obj, weights, names)
    bridge.add_armature_modifier(mesh_obj, armature)
    np.testing.assert_allclose(bridge.read_evaluated_positions(mesh_obj), vertices, atol=1e-5)  # rest: no change
    rotations = np.stack([body_rig.axis_angle_to_matrix(np.radians(v)) for v in
                          ([0, 0, 25.0], [40.0, 0, 0], [0, -35.0, 20.0])])
    translation = np.array([0.3, -0.2, 0.1])
    rest_frames = body_rig.bone_rest_matrices(heads, tails, rolls)
    bridge.pose_armature(armature, body_rig.basis_from_rotations(rotations, rest_frames), names, translation)
    expected, _ = body_rig.pose_vertices(vertices, heads, rotations, parents, weights, translation)
    moved = np.linalg.norm(expected - vertices, axis=1)
    assert moved.max() > 1.0  # a real bend, not a twitch
    error = np.linalg.norm(bridge.read_evaluated_positions(mesh_obj) - expected, axis=1)
    assert error.max() < 2e-3, error.max()  # weights are written rounded to 1/1024
    assert error.mean() < 5e-4, error.mean()


# --- the articulated space (MakeHuman bodies in many poses) --------------------------------------

def test_articulated_space_of_one_pose_falls_back_to_a_plain_space(bpy, addon, vases, capfd):
    bpy.ops.design_space.create_demo_collections(families=set(), body_count=4, seed=1)
    bpy.context.scene.design_space.training_collection = bpy.data.collections["Bodies"]
    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=2) == {'FINISHED'}
    out = capfd.readouterr().out
    assert "are all in one pose (three joints in four turn at most" in out
    assert "a plain shape space was learned instead" in out
    assert _space_of(bpy, addon)[3]["info"]["alignment"] == "none"


def test_articulated_space_writes_a_rigged_body_and_a_rigged_projection(bpy, addon, capfd):
    from shapespace.mesh_arrays import MeshArrays
    from shapespace.posed_bodies import posed_body_set

    bodies = posed_body_set(4, 2, seed=5)  # learned from 3 people × 2 poses; one pose of a 4th person projected
    with addon.operators.mesh_bridge.SceneWriter() as writer:
        collection = writer.collection("Posed")
        for person in range(4):
            for pose in range(2 if person < 3 else 1):
                writer.mesh_object(MeshArrays(f"p{person}_{pose}", bodies.vertices[person, pose], bodies.face_sizes,
                                              bodies.corner_vertices), collection, properties={"person": person})
    test_body = collection.objects["p3_0"]
    collection.objects.unlink(test_body)  # an unseen person's pose, outside the training set
    bpy.context.scene.collection.objects.link(test_body)
    bpy.context.scene.design_space.training_collection = collection
    capfd.readouterr()
    assert bpy.ops.design_space.learn_shape_space(alignment='ARTICULATED', component_mode='COUNT',
                                                  components=3) == {'FINISHED'}
    assert "alignment Articulated (MakeHuman rig: 28 bones; one joint in four turns" in capfd.readouterr().out
    space_object = bpy.data.objects["Posed Shape Space"]
    modifier = space_object.modifiers["Armature"]
    assert modifier.object is not None and len(modifier.object.data.bones) == 28
    assert len(space_object.vertex_groups) == 28
    bpy.context.view_layer.objects.active = test_body
    capfd.readouterr()
    assert bpy.ops.design_space.project_shape(target='COPY') == {'FINISHED'}
    copy = bpy.context.active_object
    assert copy.name == "p3_0 (projected)" and copy.modifiers["Armature"].object is not None
    bridge = addon.operators.mesh_bridge
    shown = bridge.read_evaluated_positions(copy)
    distances = np.linalg.norm(shown - positions(test_body), axis=1)
    assert copy["design_space_projection_error"] == pytest.approx(float(distances.mean()), rel=1e-3)
    assert distances.mean() < 0.02  # measured 6 mm (4 × 3 bodies) to 9 mm (this set); plain PCA cannot unpose
    # what Blender shows is the model's own skinning of the fitted shape and pose
    articulated, *_ = addon.operators.shape_space.project_shape.articulated_model(_space_path(bpy, addon))
    rotations = np.asarray(copy["design_space_pose_rotations"]).reshape(-1, 3, 3)
    translation = np.asarray(copy["design_space_pose_translation"])
    coefficients = np.asarray(copy["shape_space_coefficients"])
    model_pose = articulated.pose(coefficients, rotations, translation)
    assert np.linalg.norm(shown - model_pose, axis=1).max() < 2e-3  # weights are written to 1/1024
    # a component slider changes the body and re-aims the rotations so the limbs keep their directions
    # (tests/test_articulated_operators.py measures the turns); Blender shows the model's posing of it
    copy.design_space_edit.sliders["PC1"].value += 1.5
    coefficients = np.asarray(copy["shape_space_coefficients"])
    rotations = np.array(copy["design_space_pose_rotations"]).reshape(-1, 3, 3)  # a copy: the property is live
    translation = np.array(copy["design_space_pose_translation"])
    expected = articulated.pose(coefficients, rotations, translation)
    moved = bridge.read_evaluated_positions(copy)
    assert np.linalg.norm(moved - shown, axis=1).max() > 0.01  # a visible change of shape
    assert np.linalg.norm(moved - expected, axis=1).max() < 2e-3  # as the model poses the new shape


def _space_path(bpy, addon):
    entry = next(m for m in bpy.context.scene.design_space.models if m.kind == "shape_space")
    return addon.operators.model_store.absolute_path(entry.filepath)
