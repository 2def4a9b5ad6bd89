"""Find shapes from a sketch: the scene's annotation strokes (drawn in the 3D viewport) or an image.

Both go through `learning.sketch.normalize_sketch`, as the doodles and the library's line drawings did
in training: ink relative to the paper (anti-aliased grey strokes kept), cropped, centred, fitted and
redrawn with one pen. The active sketch search is loaded once per model file (path and modification
time), and the best match is shown in one object, "Design Space Sketch Match", at the 3D cursor.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, IntProperty, StringProperty

from .find_similar import show_matches
from ..image_bridge import write_image
from ..model_store import absolute_path, active_model
from ..operator_support import reports_errors

PLACED_NAME = "Design Space Sketch Match"
MIN_IMAGE_SIDE = 8
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_BYTES = 64 * 1024 * 1024
_cache: dict = {}


def active_sketch_search(context):
    """(retrieval, library embeddings, metadata) of the active model, loaded once per file version."""
    from ...learning.sketch import SKETCH_KIND, SketchRetrieval

    entry = active_model(context.scene)
    if entry is None or entry.kind != SKETCH_KIND:
        raise ValueError("Make a sketch search the active model first (Train Sketch Search, or pick one)")
    path = Path(absolute_path(entry.filepath))
    if not path.is_file():
        raise ValueError(f"The sketch search's model file '{path}' is missing; train it again or pick another")
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _cache:
        _cache.clear()
        _cache[key] = SketchRetrieval.load(path)
    return _cache[key]


def annotation_strokes(context) -> list:
    """Strokes of the scene's annotations on the current frame, as 2D polylines seen from the 3D view
    (in a window) or from the front (headless)."""
    notes = getattr(context.scene, "annotation", None) or getattr(context.scene, "grease_pencil", None)
    if notes is None:
        return []
    rotation = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # front view: x right, z up
    space = getattr(context, "space_data", None)
    if space is not None and space.type == 'VIEW_3D':
        rotation = np.array(space.region_3d.view_rotation.to_matrix().transposed())
    strokes = []
    for layer in notes.layers:
        frame = layer.active_frame
        hidden = getattr(layer, "annotation_hide", None)  # annotations' own flag; other layers call it hide
        if (hidden if hidden is not None else getattr(layer, "hide", False)) or frame is None:
            continue
        for stroke in frame.strokes:  # strokes, not points: a handful
            points = np.empty(len(stroke.points) * 3, np.float32)
            stroke.points.foreach_get("co", points)
            strokes.append((points.reshape(-1, 3) @ rotation.T)[:, :2])
    return strokes


def header_dimensions(path: Path):
    """(width, height) from a PNG or JPEG header, None for other files (Blender reads those)."""
    with open(path, "rb") as f:
        head = f.read(32)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if head[:2] != b"\xff\xd8":
            return None
        f.seek(2)
        for _ in range(1000):  # JPEG segments up to the frame header (SOF0..SOF15 but DHT, JPG, DAC)
            marker = f.read(4)
            if len(marker) < 4 or marker[0] != 0xFF:
                return None
            kind, length = marker[1], int.from_bytes(marker[2:4], "big")
            if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
                frame = f.read(5)
                return (int.from_bytes(frame[3:5], "big"), int.from_bytes(frame[1:3], "big")) \
                    if len(frame) == 5 else None
            f.seek(length - 2, 1)
    return None


def read_sketch_image(path: Path) -> np.ndarray:
    """(H, W, 4) float32 RGBA pixels of an image file, top row first; ValueError naming the file when it
    is missing, empty, too large, not an image, or smaller than 8 or larger than 8192 pixels a side."""
    if not path.is_file():
        raise ValueError(f"The sketch image '{path}' does not exist; pick an image file (PNG, JPEG, …)")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"The sketch image '{path}' is empty (0 bytes); save the drawing again")
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"The sketch image '{path}' is {size / 2 ** 20:.0f} MB; use an image under "
                         f"{MAX_IMAGE_BYTES // 2 ** 20} MB (a few hundred pixels a side is plenty)")
    dimensions = header_dimensions(path)  # refuse a huge PNG or JPEG before Blender decodes it
    if dimensions is not None and max(dimensions) > MAX_IMAGE_SIDE:
        raise ValueError(f"The sketch image '{path}' is {dimensions[0]} × {dimensions[1]} pixels; scale it to "
                         f"at most {MAX_IMAGE_SIDE} pixels a side")
    try:
        image = bpy.data.images.load(str(path), check_existing=False)
    except RuntimeError:
        raise ValueError(f"'{path}' is not an image Blender can read; save the sketch as PNG or JPEG") from None
    try:
        width, height = image.size
        if width == 0 or height == 0:
            raise ValueError(f"'{path}' is not an image Blender can read; save the sketch as PNG or JPEG")
        if min(width, height) < MIN_IMAGE_SIDE:
            raise ValueError(f"The sketch image '{path}' is {width} × {height} pixels, too small to hold a "
                             f"sketch; use one at least {MIN_IMAGE_SIDE} pixels a side (64 or more is better)")
        if max(width, height) > MAX_IMAGE_SIDE:
            raise ValueError(f"The sketch image '{path}' is {width} × {height} pixels; scale it to at most "
                             f"{MAX_IMAGE_SIDE} pixels a side")
        channels = len(image.pixels) // (width * height)
        pixels = np.empty(width * height * channels, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    pixels = pixels.reshape(height, width, channels)[::-1]
    if channels == 2:  # grey and alpha
        pixels = np.concatenate([pixels[..., :1].repeat(3, axis=2), pixels[..., 1:]], axis=2)
    return np.ascontiguousarray(pixels)


def image_sketch(path: Path, size: int) -> np.ndarray:
    """A normalised size × size sketch from an image file (dark lines on light paper or the reverse)."""
    from ...learning.sketch import normalize_sketch

    sketch = normalize_sketch(read_sketch_image(path), size)
    if not sketch.any():
        raise ValueError(f"The sketch image '{path}' has no lines (it is one flat colour); draw the sketch "
                         "with dark lines on a light background")
    return sketch


def place_match(context, source) -> bpy.types.Object:
    """The best match shown at the 3D cursor: one linked duplicate, replaced on every search."""
    previous = bpy.data.objects.get(PLACED_NAME)
    if previous is not None:
        bpy.data.objects.remove(previous, do_unlink=True)
    placed = source.copy()  # a linked duplicate: the mesh is shared
    placed.name = PLACED_NAME
    placed.location = context.scene.cursor.location.copy()
    context.scene.collection.objects.link(placed)
    for obj in context.selected_objects:
        obj.select_set(False)
    placed.select_set(True)
    context.view_layer.objects.active = placed
    return placed


class DESIGN_SPACE_OT_sketch_search(bpy.types.Operator):
    """Find the shapes that look like a sketch — the annotation strokes you drew in the 3D viewport, or an image file — and show the best one at the 3D cursor"""

    bl_idname = "design_space.sketch_search"
    bl_label = "Search by Sketch"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name="Sketch Image", description="An image of the sketch (empty: the annotation "
                             "strokes)", subtype='FILE_PATH')
    count: IntProperty(name="Count", description="How many shapes to list", default=5, min=1, max=50)
    place: BoolProperty(name="Place Best Match", description="Show the best match at the 3D cursor (one object, "
                        f"'{PLACED_NAME}', replaced on every search)", default=True)

    @reports_errors
    def execute(self, context):
        from ...learning.sketch import strokes_sketch

        retrieval, library, metadata = active_sketch_search(context)
        size = retrieval.resolution
        if self.filepath.strip():
            sketch = image_sketch(Path(bpy.path.abspath(self.filepath)), size)
        else:
            sketch = strokes_sketch(annotation_strokes(context), size)
        if not sketch.any():
            raise ValueError("The sketch is empty; draw with the annotation tool (D + drag) or load an image")
        similarity = retrieval.search(sketch, library, metadata.get("labels"))
        if metadata.get("labels") is not None:
            similarity = similarity / 2.0  # two cosines summed (views and class prototype): shown as their mean, ≤ 1
        names = metadata["info"]["names"]
        order = np.argsort(-similarity)[:self.count]
        write_image("Design Space Sketch", np.dstack([sketch] * 3 + [np.ones_like(sketch)]))
        show_matches(context, [names[i] for i in order], similarity[order])
        best = bpy.data.objects.get(names[order[0]])
        if best is not None and self.place:
            place_match(context, best)
        self.report({'INFO'}, "Sketch matches: " + ", ".join(f"{names[i]} ({similarity[i]:.2f})" for i in order))
        return {'FINISHED'}
