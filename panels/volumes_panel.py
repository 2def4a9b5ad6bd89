"""The Volumes section: learn a volumetric model, generate shapes of a class with attributes asked for
(a preview row of the last ones generated), interpolate between two shapes, complete a partial one,
classify."""

import bpy

from ..operators.volumes.generate_volumetric import PREVIEW, PREVIEW_COUNT
from ..operators.image_bridge import picture_icon
from ..operators.model_store import active_volumetric_entry
from .sidebar import DesignSpaceSidebar


class DESIGN_SPACE_PT_volumes(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Volumes"
    bl_idname = "DESIGN_SPACE_PT_volumes"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        column = layout.column()
        column.enabled = settings.training_collection is not None
        column.operator("design_space.learn_volumetric", icon='MESH_CUBE')
        entry = active_volumetric_entry(context.scene)
        if entry is None:
            layout.label(text="Make a volumetric model active to generate", icon='INFO')
            return
        layout.label(text=entry.name, icon='VOLUME_DATA')
        layout.prop(settings, "volume_category")
        category = settings.volume_category
        rows = [a for a in settings.volume_attributes if category in a.classes.split(", ")]
        if rows:
            box = layout.box()
            box.label(text="Ask for (else the typical value):")
            for attribute in rows:
                row = box.row(align=True)
                row.prop(attribute, "use", text="")
                sub = row.row(align=True)
                sub.active = attribute.use
                sub.prop(attribute, "value", text=attribute.name.replace("_", " "))
        row = layout.row(align=True)
        row.prop(settings, "volume_count")
        row.prop(settings, "volume_seed")
        layout.prop(settings, "volume_variety")
        props = layout.operator("design_space.generate_volumetric", text=f"Generate {category}", icon='MESH_MONKEY')
        props.category, props.count = category, settings.volume_count
        props.seed, props.variety = settings.volume_seed, settings.volume_variety
        previews = [icon for icon in (picture_icon(PREVIEW.format(i)) for i in range(PREVIEW_COUNT))
                    if icon is not None]
        if previews:  # the last generated shapes
            grid = layout.grid_flow(columns=3, even_columns=True)
            for icon in previews:
                grid.template_icon(icon_value=icon, scale=3.0)
        column = layout.column(align=True)
        column.operator("design_space.interpolate_volumetric", icon='IPO_LINEAR')
        column.operator("design_space.complete_volumetric", icon='MOD_BOOLEAN')
        column.operator("design_space.classify", text="Classify Selected", icon='VIEWZOOM')
