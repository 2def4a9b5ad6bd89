"""A colour per part label, so parts can be told apart in the viewport and in renders."""

import colorsys

import numpy as np

PALETTE = np.array([colorsys.hsv_to_rgb(h, 0.55, 0.95) + (1.0,) for h in np.linspace(0, 1, 9)[:-1]],
                   dtype=np.float32)


def part_face_colors(face_parts: np.ndarray) -> np.ndarray:
    """(F, 4) RGBA colours for faces given their part indices (the palette repeats after 8 parts)."""
    return PALETTE[np.asarray(face_parts) % len(PALETTE)]
