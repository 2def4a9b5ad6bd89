import numpy as np
import pytest

from mesh_files import CUBE_QUADS, CUBE_VERTICES, write_off
from shapespace.off_format import MeshFileError, parse_off, read_off


def test_reads_a_cube(tmp_path):
    write_off(tmp_path / "cube.off")
    mesh = read_off(tmp_path / "cube.off")
    assert mesh.name == "cube"
    np.testing.assert_allclose(mesh.vertices, CUBE_VERTICES)
    assert mesh.corner_vertices.tolist() == CUBE_QUADS.ravel().tolist()


def test_counts_on_the_header_line_comments_and_face_colours():
    text = "OFF 3 1 0 # a triangle\n0 0 0\n1 0 0\n# comment\n0 1 0\n3 0 1 2 255 0 0\n"
    mesh = parse_off(text, "tri")
    assert mesh.face_sizes.tolist() == [3]
    assert mesh.corner_vertices.tolist() == [0, 1, 2]


def test_coff_vertex_colours_are_skipped():
    mesh = parse_off("COFF\n3 1 0\n0 0 0 1 1 1 1\n1 0 0 1 1 1 1\n0 1 0 1 1 1 1\n3 0 1 2\n", "c")
    np.testing.assert_allclose(mesh.vertices[1], [1, 0, 0])


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("PLY\n3 1 0\n", "not an OFF file"),
    ("OFF\n", "counts are missing"),
    ("OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n", "truncated"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "outside"),
    ("OFF\n3 1 0\n0 0 0\n1 x 0\n0 1 0\n3 0 1 2\n", "vertex line"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1\n", "declares 3"),
    ("OFF\n3 1 0\n0 0 0\n1 0 nan\n0 1 0\n3 0 1 2\n", "NaN"),
    ("4OFF\n3 1 0\n", "not supported"),
])
def test_bad_files_say_what_is_wrong(text, message):
    with pytest.raises(MeshFileError, match=message) as error:
        parse_off(text, "broken")
    assert str(error.value).startswith("broken:")


def test_binary_file_is_refused_by_name(tmp_path):
    (tmp_path / "bin.off").write_bytes(b"OFF\n\xff\xfe\x00binary")
    with pytest.raises(MeshFileError, match="bin.off: not a text OFF file"):
        read_off(tmp_path / "bin.off")
