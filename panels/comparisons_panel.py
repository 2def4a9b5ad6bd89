"""The Comparisons section: ask "which is more …?", learn semantic attributes, order and score shapes by
them, and describe an edit in words."""

import bpy

from ..operators.comparisons.edit_by_phrase import last_phrase
from ..operators.image_bridge import picture_icon
from ..operators.comparisons.learn_comparisons import CURVE_IMAGE
from ..operators.comparisons.score_attribute import property_name
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
        column.prop(settings, "score_collection", icon='OUTLINER_COLLECTION')
        row = column.row(align=True)
        row.operator("design_space.score_attribute", text="Score Selected", icon='RESTRICT_SELECT_OFF').target = \
            'SELECTED'
        row.operator("design_space.score_attribute", text="Score Collection", icon='OUTLINER_COLLECTION').target = \
            'COLLECTION'
        obj = context.active_object
        scored = obj is not None and isinstance(obj.get(property_name(attribute)), float)
        if bpy.data.collections.get(f"Ordered by {attribute}") is not None or scored:
            column.prop(settings, "ranking_position", slider=True)
        if scored:
            uncertainty = obj.get(property_name(attribute) + "_uncertainty", 0.0)
            column.label(text=f"{obj.name}: {attribute} {obj[property_name(attribute)]:+.2f} ± {uncertainty:.2f}")

        box = layout.box()
        box.label(text="Describe Edit", icon='OUTLINER_DATA_FONT')
        box.enabled = obj is not None and obj.type == 'MESH' and len(obj.design_space_edit.sliders) > 0
        box.prop(settings, "edit_phrase", text="")
        box.operator("design_space.edit_by_phrase", text="Apply", icon='CHECKMARK')
        if obj is not None and last_phrase(obj):
            box.label(text=f"Last: {last_phrase(obj)}")
        curve = picture_icon(CURVE_IMAGE)
        if curve is not None:
            layout.label(text="Held-out accuracy (%) by comparisons")
            layout.template_icon(icon_value=curve, scale=10.0)
