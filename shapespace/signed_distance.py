"""Truncated signed distance to triangle meshes as people really have them: open, overlapping, flipped.

The magnitude is the exact Euclidean distance to the nearest triangle (closest point on a triangle,
Ericson 2005, vectorised over point-triangle pairs). Only pairs that can matter are formed: triangles
are binned into cells half the truncation wide (every cell their box grown by the truncation
touches, less the cells beyond reach of their plane), a point meets only the triangles binned in its
own cell, and of those only the ones whose bounding sphere can beat the nearest centroid get the
exact test; points whose cell holds no triangle are at least the truncation away and get it
directly. (Measured: 0.4-1 s for a 64³ grid of a roughened procedural shape on a loaded 2-core
machine; a closest-point distance transform from dense surface samples was tried and was both
slower in numpy and off by up to half a voxel.)

The sign comes from `robust_solid`: `voxels.voxelize`'s signed ray votes and generalized winding
number, on triangles first wound consistently across shared edges (`consistently_wound`) and turned
outward piece by piece about each piece's own centroid (`outward_pieces`), so flipped patches,
holes and meshes far from the origin keep the right inside: inside voxels are negative. At
arbitrary points the sign is that of the signed grid interpolated trilinearly there (its values
near the surface are exact distances, so the interpolated zero set sits within a fraction of a
voxel of the surface), and the magnitude is again the exact distance.

    grid = signed_distance_grid(vertices, triangles, frame, truncation)      # (R, R, R) float32
    points, sdf = sample_training_points(mesh, frame, count, near_share, sigma, rng)

Grids are indexed [x, y, z] in a `voxels.GridFrame`, negative inside, clipped to ±truncation.
`canonical_mesh` puts a mesh in its canonical pose — by default from its solid (shapespace.solid_pose),
or from its surface (shapespace.canonical_pose) — and `best_axis_rotation` settles what that pose
leaves ambiguous (axis order and signs) against a class's reference grids, scoring by `soft_iou`
(inside voxels say nothing about parts thinner than a voxel). `refine_similarity` then takes out the
small tilt, shift and scale left. `prepare_signed_distances` does all of it for a collection: both
poses tried per shape, one cube frame, alignment, grids and training samples; `align_to_references`
does it for one new shape against a trained model's references.

Measured (size 'RMS'; 10 shapes of five families × 4 roughened copies, 32³: soft IoU between copies of one
shape in their canonical grids; chamfer between the copies' canonical points, in RMS radii):
surface pose then the 24 rotations 0.634 / 0.139; solid pose 0.708 / 0.139; the better of the two
0.724 / 0.135; with fine alignment 0.868 / 0.051 (chairs and tables 0.02, airplanes 0.09-0.12: a
blob pushed into a thin airplane moves its solid and its surface alike). The rotations chosen by
inside IoU, as before, turned copies of one table 85-170° from each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body_rig import axis_angle_to_matrix
from .canonical_pose import PoseFrame, axis_rotations, canonical_frame
from .mesh_arrays import MeshArrays
from .voxels import GridFrame, consistently_wound, outward_pieces, voxelize

__all__ = ["consistently_wound", "outward_pieces", "robust_solid", "point_triangle_distances", "unsigned_distance",
           "signed_distance_grid", "sample_grid", "signed_distance_at", "sample_training_points", "canonical_mesh",
           "best_axis_rotation", "rotate_grid", "soft_occupancy", "soft_iou", "cube_frame", "class_references",
           "pose_candidates", "refine_similarity", "align_to_references", "prepare_signed_distances",
           "SignedDistanceSet", "POSES",
           "DEFAULT_TRUNCATION_VOXELS"]

DEFAULT_TRUNCATION_VOXELS = 3.0  # truncation in voxels when a caller gives none
_PAIR_CHUNK = 1_500_000  # point-triangle pairs evaluated at once (≈ 150 MB of float64 temporaries)


def point_triangle_distances(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Distance from each point to the triangle (a, b, c) of the same row: all (N, 3) arrays.
    Degenerate triangles (zero area) give the distance to their edges."""
    p = np.asarray(points, np.float64)
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("ij,ij->i", ab, ap), np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3, d4 = np.einsum("ij,ij->i", ab, bp), np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5, d6 = np.einsum("ij,ij->i", ab, cp), np.einsum("ij,ij->i", ac, cp)
    vc, vb, va = d1 * d4 - d3 * d2, d5 * d2 - d1 * d6, d3 * d6 - d5 * d4
    t_ab = np.clip(_safe_ratio(d1, d1 - d3), 0, 1)
    t_ac = np.clip(_safe_ratio(d2, d2 - d6), 0, 1)
    t_bc = np.clip(_safe_ratio(d4 - d3, (d4 - d3) + (d5 - d6)), 0, 1)
    total = va + vb + vc
    v, w = _safe_ratio(vb, total), _safe_ratio(vc, total)
    # Ericson's Voronoi regions in his order: the first that holds wins (np.select).
    region = np.select([(d1 <= 0) & (d2 <= 0), (d3 >= 0) & (d4 <= d3), (vc <= 0) & (d1 >= 0) & (d3 <= 0),
                        (d6 >= 0) & (d5 <= d6), (vb <= 0) & (d2 >= 0) & (d6 <= 0),
                        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)], [0, 1, 2, 3, 4, 5], 6)
    closest = a + v[:, None] * ab + w[:, None] * ac
    closest = np.where((region == 0)[:, None], a, closest)
    closest = np.where((region == 1)[:, None], b, closest)
    closest = np.where((region == 2)[:, None], a + t_ab[:, None] * ab, closest)
    closest = np.where((region == 3)[:, None], c, closest)
    closest = np.where((region == 4)[:, None], a + t_ac[:, None] * ac, closest)
    closest = np.where((region == 5)[:, None], b + t_bc[:, None] * (c - b), closest)
    distance = np.linalg.norm(p - closest, axis=1)
    degenerate = ~(np.abs(total) > 1e-30) & (region == 6)
    if degenerate.any():  # no interior for a flat triangle: the nearest of its three edges
        q, aa, bb, cc = p[degenerate], a[degenerate], b[degenerate], c[degenerate]
        distance[degenerate] = np.minimum.reduce([_segment_distances(q, aa, bb), _segment_distances(q, bb, cc),
                                                  _segment_distances(q, cc, aa)])
    return distance


def _safe_ratio(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0."""
    zero = denominator == 0
    return numerator / np.where(zero, 1.0, denominator) * ~zero


def _segment_distances(p, a, b):
    ab = b - a
    length = np.einsum("ij,ij->i", ab, ab)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.nan_to_num(np.einsum("ij,ij->i", p - a, ab) / length), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def unsigned_distance(points, vertices, triangles, truncation: float) -> np.ndarray:
    """min(distance to the nearest triangle, truncation) at each point, (N,) float64."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    truncation = float(truncation)
    if not truncation > 0:
        raise ValueError(f"The truncation must be positive, not {truncation}")
    out = np.full(len(points), truncation)
    if len(triangles) == 0 or len(points) == 0:
        return out
    corners = vertices[triangles]  # (T, 3, 3)
    centroid = corners.mean(axis=1)
    radius = np.linalg.norm(corners - centroid[:, None], axis=2).max(axis=1)
    origin = np.minimum(corners.reshape(-1, 3).min(axis=0), points.min(axis=0)) - truncation
    cell = truncation / 2  # small cells: a point meets only triangles near its own cell
    # Each triangle goes into every cell its box, grown by the truncation, touches.
    lo = np.floor((corners.min(axis=1) - truncation - origin) / cell).astype(np.int64)
    hi = np.floor((corners.max(axis=1) + truncation - origin) / cell).astype(np.int64)
    point_cells = np.floor((points - origin) / cell).astype(np.int64)
    dims = np.maximum(hi.max(axis=0), point_cells.max(axis=0)) + 1
    span = hi - lo + 1
    counts = span.prod(axis=1)
    tri = np.repeat(np.arange(len(triangles)), counts)
    local = np.arange(len(tri)) - np.repeat(np.cumsum(counts) - counts, counts)
    sy, sz = span[tri, 1], span[tri, 2]
    ix = lo[tri, 0] + local // (sy * sz)
    iy = lo[tri, 1] + (local // sz) % sy
    iz = lo[tri, 2] + local % sz
    # Keep a cell only if its centre can be within reach of the triangle's plane (a large slanted
    # triangle's box holds many cells far from it).
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(normal, axis=1)
    normal = np.where(length[:, None] > 0, normal / np.where(length > 0, length, 1)[:, None], 0)
    centre = origin + (np.stack([ix, iy, iz], axis=1) + 0.5) * cell
    reach = np.abs(np.einsum("ij,ij->i", centre - corners[tri, 0], normal[tri]))
    near_plane = (reach <= truncation + 0.87 * cell) | (length[tri] == 0)
    tri, ix, iy, iz = tri[near_plane], ix[near_plane], iy[near_plane], iz[near_plane]
    keys = (ix * dims[1] + iy) * dims[2] + iz
    order = np.argsort(keys, kind="stable")
    keys, tri = keys[order], tri[order]
    point_keys = (point_cells[:, 0] * dims[1] + point_cells[:, 1]) * dims[2] + point_cells[:, 2]
    start = np.searchsorted(keys, point_keys, side="left")
    stop = np.searchsorted(keys, point_keys, side="right")
    per_point = stop - start
    near = np.flatnonzero(per_point > 0)
    if len(near) == 0:
        return out
    # Chunks of points whose pairs stay under the budget.
    cumulative = np.cumsum(per_point[near])
    bounds = np.searchsorted(cumulative, np.arange(_PAIR_CHUNK, cumulative[-1] + _PAIR_CHUNK, _PAIR_CHUNK))
    first = 0
    for last in np.unique(np.minimum(bounds + 1, len(near))):
        chunk = near[first:last]
        first = last
        if len(chunk) == 0:
            continue
        n = per_point[chunk]
        owner = np.repeat(np.arange(len(chunk)), n)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
        pair_tri = tri[start[chunk][owner] + offset]
        group_starts = np.cumsum(n) - n
        # Bounding spheres first: the centroid's distance bounds the nearest distance from above, the
        # sphere's from below; only triangles that can beat the best upper bound get the exact test.
        to_centre = np.linalg.norm(points[chunk][owner] - centroid[pair_tri], axis=1)
        best_upper = np.minimum.reduceat(to_centre, group_starts)
        maybe = to_centre - radius[pair_tri] <= best_upper[owner]
        owner, pair_tri = owner[maybe], pair_tri[maybe]
        d = point_triangle_distances(points[chunk][owner], corners[pair_tri, 0], corners[pair_tri, 1],
                                     corners[pair_tri, 2])
        group_starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        out[chunk[owner[group_starts]]] = np.minimum(np.minimum.reduceat(d, group_starts), truncation)
    return out


def _checked_mesh(vertices, triangles, name: str):
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    if len(triangles) == 0:
        raise ValueError(f"'{name}' has no faces; a signed distance needs a surface (add faces or leave it out)")
    if not np.isfinite(vertices).all():
        raise ValueError(f"'{name}' has NaN or infinite vertex positions; fix them (Mesh ▸ Clean Up) first")
    return vertices, triangles


def robust_solid(vertices, triangles, frame: GridFrame) -> np.ndarray:
    """Boolean (R, R, R) inside of the mesh at the voxel centres of `frame`: `voxels.voxelize`, whose
    orientation repair (`outward_pieces`: faces wound consistently, pieces turned outward about their
    own centroids) keeps flipped patches and holes far from the origin right. (Without it — whole
    pieces turned by their volume about the world origin — the inside of the hard procedural shapes at
    48³ had IoU 0.65 to the truth with a share of faces flipped and 0.87 with holes; with it 1.00 and
    0.95.) Kept under this name for the signed-distance path and solid_pose."""
    return voxelize(np.asarray(vertices, np.float64).reshape(-1, 3), triangles, frame)


def signed_distance_grid(vertices, triangles, frame: GridFrame, truncation: float | None = None,
                         name: str = "mesh") -> np.ndarray:
    """(R, R, R) float32 truncated signed distance at the voxel centres of `frame`: negative inside
    (by `robust_solid`), clipped to ±truncation (default: DEFAULT_TRUNCATION_VOXELS voxels)."""
    vertices, triangles = _checked_mesh(vertices, triangles, name)
    truncation = float(truncation if truncation is not None else DEFAULT_TRUNCATION_VOXELS * frame.pitch)
    inside = robust_solid(vertices, triangles, frame)
    distance = unsigned_distance(frame.points(), vertices, triangles, truncation).reshape(inside.shape)
    return np.where(inside, -distance, distance).astype(np.float32)


def sample_grid(grid: np.ndarray, frame: GridFrame, points) -> np.ndarray:
    """Trilinear interpolation of a voxel-centre grid at points (N, 3); outside, the nearest border value."""
    return trilinear_at(grid, frame.to_grid(points) - 0.5)  # centre i sits at coordinate i


def trilinear_at(grid: np.ndarray, coordinates) -> np.ndarray:
    """Trilinear interpolation of a grid (R, R, R) at grid coordinates (N, 3), voxel centre i at
    coordinate i; beyond the outermost centres, the nearest border value."""
    grid = np.asarray(grid, np.float64)
    r = grid.shape[0]
    g = np.clip(np.asarray(coordinates, np.float64), 0, r - 1)
    i0 = np.minimum(np.floor(g).astype(np.int64), r - 2)
    t = g - i0
    out = np.zeros(len(g))
    for corner in range(8):
        dx, dy, dz = (corner >> 2) & 1, (corner >> 1) & 1, corner & 1
        weight = (t[:, 0] if dx else 1 - t[:, 0]) * (t[:, 1] if dy else 1 - t[:, 1]) * (t[:, 2] if dz else 1 - t[:, 2])
        out += weight * grid[i0[:, 0] + dx, i0[:, 1] + dy, i0[:, 2] + dz]
    return out


def signed_distance_at(points, vertices, triangles, frame: GridFrame, signed_grid: np.ndarray,
                       truncation: float) -> np.ndarray:
    """Truncated signed distance at arbitrary points: exact magnitude, the sign of `signed_grid`
    (from signed_distance_grid in `frame`) interpolated there. (N,) float32."""
    vertices, triangles = _checked_mesh(vertices, triangles, "mesh")
    magnitude = unsigned_distance(points, vertices, triangles, truncation)
    sign = np.where(sample_grid(signed_grid, frame, points) < 0, -1.0, 1.0)
    return (sign * magnitude).astype(np.float32)


def _surface_samples(vertices, triangles, count: int, rng) -> np.ndarray:
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = areas.sum()
    if not total > 0:
        raise ValueError("The mesh has no surface area to sample (all faces are degenerate)")
    chosen = rng.choice(len(triangles), size=count, p=areas / total)
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    return a[chosen] + u[:, None] * (b - a)[chosen] + v[:, None] * (c - a)[chosen]


def sample_training_points(mesh: MeshArrays, frame: GridFrame, count: int, near_share: float = 0.7,
                           sigma: float | None = None, rng=None, truncation: float | None = None,
                           signed_grid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(points (count, 3) float32, truncated signed distance (count,) float32) for training an
    implicit decoder: `near_share` of the points are surface samples moved by N(0, sigma²) (sigma
    default: one voxel of `frame`), the rest uniform in the frame's cube. `signed_grid` (this mesh's
    signed_distance_grid in `frame`) is computed when not given; pass it to save the voxelisation."""
    rng = np.random.default_rng(rng)
    vertices, triangles = _checked_mesh(mesh.vertices, mesh.triangles if len(mesh.face_sizes) else [], mesh.name)
    if not 0 <= near_share <= 1:
        raise ValueError(f"near_share must lie in 0..1, not {near_share}")
    count = int(count)
    sigma = float(sigma if sigma is not None else frame.pitch)
    truncation = float(truncation if truncation is not None else DEFAULT_TRUNCATION_VOXELS * frame.pitch)
    if signed_grid is None:
        signed_grid = signed_distance_grid(vertices, triangles, frame, truncation, mesh.name)
    near = int(round(count * near_share))
    low, size = np.asarray(frame.low), frame.size
    surface = _surface_samples(vertices, triangles, near, rng) + rng.normal(scale=sigma, size=(near, 3))
    uniform = low + rng.random((count - near, 3)) * size
    points = np.clip(np.concatenate([surface, uniform]), low, low + size)
    return points.astype(np.float32), signed_distance_at(points, vertices, triangles, frame, signed_grid, truncation)


POSES = ("SOLID", "SURFACE")


def canonical_mesh(mesh: MeshArrays, aligned: bool = False, pose: str = "SOLID",
                   size="REACH") -> tuple[MeshArrays, PoseFrame]:
    """The mesh moved into its canonical pose (centred, unit size, principal axes) and the pose,
    whose `undo` takes generated points back to the mesh's frame. `pose`: 'SOLID' (moments of the
    enclosed solid, shapespace.solid_pose: robust to holes, overlapping parts and flipped faces) or
    'SURFACE' (area-weighted surface moments, shapespace.canonical_pose, as recognition uses).
    `size`, the length that becomes 1: 'REACH' (the radius about the centre holding 99% of the solid:
    every shape then fills the cube about as much as it can, where the RMS radius left a chair's
    thin parts between the voxel centres of a cube sized for airplanes; completion IoU at 24³ in
    tests/test_implicit_decoder.py rose from 0.59 to 0.70), 'RMS' (the pose's own RMS radius) or a
    number (a caller that tries several poses of one shape gives them one size)."""
    return _posed(mesh, _poses_of(mesh, (pose,), aligned, size)[0])


def _posed(mesh: MeshArrays, frame_pose: PoseFrame) -> tuple[MeshArrays, PoseFrame]:
    moved = MeshArrays(mesh.name, frame_pose.apply(mesh.vertices), mesh.face_sizes, mesh.corner_vertices,
                       dict(mesh.attributes))
    return moved, frame_pose


def _poses_of(mesh: MeshArrays, kinds, aligned: bool, size, cache=None) -> list:
    """PoseFrame per pose kind of one mesh, all with one size (see canonical_mesh); the solid is
    voxelised once for all of them (and read from `cache`, a VoxelCache, when it holds it)."""
    from .solid_pose import frame_of_weights  # solid_pose imports this module

    for kind in kinds:
        if kind not in POSES:
            raise ValueError(f"Unknown pose {kind!r}; use one of {POSES}")
    if isinstance(size, str) and size not in ("REACH", "RMS"):
        raise ValueError(f"Unknown size {size!r}; use 'REACH', 'RMS' or a number")
    weights = None
    if "SOLID" in kinds or size == "REACH":
        weights = _solid_weights(mesh, cache)
    poses = [frame_of_weights(*weights, aligned) if kind == "SOLID" else canonical_frame(mesh, aligned)
             for kind in kinds]
    if size == "RMS":
        return poses
    scale = float(frame_of_weights(*weights, True, "REACH").scale) if size == "REACH" else float(size)
    return [PoseFrame(p.rotation, p.centre, scale) for p in poses]


def _solid_weights(mesh: MeshArrays, cache=None) -> tuple[np.ndarray, np.ndarray]:
    """solid_pose.mesh_solid_weights of the mesh, through `cache` when given (stored as one (M, 4)
    array: the points and their weights)."""
    from .solid_pose import SOLID_POSE_RESOLUTION, mesh_solid_weights
    from .voxel_cache import grid_key
    from .voxels import frame_around

    vertices = np.asarray(mesh.vertices, np.float64)
    triangles = mesh.triangles if len(mesh.face_sizes) else np.zeros((0, 3), np.int64)
    if cache is None or len(triangles) == 0 or not np.isfinite(vertices).all():
        return mesh_solid_weights(mesh)  # (which refuses a bad mesh by name)
    try:
        frame = frame_around(vertices.min(axis=0), vertices.max(axis=0), SOLID_POSE_RESOLUTION)
    except ValueError:
        return mesh_solid_weights(mesh)
    stacked = cache.get_or_compute(grid_key(vertices, triangles, frame, "SOLID_POSE_WEIGHTS"),
                                   lambda: np.column_stack(mesh_solid_weights(mesh)))
    # Contiguous copies: numpy sums strided columns in another order, and the pose would differ in the last bits.
    return np.ascontiguousarray(stacked[:, :3]), np.ascontiguousarray(stacked[:, 3])


def _grid_of(vertices, triangles, frame: GridFrame, truncation: float, name: str, cache=None) -> np.ndarray:
    """signed_distance_grid, through `cache` (a shapespace.voxel_cache.VoxelCache) when given."""
    if cache is None:
        return signed_distance_grid(vertices, triangles, frame, truncation, name)
    return cache.signed_distance_grid(vertices, triangles, frame, truncation, name)


def rotate_grid(grid: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """A cube grid turned by one of `axis_rotations()` about its centre (a signed axis permutation:
    exact, no resampling). new[q] = grid[p] where q = rotation @ p about the centre."""
    rotation = np.rint(np.asarray(rotation)).astype(np.int64)
    order = [int(np.flatnonzero(rotation[:, k])[0]) for k in range(3)]  # input axis k -> output axis order[k]
    signs = [int(rotation[order[k], k]) for k in range(3)]
    out = np.asarray(grid)
    flips = tuple(k for k in range(3) if signs[k] < 0)
    if flips:
        out = np.flip(out, axis=flips)
    inverse = np.argsort(order)
    return np.ascontiguousarray(np.transpose(out, inverse))


def soft_occupancy(grid: np.ndarray, truncation: float | None = None) -> np.ndarray:
    """float32 occupancy ramp of a truncated signed grid: 1 at −truncation, ½ on the surface, 0 at
    +truncation (default truncation: the grid's largest magnitude). Thin parts — a table top or a
    chair leg thinner than a voxel, whose grids have no negative voxel at all — still show as a
    ridge of about ½, so grids can be compared where inside voxels say nothing."""
    grid = np.asarray(grid, np.float32)
    truncation = float(truncation if truncation is not None else np.abs(grid).max())
    return np.clip(0.5 - grid / (2.0 * max(truncation, 1e-30)), 0.0, 1.0)


def soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Σ min / Σ max of two `soft_occupancy` grids (1 for equal grids, 0 for disjoint ones)."""
    union = float(np.maximum(a, b).sum())
    return float(np.minimum(a, b).sum() / union) if union > 0 else 0.0


def best_axis_rotation(grid: np.ndarray, references, score=None) -> tuple[np.ndarray, int, float]:
    """(rotation (3, 3), index of the best reference, its score): the axis rotation (of the 24)
    under which `grid` agrees best with one of the reference grids. Canonical pose leaves axis order
    and signs ambiguous, and this picks them so that one class's shapes share a frame. Default
    score: `soft_iou` of the grids' `soft_occupancy` (inside-voxel IoU was tried first: on thin
    shapes at 32³ most grids have no inside voxel, so it chose at random — roughened copies of one
    table ended up turned 85-170° from each other)."""
    if score is None:
        turned_of = [soft_occupancy(grid)]
        pool = [soft_occupancy(reference) for reference in references]
        score = soft_iou
    else:
        turned_of, pool = [np.asarray(grid)], list(references)
    best = (-np.inf, np.eye(3), 0)
    for rotation in axis_rotations():
        turned = rotate_grid(turned_of[0], rotation)
        for k, reference in enumerate(pool):
            s = score(turned, reference)
            if s > best[0]:
                best = (s, rotation, k)
    return best[1], best[2], best[0]


@dataclass
class SignedDistanceSet:
    """Shapes ready for an implicit decoder, all in one canonical cube frame (centred on the origin).

    A shape's canonical points are `rotations[i] @ poses[i].apply(v)`; `to_mesh_frame` undoes that."""

    grids: np.ndarray  # (N, R, R, R) float32 truncated signed distance
    points: np.ndarray  # (N, S, 3) float32 training samples
    distances: np.ndarray  # (N, S) float32
    frame: GridFrame
    truncation: float
    poses: list  # PoseFrame per shape
    rotations: np.ndarray  # (N, 3, 3) rotation applied after the pose: an axis rotation, then fine alignment's tilt
    meshes: list  # MeshArrays in the canonical cube frame
    labels: np.ndarray  # (N,) int; for shapes aligned without a label, the class whose reference fit best

    def to_mesh_frame(self, index: int, points) -> np.ndarray:
        """Canonical-cube points back into shape `index`'s own frame."""
        return self.poses[index].undo(np.asarray(points, np.float64) @ self.rotations[index])


def cube_frame(half_size: float, resolution: int) -> GridFrame:
    """The cube [-half_size, half_size]³ at `resolution`: voxel centres symmetric about the origin, so
    axis rotations of its grids are exact."""
    half_size = float(half_size)
    return GridFrame((-half_size,) * 3, 2 * half_size, int(resolution))


def class_references(grids, labels, classes: int) -> np.ndarray:
    """(C, R, R, R) float32: per class the signed grid of its medoid (the shape with the highest mean
    `soft_iou` to the others), +truncation where a class has no shape."""
    grids = np.asarray(grids)
    labels = np.asarray(labels)
    truncation = float(np.abs(grids).max())
    out = np.full((classes,) + grids.shape[1:], truncation, np.float32)
    for k in range(classes):
        members = grids[labels == k]
        if len(members) == 0:
            continue
        soft = soft_occupancy(members, truncation).reshape(len(members), -1)
        agreement = np.array([[soft_iou(a, b) for b in soft] for a in soft])
        out[k] = members[int(np.argmax(agreement.mean(axis=1)))]
    return out


REFINE_STEPS = (np.radians(8.0), 1.0, 0.08)  # first steps: rotation (radians), shift (voxels), log scale
REFINE_LEVELS = 4  # each level halves the steps


def refine_similarity(grid: np.ndarray, reference: np.ndarray, frame: GridFrame, scale: bool = True,
                      levels: int = REFINE_LEVELS) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(rotation Q (3, 3), shift t (3,), scale s, soft IoU): the small similarity x -> s·Q·x + t (about
    the cube's centre, the origin) under which the shape of `grid` agrees best (`soft_iou`) with
    `reference`, both on `frame`. What canonical pose leaves after the 24 axis rotations is a tilt of
    a few degrees and a shift of about a voxel (a thin leg or a table top then misses its place in
    the grid); a coordinate search over the seven parameters, steps halved `levels` times, takes
    them out. The grid is resampled trilinearly under each trial transform, only where the
    reference's occupancy is non-zero: Σ max = Σ reference + Σ moved − Σ min, and a similarity
    multiplies the moved shape's Σ by s³."""
    target = soft_occupancy(reference).ravel()
    support = target > 0
    points, target = frame.points()[support], target[support]
    target_mass = float(target.sum())
    truncation = float(np.abs(grid).max())
    shape_mass = float(soft_occupancy(grid, truncation).sum())

    def score(params):
        q, shift, log_scale = axis_angle_to_matrix(params[:3]), params[3:6] * frame.pitch, params[6]
        source = ((points - shift) @ q) / np.exp(log_scale)
        moved = np.clip(0.5 - sample_grid(grid, frame, source) / (2.0 * max(truncation, 1e-30)), 0.0, 1.0)
        common = float(np.minimum(moved, target).sum())
        union = target_mass + shape_mass * np.exp(3 * log_scale) - common
        return common / union if union > 0 else 0.0

    params = np.zeros(7)
    best = score(params)
    steps = np.array([REFINE_STEPS[0]] * 3 + [REFINE_STEPS[1]] * 3 + [REFINE_STEPS[2]])
    if not scale:
        steps[6] = 0.0
    for _ in range(int(levels)):
        improved = True
        while improved:
            improved = False
            for j in np.flatnonzero(steps > 0):
                for sign in (1.0, -1.0):
                    trial = params.copy()
                    trial[j] += sign * steps[j]
                    value = score(trial)
                    if value > best + 1e-6:
                        params, best, improved = trial, value, True
                        break
        steps = steps / 2
    return axis_angle_to_matrix(params[:3]), params[3:6] * frame.pitch, float(np.exp(params[6])), best


def _refined(mesh: MeshArrays, frame_pose: PoseFrame, rotation: np.ndarray, grid: np.ndarray, reference: np.ndarray,
             frame: GridFrame, truncation: float, cache=None):
    """(pose, rotation, mesh in the cube frame, exact grid) after `refine_similarity` against
    `reference`: the shift and scale go into the pose, the tilt into the rotation."""
    q, shift, scale, _ = refine_similarity(grid, reference, frame)
    total = q @ rotation
    new_scale = frame_pose.scale / scale
    centre = frame_pose.centre - new_scale * (frame_pose.rotation.T @ total.T @ shift)
    pose = PoseFrame(frame_pose.rotation, centre, new_scale)
    moved = pose.apply(mesh.vertices) @ total.T
    turned = MeshArrays(mesh.name, moved, mesh.face_sizes, mesh.corner_vertices, dict(mesh.attributes))
    return pose, total, turned, _grid_of(moved, turned.triangles, frame, truncation, mesh.name, cache)


def _best_candidate(candidate_grids, pool) -> tuple[int, np.ndarray, int, float]:
    """(candidate, axis rotation, reference, score) of the best fit of any candidate grid, under any
    of the 24 axis rotations, to any grid of `pool`."""
    best = (0, np.eye(3), 0, -np.inf)
    for c, grid in enumerate(candidate_grids):
        rotation, k, score = best_axis_rotation(grid, pool)
        if score > best[3]:
            best = (c, rotation, k, score)
    return best


def pose_candidates(pose: str, aligned: bool) -> tuple:
    """The canonical poses tried per shape: 'BEST' tries both and keeps the one that fits its class's
    reference best (neither wins everywhere: the surface pose moves with deleted or duplicated faces,
    the solid one with a large blob pushed into a thin shape)."""
    if pose not in POSES + ("BEST",):
        raise ValueError(f"Unknown pose {pose!r}; use 'BEST' or one of {POSES}")
    if aligned:
        return ("SURFACE",) if pose == "SURFACE" else ("SOLID",)
    return POSES if pose == "BEST" else (pose,)


def align_to_references(mesh: MeshArrays, frame: GridFrame, truncation: float, references, label: int | None = None,
                        aligned: bool = False, pose: str = "BEST", refine: bool = True, size="REACH", cache=None):
    """One new shape in a trained model's frame: its candidate canonical poses, each turned by the
    axis rotation that fits `references` (C, R, R, R) best (only `label`'s when given); the best fit
    wins, then (`refine`) `refine_similarity` against that reference. Returns (grid turned, canonical
    mesh turned, PoseFrame, rotation, class index, score); canonical points = rotation @ pose.apply(v).
    `cache` (a VoxelCache): grids and the solid-pose voxelisation read from it when it holds them."""
    best = None
    for candidate in _poses_of(mesh, pose_candidates(pose, aligned), aligned, size, cache):
        moved, frame_pose = _posed(mesh, candidate)
        grid = _grid_of(moved.vertices, moved.triangles, frame, truncation, mesh.name, cache)
        if aligned or references is None:
            rotation, k, score = np.eye(3), (0 if label is None else int(label)), 0.0
        else:
            pool = references if label is None else references[int(label):int(label) + 1]
            rotation, k, score = best_axis_rotation(grid, pool)
            k = k if label is None else int(label)
        if best is None or score > best[5]:
            best = (grid, moved, frame_pose, rotation, k, score)
    grid, moved, frame_pose, rotation, k, score = best
    grid = rotate_grid(grid, rotation)
    if refine and not aligned and references is not None:
        frame_pose, rotation, turned, grid = _refined(mesh, frame_pose, rotation, grid, references[k], frame,
                                                      truncation, cache)
        return grid, turned, frame_pose, rotation, k, soft_iou(soft_occupancy(grid), soft_occupancy(references[k]))
    turned = MeshArrays(moved.name, moved.vertices.astype(np.float64) @ rotation.T, moved.face_sizes,
                        moved.corner_vertices, dict(moved.attributes))
    return grid, turned, frame_pose, rotation, k, score


def prepare_signed_distances(meshes, labels=None, *, resolution: int = 32, samples: int = 4096,
                             near_share: float = 0.7, aligned: bool = False, frame: GridFrame | None = None,
                             truncation: float | None = None, references: np.ndarray | None = None,
                             classes: int | None = None, seed: int = 0, progress=None,
                             pose: str = "BEST", refine: bool = True, size="REACH",
                             cache=None) -> SignedDistanceSet:
    """Canonical pose, one cube frame, per-class alignment, signed grids and training samples.

    meshes: MeshArrays in any pose and scale; labels: class index per mesh (None for shapes of unknown
    class, which are then aligned to the best-fitting reference). `pose`: 'BEST' (the solid and the
    surface canonical pose are both tried, `pose_candidates`), 'SOLID' or 'SURFACE'; `size` as in
    `canonical_mesh` (one size for all of a shape's candidates). Without `frame`,
    a cube around all canonical shapes is made (1.06 × their largest coordinate). `references`
    (C, R, R, R) signed grids to align to (a trained model's); without them they are found here:
    canonical pose leaves the axis order and signs ambiguous, so every shape takes the candidate
    pose and axis rotation (of 24) that agrees best (`soft_iou`) with its class's medoid, twice.
    `refine`: then `refine_similarity` against the class's reference (a tilt of a few degrees, a shift
    and scale of about a voxel) and the grid computed again. `aligned`: the collection is already
    upright and aligned — no rotation, only centre and scale. progress(fraction, message) after each shape.
    `cache` (a shapespace.voxel_cache.VoxelCache): every signed grid and solid-pose voxelisation is read
    from it when it holds one for the same mesh content, frame and truncation, and stored there when
    not, so a second learn on the same collection computes none of them."""
    meshes = list(meshes)
    if not meshes:
        raise ValueError("No shapes were given; a signed-distance set needs at least one mesh")
    rng = np.random.default_rng(seed)
    kinds = pose_candidates(pose, aligned)
    candidates = [[_posed(m, p) for p in _poses_of(m, kinds, aligned, size, cache)] for m in meshes]
    if frame is None:
        extent = max(float(np.abs(m.vertices).max()) for options in candidates for m, _ in options)
        frame = cube_frame(1.06 * extent, resolution)
    truncation = float(truncation if truncation is not None else DEFAULT_TRUNCATION_VOXELS * frame.pitch)
    candidate_grids = []
    for i, options in enumerate(candidates):
        candidate_grids.append([_grid_of(m.vertices, m.triangles, frame, truncation, m.name, cache)
                                for m, _ in options])
        if progress is not None:
            progress(0.7 * (i + 1) / len(meshes), f"signed distance of '{meshes[i].name}' ({i + 1}/{len(meshes)})")
    chosen = np.zeros(len(meshes), np.int64)
    grids = np.array([options[0] for options in candidate_grids], np.float32)
    known_labels = None if labels is None else np.asarray(labels, np.int64)
    rotations = np.repeat(np.eye(3)[None], len(meshes), axis=0)
    own_references = references is None
    if not aligned:
        if references is None:
            if known_labels is None:
                raise ValueError("Aligning shapes of unknown class needs reference grids (a trained model's)")
            count = int(classes or known_labels.max() + 1)
            for _ in range(2):
                references = class_references(grids, known_labels, count)
                for i in range(len(grids)):
                    c, rotation, _, _ = _best_candidate(candidate_grids[i],
                                                        references[known_labels[i]:known_labels[i] + 1])
                    chosen[i], rotations[i] = c, rotation
                    grids[i] = rotate_grid(candidate_grids[i][c], rotation)
        else:
            found = []
            for i in range(len(grids)):
                pool = references if known_labels is None else references[known_labels[i]:known_labels[i] + 1]
                c, rotation, k, _ = _best_candidate(candidate_grids[i], pool)
                chosen[i], rotations[i] = c, rotation
                grids[i] = rotate_grid(candidate_grids[i][c], rotation)
                found.append(k if known_labels is None else known_labels[i])
            known_labels = np.asarray(found, np.int64)
    poses = [candidates[i][c][1] for i, c in enumerate(chosen)]
    out_meshes = []
    for i, c in enumerate(chosen):
        m = candidates[i][c][0]
        out_meshes.append(MeshArrays(m.name, m.vertices.astype(np.float64) @ rotations[i].T, m.face_sizes,
                                     m.corner_vertices, dict(m.attributes)))
    if refine and not aligned:
        if own_references:
            references = class_references(grids, known_labels, int(classes or known_labels.max() + 1))
        for i in range(len(meshes)):
            poses[i], rotations[i], out_meshes[i], grids[i] = _refined(
                meshes[i], poses[i], rotations[i], grids[i], references[known_labels[i]], frame, truncation, cache)
            if progress is not None:
                progress(0.7 + 0.1 * (i + 1) / len(meshes), f"fine alignment of '{meshes[i].name}' "
                         f"({i + 1}/{len(meshes)})")
    if known_labels is None:
        known_labels = np.zeros(len(meshes), np.int64)
    points, distances = [], []
    for i, turned in enumerate(out_meshes):
        if samples:
            p, d = sample_training_points(turned, frame, samples, near_share, frame.pitch, rng, truncation, grids[i])
            points.append(p)
            distances.append(d)
        if progress is not None:
            progress(0.8 + 0.2 * (i + 1) / len(out_meshes), f"training points of '{turned.name}' "
                     f"({i + 1}/{len(out_meshes)})")
    points = np.array(points, np.float32) if samples else np.zeros((len(meshes), 0, 3), np.float32)
    distances = np.array(distances, np.float32) if samples else np.zeros((len(meshes), 0), np.float32)
    return SignedDistanceSet(grids, points, distances, frame, truncation, list(poses), rotations, out_meshes,
                             known_labels)
