"""Write the scene's comparisons to a CSV file (shape_a,shape_b,attribute,answer)."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from .comparison_support import stored_comparisons
from ..operator_support import reports_errors


class DESIGN_SPACE_OT_export_comparisons(bpy.types.Operator, ExportHelper):
    """Save the scene's comparisons as a CSV file (shape_a, shape_b, attribute, answer)"""

    bl_idname = "design_space.export_comparisons"
    bl_label = "Export Comparisons"

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={'HIDDEN'})

    @reports_errors
    def execute(self, context):
        from ...learning.ranking import write_comparisons_csv

        comparisons = stored_comparisons(context.scene)
        if not comparisons:
            raise ValueError("There are no comparisons to export yet; import some or answer a few "
                             "(Next Comparison) first")
        path = Path(bpy.path.abspath(self.filepath))
        if path.is_dir():
            raise ValueError(f"'{path}' is a folder; give a file name such as '{path / 'comparisons.csv'}'")
        if not path.parent.is_dir():
            raise ValueError(f"Cannot write '{path}': the folder '{path.parent}' does not exist; create it first")
        from ...learning.model_files import atomic_write

        text = write_comparisons_csv(comparisons).encode("utf-8")
        atomic_write(path, lambda handle: handle.write(text))  # a failed write leaves no half-written file
        count = len(comparisons)
        self.report({'INFO'}, f"Wrote {count} comparison{'' if count == 1 else 's'} to {path.name}")
        return {'FINISHED'}
