"""design_space.create_demo_collections puts the built-in data into the scene, read back by the bridge."""

import numpy as np
import pytest


def test_families_in_both_topologies_with_parts_and_attributes(bpy, addon):
    result = bpy.ops.design_space.create_demo_collections(
        families={'CHAIR', 'TABLE', 'LAMP', 'AIRPLANE', 'VASE'}, shapes_per_family=4, body_count=0, seed=3)
    assert result == {'FINISHED'}
    root = bpy.data.collections["Design Space Demo"]
    names = [c.name for c in root.children]
    assert names == ["Chairs", "Chairs (varied topology)", "Tables", "Tables (varied topology)", "Lamps",
                     "Lamps (varied topology)", "Airplanes", "Airplanes (varied topology)", "Vases",
                     "Vases (varied topology)"]
    bridge = addon.operators.mesh_bridge
    for child in root.children:
        shapes = bridge.read_collection(child)
        assert len(shapes) == 4
        family = child.name.split()[0][:-1].lower()
        for shape in shapes:
            assert shape.attributes["category"] == family
            assert shape.face_parts is not None and len(shape.part_labels) >= (1 if "varied" in child.name else 2)
            assert shape.name.startswith(f"{family}_varied_" if "varied" in child.name else f"{family}_0")
            assert np.isfinite(shape.vertices).all()
            assert shape.vertices[:, 2].min() == pytest.approx(0.0, abs=1e-4)  # standing on the ground
        topologies = {(len(s.vertices), s.corner_vertices.tobytes()) for s in shapes}
        if "varied" in child.name:
            assert len(topologies) > 1, child.name
        else:
            assert len(topologies) == 1, child.name
    assert bpy.context.scene.design_space.training_collection == root.children[0]


def test_same_seed_same_shapes(bpy, addon):
    bridge = addon.operators.mesh_bridge
    bpy.ops.design_space.create_demo_collections(families={'VASE'}, shapes_per_family=3, body_count=0,
                                                 seed=11, topology='VARIED', collection="A")
    bpy.ops.design_space.create_demo_collections(families={'VASE'}, shapes_per_family=3, body_count=0,
                                                 seed=11, topology='VARIED', collection="B")
    bpy.ops.design_space.create_demo_collections(families={'VASE'}, shapes_per_family=3, body_count=0,
                                                 seed=12, topology='VARIED', collection="C")
    a, b, c = (bridge.read_collection(bpy.data.collections[n]) for n in "ABC")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.vertices, y.vertices)
    assert any(len(x.vertices) != len(z.vertices) or not np.array_equal(x.vertices, z.vertices)
               for x, z in zip(a, c))


def test_makehuman_bodies_carry_macros_and_measured_height(bpy, addon, makehuman_dir):
    bpy.ops.design_space.create_demo_collections(families=set(), body_count=3, seed=0)
    shapes = addon.operators.mesh_bridge.read_collection(bpy.data.collections["Design Space Demo"])
    assert len(shapes) == 3
    assert len({len(s.vertices) for s in shapes}) == 1
    for shape in shapes:
        for key in ("gender", "age", "muscle", "weight", "height_m"):
            assert key in shape.attributes
        measured = float(np.ptp(shape.vertices[:, 2]))
        assert shape.attributes["height_m"] == pytest.approx(measured, abs=1e-3)
        assert 1.2 < measured < 2.2


def test_missing_makehuman_data_is_a_warning_not_a_failure(bpy, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DESIGN_SPACE_MAKEHUMAN_DATA", str(tmp_path / "nowhere"))
    data_sources = __import__("dev_blender").addon().operators.data_sources
    monkeypatch.setattr(data_sources, "EXTENSION_DIR", tmp_path)
    result = bpy.ops.design_space.create_demo_collections(families={'LAMP'}, shapes_per_family=2, body_count=2,
                                                          topology='SAME')
    assert result == {'FINISHED'}
    assert "MakeHuman bodies skipped" in capsys.readouterr().out
    assert len(bpy.data.collections["Design Space Demo"].all_objects) == 2


def test_nothing_to_create_is_refused_and_leaves_no_collection(bpy):
    before = len(bpy.data.collections)
    with pytest.raises(RuntimeError, match="Nothing to create"):
        bpy.ops.design_space.create_demo_collections(families=set(), body_count=0)
    assert len(bpy.data.collections) == before


def test_parts_are_coloured_for_the_viewport(bpy, addon):
    bpy.ops.design_space.create_demo_collections(families={'CHAIR'}, shapes_per_family=1, body_count=0,
                                                 topology='SAME')
    obj = bpy.data.collections["Chairs"].objects[0]
    colors = obj.data.color_attributes.active_color
    assert colors is not None and colors.domain == 'CORNER'
    values = np.empty(len(obj.data.loops) * 4, np.float32)
    colors.data.foreach_get("color", values)
    parts = addon.operators.mesh_bridge.read_face_parts(obj.data)
    assert len(np.unique(values.reshape(-1, 4), axis=0)) == len(np.unique(parts)) == 4
