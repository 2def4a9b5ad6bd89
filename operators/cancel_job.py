"""Cancel the running Design Space job."""

import bpy

from .background_jobs import runner


class DESIGN_SPACE_OT_cancel_job(bpy.types.Operator):
    """Stop the running training cleanly; nothing half-made is kept"""

    bl_idname = "design_space.cancel_job"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return runner.running

    def execute(self, context):
        runner.cancel()
        self.report({'INFO'}, f"Cancelling {runner.job.label}…")
        return {'FINISHED'}
