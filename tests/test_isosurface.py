"""Meshes out of grids: closed, consistently oriented, no NaN, no degenerate faces — on smooth fields,
binary voxel grids and noise full of ambiguous cells."""

import numpy as np
import pytest

from shapespace.isosurface import extract_surface, remove_small_pieces, taubin_smooth, triangle_areas
from shapespace.primitives import is_closed_manifold, signed_volume, vertex_components
from shapespace.procedural import make_shape
from shapespace.voxels import frame_around, iou, voxelize


def _clean(mesh, pitch):
    assert np.isfinite(mesh.vertices).all()
    assert is_closed_manifold(mesh)  # every edge in exactly two faces, in opposite directions
    assert signed_volume(mesh) > 0  # faces point outwards
    assert triangle_areas(mesh).min() > 1e-6 * pitch ** 2
    tris = mesh.corner_vertices.reshape(-1, 3)
    assert len(np.unique(np.sort(tris, axis=1), axis=0)) == len(tris)  # no face twice


def test_a_ball_is_closed_and_has_the_right_volume():
    r = 32
    centres = (np.arange(r) + 0.5) / r - 0.5
    x, y, z = np.meshgrid(centres, centres, centres, indexing="ij")
    distance = np.sqrt(x ** 2 + y ** 2 + z ** 2)
    probability = 1 / (1 + np.exp((distance - 0.35) / 0.02))
    mesh = extract_surface(probability, low=(-0.5, -0.5, -0.5), pitch=1 / r)
    _clean(mesh, 1 / r)
    assert abs(signed_volume(mesh) / (4 / 3 * np.pi * 0.35 ** 3) - 1) < 0.03
    assert np.abs(np.linalg.norm(mesh.vertices, axis=1) - 0.35).max() < 0.5 / r


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_with_ambiguous_cells_still_gives_closed_surfaces(seed):
    values = np.random.default_rng(seed).random((12, 12, 12))  # every kind of ambiguous face and cell
    mesh = extract_surface(values, 0.5)
    _clean(mesh, 1.0)


def test_binary_grids_touching_the_border_are_closed():
    grid = np.zeros((8, 8, 8))
    grid[:, 2:5, 0:3] = 1.0  # runs through the whole grid along x
    grid[7, 7, 7] = 1.0  # a lone corner voxel
    grid[3, 3, 3] = 0.5  # exactly on the level: counts as outside, no vertex on a grid point
    mesh = extract_surface(grid)
    _clean(mesh, 1.0)
    assert vertex_components(mesh)[1] == 2


def test_voxelised_shapes_round_trip():
    shape = make_shape("lamp", 4, same_topology=False)
    frame = frame_around(shape.vertices.min(axis=0), shape.vertices.max(axis=0), 32)
    occupancy = voxelize(shape.vertices, shape.triangles, frame)
    mesh = extract_surface(occupancy.astype(float), low=frame.low, pitch=frame.pitch)
    _clean(mesh, frame.pitch)
    assert iou(voxelize(mesh.vertices, mesh.triangles, frame), occupancy) >= 0.9
    smooth = taubin_smooth(mesh, 10)
    _clean(smooth, frame.pitch)
    assert abs(signed_volume(smooth) / signed_volume(mesh) - 1) < 0.1  # Taubin does not shrink


def test_small_pieces_are_removed():
    grid = np.zeros((16, 16, 16))
    grid[2:12, 2:12, 2:12] = 1.0
    grid[14, 14, 14] = 1.0  # a speck
    mesh = extract_surface(grid)
    assert vertex_components(mesh)[1] == 2
    kept = remove_small_pieces(mesh, 0.05)
    assert vertex_components(kept)[1] == 1
    _clean(kept, 1.0)


def test_bad_grids():
    with pytest.raises(ValueError, match="Nothing in the grid"):
        extract_surface(np.zeros((8, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        extract_surface(np.full((4, 4, 4), np.nan))
    with pytest.raises(ValueError, match="3D grid"):
        extract_surface(np.zeros((4, 4)))


def test_the_expected_volume_level_keeps_unsure_thin_parts():
    from shapespace.isosurface import expected_volume_level

    p = np.zeros((8, 8, 8))
    p[2:6, 3, 3] = 0.4  # a thin bar the model is unsure of: expected volume 1.6 voxels, nothing above 1/2
    level = expected_volume_level(p)
    assert 0 < level < 0.4 and (p > level).sum() == 4
    confident = np.zeros((8, 8, 8))
    confident[2:6, 2:6, 2:6] = 0.9
    assert expected_volume_level(confident) == 0.5


def test_every_vertex_sits_where_the_field_crosses_the_level_on_a_grid_edge():
    """On a grid with three different sides (strides that differ per axis): each vertex lies on an
    edge of a cell's tetrahedra (an axis step, a face or the main diagonal), between one grid value
    above the level and one below, at the linear interpolation of the two."""
    values = np.random.default_rng(3).random((9, 7, 8))
    mesh = extract_surface(values, 0.5, low=(1.0, -2.0, 0.5), pitch=0.25)
    assert is_closed_manifold(mesh) and signed_volume(mesh) > 0
    field = np.pad(values, 1, constant_values=min(values.min(), 0.5) - 1.0)  # as extract_surface pads
    field[np.abs(field - 0.5) < 1e-3] = 0.5 - 1e-3  # as extract_surface moves values off the level
    p = (mesh.vertices.astype(np.float64) - (1.0, -2.0, 0.5)) / 0.25 + 0.5  # padded grid coordinates (voxel centres at +0.5, one voxel of padding)
    off_grid = np.abs(p - np.round(p)) > 1e-4  # the axes the vertex's edge runs along
    assert off_grid.any(axis=1).all()
    start = np.where(off_grid, np.floor(p), np.round(p)).astype(np.int64)
    fa, fb = field[tuple(start.T)], field[tuple((start + off_grid).T)]
    assert ((fa > 0.5) != (fb > 0.5)).all()
    t = (p - start).max(axis=1)  # the same share along every axis of a diagonal edge
    assert np.abs(t - (0.5 - fa) / (fb - fa)).max() < 1e-4
    assert len(mesh.vertices) > 300  # noise at 9×7×8 crosses the level almost everywhere
