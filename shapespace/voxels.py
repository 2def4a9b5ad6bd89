"""Occupancy grids from triangle meshes, robust to the meshes people really have.

Inside/outside is decided by signed ray crossings: along each of the three axes, every ray through a
row of voxel centres counts the triangles it crosses, +1 leaving and −1 entering (by the side the
triangle faces). Summed from either end of the ray, that is the winding number at each voxel centre
— exactly, on a closed mesh, whatever its self-intersections or overlapping pieces (two nested pieces
give 2, still inside). The six half-rays of a voxel vote; where they disagree (a hole lets some rays
through) the generalized winding number of Jacobson et al. 2013 settles it, computed exactly for
those few voxels only. Pieces whose normals point inwards (negative signed volume) are turned first,
so flipped pieces count like the others. Everything is vectorised over triangles and rays.

Grids are indexed [x, y, z]; a `GridFrame` says where they sit: a cube of side `size` from `low`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .assembly import winding_numbers
from .primitives import vertex_components
from .mesh_arrays import MeshArrays

__all__ = ["GridFrame", "frame_around", "common_frame", "voxelize", "grid_bytes", "check_grid_fits", "iou",
           "RESOLUTIONS"]

RESOLUTIONS = (16, 24, 32, 48, 64, 96, 128)
MARGIN = 0.04  # share of the cube left free on each side, so the surface never touches the border
# Rays pass this far (in voxels) beside the voxel centres: a mesh whose faces sit exactly on grid
# planes (boxes with round coordinates) would otherwise put crossings on triangle edges.
_RAY_NUDGE = np.array([3.1e-4, 5.3e-4, 7.7e-4])
_EXACT_BUDGET = 4e7  # voxel × triangle evaluations allowed for the generalized winding number


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


def _oriented_triangles(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Triangles with every connected piece turned to enclose positive volume."""
    mesh = MeshArrays("pieces", vertices, np.full(len(triangles), 3), triangles.ravel())
    labels, count = vertex_components(mesh)
    piece = labels[triangles[:, 0]]
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    flipped = np.bincount(piece, volume, minlength=count) < 0
    out = triangles.copy()
    turn = flipped[piece]
    out[turn] = out[turn][:, ::-1]
    return out


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
    i0 = np.ceil(u.min(axis=1)).astype(np.int64)
    i1 = np.floor(u.max(axis=1)).astype(np.int64)
    j0 = np.ceil(v.min(axis=1)).astype(np.int64)
    j1 = np.floor(v.max(axis=1)).astype(np.int64)
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


def voxelize(vertices, triangles, frame: GridFrame, mode: str = "SOLID") -> np.ndarray:
    """Boolean occupancy (R, R, R) of the mesh in `frame`: 'SOLID' (inside) or 'SURFACE' (the voxels
    the surface passes through)."""
    if mode not in ("SOLID", "SURFACE"):
        raise ValueError(f"Unknown voxel mode {mode!r}; use 'SOLID' or 'SURFACE'")
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    triangles = np.asarray(triangles, np.int64).reshape(-1, 3)
    if len(triangles) == 0:
        raise ValueError("The mesh has no faces")
    triangles = _oriented_triangles(vertices, triangles)
    corners = vertices[triangles]
    votes, surface = [], np.zeros((frame.resolution,) * 3, dtype=bool)
    for axis in range(3):
        above, below, crossed = _axis_votes(corners, frame, axis)
        votes += [above, below]
        surface |= crossed
    if mode == "SURFACE":
        cells = np.floor(frame.to_grid(vertices)).astype(np.int64)  # tiny triangles no ray meets
        cells = cells[np.all((cells >= 0) & (cells < frame.resolution), axis=1)]
        surface[cells[:, 0], cells[:, 1], cells[:, 2]] = True
        return surface
    inside_votes = sum((vote >= 0.5).astype(np.int8) for vote in votes)
    solid = inside_votes >= 4
    unsure = np.argwhere((inside_votes > 0) & (inside_votes < 6))
    if len(unsure) and len(unsure) * len(triangles) <= _EXACT_BUDGET:
        points = frame.from_grid(unsure + 0.5)
        solid[tuple(unsure.T)] = winding_numbers(points, vertices, triangles) >= 0.5
    return solid


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
