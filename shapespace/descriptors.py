"""Fixed-length shape descriptors: surface samples, the D2 shape distribution (Osada et al. 2002)
and bounding-box proportions. Topology-free, so shapes with different meshes compare directly."""

from __future__ import annotations

import numpy as np

from .mesh_arrays import MeshArrays


def triangle_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (vertices[triangles[:, i]].astype(np.float64) for i in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def sample_surface(mesh: MeshArrays, count: int, seed: int = 0) -> np.ndarray:
    """`count` points spread uniformly over the surface (area-weighted), repeatable by seed."""
    triangles = mesh.triangles
    areas = triangle_areas(mesh.vertices, triangles)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f"{mesh.name}: the mesh has no surface area to sample (all faces are degenerate)")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(triangles), size=count, p=areas / total)
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    a, b, c = (mesh.vertices[triangles[chosen, i]].astype(np.float64) for i in range(3))
    return a + u[:, None] * (b - a) + v[:, None] * (c - a)


def d2_histogram(points: np.ndarray, bins: int = 32, pairs: int = 20000, seed: int = 0) -> np.ndarray:
    """Histogram of distances between random point pairs, distances divided by their mean:
    invariant to position, rotation and scale. Sums to 1."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(points), pairs)
    j = rng.integers(0, len(points), pairs)
    distances = np.linalg.norm(points[i] - points[j], axis=1)
    scale = distances.mean()
    if scale <= 0:
        raise ValueError("all sampled points coincide; the shape is a single point")
    histogram, _ = np.histogram(distances / scale, bins=bins, range=(0.0, 3.0))
    return histogram / max(histogram.sum(), 1)


def box_proportions(mesh: MeshArrays) -> np.ndarray:
    """Bounding-box extents (x, y, z) in metres, and the same extents divided by their largest."""
    extents = np.ptp(mesh.vertices.astype(np.float64), axis=0)
    return np.concatenate([extents, extents / max(extents.max(), 1e-12)])


DESCRIPTOR_LAYOUT = "box6+d2x32"


def descriptor_names() -> list[str]:
    """Names of the descriptor's numbers, recorded in datasets and model files to match them up."""
    return [f"{DESCRIPTOR_LAYOUT}[{i}]" for i in range(38)]


def shape_descriptor(mesh: MeshArrays, seed: int = 0, samples: int = 2048) -> np.ndarray:
    """A 38-number descriptor: box extents and proportions, then a 32-bin D2 histogram."""
    points = sample_surface(mesh, samples, seed)
    return np.concatenate([box_proportions(mesh), d2_histogram(points, 32, seed=seed)]).astype(np.float32)


def descriptor_matrix(meshes, seed: int = 0) -> np.ndarray:
    """(N, 38) descriptors of many meshes."""
    return np.stack([shape_descriptor(m, seed) for m in meshes])
