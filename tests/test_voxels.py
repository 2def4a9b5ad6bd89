"""Voxelisation: agrees with the exact generalized winding number on closed meshes, and stays sensible
on the meshes people have (holes, overlapping pieces, flipped pieces)."""

import numpy as np
import pytest

from shapespace.assembly import winding_numbers
from shapespace.mesh_arrays import MeshArrays, concatenate_parts
from shapespace.primitives import box, ellipsoid
from shapespace.procedural import make_shape
from shapespace.voxels import (GridFrame, check_grid_fits, common_frame, frame_around, iou, voxelize)


def _reference(mesh, frame):
    """Exact generalized winding number at every voxel centre (slow, brute force)."""
    points = frame.points()
    return winding_numbers(points, mesh.vertices.astype(np.float64), mesh.triangles).reshape(
        (frame.resolution,) * 3) >= 0.5


def _frame(mesh, resolution):
    return frame_around(mesh.vertices.min(axis=0), mesh.vertices.max(axis=0), resolution)


@pytest.mark.parametrize("family", ["chair", "vase", "airplane"])
def test_closed_meshes_match_the_exact_winding_number(family):
    mesh = make_shape(family, 5, same_topology=False)  # chairs: legs overlap the seat, closed pieces
    frame = _frame(mesh, 32)
    occupancy = voxelize(mesh.vertices, mesh.triangles, frame)
    assert occupancy.any()
    assert iou(occupancy, _reference(mesh, frame)) >= 0.98


def test_a_sphere_at_64_matches_the_analytic_ball():
    mesh = ellipsoid((0.1, -0.2, 0.3), (0.5, 0.5, 0.5), segments=96, rings=48)
    frame = _frame(mesh, 64)
    occupancy = voxelize(mesh.vertices, mesh.triangles, frame)
    ball = np.linalg.norm(frame.points() - (0.1, -0.2, 0.3), axis=1).reshape(64, 64, 64) < 0.5
    assert iou(occupancy, ball) >= 0.98


def test_holes_do_not_empty_the_shape():
    mesh = make_shape("vase", 2, same_topology=False)
    rng = np.random.default_rng(0)
    triangles = mesh.triangles
    kept = triangles[rng.random(len(triangles)) > 0.05]  # 5% of the triangles gone: holes all over
    frame = _frame(mesh, 32)
    whole = voxelize(mesh.vertices, triangles, frame)
    holed = voxelize(mesh.vertices, kept, frame)
    assert iou(holed, whole) >= 0.9


def test_a_large_hole_is_settled_by_the_winding_number():
    # A closed box with its whole top face removed: rays through the top see no crossing, the others do.
    mesh = box((0, 0, 0), (1.0, 1.0, 1.0), subdivisions=4)
    triangles = mesh.triangles
    centres = mesh.vertices[triangles].mean(axis=1)
    open_box = triangles[centres[:, 2] < 0.49]
    frame = frame_around((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5), 24)
    occupancy = voxelize(mesh.vertices, open_box, frame)
    truth = voxelize(mesh.vertices, triangles, frame)
    assert iou(occupancy, truth) >= 0.85  # the winding number of an open box fades towards the opening


def test_overlapping_and_flipped_pieces():
    a = box((0, 0, 0), (1.0, 1.0, 1.0))
    b = box((0.5, 0.0, 0.0), (1.0, 0.6, 0.6))
    flipped_b = MeshArrays("flipped", b.vertices, b.face_sizes,
                           b.corner_vertices.reshape(-1, 4)[:, ::-1].ravel())
    union = concatenate_parts("two", [("a", a), ("b", b)])
    union_flipped = concatenate_parts("two", [("a", a), ("b", flipped_b)])
    frame = frame_around((-0.5, -0.5, -0.5), (1.0, 0.5, 0.5), 32)
    points = frame.points()
    in_a = np.all(np.abs(points) < 0.5, axis=1)
    in_b = np.all(np.abs(points - (0.5, 0, 0)) < (0.5, 0.3, 0.3), axis=1)
    truth = (in_a | in_b).reshape(32, 32, 32)
    assert iou(voxelize(union.vertices, union.triangles, frame), truth) >= 0.98
    assert iou(voxelize(union_flipped.vertices, union_flipped.triangles, frame), truth) >= 0.98


def test_faces_on_grid_planes_do_not_confuse_the_inside_test():
    # Box faces exactly on planes of voxel centres (x = 0.5 with centres at …, 0.5, …).
    mesh = box((0, 0, 0), (1.0, 1.0, 1.0))
    frame = GridFrame((-1.0, -1.0, -1.0), 2.0, 4)  # centres at ±0.25, ±0.75
    frame_on_faces = GridFrame((-0.75, -0.75, -0.75), 1.5, 3)  # centres at −0.5, 0, 0.5: on the faces
    assert voxelize(mesh.vertices, mesh.triangles, frame).sum() == 8
    occupancy = voxelize(mesh.vertices, mesh.triangles, frame_on_faces)
    # Centre inside; a face on a plane of centres is decided the same way along the whole face (a box
    # of 1, 2 or 3 voxels a side), never a ragged mix.
    assert occupancy[1, 1, 1] and occupancy.sum() in (1, 8, 27)
    xs, ys, zs = (np.flatnonzero(occupancy.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1)))
    assert occupancy.sum() == len(xs) * len(ys) * len(zs)


def test_surface_mode_is_a_shell():
    mesh = box((0, 0, 0), (1.0, 1.0, 1.0), subdivisions=3)
    frame = frame_around((-0.5,) * 3, (0.5,) * 3, 32)
    solid = voxelize(mesh.vertices, mesh.triangles, frame)
    shell = voxelize(mesh.vertices, mesh.triangles, frame, mode="SURFACE")
    assert shell.sum() < 0.4 * solid.sum()
    assert not shell[16, 16, 16]  # the middle is not on the surface
    cells = np.floor(frame.to_grid(mesh.vertices)).astype(int)
    assert shell[tuple(cells.T)].all()


def test_bad_input():
    with pytest.raises(ValueError, match="no faces"):
        voxelize(np.zeros((3, 3)), np.zeros((0, 3), int), frame_around((0, 0, 0), (1, 1, 1), 8))
    with pytest.raises(ValueError, match="no extent"):
        frame_around((0, 0, 0), (0, 0, 0), 8)
    plane = MeshArrays.from_faces("plane", [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)], [(0, 1, 2, 3)])
    assert not voxelize(plane.vertices, plane.triangles, frame_around((0, 0, -0.5), (1, 1, 0.5), 8)).any()
    with pytest.raises(ValueError, match=r"need 32\.0 GiB"):
        check_grid_fits(256, 512, 8 * 2 ** 30)
    with pytest.raises(ValueError, match="SOLID"):
        voxelize(plane.vertices, plane.triangles, frame_around((0, 0, -0.5), (1, 1, 0.5), 8), mode="HOLLOW")


def test_common_frame_keeps_sizes_comparable():
    small = box((0, 0, 0.25), (0.5, 0.5, 0.5))
    large = box((0, 0, 0.5), (1.0, 1.0, 1.0))
    frame = common_frame([small.vertices, large.vertices], 32)
    a = voxelize(small.vertices, small.triangles, frame).sum()
    b = voxelize(large.vertices, large.triangles, frame).sum()
    assert 6 < b / a < 10  # eight times the volume
