"""Pieces of extracted surfaces, counted fast: the same pieces and volumes as the generic mesh
components (shapespace.primitives.vertex_components) on grids with many pieces and on one long thin
coil (the worst case for label propagation); clean_surface keeps exactly the largest pieces asked
for and leaves no unused vertex."""

import numpy as np

from shapespace.isosurface import extract_surface
from shapespace.mesh_cleanup import clean_surface, surface_pieces
from shapespace.primitives import is_closed_manifold, signed_volume, vertex_components


def _blobs(seed, resolution=40, count=14):
    """Signed distance (negative inside) of `count` random balls in the unit cube, some overlapping."""
    rng = np.random.default_rng(seed)
    axis = (np.arange(resolution) + 0.5) / resolution
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    centres, radii = rng.uniform(0.15, 0.85, (count, 3)), rng.uniform(0.02, 0.12, count)
    return np.min(np.linalg.norm(points[..., None, :] - centres, axis=-1) - radii, axis=-1)


def _reference_pieces(mesh):
    labels, count = vertex_components(mesh)
    triangles = mesh.corner_vertices.reshape(-1, 3)
    return labels[triangles[:, 0]], count


def test_pieces_and_volumes_match_the_generic_components():
    pitch = 1 / 40
    for seed in range(3):
        mesh = extract_surface(-_blobs(seed), 0.0, pitch=pitch)
        piece, volumes = surface_pieces(mesh)
        expected, count = _reference_pieces(mesh)
        assert count >= 4 and len(volumes) == count  # several separate balls
        assert np.array_equal(piece, expected)  # the same numbering (by each piece's first vertex)
        assert abs(volumes.sum() - signed_volume(mesh)) < 1e-6 * max(1.0, signed_volume(mesh))
        assert volumes.min() > 0


def test_a_long_coil_is_one_piece():
    r = 48
    axis = (np.arange(r) + 0.5) / r
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    turns = 2  # a helix: paths along its surface are hundreds of edges long
    angle = 2 * np.pi * turns * z
    distance = np.hypot(x - 0.5 - 0.3 * np.cos(angle), y - 0.5 - 0.3 * np.sin(angle)) - 0.08
    mesh = extract_surface(-distance, 0.0, pitch=1 / r)
    piece, volumes = surface_pieces(mesh)
    assert len(volumes) == 1 and (piece == 0).all()
    assert _reference_pieces(mesh)[1] == 1


def test_clean_surface_keeps_the_largest_pieces_and_no_unused_vertex():
    pitch = 1 / 40
    grid = _blobs(4)
    full = extract_surface(-grid, 0.0, pitch=pitch)
    _, volumes = surface_pieces(full)
    assert len(volumes) >= 4
    largest = np.sort(volumes)[::-1]
    for keep in (1, 2, 3):
        mesh, report = clean_surface(grid, pitch=pitch, pieces=keep, max_grow=0.0)
        _, kept = surface_pieces(mesh)
        assert report.pieces_after == keep and len(kept) == keep
        assert np.allclose(np.sort(kept)[::-1], largest[:keep], rtol=1e-5)
        assert is_closed_manifold(mesh) and signed_volume(mesh) > 0
        assert len(np.unique(mesh.corner_vertices)) == len(mesh.vertices)  # every vertex used
        expected_drop = 1 - largest[:keep].sum() / largest.sum()
        assert abs(report.dropped_share - expected_drop) < 1e-6
    everything, report = clean_surface(grid, pitch=pitch, pieces=None, speck_share=0.0, max_grow=0.0)
    assert len(everything.vertices) == len(full.vertices) and report.dropped_share < 1e-12


def test_the_box_cut_around_the_shape_gives_the_whole_grids_surface():
    """clean_surface extracts from a box around the shape; with a shape touching two sides of the
    grid (where the padding shows) and pieces grown by up to 3/4 voxel, the mesh is the whole grid's."""
    pitch = 1 / 40
    axis = (np.arange(40) + 0.5) / 40
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)
    sides = [np.linalg.norm(points - c, axis=-1) - 0.1 for c in ((0.02, 0.5, 0.5), (0.5, 0.98, 0.4))]
    grid = np.minimum(_blobs(5), np.minimum(*sides))  # two more balls, cut by the grid's sides
    assert (grid[0] < 0).any() and (grid[:, -1] < 0).any()
    for grow in (0.0, 0.5):
        whole = extract_surface(-(grid + grow * pitch), 0.0, pitch=pitch)
        mesh, report = clean_surface(grid + grow * pitch, pitch=pitch, pieces=None, speck_share=0.0, max_grow=0.75)
        assert report.grown == 0.0 and np.array_equal(mesh.corner_vertices, whole.corner_vertices)
        assert np.abs(mesh.vertices - whole.vertices).max() < 1e-6
