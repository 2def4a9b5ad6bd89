"""What every benchmark file shares: the median of repeated timings, and a mesh of a chosen size."""

from __future__ import annotations

import statistics
import time

import numpy as np


def median_seconds(fn, repeat: int = 5, setup=None) -> float:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def grid_mesh(MeshArrays, side: int, name: str = "grid"):
    """A side × side vertex grid of triangles (side=317: ~100k vertices, ~200k triangles)."""
    x, y = np.meshgrid(np.linspace(0, 1, side, dtype=np.float32), np.linspace(0, 1, side, dtype=np.float32))
    vertices = np.stack([x.ravel(), y.ravel(), np.sin(x * 6).ravel() * 0.1], axis=1)
    i = np.arange(side - 1)[:, None] * side + np.arange(side - 1)[None, :]
    i = i.ravel()
    triangles = np.concatenate([np.stack([i, i + 1, i + side + 1], 1), np.stack([i, i + side + 1, i + side], 1)])
    return MeshArrays.from_faces(name, vertices, triangles)
