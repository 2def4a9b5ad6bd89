"""Voxelising real-looking polygon soups: the exact winding-number pass against the fast hierarchical one.

The soups are the project's procedural shapes made to look downloaded (shapespace.roughen: re-tessellated,
holes, overlapping parts, flipped faces, internal faces, clutter) and then split 1 → 4 until they have about
20k triangles — the size of a typical downloaded model. `bench_voxelize()` returns the median
milliseconds per mesh at 32³ of the old path (ray votes, exact generalized winding number for the voxels
the rays disagree on) and of the new one (the same votes, fast winding numbers), their ratio, and how
many voxels the two agree on. Run it alone with `python scripts/bench_voxels.py`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapespace.mesh_arrays import MeshArrays  # noqa: E402
from shapespace.procedural import FAMILIES, make_shape  # noqa: E402
from shapespace.roughen import roughen  # noqa: E402

SOUP_TRIANGLES = 20_000


def split_triangles(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each triangle split into four at its edge midpoints, midpoints shared between neighbours (so
    connected pieces stay connected and keep their orientation)."""
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    unique, index = np.unique(edges, axis=0, return_inverse=True)
    index = index.reshape(3, -1).T + len(vertices)  # midpoint of edges (01, 12, 20) per triangle
    midpoints = vertices[unique].mean(axis=1)
    a, b, c = triangles.T
    ab, bc, ca = index.T
    out = np.concatenate([np.stack(t, axis=1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return np.concatenate([vertices, midpoints]), out


def roughened_soup(family: str, seed: int, triangles: int = SOUP_TRIANGLES) -> MeshArrays:
    """A procedural shape roughened like a downloaded model, split until it has at least `triangles`
    triangles (about 20k: each split multiplies by four, the last one is only partly kept to land near)."""
    mesh = roughen(make_shape(family, seed, same_topology=False), np.random.default_rng(seed), arbitrary_rotation=True)
    vertices, faces = mesh.vertices.astype(np.float64), mesh.triangles.astype(np.int64)
    while len(faces) * 4 <= triangles:
        vertices, faces = split_triangles(vertices, faces)
    if len(faces) < triangles:  # split a random share of the triangles to land on the target
        rng = np.random.default_rng(seed)
        chosen = rng.random(len(faces)) < (triangles - len(faces)) / (3 * len(faces))
        # Splitting only some triangles leaves T-junctions (cracks a soup has anyway).
        vertices, split = split_triangles(vertices, faces[chosen])
        faces = np.concatenate([faces[~chosen], split])
    return MeshArrays.from_faces(f"{family} soup {seed}", vertices, faces)


def _median_ms(fn, repeat: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return 1000 * float(np.median(times))


def bench_voxelize(resolution: int = 32, seeds=(0, 1), repeat: int = 3) -> dict:
    """Median ms per 20k-triangle soup at `resolution`³, old (exact winding numbers where the rays
    disagree) against new (fast winding numbers), over the five families × `seeds`; the new path's
    processor time as well, and the smallest share of voxels on which old and new agree."""
    from shapespace.voxels import frame_around, voxelize

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    old, new, new_cpu, agreement = [], [], [], []
    for family in FAMILIES:
        for seed in seeds:
            soup = roughened_soup(family, seed)
            vertices, triangles = soup.vertices.astype(np.float64), soup.triangles
            frame = frame_around(vertices.min(axis=0), vertices.max(axis=0), resolution)
            exact = voxelize(vertices, triangles, frame, winding="EXACT")
            fast = voxelize(vertices, triangles, frame)
            agreement.append(float((exact == fast).mean()))
            old.append(_median_ms(lambda: voxelize(vertices, triangles, frame, winding="EXACT"), 1))
            new.append(_median_ms(lambda: voxelize(vertices, triangles, frame), repeat))
            # Processor time too: on a machine shared with other work, wall time mostly measures the others.
            new_cpu.append(_median_ms(lambda: voxelize(vertices, triangles, frame), repeat, time.process_time))
    return {"meshes": len(old), "triangles": SOUP_TRIANGLES, "resolution": resolution,
            "old_ms": float(np.median(old)), "old_max_ms": float(np.max(old)),
            "new_ms": float(np.median(new)), "new_max_ms": float(np.max(new)),
            "new_cpu_ms": float(np.median(new_cpu)), "new_cpu_max_ms": float(np.max(new_cpu)),
            "ratio": float(np.median(old) / np.median(new)), "min_agreement": float(np.min(agreement))}


if __name__ == "__main__":
    for key, value in bench_voxelize().items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
