"""Find shapes from a sketch: the scene's annotation strokes (drawn in the 3D viewport) or an image."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy.props import IntProperty, StringProperty

from .find_similar import THUMBNAIL, thumbnail
from .image_bridge import write_image
from .model_store import absolute_path, active_model
from .operator_support import reports_errors


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


def image_sketch(path: Path, size: int) -> np.ndarray:
    """Dark lines on a light image (or light on dark), resampled to size × size, lines = 1."""
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    grey = pixels.reshape(height, width, 4)[::-1, :, :3].mean(axis=2)
    ink = grey < 0.5 if np.median(grey) > 0.5 else grey > 0.5
    rows = (np.arange(size) * height // size)
    cols = (np.arange(size) * width // size)
    cells = ink[:rows[-1] + height // size, :cols[-1] + width // size]
    block = max(1, height // size), max(1, width // size)
    small = cells[:size * block[0], :size * block[1]].reshape(size, block[0], size, block[1]).any(axis=(1, 3))
    return small.astype(np.float32)


class DESIGN_SPACE_OT_sketch_search(bpy.types.Operator):
    """Find the shapes that look like a sketch — the annotation strokes you drew in the 3D viewport, or an image file — and put the best one at the 3D cursor"""

    bl_idname = "design_space.sketch_search"
    bl_label = "Search by Sketch"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(name="Sketch Image", description="An image of the sketch (empty: the annotation "
                             "strokes)", subtype='FILE_PATH')
    count: IntProperty(name="Count", description="How many shapes to list", default=5, min=1, max=50)

    @reports_errors
    def execute(self, context):
        from ..learning.sketch import SketchRetrieval, rasterize_strokes

        entry = active_model(context.scene)
        if entry is None or entry.kind != "sketch_retrieval":
            raise ValueError("Make a sketch search the active model first (Train Sketch Search, or pick one)")
        retrieval, library, metadata = SketchRetrieval.load(absolute_path(entry.filepath))
        size = retrieval.resolution
        if self.filepath.strip():
            sketch = image_sketch(Path(bpy.path.abspath(self.filepath)), size)
        else:
            sketch = rasterize_strokes(annotation_strokes(context), size)
        if sketch.sum() == 0:
            raise ValueError("The sketch is empty; draw with the annotation tool (D + drag) or load an image")
        similarity = retrieval.search(sketch, library)
        names = metadata["info"]["names"]
        order = np.argsort(-similarity)[:self.count]
        matches = context.scene.design_space.matches
        matches.clear()
        for rank, i in enumerate(order):
            item = matches.add()
            item.name, item.score = names[i], float(similarity[i])
        write_image("Design Space Sketch", thumbnail(sketch))
        best = bpy.data.objects.get(names[order[0]])
        if best is not None:
            from .classifiers import shape_views

            for rank, i in enumerate(order):
                obj = bpy.data.objects.get(names[i])
                if obj is not None:
                    write_image(THUMBNAIL.format(rank), thumbnail(shape_views([obj], 64)[0, 1]))
            placed = best.copy()  # a linked duplicate at the cursor
            placed.location = context.scene.cursor.location.copy()
            context.scene.collection.objects.link(placed)
            for obj in context.selected_objects:
                obj.select_set(False)
            placed.select_set(True)
            context.view_layer.objects.active = placed
        self.report({'INFO'}, "Sketch matches: " + ", ".join(f"{names[i]} ({similarity[i]:.2f})" for i in order))
        return {'FINISHED'}
