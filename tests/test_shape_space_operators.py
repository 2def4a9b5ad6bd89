"""learn_shape_space and generate_shapes inside Blender."""

import numpy as np
import pytest
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
