"""Occupancy grids from triangle meshes, robust to the meshes people really have.

Inside/outside is decided by signed ray crossings: along each of the three axes, every ray through a
row of voxel centres counts the triangles it crosses, +1 leaving and −1 entering (by the side the
triangle faces). Summed from either end of the ray, that is the winding number at each voxel centre
— exactly, on a closed mesh, whatever its self-intersections or overlapping pieces (two nested pieces
give 2, still inside). The six half-rays of a voxel vote; where they disagree (a hole lets some rays
through) the generalized winding number of Jacobson et al. 2013 settles it for those voxels only —
by default the fast hierarchical one of shapespace.winding (a 20k-triangle soup at 32³ in about a
tenth of a second instead of seconds; `winding='EXACT'` keeps the brute force for reference).

The orientation is repaired first (`outward_pieces`): every triangle is turned to agree with its
neighbours across shared edges (`consistently_wound`), then every connected piece is turned to enclose
positive volume about its own centroid, so flipped faces, flipped patches and flipped pieces count like
the others, wherever the mesh sits. (Turning whole pieces only, by their volume about the world origin,
as before: on 15 procedural shapes at 32³ with a share of faces flipped (shapespace.roughen) the inside
had mean IoU 0.85 to the clean truth, worst 0.52; now 1.00.) Everything is vectorised over triangles
and rays.

`voxelize_partial` voxelises a shape with a part cut away as what is left of it: only the half-rays
that never enter the marked region vote, so the cut is not closed by guesswork.

Grids are indexed [x, y, z]; a `GridFrame` says where they sit: a cube of side `size` from `low`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .assembly import winding_numbers
from .winding import WindingTree

__all__ = ["GridFrame", "frame_around", "common_frame", "voxelize", "voxelize_partial", "grid_bytes",
           "check_grid_fits", "iou", "consistently_wound", "outward_pieces", "RESOLUTIONS"]

RESOLUTIONS = (16, 24, 32, 48, 64, 96, 128)
MARGIN = 0.04  # share of the cube left free on each side, so the surface never touches the border
# Rays pass this far (in voxels) beside the voxel centres: a mesh whose faces sit exactly on grid
# planes (boxes with round coordinates) would otherwise put crossings on triangle edges.
_RAY_NUDGE = np.array([3.1e-4, 5.3e-4, 7.7e-4])
_EXACT_BUDGET = 4e7  # voxel × triangle evaluations allowed for the exact generalized winding number
_CAP_PASSES = 3  # voxelise_partial: how often the cut is closed again with caps from the last answer
_COARSE_BETA, _COARSE_ERROR = 1.0, 0.15  # the fast winding number's first pass and its error bound


@dataclass(frozen=True)
class GridFrame:
    low: tuple  # (x, y, z) of the cube's corner
    size: float  # the cube's side
    resolution: int

    @property
    def pitch(self) -> float:
        return self.size / self.resolution

    def centres(self, axis: int) -> np.ndarray:
        """The voxel centres' coordinates along one axis."""
        return self.low[axis] + (np.arange(self.resolution) + 0.5) * self.pitch

    def points(self) -> np.ndarray:
        """(R³, 3) voxel centres in [x, y, z] index order."""
        axes = np.meshgrid(*(self.centres(a) for a in range(3)), indexing="ij")
        return np.stack([a.ravel() for a in axes], axis=1)

    def to_grid(self, points: np.ndarray) -> np.ndarray:
        """Continuous grid coordinates (voxel i spans [i, i+1))."""
        return (np.asarray(points, np.float64) - np.asarray(self.low)) / self.pitch

    def from_grid(self, coordinates: np.ndarray) -> np.ndarray:
        return np.asarray(self.low) + np.asarray(coordinates, np.float64) * self.pitch

    def as_list(self) -> list:
        return [float(c) for c in self.low] + [float(self.size), int(self.resolution)]

    @classmethod
    def from_list(cls, values) -> "GridFrame":
        return cls(tuple(float(c) for c in values[:3]), float(values[3]), int(values[4]))


def frame_around(low, high, resolution: int, margin: float = MARGIN) -> GridFrame:
    """The cube centred on the box [low, high] with its longest side plus `margin` on each side."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    extent = float((high - low).max())
    if not np.isfinite(extent) or extent <= 0:
        raise ValueError("The shape has no extent (a point or nothing)")
    size = extent / (1 - 2 * margin)
    centre = (low + high) / 2
    return GridFrame(tuple(float(c) for c in centre - size / 2), size, int(resolution))


def common_frame(vertex_arrays, resolution: int, margin: float = MARGIN) -> GridFrame:
    """One frame for a collection, in the shapes' own coordinates: sizes stay comparable (a tall chair
    stays taller than a short one), and a shape edited later (half of it deleted) lands where it was."""
    lows = np.array([np.asarray(v).min(axis=0) for v in vertex_arrays])
    highs = np.array([np.asarray(v).max(axis=0) for v in vertex_arrays])
    return frame_around(lows.min(axis=0), highs.max(axis=0), resolution, margin)


def grid_bytes(resolution: int, count: int = 1, bytes_per_voxel: int = 4) -> int:
    return int(resolution) ** 3 * int(count) * int(bytes_per_voxel)


def check_grid_fits(resolution: int, count: int, available_bytes: int, bytes_per_voxel: int = 4) -> None:
    """Refuse, with the number, grids that would not fit in the memory available."""
    needed = grid_bytes(resolution, count, bytes_per_voxel)
    if needed > available_bytes:
        raise ValueError(f"{count} grids of {resolution}³ need {needed / 2**30:.1f} GiB, more than the "
                         f"{available_bytes / 2**30:.1f} GiB allowed; lower the resolution or use fewer shapes")


def consistently_wound(triangles, vertex_count: int | None = None) -> np.ndarray:
    """(T, 3) the triangles with each one turned to agree with its neighbours: across every edge that
    exactly two triangles share, the two must run it in opposite directions. Each edge-connected
    patch keeps the winding of its lowest-numbered triangle (`outward_pieces` then turns whole
    pieces). Patches are found by union-find in rounds (roots hooked under smaller ones, then pointer
    jumping) with flip parities: a triangle's code is 2·parent + parity, and crossing an edge whose
    two triangles run it the same way toggles the parity. Edges of one triangle or of three and more
    (non-manifold) are ignored."""
    return _wound_and_turned(triangles, vertex_count)[0]


def _wound_and_turned(triangles, vertex_count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(consistently wound triangles, which of them were turned) — see `consistently_wound`."""
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    count = len(triangles)
    if count < 2:
        return triangles.copy(), np.zeros(count, bool)
    start, end = triangles.ravel(), triangles[:, [1, 2, 0]].ravel()
    n = int(vertex_count) if vertex_count is not None else int(triangles.max()) + 1
    owner = np.repeat(np.arange(count), 3)
    key = np.minimum(start, end) * n + np.maximum(start, end)
    order = np.argsort(key)  # (the two triangles of a shared edge may come in either order)
    key, owner, forward = key[order], owner[order], (start < end)[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    shared = first[np.diff(np.r_[first, len(key)]) == 2]
    f, g = owner[shared], owner[shared + 1]
    toggle = (forward[shared] == forward[shared + 1]).astype(np.int64)
    keep = f != g
    f, g, toggle = f[keep], g[keep], toggle[keep]
    code = _union_codes(count, f, g, toggle)
    out = triangles.copy()
    turn = (code & 1).astype(bool)
    out[turn] = out[turn][:, ::-1]
    return out, turn


def _union_codes(count: int, f: np.ndarray, g: np.ndarray, toggle: np.ndarray | None = None) -> np.ndarray:
    """(count,) 2·root + parity of every node of the graph with edges (f[i], g[i]): the root is the
    smallest node of its connected component; the parity says whether the node is flipped relative to
    the root, crossing edge i flipping where toggle[i] is 1 (a cycle whose flips disagree keeps one
    of its answers).

    Union by hooking roots (Shiloach–Vishkin): every round, along each edge between two trees the root
    of the larger label is hung under the smaller one with the parity the edge implies, then pointers
    are jumped until each node points at its root. A few rounds, where spreading labels one edge per
    round took as many rounds as a strip of triangles is long (6-10× slower on 20k-triangle soups)."""
    code = 2 * np.arange(count, dtype=np.int64)
    toggle = np.zeros(len(f), np.int64) if toggle is None else np.asarray(toggle, np.int64)
    roots = np.arange(count)
    while True:
        root_f, root_g = code[f] >> 1, code[g] >> 1  # every node points at a root here
        differ = root_f != root_g
        if not differ.any():
            return code
        # An edge within one tree stays there: later rounds look at the others only.
        f, g, toggle, root_f, root_g = f[differ], g[differ], toggle[differ], root_f[differ], root_g[differ]
        parity = ((code[f] ^ code[g]) & 1) ^ toggle
        np.minimum.at(code, np.maximum(root_f, root_g), 2 * np.minimum(root_f, root_g) + parity)
        while True:  # pointer jumping among the old roots (each now hangs under a smaller one, or not)
            old = code[roots]
            jumped = code[old >> 1] ^ (old & 1)  # the parent's parent, parities composed
            if np.array_equal(jumped, old):
                break
            code[roots] = jumped
        code = code[code >> 1] ^ (code & 1)  # every node: from its old root to the new one
        roots = roots[(code[roots] >> 1) == roots]


def outward_pieces(vertices, triangles) -> np.ndarray:
    """(T, 3) triangles consistently wound (`consistently_wound`) and every vertex-connected piece
    turned to enclose positive volume, measured about the piece's own area centroid: an open piece's
    signed volume depends on the origin, so one measured about the world origin (a mesh far from
    it, as downloaded models often are) can come out negative and turn a holed piece inside out."""
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    return _oriented_triangles(vertices, np.asarray(triangles, np.int64).reshape(-1, 3))


def _oriented_triangles(vertices: np.ndarray, triangles: np.ndarray, keep_vertices=None) -> np.ndarray:
    """`outward_pieces`: triangles wound consistently, every connected piece turned to enclose positive
    volume about its own area centroid — except the pieces that use a vertex marked in
    `keep_vertices`: a piece opened by a cut has no meaningful volume (an open cup's inner wall would
    be turned into a solid), so it keeps the winding most of its area had."""
    triangles, turned = _wound_and_turned(triangles, len(vertices))
    count = len(vertices)  # pieces are labelled by their smallest vertex
    labels = _union_codes(count, triangles[:, [0, 1]].ravel(), triangles[:, [1, 2]].ravel()) >> 1
    piece = labels[triangles[:, 0]]
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    area = 0.5 * np.sqrt(_row_dot(np.cross(b - a, c - a), np.cross(b - a, c - a)))
    piece_area = np.maximum(np.bincount(piece, area, minlength=count), 1e-300)
    centroid = (a + b + c) / 3
    centre = np.stack([np.bincount(piece, area * centroid[:, k], minlength=count) for k in range(3)], axis=1)
    origin = (centre / piece_area[:, None])[piece]
    volume = _row_dot(a - origin, np.cross(b - origin, c - origin)) / 6.0
    flip = np.bincount(piece, volume, minlength=count) < 0
    if keep_vertices is not None:
        kept = np.zeros(count, bool)
        kept[labels[np.asarray(keep_vertices, bool)]] = True
        # A kept piece: back to its majority winding (by area), whatever its lowest triangle had.
        mostly_turned = np.bincount(piece, area * turned, minlength=count) > 0.5 * piece_area
        flip = np.where(kept, mostly_turned, flip)
    out = triangles.copy()
    turn = flip[piece]
    out[turn] = out[turn][:, ::-1]
    return out


def _row_dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[:, 0] * v[:, 0] + u[:, 1] * v[:, 1] + u[:, 2] * v[:, 2]


def _ray_crossings(corners: np.ndarray, frame: GridFrame, axis: int):
    """For rays along `axis` through the voxel centres: (ray u index, ray v index, crossing coordinate
    along the axis, +1 leaving / −1 entering) for every ray-triangle crossing."""
    u_axis, v_axis = [a for a in range(3) if a != axis]
    pitch = frame.pitch
    grid = (corners - np.asarray(frame.low)) / pitch - 0.5  # voxel centre i sits at i
    grid[..., u_axis] -= _RAY_NUDGE[u_axis]
    grid[..., v_axis] -= _RAY_NUDGE[v_axis]
    u, v, w = grid[..., u_axis], grid[..., v_axis], grid[..., axis]
    normal = (u[:, 1] - u[:, 0]) * (v[:, 2] - v[:, 0]) - (u[:, 2] - u[:, 0]) * (v[:, 1] - v[:, 0])
    keep = np.abs(normal) > 1e-12  # triangles seen edge-on are crossed by no ray
    u, v, w, normal = u[keep], v[keep], w[keep], normal[keep]
    # Column-wise minima and maxima: numpy's reductions over an axis of length 3 are slow.
    i0 = np.ceil(np.minimum(np.minimum(u[:, 0], u[:, 1]), u[:, 2])).astype(np.int64)
    i1 = np.floor(np.maximum(np.maximum(u[:, 0], u[:, 1]), u[:, 2])).astype(np.int64)
    j0 = np.ceil(np.minimum(np.minimum(v[:, 0], v[:, 1]), v[:, 2])).astype(np.int64)
    j1 = np.floor(np.maximum(np.maximum(v[:, 0], v[:, 1]), v[:, 2])).astype(np.int64)
    ni, nj = np.maximum(i1 - i0 + 1, 0), np.maximum(j1 - j0 + 1, 0)
    counts = ni * nj
    tri = np.repeat(np.arange(len(u)), counts)
    local = np.arange(len(tri)) - np.repeat(np.cumsum(counts) - counts, counts)
    ray_u = i0[tri] + local // nj[tri]
    ray_v = j0[tri] + local % nj[tri]
    # Barycentric weights of the ray in the projected triangle.
    du, dv = ray_u - u[tri, 0], ray_v - v[tri, 0]
    e1u, e1v = u[tri, 1] - u[tri, 0], v[tri, 1] - v[tri, 0]
    e2u, e2v = u[tri, 2] - u[tri, 0], v[tri, 2] - v[tri, 0]
    n = normal[tri]
    b1 = (du * e2v - dv * e2u) / n
    b2 = (e1u * dv - e1v * du) / n
    hit = (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1)
    tri, ray_u, ray_v, b1, b2 = tri[hit], ray_u[hit], ray_v[hit], b1[hit], b2[hit]
    depth = w[tri, 0] + b1 * (w[tri, 1] - w[tri, 0]) + b2 * (w[tri, 2] - w[tri, 0])
    # The 3D normal's component along the ray has the sign of the projected area (cyclic axes).
    sign = np.sign(normal[tri]) * (1 if (axis, u_axis, v_axis) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1)
    inside = (ray_u >= 0) & (ray_u < frame.resolution) & (ray_v >= 0) & (ray_v < frame.resolution)
    return ray_u[inside], ray_v[inside], depth[inside], sign[inside]


def _axis_votes(corners: np.ndarray, frame: GridFrame, axis: int):
    """Winding numbers from the two half-rays along `axis` at every voxel, as two grids in [x, y, z]
    order, and the voxels the crossings pass through (the surface)."""
    r = frame.resolution
    ray_u, ray_v, depth, sign = _ray_crossings(corners, frame, axis)
    # Bin b = how many voxel centres lie below the crossing; crossings above centre k have b > k.
    bins = np.clip(np.ceil(depth), 0, r).astype(np.int64)
    ray = ray_u * r + ray_v
    signed = np.bincount(ray * (r + 1) + bins, sign, minlength=r * r * (r + 1)).reshape(r, r, r + 1)
    above = np.cumsum(signed[..., ::-1], axis=2)[..., ::-1][..., 1:]  # Σ over b ≥ k+1: ray towards +axis
    below = -np.cumsum(signed, axis=2)[..., :-1]  # Σ over b ≤ k, reversed sense: ray towards −axis
    surface = np.zeros((r, r, r), dtype=bool)
    cell = np.clip(np.floor(depth + 0.5), 0, r - 1).astype(np.int64)
    surface[ray_u, ray_v, cell] = True
    order = {0: (2, 0, 1), 1: (0, 2, 1), 2: (0, 1, 2)}[axis]  # (u, v, w) back to (x, y, z)
    return (np.transpose(above, order), np.transpose(below, order), np.transpose(surface, order))


def voxelize(vertices, triangles, frame: GridFrame, mode: str = "SOLID", winding: str = "FAST") -> np.ndarray:
    """Boolean occupancy (R, R, R) of the mesh in `frame`: 'SOLID' (inside) or 'SURFACE' (the voxels
    the surface passes through). Where the rays disagree the winding number decides: `winding`
    'FAST' (hierarchical, shapespace.winding) or 'EXACT' (brute force, for reference; skipped on
    meshes too big for it). Faces are first wound consistently and pieces turned outward
    (`outward_pieces`)."""
    if mode not in ("SOLID", "SURFACE"):
        raise ValueError(f"Unknown voxel mode {mode!r}; use 'SOLID' or 'SURFACE'")
    if winding not in ("FAST", "EXACT"):
        raise ValueError(f"Unknown winding-number method {winding!r}; use 'FAST' or 'EXACT'")
    vertices, triangles = _mesh_arrays(vertices, triangles)
    if mode == "SURFACE":  # the voxels crossed do not depend on which way the faces point
        return _with_vertex_cells(_votes_and_surface(vertices[triangles], frame)[1], vertices, frame)
    triangles = outward_pieces(vertices, triangles)
    votes, surface = _votes_and_surface(vertices[triangles], frame)
    inside_votes = sum((vote >= 0.5).astype(np.int8) for vote in votes)
    solid = inside_votes >= 4
    unsure = np.argwhere((inside_votes > 0) & (inside_votes < 6))
    if len(unsure):
        points = frame.from_grid(unsure + 0.5)
        if winding == "FAST":
            solid[tuple(unsure.T)] = _fast_inside(points, vertices, triangles)
        elif len(unsure) * len(triangles) <= _EXACT_BUDGET:
            solid[tuple(unsure.T)] = winding_numbers(points, vertices, triangles) >= 0.5
    return solid


def voxelize_partial(vertices, triangles, frame: GridFrame, unknown, sheets: bool = False) -> np.ndarray:
    """Boolean occupancy (R, R, R) of a shape with a part cut away, `unknown` (R, R, R) marking the
    region where its surface is missing (the box a user marks). Nothing is closed by guesswork:

    1. a voxel is inside where all its half-rays that never enter the region agree (on the rest of
       the surface they cross what the whole shape had); elsewhere all six rays vote and the winding
       number settles the unsure ones, as in `voxelize`;
    2. the cut is closed where that known part meets the region — the voxel faces between them become
       caps facing into the region, the remnants inside the region are dropped — and the capped mesh
       is voxelised as a whole; repeated (_CAP_PASSES), since each pass places the caps better.

    Faces are wound consistently first; pieces the cut opened are not turned by their volume (an open
    piece has none to turn it by: a hollow vase's inner wall, cut loose from the outer one, would be
    turned into a solid) but keep the winding most of their area had. With `sheets`,
    surface voxels with no inside voxel beside them (open sheets, walls thinner than a voxel) count as
    occupied too — off by default, since the grids a model learns from (`voxelize`) have no such
    shell. The unknown region is left empty."""
    unknown = np.asarray(unknown, bool)
    r = frame.resolution
    if unknown.shape != (r, r, r):
        raise ValueError(f"The unknown region is a {unknown.shape} grid, not {r}³ like the frame; build it on "
                         "the same frame")
    vertices, triangles = _mesh_arrays(vertices, triangles)
    cells = np.clip(np.floor(frame.to_grid(vertices)).astype(np.int64), 0, r - 1)
    cut = _dilate(unknown)[cells[:, 0], cells[:, 1], cells[:, 2]]  # vertices at the cut's edge
    triangles = _oriented_triangles(vertices, triangles, keep_vertices=cut)
    votes, surface = _votes_and_surface(vertices[triangles], frame)
    trusted = np.zeros((r, r, r), np.int8)
    inside = np.zeros((r, r, r), np.int8)
    for direction, vote in enumerate(votes):
        axis, towards_high = direction // 2, direction % 2 == 0  # (+x, −x, +y, −y, +z, −z)
        passes = _reaches(unknown, axis, towards_high)
        trusted += ~passes
        inside += ~passes & (vote >= 0.5)
    solid = inside > 0
    undecided = (trusted == 0) | ((inside > 0) & (inside < trusted))
    solid[undecided] = _decided_by_votes(votes, frame, vertices, triangles, undecided & ~unknown)[undecided]
    for _ in range(_CAP_PASSES):
        solid = _capped_solid(vertices, triangles, frame, unknown, solid & ~unknown, cut)
    if sheets:
        solid |= _with_vertex_cells(surface, vertices, frame) & ~_dilate(solid)
    return solid & ~unknown


def _decided_by_votes(votes, frame, vertices, triangles, where=None) -> np.ndarray:
    """Inside where at least four of the six half-rays say so; the fast winding number decides the
    voxels (within `where`, when given) on which they disagree."""
    inside_votes = sum((vote >= 0.5).astype(np.int8) for vote in votes)
    solid = inside_votes >= 4
    unsure = (inside_votes > 0) & (inside_votes < 6)
    unsure = np.argwhere(unsure if where is None else unsure & where)
    if len(unsure):
        solid[tuple(unsure.T)] = _fast_inside(frame.from_grid(unsure + 0.5), vertices, triangles)
    return solid


def _capped_solid(vertices, triangles, frame, unknown, known, cut) -> np.ndarray:
    """Occupancy of the mesh with its cut closed: the triangles whose centres lie in the unknown region
    dropped, and every voxel face between a `known` voxel and an unknown one added as a square cap
    (two triangles) facing into the region."""
    r = frame.resolution
    cells = np.clip(np.floor(frame.to_grid(vertices)[triangles].mean(axis=1)).astype(np.int64), 0, r - 1)
    outside = ~unknown[cells[:, 0], cells[:, 1], cells[:, 2]]
    cap_vertices, cap_triangles = [], []
    count = len(vertices)
    for axis in range(3):
        u_axis, v_axis = (axis + 1) % 3, (axis + 2) % 3  # cyclic: e_u × e_v = e_axis
        for step in (1, -1):
            beside = np.zeros_like(unknown)  # the voxel one step along the axis is unknown
            if step == 1:
                np.moveaxis(beside, axis, 0)[:-1] = np.moveaxis(unknown, axis, 0)[1:]
            else:
                np.moveaxis(beside, axis, 0)[1:] = np.moveaxis(unknown, axis, 0)[:-1]
            faces = np.argwhere(known & beside)
            if not len(faces):
                continue
            square = np.repeat(faces[:, None, :].astype(np.float64), 4, axis=1)
            square[:, :, axis] += 1 if step == 1 else 0  # the face between the voxel and its neighbour
            square[:, :, u_axis] += np.array([0, 1, 1, 0])
            square[:, :, v_axis] += np.array([0, 0, 1, 1])
            winding = np.array([[0, 1, 2], [0, 2, 3]]) if step == 1 else np.array([[0, 2, 1], [0, 3, 2]])
            first = count + 4 * np.arange(len(faces))
            cap_triangles.append((first[:, None, None] + winding[None]).reshape(-1, 3))
            cap_vertices.append(frame.from_grid(square.reshape(-1, 3)))
            count += 4 * len(faces)
    if not cap_vertices:
        return known
    all_vertices = np.concatenate([vertices] + cap_vertices)
    all_triangles = np.concatenate([triangles[outside]] + cap_triangles)
    keep = np.concatenate([cut, np.ones(count - len(vertices), bool)])  # caps face the way they were built
    all_triangles = _oriented_triangles(all_vertices, all_triangles, keep_vertices=keep)
    votes, _ = _votes_and_surface(all_vertices[all_triangles], frame)
    return _decided_by_votes(votes, frame, all_vertices, all_triangles, ~unknown)


def grown(mask: np.ndarray, voxels: int = 1) -> np.ndarray:
    """A boolean grid grown by `voxels` steps to the 6 neighbours."""
    out = np.asarray(mask, bool)
    for _ in range(int(voxels)):
        out = _dilate(out)
    return out


def _dilate(grid: np.ndarray) -> np.ndarray:
    """The grid grown by one voxel along the three axes (6-neighbours)."""
    out = grid.copy()
    out[1:] |= grid[:-1]
    out[:-1] |= grid[1:]
    out[:, 1:] |= grid[:, :-1]
    out[:, :-1] |= grid[:, 1:]
    out[:, :, 1:] |= grid[:, :, :-1]
    out[:, :, :-1] |= grid[:, :, 1:]
    return out


def _reaches(region: np.ndarray, axis: int, towards_high: bool) -> np.ndarray:
    """Per voxel: does the half-ray from it along `axis` (towards higher or lower indices) meet `region`
    (the voxel itself included)?"""
    if towards_high:
        return np.flip(np.logical_or.accumulate(np.flip(region, axis), axis=axis), axis)
    return np.logical_or.accumulate(region, axis=axis)


def _mesh_arrays(vertices, triangles) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    if len(triangles) == 0:
        raise ValueError("The mesh has no faces")
    return vertices, triangles


def _votes_and_surface(corners: np.ndarray, frame: GridFrame):
    """The six half-ray winding grids (+x, −x, +y, −y, +z, −z) and the voxels the surface crosses."""
    votes, surface = [], np.zeros((frame.resolution,) * 3, dtype=bool)
    for axis in range(3):
        above, below, crossed = _axis_votes(corners, frame, axis)
        votes += [above, below]
        surface |= crossed
    return votes, surface


def _with_vertex_cells(surface: np.ndarray, vertices: np.ndarray, frame: GridFrame) -> np.ndarray:
    cells = np.floor(frame.to_grid(vertices)).astype(np.int64)  # tiny triangles no ray meets
    cells = cells[np.all((cells >= 0) & (cells < frame.resolution), axis=1)]
    surface[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    return surface


def _fast_inside(points: np.ndarray, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Winding number ≥ ½ at the points: a coarse pass (far-field test at 1 radius, error below about
    0.15), then the usual accuracy (2 radii) only where the coarse value is near ½."""
    tree = WindingTree(vertices, triangles)
    values = tree.winding_numbers(points, beta=_COARSE_BETA)
    close = np.abs(values - 0.5) < _COARSE_ERROR
    if close.any():
        values[close] = tree.winding_numbers(points[close])
    return values >= 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
