"""The Recognition section: train a multi-view classifier, classify, find similar shapes."""

import bpy

from ..operators.find_similar import THUMBNAIL
from ..operators.train_classifier import CONFUSION_IMAGE
from .sidebar import DesignSpaceSidebar


class DESIGN_SPACE_PT_recognition(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Recognition"
    bl_idname = "DESIGN_SPACE_PT_recognition"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        column = layout.column()
        column.enabled = settings.training_collection is not None
        column.operator("design_space.train_classifier", icon='OUTLINER_OB_CAMERA')
        column.operator("design_space.train_sketch_search", icon='GREASEPENCIL')
        row = layout.row(align=True)
        row.operator("design_space.classify", icon='VIEWZOOM')
        row.operator("design_space.find_similar", icon='ZOOM_SELECTED')
        layout.operator("design_space.sketch_search", icon='OUTLINER_OB_GREASEPENCIL')
        sketch = bpy.data.images.get("Design Space Sketch")
        if sketch is not None and settings.matches:
            sketch.preview_ensure()
            layout.template_icon(icon_value=sketch.preview.icon_id, scale=3.0)
        confusion = bpy.data.images.get(CONFUSION_IMAGE)
        if confusion is not None:
            layout.label(text="Held-out confusion (rows: true, columns: predicted)")
            confusion.preview_ensure()
            layout.template_icon(icon_value=confusion.preview.icon_id, scale=6.0)
        if settings.matches:
            layout.label(text="Most similar:")
            grid = layout.grid_flow(columns=3, even_columns=True)
            for rank in range(len(settings.matches)):
                image = bpy.data.images.get(THUMBNAIL.format(rank))
                if image is not None:
                    image.preview_ensure()
                    grid.template_icon(icon_value=image.preview.icon_id, scale=3.0)
            names = layout.column(align=True)
            for rank, match in enumerate(settings.matches):  # full names, one a line, under the pictures
                names.label(text=f"{rank + 1}. {match.name}  {match.score:.3f}")
