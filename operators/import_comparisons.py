"""Read comparisons from a CSV file (shape_a,shape_b,attribute,answer) into the scene."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from .operator_support import reports_errors


class DESIGN_SPACE_OT_import_comparisons(bpy.types.Operator, ImportHelper):
    """Add comparisons from a CSV file with the columns shape_a, shape_b, attribute, answer (A, B or SAME); malformed rows are skipped and reported by line number"""

    bl_idname = "design_space.import_comparisons"
    bl_label = "Import Comparisons"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={'HIDDEN'})

    @reports_errors
    def execute(self, context):
        from ..learning.ranking import read_comparisons_csv

        path = Path(self.filepath)
        report = read_comparisons_csv(path.read_text(encoding="utf-8-sig"))
        comparisons = context.scene.design_space.comparisons
        for c in report.comparisons:
            item = comparisons.add()
            item.shape_a, item.shape_b, item.attribute, item.answer = c.shape_a, c.shape_b, c.attribute, c.answer
        missing = sorted({n for c in report.comparisons for n in (c.shape_a, c.shape_b) if n not in bpy.data.objects})
        notes = []
        if report.skipped:
            shown = "; ".join(f"line {n}: {why}" for n, why in report.skipped[:5])
            notes.append(f"skipped {len(report.skipped)} malformed rows ({shown})")
        if missing:
            notes.append(f"{len(missing)} shapes named are not in this file ('{missing[0]}'…)")
        self.report({'WARNING' if notes else 'INFO'}, "; ".join(
            [f"Imported {len(report.comparisons)} comparisons from {path.name}"] + notes))
        return {'FINISHED'}
