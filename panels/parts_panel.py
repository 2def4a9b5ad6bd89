"""The Part Assembly section: learn a part model, assemble suggestions, browse, swap, keep."""

import bpy

from .sidebar import DesignSpaceSidebar


def _part_attributes(context) -> dict:
    """label -> attributes learned for its parts, from the scene's model list (no file is read)."""
    out = {}
    for entry in context.scene.design_space.models:
        if entry.kind == "semantic_attributes" and entry.part:
            out.setdefault(entry.part, []).extend(a for a in entry.target.split(", ") if a)
    return out


class DESIGN_SPACE_PT_parts(DesignSpaceSidebar, bpy.types.Panel):
    bl_label = "Part Assembly"
    bl_idname = "DESIGN_SPACE_PT_parts"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.design_space
        column = layout.column()
        column.enabled = settings.training_collection is not None
        column.operator("design_space.learn_part_model", icon='OUTLINER_OB_GROUP_INSTANCE')
        row = column.row(align=True)
        row.prop(settings, "assembly_count")
        row.prop(settings, "assembly_seed")
        props = column.operator("design_space.assemble_parts", icon='MOD_BUILD')
        props.count, props.seed = settings.assembly_count, settings.assembly_seed

        obj = context.active_object
        raw = obj.get("design_space_sources") if obj is not None else None
        if raw:
            box = layout.box()
            box.label(text=f"{obj.name} · score {obj.get('design_space_score', 0.0):.1f}", icon='MESH_DATA')
            part_attributes = _part_attributes(context)
            for item in raw:
                label, source = item.split(":", 1)
                row = box.row(align=True)
                row.label(text=f"{label}: {source}")
                row.operator("design_space.swap_part", text="", icon='FILE_REFRESH').label = label
                for attribute in part_attributes.get(label, ()):
                    row = box.row(align=True)
                    row.label(text=f"  {attribute}")
                    for direction, icon in (('LESS', 'REMOVE'), ('MORE', 'ADD')):
                        props = row.operator("design_space.adjust_part", text="", icon=icon)
                        props.label, props.attribute, props.direction = label, attribute, direction
            box.operator("design_space.keep_assembly", icon='CHECKMARK')
