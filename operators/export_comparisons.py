"""Write the scene's comparisons to a CSV file (shape_a,shape_b,attribute,answer)."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from .comparison_support import stored_comparisons
from .operator_support import reports_errors


class DESIGN_SPACE_OT_export_comparisons(bpy.types.Operator, ExportHelper):
    """Save the scene's comparisons as a CSV file (shape_a, shape_b, attribute, answer)"""

    bl_idname = "design_space.export_comparisons"
    bl_label = "Export Comparisons"

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={'HIDDEN'})

    @reports_errors
    def execute(self, context):
        from ..learning.ranking import write_comparisons_csv

        comparisons = stored_comparisons(context.scene)
        if not comparisons:
            raise ValueError("There are no comparisons to export yet")
        Path(self.filepath).write_text(write_comparisons_csv(comparisons), encoding="utf-8")
        self.report({'INFO'}, f"Wrote {len(comparisons)} comparisons to {Path(self.filepath).name}")
        return {'FINISHED'}
