"""Rotations the tests turn shapes by (test data only)."""

import numpy as np


def turn(angle_deg: float, axis: int) -> np.ndarray:
    """The 3 × 3 rotation by `angle_deg` degrees about axis 0 (x), 1 (y) or 2 (z)."""
    a = np.radians(angle_deg)
    c, s = np.cos(a), np.sin(a)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r
