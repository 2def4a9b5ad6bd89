"""The Comparisons section: ask "which is more …?", learn semantic attributes, order by them."""

import bpy

from ..operators.image_bridge import picture_icon
from ..operators.learn_comparisons import CURVE_IMAGE
from .sidebar import DesignSpaceSidebar


class DESIGN_SPACE_PT_comparisons(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Comparisons"
    bl_idname = "DESIGN_SPACE_PT_comparisons"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        column = layout.column()
        column.enabled = settings.training_collection is not None
        column.prop(settings, "comparison_attribute", icon='QUESTION')
        column.prop(settings, "comparison_part", icon='MESH_DATA')
        attribute = settings.comparison_attribute.strip()
        if settings.comparison_a and settings.comparison_b:
            box = column.box()
            box.label(text=f"Which is more {attribute}?")
            box.label(text=f"A: {settings.comparison_a}")
            box.label(text=f"B: {settings.comparison_b}")
            row = box.row(align=True)
            row.operator("design_space.answer_comparison", text="A More").answer = 'A'
            row.operator("design_space.answer_comparison", text="Same").answer = 'SAME'
            row.operator("design_space.answer_comparison", text="B More").answer = 'B'
            row = box.row(align=True)
            row.operator("design_space.answer_comparison", text="Skip").answer = 'SKIP'
            row.operator("design_space.answer_comparison", text="Stop").answer = 'STOP'
        else:
            column.operator("design_space.next_comparison", icon='ARROW_LEFTRIGHT')
        count = sum(c.attribute == attribute for c in settings.comparisons)
        column.label(text=f"{count} answers for '{attribute}', {len(settings.comparisons)} in all")
        row = column.row(align=True)
        row.operator("design_space.import_comparisons", text="Import CSV", icon='IMPORT')
        row.operator("design_space.export_comparisons", text="Export CSV", icon='EXPORT')
        column.operator("design_space.learn_comparisons", icon='SORTSIZE')
        column.operator("design_space.rank_by_attribute", icon='SORTALPHA')
        if bpy.data.collections.get(f"Ordered by {attribute}") is not None:
            column.prop(settings, "ranking_position", slider=True)
        curve = picture_icon(CURVE_IMAGE)
        if curve is not None:
            layout.label(text="Held-out accuracy (%) by comparisons")
            layout.template_icon(icon_value=curve, scale=10.0)
