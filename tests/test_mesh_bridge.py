"""The mesh bridge round-trips scenes through plain arrays and never touches its sources."""

import numpy as np
import pytest

from mesh_files import CUBE_QUADS, CUBE_VERTICES


@pytest.fixture
def bridge(addon):
    return addon.operators.mesh_bridge


@pytest.fixture
def MeshArrays(addon):
    return addon.shapespace.mesh_arrays.MeshArrays


def _cube(MeshArrays, name="cube", offset=(0, 0, 0), **kwargs):
    return MeshArrays.from_faces(name, CUBE_VERTICES + np.float32(offset), CUBE_QUADS, **kwargs)


def _positions(obj):
    return np.array([v.co[:] for v in obj.data.vertices], dtype=np.float32)  # slow path, as a reference


def test_write_then_read_round_trips_geometry_properties_and_parts(bpy, bridge, MeshArrays):
    collection = bridge.ensure_collection("shapes")
    arrays = _cube(MeshArrays, attributes={"height": 1.5, "legs": 4, "round": True, "category": "box"},
                   face_parts=np.array([0, 0, 1, 1, 1, 1]), part_labels=("top", "side"))
    with bridge.SceneWriter() as writer:
        obj = writer.mesh_object(arrays, collection, location=(5, 0, 0))
    np.testing.assert_allclose(_positions(obj), CUBE_VERTICES)
    assert [len(p.vertices) for p in obj.data.polygons] == [4] * 6
    (shape,) = bridge.read_collection(collection)
    np.testing.assert_allclose(shape.vertices, CUBE_VERTICES)
    assert shape.corner_vertices.tolist() == CUBE_QUADS.ravel().tolist()
    assert shape.attributes == {"height": 1.5, "legs": 4, "round": True, "category": "box"}
    assert shape.part_labels == ("top", "side")
    assert shape.face_parts.tolist() == [0, 0, 1, 1, 1, 1]
    (world,) = bridge.read_collection(collection, space="WORLD")
    np.testing.assert_allclose(world.vertices, CUBE_VERTICES + [5, 0, 0])


def test_child_objects_are_parts_labelled_by_property_or_name(bpy, bridge, MeshArrays):
    collection = bridge.ensure_collection("chairs")
    with bridge.SceneWriter() as writer:
        root = writer.mesh_object(_cube(MeshArrays, "chair", attributes={"part": "seat"}), collection)
        leg_a = writer.mesh_object(_cube(MeshArrays, "leg.001"), collection, location=(0, 0, -1))
        leg_b = writer.mesh_object(_cube(MeshArrays, "Leg_2"), collection, location=(2, 0, -1))
        back = writer.mesh_object(_cube(MeshArrays, "whatever", attributes={"part": "back"}), collection)
    for child in (leg_a, leg_b, back):
        child.parent = root
    root.location = (10, 0, 0)
    bpy.context.view_layer.update()
    (shape,) = bridge.read_collection(collection)
    assert shape.name == "chair"
    assert shape.part_labels == ("seat", "leg", "back")
    assert np.bincount(shape.face_parts).tolist() == [6, 12, 6]
    assert len(shape.vertices) == 32
    # local space of the root: the legs stay where they are relative to the seat
    np.testing.assert_allclose(shape.vertices[8:16], CUBE_VERTICES + [0, 0, -1], atol=1e-6)
    (world,) = bridge.read_collection(collection, space="WORLD")
    np.testing.assert_allclose(world.vertices[8:16], CUBE_VERTICES + [10, 0, -1], atol=1e-5)


def test_evaluated_read_applies_modifiers_without_changing_the_source(bpy, bridge, MeshArrays):
    collection = bridge.ensure_collection("mod")
    with bridge.SceneWriter() as writer:
        obj = writer.mesh_object(_cube(MeshArrays), collection)
    obj.modifiers.new("sub", 'SUBSURF').levels = 1
    (plain,) = bridge.read_collection(collection)
    (evaluated,) = bridge.read_collection(collection, evaluated=True)
    assert len(plain.vertices) == 8
    assert len(evaluated.vertices) == 26
    assert len(obj.data.vertices) == 8 and len(obj.modifiers) == 1


def test_update_positions_and_shape_keys(bpy, bridge, MeshArrays):
    collection = bridge.ensure_collection("keys")
    with bridge.SceneWriter() as writer:
        obj = writer.mesh_object(_cube(MeshArrays), collection)
    bridge.update_positions(obj.data, CUBE_VERTICES * 2)
    np.testing.assert_allclose(_positions(obj), CUBE_VERTICES * 2)
    with pytest.raises(bridge.BridgeError, match="has 8 vertices, but 3"):
        bridge.update_positions(obj.data, CUBE_VERTICES[:3])
    bridge.write_shape_keys(obj, {"taller": CUBE_VERTICES * [1, 1, 3]})
    bridge.write_shape_keys(obj, {"taller": CUBE_VERTICES * [1, 1, 4], "wider": CUBE_VERTICES * [5, 1, 1]})
    blocks = obj.data.shape_keys.key_blocks
    assert [b.name for b in blocks] == ["Basis", "taller", "wider"]
    np.testing.assert_allclose([p.co.z for p in blocks["taller"].data], CUBE_VERTICES[:, 2] * 4)
    blocks["taller"].value = 1.0
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    np.testing.assert_allclose([v.co.z for v in evaluated.vertices], CUBE_VERTICES[:, 2] * 4, atol=1e-6)


def test_writer_rolls_back_everything_on_failure(bpy, bridge, MeshArrays):
    objects, meshes, collections = len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.collections)
    broken = _cube(MeshArrays, "broken")
    broken.corner_vertices[3] = 99
    with pytest.raises(ValueError, match="broken: a face refers to a vertex"):
        with bridge.SceneWriter() as writer:
            target = writer.collection("half written")
            writer.mesh_object(_cube(MeshArrays, "fine"), target)
            writer.mesh_object(broken, target)
    assert (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.collections)) == (objects, meshes, collections)


def test_bad_collections_name_the_problem(bpy, bridge, MeshArrays):
    with pytest.raises(bridge.BridgeError, match="No collection given"):
        bridge.read_collection(None)
    empty = bridge.ensure_collection("nothing here")
    with pytest.raises(bridge.BridgeError, match="Collection 'nothing here' is empty"):
        bridge.read_collection(empty)
    mixed = bridge.ensure_collection("mixed")
    with bridge.SceneWriter() as writer:
        writer.mesh_object(_cube(MeshArrays), mixed)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    mixed.objects.link(camera)
    with pytest.raises(bridge.BridgeError, match="'Camera' in collection 'mixed' is a camera, not a mesh"):
        bridge.read_collection(mixed)


def test_child_collections_are_read_recursively_or_not(bpy, bridge, MeshArrays):
    parent = bridge.ensure_collection("parent")
    child = bridge.ensure_collection("child", parent)
    with bridge.SceneWriter() as writer:
        writer.mesh_object(_cube(MeshArrays, "a"), parent)
        writer.mesh_object(_cube(MeshArrays, "b"), child)
    assert [s.name for s in bridge.read_collection(parent)] == ["a", "b"]
    assert [s.name for s in bridge.read_collection(parent, recursive=False)] == ["a"]


@pytest.mark.parametrize("name, label", [("leg.003", "leg"), ("Leg_2", "leg"), ("back", "back"),
                                         ("arm rest 10", "arm rest"), ("7", "7")])
def test_child_names_give_part_labels(addon, name, label):
    assert addon.operators.mesh_bridge.label_from_name(name) == label


def test_empty_meshes_are_named_and_mirrored_parts_keep_outward_faces(bpy, bridge, MeshArrays):
    collection = bridge.ensure_collection("odd")
    with bridge.SceneWriter() as writer:
        root = writer.mesh_object(_cube(MeshArrays, "root"), collection)
        mirrored = writer.mesh_object(_cube(MeshArrays, "mirror"), collection)
    mirrored.parent = root
    mirrored.scale = (-1, 1, 1)
    (shape,) = bridge.read_collection(collection)
    from shapespace.primitives import signed_volume
    from shapespace.mesh_arrays import MeshArrays as PureMeshArrays

    pure = PureMeshArrays(shape.name, shape.vertices, shape.face_sizes, shape.corner_vertices)
    half = PureMeshArrays("half", shape.vertices[8:], shape.face_sizes[6:], shape.corner_vertices[24:] - 8)
    assert signed_volume(half) > 0 and signed_volume(pure) > 0
    empty = bpy.data.objects.new("hollow", bpy.data.meshes.new("hollow"))
    collection.objects.link(empty)
    with pytest.raises(bridge.BridgeError, match="'hollow' is a mesh without vertices"):
        bridge.read_collection(collection)
