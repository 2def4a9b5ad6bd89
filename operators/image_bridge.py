"""Pictures from the pure core (training curves) into Blender Image datablocks."""

from __future__ import annotations

from pathlib import Path

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


# Pictures a job shows while it runs, and the ones it leaves when it ends, live in a preview collection,
# not in Image datablocks: setting an Image's pixels sends a notifier that redraws every 3D viewport, a
# slow frame on a software-rendered screen. Kept ones become packed Images when the file is saved.
_live = {"previews": None, "to_keep": {}}


def show_live_picture(name: str, rgba: np.ndarray) -> int:
    """Show an (H, W, 4) float RGBA array (top row first) as the live picture `name`; return its icon id."""
    import bpy.utils.previews

    if _live["previews"] is None:
        _live["previews"] = bpy.utils.previews.new()
    previews = _live["previews"]
    preview = previews.get(name) or previews.new(name)
    height, width = rgba.shape[:2]
    preview.image_size = (width, height)
    preview.image_pixels_float.foreach_set(np.ascontiguousarray(rgba[::-1], dtype=np.float32).ravel())
    if _shown_in_image_editor(name):  # someone watches it large: worth the redraw
        write_image(name, rgba)
    return preview.icon_id


def _shown_in_image_editor(name: str) -> bool:
    image = bpy.data.images.get(name)
    return image is not None and any(area.type == 'IMAGE_EDITOR' and area.spaces.active.image == image
                                     for window in bpy.context.window_manager.windows
                                     for area in window.screen.areas)


def keep_picture(name: str, rgba: np.ndarray, at_once: bool | None = None) -> None:
    """Show `rgba` as the picture `name` and keep it in the .blend (a job's last picture). The Image is
    written `at_once` (default: in background mode, where nothing is drawn) or else on the next save,
    so that the viewports need not redraw now."""
    if bpy.app.background if at_once is None else at_once:
        write_image(name, rgba, keep=True)
    else:
        show_live_picture(name, rgba)
        _live["to_keep"][name] = rgba


def keep_training_curves(name: str, curves, model_path) -> None:
    """Keep a finished training's curves as the picture `name`; headless, also as a PNG beside the model
    file (nobody sees the sidebar there)."""
    if curves is None:
        return
    keep_picture(name, curves)
    if bpy.app.background:
        from ..learning.training_plot import write_png

        png = Path(model_path).with_suffix(".png")
        write_png(png, curves)
        print(f"[Design Space] training curves saved to {png}", flush=True)


def picture_icon(name: str) -> int | None:
    """The icon id that shows the picture `name` (live or kept in an Image), or None when there is none."""
    previews = _live["previews"]
    if previews is not None and name in previews:
        return previews[name].icon_id
    image = bpy.data.images.get(name)
    if image is None:
        return None
    image.preview_ensure()
    return image.preview.icon_id


@bpy.app.handlers.persistent
def pack_kept_pictures(*_):
    """save_pre: the pictures jobs left become packed Images, so the saved file has them."""
    for name, rgba in _live["to_keep"].items():
        write_image(name, rgba, keep=True)
    _live["to_keep"].clear()


@bpy.app.handlers.persistent
def forget_live_pictures(*_):
    """load_pre: the pictures belong to the file being closed."""
    _live["to_keep"].clear()
    if _live["previews"] is not None:
        _live["previews"].clear()


def register():
    bpy.app.handlers.save_pre.append(pack_kept_pictures)
    bpy.app.handlers.load_pre.append(forget_live_pictures)


def unregister():
    """Free the preview collection and remove the handlers."""
    import bpy.utils.previews

    for handlers, handler in ((bpy.app.handlers.save_pre, pack_kept_pictures),
                              (bpy.app.handlers.load_pre, forget_live_pictures)):
        if handler in handlers:
            handlers.remove(handler)
    _live["to_keep"].clear()
    if _live["previews"] is not None:
        bpy.utils.previews.remove(_live["previews"])
        _live["previews"] = None
