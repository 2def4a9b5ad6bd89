"""Meshes from occupancy (probability) grids: marching tetrahedra, vectorised.

Each cell of the grid is cut into the six tetrahedra that share its main diagonal (the same cut in
every cell, so neighbouring cells agree on their shared faces). Inside a tetrahedron the iso-surface
is one triangle or a quad, with vertices on the edges whose ends lie on different sides. Unlike the
classic marching-cubes table this has no ambiguous cases, so the result is a closed 2-manifold
wherever the grid is padded with outside values — watertight by construction. Triangles face from
higher to lower values (outwards for occupancy). Values within `epsilon` of the iso-level are moved
just outside, so no vertex lands on a grid point and no triangle collapses. Vertices are shared
between neighbouring cells (one per crossed grid edge).

(Marching cubes from a library was the first choice: scikit-image needs SciPy, which Blender does not
ship, and PyMCubes has no wheels for Python 3.13.)
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from .mesh_arrays import MeshArrays

__all__ = ["extract_surface", "expected_volume_level", "taubin_smooth", "remove_small_pieces", "triangle_areas"]

# Cell corners as (x, y, z) offsets; tetrahedron t walks from (0,0,0) to (1,1,1) one axis at a time.
_TETS = np.array([np.cumsum([np.zeros(3, np.int64)] + [np.eye(3, dtype=np.int64)[a] for a in order], axis=0)
                  for order in permutations(range(3))])  # (6, 4, 3)


def _triangle_table():
    """For each of the 16 inside/outside codes of a tetrahedron: up to two triangles, each three
    local edges (p, q) with p < q."""
    pairs = np.zeros((16, 2, 3, 2), dtype=np.int64)
    count = np.zeros(16, dtype=np.int64)
    for code in range(16):
        inside = [k for k in range(4) if code >> k & 1]
        outside = [k for k in range(4) if not code >> k & 1]
        lone = inside if len(inside) == 1 else outside if len(outside) == 1 else None
        if lone is not None:
            i = lone[0]
            pairs[code, 0] = [sorted((i, j)) for j in range(4) if j != i]
            count[code] = 1
        elif len(inside) == 2:
            (i, j), (k, l) = inside, outside
            pairs[code, 0] = [sorted(e) for e in ((i, k), (i, l), (j, l))]
            pairs[code, 1] = [sorted(e) for e in ((i, k), (j, l), (j, k))]
            count[code] = 2
    return pairs, count


_PAIRS, _COUNT = _triangle_table()


def _flip_table():
    """Whether each table triangle must be turned to face from the inside corners to the outside ones:
    fixed per (tetrahedron, code, triangle), since moving its vertices along their edges never flips it."""
    flip = np.zeros((6, 16, 2), dtype=bool)
    for t in range(6):
        corners = _TETS[t].astype(np.float64)
        for code in range(16):
            inside = np.array([code >> k & 1 for k in range(4)], dtype=bool)
            for s in range(_COUNT[code]):
                p, q = _PAIRS[code, s, :, 0], _PAIRS[code, s, :, 1]
                v = (corners[p] + corners[q]) / 2
                towards_out = corners[~inside].mean(axis=0) - corners[inside].mean(axis=0)
                flip[t, code, s] = np.cross(v[1] - v[0], v[2] - v[0]) @ towards_out < 0
    return flip


_FLIP = _flip_table()
# The eight cell corners as bit offsets (x·4 + y·2 + z), and each tetrahedron's corners among them.
_CORNERS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])
_TET_CORNERS = np.array([[int(v[0] * 4 + v[1] * 2 + v[2]) for v in tet] for tet in _TETS])  # (6, 4)


def _edge_key_table(strides: np.ndarray) -> np.ndarray:
    """(6 · 16 · 2, 3) for each (tetrahedron, code, triangle): its three crossed edges as keys
    (start corner's flat offset in a grid with these strides · 8 + the edge's axis bits x·4 + y·2 + z),
    relative to the cell's first corner, in the order that faces outwards (_FLIP applied)."""
    start = _TETS[np.arange(6)[:, None, None, None], _PAIRS[None, ..., 0]]  # (6, 16, 2, 3, 3)
    end = _TETS[np.arange(6)[:, None, None, None], _PAIRS[None, ..., 1]]
    keys = (start @ strides) * 8 + (end - start) @ np.array([4, 2, 1])
    keys = np.where(_FLIP[..., None], keys[..., ::-1], keys)
    return keys.reshape(-1, 3)


def extract_surface(values: np.ndarray, level: float = 0.5, *, low=(0.0, 0.0, 0.0), pitch: float = 1.0,
                    epsilon: float = 1e-3, name: str = "surface", outside: float | None = None) -> MeshArrays:
    """The closed surface where `values` (R, R, R, indexed [x, y, z]) crosses `level`; voxel (i, j, k)
    has its centre at low + (i+0.5, j+0.5, k+0.5)·pitch. Values above `level` are inside. `outside`:
    the value beyond the grid (default one below the smaller of the grid's minimum and `level`; a
    caller extracting a box cut from a larger grid passes the larger grid's, for the same vertices)."""
    values = np.asarray(values, np.float64)
    if values.ndim != 3:
        raise ValueError(f"Expected a 3D grid, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("The grid holds NaN or infinite values")
    if outside is None:
        outside = min(values.min(), level) - 1.0
    elif not outside < level - epsilon:
        raise ValueError(f"The value beyond the grid ({outside:g}) must be below the level {level:g}")
    field = np.pad(values, 1, constant_values=outside)
    near = np.abs(field - level) < epsilon
    field[near] = level - epsilon  # nothing exactly on the level: no vertex on a grid point
    inside = field > level
    shape = np.array(field.shape)
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    n = shape - 1
    # Only cells whose corners disagree hold surface.
    corner_inside = [inside[dx:dx + n[0], dy:dy + n[1], dz:dz + n[2]] for dx, dy, dz in _CORNERS]
    any_inside = np.logical_or.reduce(corner_inside)
    all_inside = np.logical_and.reduce(corner_inside)
    active = np.flatnonzero(any_inside & ~all_inside)  # flat index over the (n0, n1, n2) cells
    if len(active) == 0:
        raise ValueError(f"Nothing in the grid crosses the level {level:g}: no surface to extract")
    cx, rest = np.divmod(active, n[1] * n[2])
    cy, cz = np.divmod(rest, n[2])
    base = cx * strides[0] + cy * strides[1] + cz  # each active cell's first corner in the padded field
    inside_flat = inside.ravel()
    codes = np.zeros((6, len(active)), dtype=np.int64)
    corner_offsets = _CORNERS @ strides
    bits = [inside_flat[base + offset].astype(np.int64) for offset in corner_offsets]
    for t in range(6):
        for k in range(4):
            codes[t] |= bits[_TET_CORNERS[t, k]] << k
    tet, cell = np.nonzero((codes != 0) & (codes != 15))
    code = codes[tet, cell]
    # One row per triangle: which active tetrahedron, which of its (one or two) triangles.
    per = _COUNT[code]
    entry = np.repeat(np.arange(len(code)), per)
    which = np.zeros(len(entry), dtype=np.int64)
    which[np.cumsum(per)[per == 2] - 1] = 1  # the second triangle of a two-triangle tetrahedron
    # Each triangle's three crossed-edge keys (edge start · 8 + axis bits), relative to its cell's first
    # corner and already turned to face outwards: one table lookup per triangle.
    keys = (base[cell[entry]] * 8)[:, None] + _edge_key_table(strides)[(tet[entry] * 16 + code[entry]) * 2 + which]
    # One vertex per crossed grid edge: number the keys that occur (a dense table beats sorting).
    used = np.zeros(field.size * 8, dtype=bool)
    used[keys.ravel()] = True
    unique_keys = np.flatnonzero(used)
    index = np.empty(field.size * 8, dtype=np.int32)  # only read where `used`, all of which are set below
    index[unique_keys] = np.arange(len(unique_keys), dtype=np.int32)
    corners = index[keys]
    # Vertex positions: interpolate along each crossed edge.
    edge_start, edge_bits = np.divmod(unique_keys, 8)
    delta = _CORNERS[edge_bits]
    fa, fb = field.ravel()[edge_start], field.ravel()[edge_start + corner_offsets[edge_bits]]
    t = ((level - fa) / (fb - fa))[:, None]
    a = np.stack(np.unravel_index(edge_start, field.shape), axis=1)
    grid_points = a + t * delta - 0.5  # padding shifts indices by one; centres sit at +0.5
    vertices = np.asarray(low, np.float64) + grid_points * pitch
    return MeshArrays(name, vertices, np.full(len(corners), 3, np.int32), corners.ravel())


def expected_volume_level(probabilities: np.ndarray, most: float = 0.5) -> float:
    """The level (at most `most`) whose inside holds as many voxels as the probabilities expect (their
    sum): thin parts a model is unsure of keep their volume instead of vanishing below one half."""
    p = np.asarray(probabilities, np.float64).ravel()
    expected = int(round(p.sum()))
    if expected <= 0 or expected > len(p):
        return most
    kth_largest = np.partition(p, len(p) - expected)[len(p) - expected]
    # Just below the expected-th largest value, clear of extract_surface's epsilon: ties all stay inside.
    level = kth_largest - 2e-3
    return float(min(most, level)) if level > 0 else most


def _edges(mesh: MeshArrays) -> np.ndarray:
    """(E, 2) undirected edges of a triangle mesh, each once."""
    tris = mesh.corner_vertices.reshape(-1, 3).astype(np.int64)
    a = np.concatenate([tris[:, 0], tris[:, 1], tris[:, 2]])
    b = np.concatenate([tris[:, 1], tris[:, 2], tris[:, 0]])
    n = len(mesh.vertices)
    keys = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    return np.stack([keys // n, keys % n], axis=1)


def _neighbours(edges: np.ndarray):
    """Each edge in both directions, grouped by the receiving vertex, so that one reduceat gathers every
    vertex's neighbours: (senders, group starts, the vertex of each group, group sizes)."""
    receiver = np.concatenate([edges[:, 0], edges[:, 1]])
    sender = np.concatenate([edges[:, 1], edges[:, 0]])
    order = np.argsort(receiver, kind="stable")
    receiver, sender = receiver[order], sender[order]
    starts = np.flatnonzero(np.r_[True, receiver[1:] != receiver[:-1]])
    return sender, starts, receiver[starts], np.diff(np.r_[starts, len(receiver)])


def taubin_smooth(mesh: MeshArrays, iterations: int = 10, lam: float = 0.5, mu: float = -0.53) -> MeshArrays:
    """Taubin's λ|μ smoothing (shrink-free): removes the voxel staircase, keeps the connectivity."""
    sender, starts, owners, counts = _neighbours(_edges(mesh))
    degree = counts[:, None].astype(np.float32)
    v = mesh.vertices.astype(np.float32)
    for _ in range(int(iterations)):
        for factor in (lam, mu):
            average = np.add.reduceat(v[sender], starts, axis=0) / degree
            v[owners] += factor * (average - v[owners])
    return MeshArrays(mesh.name, v, mesh.face_sizes, mesh.corner_vertices, dict(mesh.attributes))


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected-component label (the smallest vertex index) of each of n vertices: label propagation
    with pointer jumping, neighbour minima by one reduceat per round."""
    sender, starts, owners, _ = _neighbours(edges)
    labels = np.arange(n)
    while True:
        lowest = np.minimum.reduceat(labels[sender], starts)
        new = labels.copy()
        np.minimum.at(new, labels[owners], lowest)  # hook each root under its smallest neighbour label
        new[owners] = np.minimum(new[owners], lowest)
        while True:  # jump pointers all the way to the roots
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, labels):
            return labels
        labels = new


def remove_small_pieces(mesh: MeshArrays, min_share: float) -> MeshArrays:
    """Drop connected pieces with fewer than `min_share` of the faces (specks a generator leaves)."""
    if min_share <= 0:
        return mesh
    tris = mesh.corner_vertices.reshape(-1, 3)
    labels = _components(len(mesh.vertices), _edges(mesh))
    piece = labels[tris[:, 0]]
    roots, piece = np.unique(piece, return_inverse=True)
    if len(roots) <= 1:
        return mesh
    sizes = np.bincount(piece)
    keep_face = sizes[piece] >= min_share * len(tris)
    if not keep_face.any():
        keep_face = piece == sizes.argmax()
    kept = tris[keep_face]
    used, new_index = np.unique(kept, return_inverse=True)
    return MeshArrays(mesh.name, mesh.vertices[used], np.full(len(kept), 3, np.int32), new_index.reshape(-1),
                      dict(mesh.attributes))


def triangle_areas(mesh: MeshArrays) -> np.ndarray:
    v = mesh.vertices.astype(np.float64)
    tris = mesh.corner_vertices.reshape(-1, 3)
    return 0.5 * np.linalg.norm(np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]]), axis=1)
