"""Template fitting (Allen, Curless & Popović 2003): deform one template mesh onto shapes of any
topology, so that every shape ends up with the template's vertices and faces, in correspondence.

Each template vertex i carries an affine transform X_i (4×3: ṽ_i X_i with ṽ_i = [v_i, 1]). The fit
minimises

    E = Σ_i w_i ‖ṽ_i X_i − c_i‖²           data: c_i the nearest target surface point; w_i = 0 when
                                           it is far away or faces the other way (holes, missing parts)
      + α Σ_(i,j)∈edges ‖G (X_i − X_j)‖²   smoothness: neighbouring transforms alike, G = diag(1,1,1,γ)
      + β Σ_m ‖ṽ_m X_m − t_m‖²             markers: template vertex m onto landmark t_m

coarse to fine: α starts stiff (the template moves almost as one affine body) and relaxes stage by
stage while the nearest points are found again, as in Allen et al.'s multi-stage solve. Each
quadratic is solved by conjugate gradients with a 4×4 block-Jacobi preconditioner (no dense or
per-vertex Python work; the three coordinate columns are solved together).

Everything runs in a frame where the target's bounding box is centred and has diagonal 1, so the
settings do not depend on the user's units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .descriptors import triangle_areas
from .mesh_arrays import MeshArrays


@dataclass(frozen=True)
class FitSettings:
    stiffness: tuple = (100.0, 10.0, 1.0, 0.3)  # α per stage, coarse to fine
    iterations_per_stage: int = 3  # nearest points found again this often per stage
    samples: int = 20000  # target surface samples
    max_distance: float = 0.1  # data pairs farther than this (share of the diagonal) are ignored
    normal_agreement: float = 0.5  # and pairs whose normals' cosine is below this
    reverse_weight: float = 1.0  # weight of the target-to-template pull (0: Allen et al.'s one-sided term)
    marker_weight: float = 10.0
    translation_weight: float = 1.0  # γ: how much the translation part counts in the smoothness
    solver_iterations: int = 60
    seed: int = 0


@dataclass
class TemplateFit:
    name: str  # the target's name
    vertices: np.ndarray  # (V, 3) float32: the template's vertices fitted onto the target
    residual: float  # mean symmetric surface distance between fitted template and target, target units
    diagonal: float  # the target's bounding-box diagonal

    @property
    def residual_ratio(self) -> float:
        return self.residual / self.diagonal if self.diagonal > 0 else float("inf")


def unique_edges(mesh: MeshArrays) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) vertex indices of each undirected edge once, a < b."""
    sizes = mesh.face_sizes.astype(np.int64)
    starts = mesh.loop_starts.astype(np.int64)
    face = np.repeat(np.arange(len(sizes)), sizes)
    j = np.arange(len(mesh.corner_vertices)) - starts[face]
    a = mesh.corner_vertices.astype(np.int64)
    b = a[starts[face] + (j + 1) % sizes[face]]
    low, high = np.minimum(a, b), np.maximum(a, b)
    keys = np.unique(low * len(mesh.vertices) + high)
    return keys // len(mesh.vertices), keys % len(mesh.vertices)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (zero for vertices on no triangle)."""
    v = vertices.astype(np.float64)
    cross = np.cross(v[triangles[:, 1]] - v[triangles[:, 0]], v[triangles[:, 2]] - v[triangles[:, 0]])
    normals = np.zeros_like(v)
    for corner in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(triangles[:, corner], cross[:, axis], minlength=len(v))
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def sample_with_normals(vertices: np.ndarray, triangles: np.ndarray, count: int, seed: int = 0):
    """Area-uniform surface samples (count, 3) and the unit normals of the triangles they lie on."""
    areas = triangle_areas(vertices, triangles)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the mesh has no surface area (all faces are degenerate)")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(triangles), size=count, p=areas / total)
    u, w = rng.random(count), rng.random(count)
    flip = u + w > 1
    u[flip], w[flip] = 1 - u[flip], 1 - w[flip]
    a, b, c = (vertices[triangles[chosen, k]].astype(np.float64) for k in range(3))
    normals = np.cross(b - a, c - a)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
    return a + u[:, None] * (b - a) + w[:, None] * (c - a), normals


def _brute_force_nearest(queries, points, chunk: int = 1024):
    squared = (points * points).sum(axis=1)
    index = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        index[start:start + chunk] = np.argmin(squared[None, :] - 2.0 * (queries[start:start + chunk] @ points.T), 1)
    return index


_NEIGHBOUR_CELLS = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij"), -1).reshape(-1, 3)


def nearest_points(queries: np.ndarray, points: np.ndarray, occupancy: float = 8.0):
    """Index of the nearest point and the distance to it for every query.

    A uniform grid (cells holding about `occupancy` points of a surface) answers exactly every query
    whose nearest point lies within one cell; the few others are answered by brute force.
    """
    queries = np.asarray(queries, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    cell = max(float((high - low).max()) * np.sqrt(occupancy / max(len(points), 1)), 1e-12)
    coords = np.floor((points - low) / cell).astype(np.int64) + 1
    dims = coords.max(axis=0) + 2
    keys = (coords[:, 0] * dims[1] + coords[:, 1]) * dims[2] + coords[:, 2]
    order = np.argsort(keys, kind="stable")
    cell_keys, cell_starts, cell_counts = np.unique(keys[order], return_index=True, return_counts=True)

    best = np.full(len(queries), np.inf)
    index = np.full(len(queries), -1, dtype=np.int64)
    query_coords = np.floor((queries - low) / cell).astype(np.int64) + 1
    for offset in _NEIGHBOUR_CELLS:  # 27 vectorized passes
        c = query_coords + offset
        inside = np.all((c >= 0) & (c < dims), axis=1)
        key = (c[:, 0] * dims[1] + c[:, 1]) * dims[2] + c[:, 2]
        slot = np.minimum(np.searchsorted(cell_keys, key), len(cell_keys) - 1)
        hit = np.flatnonzero(inside & (cell_keys[slot] == key))
        if not len(hit):
            continue
        counts = cell_counts[slot[hit]]
        first = np.cumsum(counts) - counts
        query_of_pair = np.repeat(hit, counts)
        within = np.arange(int(counts.sum())) - np.repeat(first, counts)
        candidate = order[np.repeat(cell_starts[slot[hit]], counts) + within]
        d2 = ((queries[query_of_pair] - points[candidate]) ** 2).sum(axis=1)
        minimum = np.minimum.reduceat(d2, first)
        is_min = d2 == np.repeat(minimum, counts)
        chosen_query, first_min = np.unique(query_of_pair[is_min], return_index=True)
        chosen = candidate[is_min][first_min]
        better = minimum < best[chosen_query]
        best[chosen_query[better]] = minimum[better]
        index[chosen_query[better]] = chosen[better]
    unsure = np.flatnonzero(best > cell * cell)
    if len(unsure):
        index[unsure] = _brute_force_nearest(queries[unsure].astype(np.float32), points.astype(np.float32))
    distance = np.linalg.norm(queries - points[index], axis=1)
    return index, distance


class _AffineSystem:
    """A X = B for per-vertex affine transforms X (V, 4, 3):
    A = blockdiag(Σ weights ṽṽᵀ) + α (L ⊗ G²), L the graph Laplacian of the template's edges."""

    def __init__(self, homogeneous, edges_a, edges_b, translation_weight):
        self.h = homogeneous  # (V, 4)
        self.a, self.b = edges_a, edges_b
        self.count = len(homogeneous)
        self.degree = (np.bincount(edges_a, minlength=self.count) + np.bincount(edges_b, minlength=self.count))
        self.g2 = np.array([1.0, 1.0, 1.0, translation_weight ** 2])
        ia = (edges_a[:, None] * 12 + np.arange(12)).ravel()
        ib = (edges_b[:, None] * 12 + np.arange(12)).ravel()
        self.index_a, self.index_b = ia, ib

    def set_weights(self, weights, alpha):
        self.alpha = alpha
        self.blocks = weights[:, None, None] * (self.h[:, :, None] * self.h[:, None, :])  # (V, 4, 4)
        diagonal = self.blocks + alpha * self.degree[:, None, None] * np.diag(self.g2)[None]
        diagonal = diagonal + 1e-9 * np.eye(4)[None]  # isolated vertices without data
        self.preconditioner = np.linalg.inv(diagonal)

    def laplacian(self, x):  # x (V, 4, 3)
        flat = x.reshape(self.count, 12)
        size = self.count * 12
        neighbours = (np.bincount(self.index_a, flat[self.b].ravel(), minlength=size)
                      + np.bincount(self.index_b, flat[self.a].ravel(), minlength=size)).reshape(x.shape)
        return self.degree[:, None, None] * x - neighbours

    def apply(self, x):
        return np.matmul(self.blocks, x) + self.alpha * self.g2[None, :, None] * self.laplacian(x)

    def solve(self, rhs, x, iterations, tolerance=1e-10):
        """Preconditioned conjugate gradients, warm-started at x."""
        r = rhs - self.apply(x)
        z = np.matmul(self.preconditioner, r)
        p = z.copy()
        rz = float((r * z).sum())
        reference = max(float((rhs * rhs).sum()), 1e-300)
        for _ in range(iterations):
            if float((r * r).sum()) < tolerance * reference:
                break
            ap = self.apply(p)
            step = rz / max(float((p * ap).sum()), 1e-300)
            x = x + step * p
            r = r - step * ap
            z = np.matmul(self.preconditioner, r)
            rz_new = float((r * z).sum())
            p = z + (rz_new / max(rz, 1e-300)) * p
            rz = rz_new
        return x


def _bounding_box(vertices):
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    return (low + high) / 2.0, high - low


def fit_template(template: MeshArrays, target: MeshArrays, settings: FitSettings = FitSettings(),
                 template_markers=None, target_markers=None) -> TemplateFit:
    """Fit `template` onto `target` (any topology). Markers: template vertex indices (M,) and the
    target points (M, 3) they belong on, in the target's coordinates."""
    template_tris = template.triangles
    target_tris = target.triangles
    if len(template_tris) == 0 or len(target_tris) == 0:
        raise ValueError(f"'{template.name if len(template_tris) == 0 else target.name}' has no faces to fit")
    centre, extent = _bounding_box(target.vertices.astype(np.float64))
    diagonal = float(np.linalg.norm(extent))
    if not np.isfinite(diagonal) or diagonal <= 0:
        raise ValueError(f"'{target.name}' has no extent (all its vertices coincide)")
    to_unit = lambda p: (np.asarray(p, np.float64) - centre) / diagonal  # noqa: E731
    goal = to_unit(target.vertices)
    samples, sample_normals = sample_with_normals(goal, target_tris, settings.samples, settings.seed)

    # Start: the template's bounding box stretched onto the target's (per axis).
    start = template.vertices.astype(np.float64)
    t_centre, t_extent = _bounding_box(start)
    scale = np.where(t_extent > 1e-12 * max(t_extent.max(), 1e-300), extent / np.maximum(t_extent, 1e-300), 1.0)
    start = ((start - t_centre) * scale) / diagonal
    homogeneous = np.concatenate([start, np.ones((len(start), 1))], axis=1)
    edges_a, edges_b = unique_edges(template)
    system = _AffineSystem(homogeneous, edges_a, edges_b, settings.translation_weight)
    x = np.zeros((len(start), 4, 3))
    x[:, :3, :] = np.eye(3)

    markers = None
    if template_markers is not None and len(template_markers):
        markers = (np.asarray(template_markers, dtype=np.int64), to_unit(target_markers))

    spacing = np.sqrt(triangle_areas(goal, target_tris).sum() / settings.samples)
    edge_scale = len(edges_a) / max(len(start), 1)  # keep α's meaning independent of mesh density
    for stage, alpha in enumerate(settings.stiffness):
        for _ in range(settings.iterations_per_stage):
            current = np.einsum("vi,vik->vk", homogeneous, x)
            index, distance = nearest_points(current, samples)
            closest, normals = samples[index], sample_normals[index]
            # point-to-plane: slide along the sample's tangent plane, within the sample spacing
            plane = current - ((current - closest) * normals).sum(axis=1, keepdims=True) * normals
            closest = np.where(np.linalg.norm(plane - closest, axis=1, keepdims=True) < 2 * spacing, plane, closest)
            template_normals = vertex_normals(current, template_tris)
            agree = (template_normals * normals).sum(axis=1)
            weights = ((distance < settings.max_distance) & (agree >= settings.normal_agreement)).astype(np.float64)
            targets = weights[:, None] * closest
            if settings.reverse_weight > 0:
                # every target sample also pulls its nearest template vertex, so no part of the
                # target is left uncovered (the one-sided term of Allen et al. cannot see that)
                pull, pull_normals = samples[::4], sample_normals[::4]
                back, back_distance = nearest_points(pull, current)
                back_agree = (pull_normals * template_normals[back]).sum(axis=1)
                keep = (back_distance < settings.max_distance) & (back_agree >= settings.normal_agreement)
                share = settings.reverse_weight * len(current) / len(pull)
                weights = weights + share * np.bincount(back[keep], minlength=len(current))
                targets = targets + share * np.stack(
                    [np.bincount(back[keep], pull[keep, k], minlength=len(current)) for k in range(3)], axis=1)
            rhs = homogeneous[:, :, None] * targets[:, None, :]
            if markers is not None:
                marker_weights = np.zeros(len(start))
                np.add.at(marker_weights, markers[0], settings.marker_weight)
                weights = weights + marker_weights
                marker_rhs = np.zeros((len(start), 3))
                np.add.at(marker_rhs, markers[0], settings.marker_weight * markers[1])
                rhs = rhs + homogeneous[:, :, None] * marker_rhs[:, None, :]
            system.set_weights(weights, alpha / edge_scale)
            x = system.solve(rhs, x, settings.solver_iterations)
    fitted = np.einsum("vi,vik->vk", homogeneous, x)
    residual = symmetric_distance(fitted, template_tris, goal, target_tris, settings.samples // 2, settings.seed)
    vertices = (fitted * diagonal + centre).astype(np.float32)
    return TemplateFit(target.name, vertices, residual * diagonal, diagonal)


def surface_distance(points, samples, sample_normals, spacing):
    """Distance from each point to a surface given by dense samples with normals: to the nearest
    sample's tangent plane when the point lies over that sample, else to the sample itself."""
    index, distance = nearest_points(points, samples)
    offset = points - samples[index]
    normal_part = np.abs((offset * sample_normals[index]).sum(axis=1))
    tangential = np.sqrt(np.maximum(distance ** 2 - normal_part ** 2, 0.0))
    return np.where(tangential < spacing, normal_part, distance)


def symmetric_distance(vertices_a, triangles_a, vertices_b, triangles_b, samples: int = 10000, seed: int = 0):
    """Mean of the two one-sided mean surface distances between two meshes."""
    sides = []
    for vertices, triangles in ((vertices_a, triangles_a), (vertices_b, triangles_b)):
        points, normals = sample_with_normals(vertices, triangles, samples, seed)
        spacing = np.sqrt(triangle_areas(vertices, triangles).sum() / samples)
        sides.append((points, normals, spacing))
    (pa, na, sa), (pb, nb, sb) = sides
    return 0.5 * (surface_distance(pa, pb, nb, sb).mean() + surface_distance(pb, pa, na, sa).mean())
