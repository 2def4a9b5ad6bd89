"""Set one attribute of a mesh that has attribute sliders (scripting twin of moving a slider)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty

from ..operator_support import reports_errors


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

    # No poll(): every reason this cannot run (no active object, no sliders, a bad value) is
    # something a script gets wrong, and execute says which.

    @reports_errors
    def execute(self, context):
        from .shape_editing import bounded_slider_value

        obj = context.active_object
        if obj is None:
            raise ValueError("There is no active object; select a mesh with attribute sliders (Edit with Attribute "
                             "Sliders gives it some)")
        if obj.type != 'MESH' or not len(obj.design_space_edit.sliders):
            what = "has no attribute sliders" if obj.type == 'MESH' else f"is {_article(obj.type.lower())}, not a mesh"
            raise ValueError(f"'{obj.name}' {what}; select a mesh and use Edit with Attribute Sliders first")
        sliders = obj.design_space_edit.sliders
        item = sliders.get(self.attribute.strip())
        if item is None:
            raise ValueError(f"'{obj.name}' has no attribute '{self.attribute}'; choose one of: "
                             + ", ".join(s.name for s in sliders))
        if obj.data.is_editmode:
            raise ValueError(f"'{obj.name}' is in Edit Mode; switch to Object Mode (Tab) and try again")
        wanted = item.value + self.value if self.relative else self.value
        value, note = bounded_slider_value(obj, item.name, wanted)  # refuses NaN and ±inf before anything changes
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
        item.value = value
        message = obj.design_space_edit.message
        if message:
            if self.copy:  # a failed edit leaves no half-made copy behind
                mesh = obj.data
                bpy.data.objects.remove(obj)
                bpy.data.meshes.remove(mesh)
            raise ValueError(message)
        obj.design_space_edit.notice = note  # the panel shows it under the sliders
        if note:
            self.report({'WARNING'}, note)
        else:
            self.report({'INFO'}, f"'{obj.name}': {item.name} {before:.4g} → {item.value:.4g}")
        return {'FINISHED'}


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
