"""Swap one part of an assembly for the next compatible part (the others stay)."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .assemble_parts import assembly_properties
from .mesh_bridge import build_mesh, set_custom_properties, write_face_colors
from .operator_support import reports_errors
from .part_models import assembly_part


def replace_assembly(obj, choice, model_path) -> None:
    """Give the assembly object the geometry and provenance of another assembly (one undo step)."""
    from ..shapespace.part_colors import part_face_colors

    old = obj.data
    mesh = build_mesh(choice.placement.mesh, old.name)
    write_face_colors(mesh, part_face_colors(choice.placement.mesh.face_parts))
    obj.data = mesh
    if old.users == 0:
        bpy.data.meshes.remove(old)
    set_custom_properties(obj, assembly_properties(choice, model_path, obj.get("design_space_seed", 0)))


class DESIGN_SPACE_OT_swap_part(bpy.types.Operator):
    """Replace one part of the active assembly with the next part of the same label that fits (in order of plausibility)"""

    bl_idname = "design_space.swap_part"
    bl_label = "Swap Part"
    bl_options = {'REGISTER', 'UNDO'}

    label: StringProperty(name="Part", description="The part label to swap (seat, leg, …)")

    @reports_errors
    def execute(self, context):
        obj, sources, path, synthesizer = assembly_part(context, self.label)
        alternatives = synthesizer.alternatives(sources, self.label)
        if not alternatives:
            raise ValueError(f"No other '{self.label}' fits '{obj.name}'")
        tried = list(obj.get("design_space_swapped", []))
        fresh = [a for a in alternatives if f"{self.label}:{a.sources[self.label]}" not in tried]
        choice = (fresh or alternatives)[0]
        replace_assembly(obj, choice, path)
        obj["design_space_swapped"] = (tried + [f"{self.label}:{sources[self.label]}"])[-50:]
        self.report({'INFO'}, f"'{obj.name}': {self.label} from '{choice.sources[self.label]}' (was "
                              f"'{sources[self.label]}'), score {choice.score:.1f}")
        return {'FINISHED'}
