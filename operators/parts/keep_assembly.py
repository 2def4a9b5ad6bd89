"""Keep an assembly: move it into the 'Kept Assemblies' collection."""

from __future__ import annotations

import bpy

from ..mesh_bridge import ensure_collection
from ..operator_support import reports_errors
from .part_models import sources_of

KEPT = "Kept Assemblies"


class DESIGN_SPACE_OT_keep_assembly(bpy.types.Operator):
    """Keep the active assembly: move it into the 'Kept Assemblies' collection"""

    bl_idname = "design_space.keep_assembly"
    bl_label = "Keep Assembly"
    bl_options = {'REGISTER', 'UNDO'}

    @reports_errors
    def execute(self, context):
        obj = context.active_object
        if obj is None:
            raise ValueError("Select an assembly first")
        sources_of(obj)  # says so when it is not an assembly
        kept = ensure_collection(KEPT)
        for collection in list(obj.users_collection):
            collection.objects.unlink(obj)
        kept.objects.link(obj)
        self.report({'INFO'}, f"Kept '{obj.name}' in '{KEPT}'")
        return {'FINISHED'}
