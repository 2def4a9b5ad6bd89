import numpy as np
import pytest

from shapespace.mesh_arrays import MeshArrays, concatenate_parts


def _quad_and_triangle():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0]], dtype=np.float32)
    return MeshArrays.from_faces("m", vertices, [[0, 1, 2, 3], [1, 4, 2]])


def test_from_faces_lays_out_corners_like_blender_loops():
    mesh = _quad_and_triangle()
    assert mesh.face_sizes.tolist() == [4, 3]
    assert mesh.loop_starts.tolist() == [0, 4]
    assert mesh.corner_vertices.tolist() == [0, 1, 2, 3, 1, 4, 2]


def test_triangles_fan_each_face():
    assert _quad_and_triangle().triangles.tolist() == [[0, 1, 2], [0, 2, 3], [1, 4, 2]]


def test_validate_names_the_mesh_and_problem():
    mesh = _quad_and_triangle()
    mesh.corner_vertices[0] = 9
    with pytest.raises(ValueError, match="m: a face refers to a vertex outside 0..4"):
        mesh.validate()
    mesh = _quad_and_triangle()
    mesh.vertices[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mesh.validate()


def test_concatenate_parts_offsets_indices_and_labels_faces():
    a, b = _quad_and_triangle(), _quad_and_triangle()
    joined = concatenate_parts("chair", [("seat", a), ("leg", b), ("seat", a)], {"height": 1.0})
    joined.validate()
    assert joined.part_labels == ("seat", "leg")
    assert joined.face_parts.tolist() == [0, 0, 1, 1, 0, 0]
    assert joined.corner_vertices[7:].tolist() == [5, 6, 7, 8, 6, 9, 7, 10, 11, 12, 13, 11, 14, 12]
    assert joined.attributes == {"height": 1.0}
