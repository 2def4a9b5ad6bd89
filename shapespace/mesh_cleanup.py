"""Clean meshes from generated signed-distance grids: one piece (or as many as the class has), no specks.

`extract_surface` (marching tetrahedra) already gives a closed, outward-facing 2-manifold; what a
generator adds is loose bits: a stray blob beside the shape, a leg that floats free. This module
counts and keeps the connected pieces that matter:

* `surface_pieces(mesh)`: per-face piece label and each piece's enclosed volume (closed pieces from
  the extraction have exact volumes by the divergence theorem);
* `typical_piece_count(grids, ...)`: how many pieces a class's training shapes have (the median of
  the pieces holding at least `speck_share` of each shape's volume, after the same growth
  `clean_surface` allows) — the count the model keeps;
* `clean_surface(grid, low, pitch, pieces)`: extract; if there are more significant pieces than the
  class has, grow the surface by up to `max_grow` voxels until they join; drop specks (< `speck_share`
  of the volume); keep the `pieces` largest of the rest. Nothing is smoothed, so thin parts (legs)
  stay at least as thick as decoded.

The report says what was dropped (`dropped_share` of the volume), so a caller can tell a clean
single piece from a chair whose legs were cut off.

Speed (a generated chair at 64³, ~15k vertices, one thread on a shared 2-core machine): 20-25 ms
CPU when no growth is needed, 35-50 ms when it is (an extraction per quarter voxel tried), against
125-230 ms before — the same meshes and reports. Pieces are found by hooking roots and jumping
pointers (3-4 rounds; the generic `primitives.vertex_components` took 90-100 ms on one 30k-face
piece), and each extraction runs on the box around the shape (about a third of the cube).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .isosurface import extract_surface
from .mesh_arrays import MeshArrays

__all__ = ["surface_pieces", "typical_piece_count", "clean_surface", "CleanReport", "SPECK_SHARE"]

SPECK_SHARE = 0.02  # pieces holding less of the shape's volume than this are specks


@dataclass
class CleanReport:
    pieces_before: int  # connected pieces the extraction gave
    significant_before: int  # of those, pieces holding at least speck_share of the volume
    pieces_after: int
    dropped_share: float  # share of the volume in the pieces dropped
    grown: float = 0.0  # voxels the surface was grown by to join pieces
    significant_after: int = 0  # significant pieces after growing (before keeping the largest)


def _vertex_pieces(triangles: np.ndarray, count: int) -> np.ndarray:
    """(count,) for every vertex the smallest vertex of its connected piece."""
    a = np.concatenate([triangles[:, 0], triangles[:, 1]])  # two edges of a triangle connect all three
    b = np.concatenate([triangles[:, 1], triangles[:, 2]])
    return edge_roots(a, b, count)


def edge_roots(a: np.ndarray, b: np.ndarray, count: int) -> np.ndarray:
    """(count,) the smallest node of each node's connected piece, for the edges a[i]-b[i] between nodes
    0..count-1. Each round hooks the larger of two differing roots under the smaller (so pointers only
    go down and no cycle forms) and then jumps pointers to the roots; only edges whose ends still
    differ go on. An extracted 64³ surface settles in 3-4 rounds (label propagation with one jump per
    round took tens)."""
    labels = np.arange(count)
    while True:
        root_a, root_b = labels[a], labels[b]
        differ = root_a != root_b
        if not differ.any():
            return labels
        a, b, root_a, root_b = a[differ], b[differ], root_a[differ], root_b[differ]
        labels[np.maximum(root_a, root_b)] = np.minimum(root_a, root_b)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped


def surface_pieces(mesh: MeshArrays) -> tuple[np.ndarray, np.ndarray]:
    """(per-face piece index (F,), each piece's absolute enclosed volume (P,)) of a triangle mesh;
    pieces are numbered in the order of their first vertex."""
    triangles = mesh.corner_vertices.reshape(-1, 3).astype(np.int64)
    if len(triangles) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    roots = _vertex_pieces(triangles, len(mesh.vertices))
    is_root = np.zeros(len(roots), dtype=bool)
    is_root[roots[triangles[:, 0]]] = True  # roots of pieces that have faces (unused vertices are no piece)
    number = np.cumsum(is_root) - 1
    piece = number[roots[triangles[:, 0]]]
    v = mesh.vertices.astype(np.float64)
    a, b, c = v[triangles[:, 0]], v[triangles[:, 1]], v[triangles[:, 2]]
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return piece, np.abs(np.bincount(piece, volume, minlength=int(is_root.sum())))


def _shape_box(grid: np.ndarray, reach: float) -> tuple:
    """Slices of the smallest box holding every voxel below `reach` and one voxel around it (the
    whole grid if there is none)."""
    below = grid < reach
    box = []
    for axis, others in enumerate(((1, 2), (0, 2), (0, 1))):
        used = np.flatnonzero(below.any(axis=others))
        box.append(slice(max(0, int(used[0]) - 1), int(used[-1]) + 2) if len(used) else slice(0, grid.shape[axis]))
    return tuple(box)


def _extract(grid: np.ndarray, low, pitch: float, name: str, grow: float = 0.0, box: tuple | None = None
             ) -> MeshArrays:
    """The surface of `grid` grown by `grow` (scene units), extracted from `box` (default: the
    `_shape_box` at `grow`; it must hold every voxel below `grow`): a generated shape fills about a
    third of its cube, and the extraction's passes over the grid shrink with it. Beyond the box is
    the outside value the whole grid would be padded with, so the mesh is the whole grid's (vertex
    positions to rounding)."""
    grid = np.asarray(grid, np.float64)
    if not (grid < grow).any():
        raise ValueError(f"'{name}': the signed-distance grid has no inside (no negative value); "
                         "the model produced an empty shape — try another seed or a larger spread")
    box = _shape_box(grid, grow) if box is None else box
    corner = np.asarray(low, np.float64) + pitch * np.array([b.start for b in box])
    outside = min(grow - float(grid.max()), 0.0) - 1.0  # what extract_surface pads the whole grid with
    return extract_surface(grow - grid[box], 0.0, low=corner, pitch=pitch, name=name, outside=outside)


def typical_piece_count(grids, low=(0.0, 0.0, 0.0), pitch: float = 1.0, speck_share: float = SPECK_SHARE,
                        max_grow: float = 0.75) -> int:
    """The median number of significant pieces (≥ speck_share of the volume) of the shapes' surfaces,
    each grown by `max_grow` voxels first — as `clean_surface` may grow a generated one — so a leg a
    voxel grid barely separates from its seat does not count as a piece of its own. (Roughened
    procedural shapes at 32³: chairs 1-5 pieces as extracted, all 1 after growing 3/4 voxel.)"""
    counts = []
    for grid in grids:
        if not (np.asarray(grid) < 0).any():
            continue
        _, volumes = surface_pieces(_extract(grid, low, pitch, "shape", max_grow * pitch))
        counts.append(int((volumes >= speck_share * volumes.sum()).sum()))
    return int(np.median(counts)) if counts else 1


def clean_surface(grid: np.ndarray, low=(0.0, 0.0, 0.0), pitch: float = 1.0, pieces: int | None = 1,
                  speck_share: float = SPECK_SHARE, max_grow: float = 0.75, name: str = "generated"
                  ) -> tuple[MeshArrays, CleanReport]:
    """The surface of a signed-distance grid (negative inside; voxel (i, j, k) centred at
    low + (i + 0.5, j + 0.5, k + 0.5)·pitch) with specks dropped and at most `pieces` pieces kept
    (None: all significant pieces). If the surface has more significant pieces than `pieces`, it is
    grown outwards (the level raised) by up to `max_grow` voxels in quarter-voxel steps until they
    join: a generator's near-touching leg joins its seat, and growing never thins a leg (the
    opposite of smoothing). Watertight and outward-facing (from extract_surface); ValueError naming
    `name` if the grid has no inside."""
    grid = np.asarray(grid, np.float64)
    box = _shape_box(grid, max_grow * pitch)  # one box for every growth tried
    before = None
    for grow in np.arange(0.0, max_grow + 1e-9, 0.25):
        mesh = _extract(grid, low, pitch, name, grow * pitch, box)
        piece, volumes = surface_pieces(mesh)
        total = float(volumes.sum())
        significant = np.flatnonzero(volumes >= speck_share * total)
        if len(significant) == 0:
            significant = np.array([int(np.argmax(volumes))])
        if before is None:
            before = (len(volumes), len(significant))
        if pieces is None or len(significant) <= pieces:
            break
    keep = significant[np.argsort(volumes[significant])[::-1]]
    if pieces is not None:
        keep = keep[:max(1, int(pieces))]
    kept_volume = float(volumes[keep].sum())
    if len(keep) == len(volumes):  # every piece kept: the extraction as it is
        out = MeshArrays(name, mesh.vertices, mesh.face_sizes, mesh.corner_vertices)
    else:
        keep_face = np.zeros(len(volumes), dtype=bool)
        keep_face[keep] = True
        triangles = mesh.corner_vertices.reshape(-1, 3)[keep_face[piece]]
        used = np.zeros(len(mesh.vertices), dtype=bool)
        used[triangles.ravel()] = True
        new_index = (np.cumsum(used) - 1).astype(mesh.corner_vertices.dtype)
        out = MeshArrays(name, mesh.vertices[used], np.full(len(triangles), 3, np.int32),
                         new_index[triangles.ravel()])
    report = CleanReport(before[0], before[1], len(keep), 1.0 - kept_volume / total if total else 0.0,
                         float(grow), len(significant))
    return out, report
