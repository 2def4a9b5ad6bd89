"""Own mesh readers: every format read right, every hostile header refused by name, fast."""

import struct
import time

import numpy as np
import pytest

from mesh_files import CUBE_QUADS, CUBE_TRIANGLES, CUBE_VERTICES, write_obj, write_off, write_ply, write_stl
from shapespace.mesh_readers import (MeshFileError, apply_axes, axis_matrix, format_axes, parse_obj, parse_ply,
                                     parse_stl, read_mesh)

PLY_HEADER = ("ply\nformat {fmt} 1.0\ncomment made by a test\nelement vertex {v}\nproperty float x\n"
              "property float y\nproperty float z\nelement face {f}\nproperty list uchar int vertex_indices\n"
              "end_header\n")


def _cube_faces(mesh):
    starts = np.concatenate([[0], np.cumsum(mesh.face_sizes)[:-1]])
    return [tuple(mesh.corner_vertices[s:s + n]) for s, n in zip(starts, mesh.face_sizes)]


def _binary_ply(order="<", vertices=CUBE_VERTICES, faces=CUBE_QUADS, declared_vertices=None, extra=b""):
    fmt = "binary_little_endian" if order == "<" else "binary_big_endian"
    header = PLY_HEADER.format(fmt=fmt, v=len(vertices) if declared_vertices is None else declared_vertices,
                               f=len(faces)).encode()
    body = np.asarray(vertices, dtype=order + "f4").tobytes()
    for face in faces:
        body += struct.pack(order + "B" + "i" * len(face), len(face), *face)
    return header + body + extra


@pytest.mark.parametrize("writer", [write_obj, write_off, write_ply])
def test_text_formats_read_the_cube_exactly(tmp_path, writer):
    path = tmp_path / f"cube.{writer.__name__.split('_')[1]}"
    writer(path)
    mesh = read_mesh(path)
    assert mesh.name == "cube"
    np.testing.assert_allclose(mesh.vertices, CUBE_VERTICES)
    assert mesh.corner_vertices.tolist() == CUBE_QUADS.ravel().tolist()
    assert mesh.face_sizes.tolist() == [4] * 6


def test_stl_merges_corners_into_the_8_cube_vertices(tmp_path):
    write_stl(tmp_path / "cube.stl")
    mesh = read_mesh(tmp_path / "cube.stl")
    assert (len(mesh.vertices), mesh.face_count) == (8, 12)
    np.testing.assert_allclose(mesh.vertices[mesh.triangles], CUBE_VERTICES[CUBE_TRIANGLES])
    ascii_text = "solid cube\n" + "".join(
        "facet normal 0 0 0\nouter loop\n" + "".join(f"vertex {x} {y} {z}\n" for x, y, z in CUBE_VERTICES[t])
        + "endloop\nendfacet\n" for t in CUBE_TRIANGLES) + "endsolid cube\n"
    ascii_mesh = parse_stl(ascii_text.encode(), "a")
    assert (len(ascii_mesh.vertices), ascii_mesh.face_count) == (8, 12)
    np.testing.assert_allclose(ascii_mesh.vertices[ascii_mesh.triangles], CUBE_VERTICES[CUBE_TRIANGLES])


@pytest.mark.parametrize("order", ["<", ">"])
def test_binary_ply_both_byte_orders_and_mixed_polygons(order):
    faces = [[0, 3, 2, 1], [4, 5, 6], [4, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]]
    mesh = parse_ply(_binary_ply(order, faces=faces), "m")
    np.testing.assert_allclose(mesh.vertices, CUBE_VERTICES)
    assert _cube_faces(mesh) == [tuple(f) for f in faces]


def test_ply_skips_other_elements_and_properties():
    header = ("ply\nformat binary_little_endian 1.0\nelement vertex 8\nproperty double x\nproperty uchar red\n"
              "property double y\nproperty double z\nproperty float confidence\nelement material 2\n"
              "property list uchar float coefficients\nelement face 6\nproperty int flags\n"
              "property list uchar uint vertex_indices\nproperty list uchar float texcoord\nend_header\n")
    body = b"".join(struct.pack("<dBddf", x, 7, y, z, 0.5) for x, y, z in CUBE_VERTICES)
    body += struct.pack("<B2f", 2, 1, 2) + struct.pack("<B", 0)
    for i, face in enumerate(CUBE_QUADS):
        uv = [0.0] * (2 * (i % 3))  # texcoord lists of different lengths: records of varying size
        body += struct.pack("<iB4IB" + "f" * len(uv), 9, 4, *face, len(uv), *uv)
    mesh = parse_ply(header.encode() + body, "m")
    np.testing.assert_allclose(mesh.vertices, CUBE_VERTICES)
    assert mesh.corner_vertices.tolist() == CUBE_QUADS.ravel().tolist()
    text = ("ply\nformat ascii 1.0\nelement vertex 8\nproperty float x\nproperty float y\nproperty float z\n"
            "property uchar red\nelement face 6\nproperty uchar flag\nproperty list uchar int vertex_indices\n"
            "property float quality\nend_header\n"
            + "".join(f"{x} {y} {z} 200\n" for x, y, z in CUBE_VERTICES)
            + "".join(f"1 4 {' '.join(map(str, f))} 0.5\n" for f in CUBE_QUADS))
    assert parse_ply(text.encode(), "m").corner_vertices.tolist() == CUBE_QUADS.ravel().tolist()


def test_obj_forms_negative_indices_and_ignored_lines():
    text = ("# a cube\nmtllib cube.mtl\no Cube\n" + "".join(f"v {x} {y} {z}\n" for x, y, z in CUBE_VERTICES)
            + "vt 0 0\nvn 0 0 1\ng side\nusemtl red\ns off\n"
            + "f 1/1/1 4/1/1 3/1/1 2/1/1\nf 5//1 6//1 7//1 8//1\nf -8 -7 -3 -4\n  f 2 3 7 6 # indented\n"
            + "l 1 2\nf 3 4\n")
    mesh = parse_obj(text.encode(), "c")
    assert _cube_faces(mesh) == [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5)]  # "f 3 4" dropped


def _hostile_cases(tmp_path):
    """(file name, bytes, what the message must say) for every format."""
    good_ply = _binary_ply()
    good_stl = (tmp_path / "s.stl")
    write_stl(good_stl)
    stl = good_stl.read_bytes()
    return [
        ("huge.ply", _binary_ply(declared_vertices=10 ** 12), "more than the"),
        ("huge2.ply", PLY_HEADER.format(fmt="binary_little_endian", v=4_000_000, f=1).encode() + b"\0" * 2000,
         "need at least"),
        ("cut.ply", good_ply[:-30], "truncated"),
        ("few_lines.ply", (PLY_HEADER.format(fmt="ascii", v=8, f=6) + "0 0 0\n1 0 0\n").encode(),
         "cannot hold them"),
        ("wrong_count.ply", (PLY_HEADER.format(fmt="ascii", v=3, f=1) + "0 0 0\n1 0\n0 1 0\n3 0 1 2\n").encode(),
         "should hold the 3 values"),
        ("index.ply", _binary_ply(faces=[[0, 1, 9]]), "refers to vertex 9"),
        ("binary_as_ascii.ply", _binary_ply().replace(b"binary_little_endian", b"ascii"), "is binary"),
        ("nan.ply", _binary_ply(vertices=np.vstack([CUBE_VERTICES[:6], [[np.nan, 0, 0], [np.inf, 0, 0]]])),
         "2 of 8 vertices have NaN or infinite"),
        ("noheader.ply", b"ply\nformat ascii 1.0\nelement vertex 3\n" + b"\x00\xff" * 50, "end_header"),
        ("points.ply", PLY_HEADER.split("element face")[0].format(fmt="ascii", v=3).encode()
         + b"end_header\n0 0 0\n1 0 0\n0 1 0\n", "no faces"),
        ("badfmt.ply", b"ply\nformat xml 1.0\nend_header\n", "unknown PLY format"),
        ("empty.obj", b"", "empty"),
        ("noise.obj", bytes(range(256)) * 8, "binary data"),
        ("words.obj", b"this is not geometry\n", "no vertex"),
        ("nan.obj", b"v 0 0 0\nv 1 0 nan\nv 0 inf 0\nf 1 2 3\n", "2 of 3 vertices have NaN"),
        ("index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 40\n", "refers to vertex 39"),
        ("zero.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "start at 1"),
        ("short.obj", b"v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "without three coordinates"),
        ("word.obj", b"v 0 0 0\nv 1 zero 0\nv 0 1 0\nf 1 2 3\n", "'zero', which is not a number"),
        ("cut.stl", stl[:-20], "declares 12 triangles"),
        ("huge.stl", stl[:80] + struct.pack("<I", 2 ** 31) + stl[84:], "declares 2,147,483,648 triangles"),
        ("tiny.stl", b"abc", "too short"),
        ("nan.stl", stl[:96] + struct.pack("<f", np.nan) + stl[100:], "NaN"),
        ("huge.off", b"OFF\n1000000000000 1 0\n0 0 0\n", "more than the"),
        ("cut.off", b"OFF\n8 6 0\n0 0 0\n1 0 0\n", "truncated"),
        ("index.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 5\n", "refers to vertex 5"),
        ("nan.off", b"OFF\n3 1 0\n0 0 0\n1 0 nan\n0 1 0\n3 0 1 2\n", "1 of 3 vertices have NaN"),
        ("binary.off", b"OFF\n\xff\xfe\x00binary", "not a text OFF"),
    ]


def test_hostile_files_are_refused_by_name_quickly(tmp_path):
    cases = _hostile_cases(tmp_path)
    for name, data, message in cases:
        (tmp_path / name).write_bytes(data)
    start = time.perf_counter()
    for name, _, message in cases:
        with pytest.raises(MeshFileError) as error:
            read_mesh(tmp_path / name)
        assert str(error.value).startswith(f"{name}: ") and message in str(error.value), (name, str(error.value))
    assert time.perf_counter() - start < 2.0  # nothing allocates what a header declares


def test_folders_missing_files_and_caps_are_refused_by_name(tmp_path):
    (tmp_path / "x.ply").mkdir()
    with pytest.raises(MeshFileError, match=r"^x.ply: is a folder"):
        read_mesh(tmp_path / "x.ply")
    with pytest.raises(MeshFileError, match=r"^gone.obj: cannot be read"):
        read_mesh(tmp_path / "gone.obj")
    write_obj(tmp_path / "cube.obj")
    with pytest.raises(MeshFileError, match=r"^cube.obj: .* more than the 4 a file may hold"):
        read_mesh(tmp_path / "cube.obj", max_vertices=4)
    with pytest.raises(MeshFileError, match=r"^cube.obj: .* is more than the 10 bytes"):
        read_mesh(tmp_path / "cube.obj", max_bytes=10)


def _grid(side=100):
    x, y = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side))
    vertices = np.stack([x.ravel(), y.ravel(), np.sin(x * 6).ravel() * 0.1], 1).astype(np.float32)
    i = (np.arange(side - 1)[:, None] * side + np.arange(side - 1)[None, :]).ravel()
    return vertices, np.concatenate([np.stack([i, i + 1, i + side + 1], 1), np.stack([i, i + side + 1, i + side], 1)])


def test_10k_vertex_files_parse_exactly(tmp_path):
    vertices, triangles = _grid()
    write_obj(tmp_path / "g.obj", vertices, triangles)
    write_off(tmp_path / "g.off", vertices, triangles)
    (tmp_path / "g.ply").write_bytes(_binary_ply(vertices=vertices, faces=triangles))
    write_stl(tmp_path / "g.stl", vertices, triangles)
    # how fast: `make bench` (import rows); here, that every format reads the same mesh exactly
    for suffix in ("obj", "off", "ply", "stl"):
        mesh = read_mesh(tmp_path / f"g.{suffix}")
        assert (len(mesh.vertices), mesh.face_count) == (10_000, len(triangles)), suffix
        np.testing.assert_allclose(mesh.vertices[mesh.triangles], vertices[triangles], atol=1e-5)


def test_axes_follow_blenders_importers():
    assert format_axes("obj") == ("-Z", "Y") and format_axes("ply") == ("Y", "Z")
    np.testing.assert_array_equal(axis_matrix("Y", "Z"), np.eye(3))
    np.testing.assert_array_equal(axis_matrix("-Z", "Y") @ [1.0, 2.0, 3.0], [1.0, -3.0, 2.0])  # as Blender's OBJ
    assert format_axes("ply", up="Y") == ("-Z", "Y")  # the format's forward Y is not perpendicular to Y
    assert format_axes("obj", up="Z") == ("Y", "Z")
    with pytest.raises(ValueError, match="must be different axes"):
        axis_matrix("Y", "-Y")
    standing = apply_axes(parse_obj(b"v 0 0 0\nv 0 2 0\nv 1 0 0\nf 1 2 3\n", "scan"), "-Z", "Y")
    assert standing.vertices[:, 2].max() == 2.0  # a Y-up scan's height becomes Blender's Z
    for forward, up in (("X", "Y"), ("-Y", "X"), ("Z", "-X")):
        matrix = axis_matrix(forward, up)
        assert np.isclose(np.linalg.det(matrix), 1.0)
