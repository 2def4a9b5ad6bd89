"""Shapes in correspondence: stacking same-topology meshes (vertex i ↔ vertex i) and aligning them
by generalized Procrustes analysis (rigid or similarity)."""

from __future__ import annotations

import numpy as np


def stack_same_topology(meshes) -> np.ndarray:
    """(N, V, 3) float32 positions of meshes that share vertices and faces.

    Raises ValueError naming the first mesh whose topology differs from the first one's.
    """
    meshes = list(meshes)
    if not meshes:
        raise ValueError("No shapes given")
    first = meshes[0]
    for mesh in meshes[1:]:
        if len(mesh.vertices) != len(first.vertices):
            raise ValueError(
                f"'{mesh.name}' has {len(mesh.vertices)} vertices but '{first.name}' has {len(first.vertices)}: "
                "the shapes do not share one topology; fit a template to them or remove the odd ones")
        if len(mesh.corner_vertices) != len(first.corner_vertices) or not np.array_equal(
                mesh.corner_vertices, first.corner_vertices):
            raise ValueError(
                f"'{mesh.name}' has as many vertices as '{first.name}' but its faces connect them differently; "
                "the shapes do not share one topology")
    return np.stack([m.vertices for m in meshes]).astype(np.float32)


def _best_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation R minimizing ‖source·Rᵀ − target‖ for centred point sets (Kabsch)."""
    u, _, vt = np.linalg.svd(target.T @ source)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def procrustes_align(shapes: np.ndarray, scaling: bool = False, iterations: int = 10,
                     tolerance: float = 1e-9):
    """Align every shape to the common mean by rotation and translation (and uniform scale).

    Returns (aligned (N, V, 3) float32, rotations (N, 3, 3), scales (N,), translations (N, 3)) such that
    aligned[i] = scales[i] · shapes[i] · rotations[i]ᵀ + translations[i]. The mean keeps the first
    shape's position, orientation and size, so the aligned shapes stay where a user expects them.
    """
    shapes = np.asarray(shapes, dtype=np.float64)
    n = len(shapes)
    centroids = shapes.mean(axis=1)
    centred = shapes - centroids[:, None]
    reference = centred[0].copy()
    reference_norm = np.linalg.norm(reference)
    rotations = np.tile(np.eye(3), (n, 1, 1))
    scales = np.ones(n)
    previous = np.inf
    for _ in range(iterations):
        aligned = np.empty_like(centred)
        for i in range(n):  # per shape: a 3×3 SVD
            rotations[i] = _best_rotation(centred[i], reference)
            rotated = centred[i] @ rotations[i].T
            if scaling:
                scales[i] = float(np.sum(rotated * reference) / max(np.sum(rotated * rotated), 1e-300))
            aligned[i] = scales[i] * rotated
        mean = aligned.mean(axis=0)
        # keep the mean in the first shape's frame and size
        rotation = _best_rotation(mean, centred[0])
        mean = mean @ rotation.T
        if scaling:
            mean *= reference_norm / max(np.linalg.norm(mean), 1e-300)
        change = float(np.linalg.norm(mean - reference))
        reference = mean
        if abs(previous - change) < tolerance or change < tolerance:
            break
        previous = change
    translations = centroids[0] - np.einsum("n,nij,nj->ni", scales, rotations, centroids)
    aligned = scales[:, None, None] * np.einsum("nvj,nij->nvi", shapes, rotations) + translations[:, None]
    return aligned.astype(np.float32), rotations, scales, translations


def align_to(shape: np.ndarray, reference: np.ndarray, scaling: bool = False):
    """One shape aligned onto a reference with the same vertices: (aligned, rotation, scale, translation)
    with aligned = scale · shape · rotationᵀ + translation."""
    shape = np.asarray(shape, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    centre, reference_centre = shape.mean(axis=0), reference.mean(axis=0)
    rotation = _best_rotation(shape - centre, reference - reference_centre)
    rotated = (shape - centre) @ rotation.T
    scale = float(np.sum(rotated * (reference - reference_centre)) / max(np.sum(rotated * rotated), 1e-300)) \
        if scaling else 1.0
    translation = reference_centre - scale * centre @ rotation.T
    return (scale * shape @ rotation.T + translation).astype(np.float32), rotation, scale, translation
