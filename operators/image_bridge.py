"""Pictures from the pure core (training curves) into Blender Image datablocks."""

from __future__ import annotations

import bpy
import numpy as np


def write_image(name: str, rgba: np.ndarray, keep: bool = False) -> bpy.types.Image:
    """Show an (H, W, 4) float RGBA array (top row first) in the Image datablock `name`.

    With `keep` the picture is packed into the .blend (and kept without users), so it is still
    there when the file is opened again; live pictures that change often are not packed."""
    height, width = rgba.shape[:2]
    image = bpy.data.images.get(name)
    if image is not None and tuple(image.size) != (width, height):
        image.scale(width, height)
    if image is None:
        image = bpy.data.images.new(name, width, height, alpha=True)
    pixels = np.ascontiguousarray(rgba[::-1], dtype=np.float32).ravel()  # Blender stores the bottom row first
    image.pixels.foreach_set(pixels)
    image.update()
    if keep:
        image.use_fake_user = True
        image.pack()
    if image.preview is not None:
        image.preview.reload()
    return image
