"""Set one attribute of a mesh that has attribute sliders (scripting twin of moving a slider)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty

from .operator_support import reports_errors


class DESIGN_SPACE_OT_edit_attributes(bpy.types.Operator):
    """Change one learned attribute of the active mesh (for example height_m) while the others stay where they are"""

    bl_idname = "design_space.edit_attributes"
    bl_label = "Edit Attribute"
    bl_options = {'REGISTER', 'UNDO'}

    attribute: StringProperty(name="Attribute", description="The learned attribute to change")
    value: FloatProperty(name="Value", description="The new value (or the change, when Relative)")
    relative: BoolProperty(name="Relative", description="Add Value to the current value instead of setting it",
                           default=False)
    copy: BoolProperty(name="Copy", description="Edit a copy of the mesh; the active mesh stays as it is",
                       default=False)

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == 'MESH' and len(obj.design_space_edit.sliders) > 0

    @reports_errors
    def execute(self, context):
        obj = context.active_object
        if obj is None or not len(obj.design_space_edit.sliders):
            raise ValueError("The active object has no attribute sliders; use Edit with Attribute Sliders first")
        sliders = obj.design_space_edit.sliders
        item = sliders.get(self.attribute.strip())
        if item is None:
            raise ValueError(f"'{obj.name}' has no attribute '{self.attribute}'; it has: "
                             + ", ".join(s.name for s in sliders))
        if self.copy:
            duplicate = obj.copy()
            duplicate.data = obj.data.copy()
            duplicate.name = f"{obj.name} (edited)"
            for collection in obj.users_collection:
                collection.objects.link(duplicate)
            obj.select_set(False)
            duplicate.select_set(True)
            context.view_layer.objects.active = duplicate
            obj = duplicate
            item = obj.design_space_edit.sliders[self.attribute.strip()]
        before = item.value
        item.value = before + self.value if self.relative else self.value
        if obj.design_space_edit.message:
            raise ValueError(obj.design_space_edit.message)
        self.report({'INFO'}, f"'{obj.name}': {item.name} {before:.4g} → {item.value:.4g}")
        return {'FINISHED'}
