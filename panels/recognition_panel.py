"""The Recognition section: train a multi-view classifier, classify, find similar shapes."""

import bpy

from ..operators.recognition.find_similar import THUMBNAIL
from ..operators.image_bridge import picture_icon
from ..operators.recognition.train_classifier import CONFUSION_IMAGE
from .sidebar import DesignSpaceSidebar


class DESIGN_SPACE_PT_recognition(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Recognition"
    bl_idname = "DESIGN_SPACE_PT_recognition"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        column = layout.column()
        column.enabled = settings.training_collection is not None
        column.prop(settings, "collection_aligned")
        column.operator("design_space.train_classifier", icon='OUTLINER_OB_CAMERA')
        column.operator("design_space.train_sketch_search", icon='GREASEPENCIL')
        layout.operator("design_space.classify", icon='VIEWZOOM')
        layout.prop(settings, "library_collection")
        layout.operator("design_space.find_similar", icon='ZOOM_SELECTED')
        layout.prop(settings, "sketch_image")
        layout.operator("design_space.sketch_search", icon='OUTLINER_OB_GREASEPENCIL').filepath = settings.sketch_image
        sketch = picture_icon("Design Space Sketch")
        if sketch is not None and settings.matches:
            layout.template_icon(icon_value=sketch, scale=3.0)
        confusion = picture_icon(CONFUSION_IMAGE)
        if confusion is not None:
            layout.label(text="Held-out confusion (rows: true, columns: predicted)")
            layout.template_icon(icon_value=confusion, scale=6.0)
        if settings.matches:
            layout.label(text="Most similar:")
            grid = layout.grid_flow(columns=3, even_columns=True)
            for rank in range(len(settings.matches)):
                thumbnail = picture_icon(THUMBNAIL.format(rank))
                if thumbnail is not None:
                    grid.template_icon(icon_value=thumbnail, scale=3.0)
            names = layout.column(align=True)
            for rank, match in enumerate(settings.matches):  # full names, one a line, under the pictures
                names.label(text=f"{rank + 1}. {match.name}  {match.score:.3f}")
