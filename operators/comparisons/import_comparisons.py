"""Read comparisons from a CSV file (shape_a,shape_b,attribute,answer) into the scene."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from ..operator_support import reports_errors


class DESIGN_SPACE_OT_import_comparisons(bpy.types.Operator, ImportHelper):
    """Add comparisons from a CSV file with the columns shape_a, shape_b, attribute, answer (A, B or SAME); malformed rows are skipped and reported by line number"""

    bl_idname = "design_space.import_comparisons"
    bl_label = "Import Comparisons"
    bl_options = {'REGISTER', 'UNDO'}

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={'HIDDEN'})

    @reports_errors
    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        existing = Counter(comparison_key(c.shape_a, c.shape_b, c.attribute, c.answer)
                           for c in context.scene.design_space.comparisons)
        added, repeats, skipped, examples = read_new_comparisons(path, existing)
        comparisons = context.scene.design_space.comparisons
        for a, b, attribute, answer in added:
            item = comparisons.add()
            item.shape_a, item.shape_b, item.attribute, item.answer = a, b, attribute, answer
        missing = sorted({n for c in added for n in c[:2] if n not in bpy.data.objects})
        notes = []
        if skipped:
            shown = "; ".join(f"line {n}: {why}" for n, why in examples)
            notes.append(f"skipped {plural(skipped, 'malformed row')} ({shown})")
        if repeats:
            notes.append(f"left out {plural(repeats, 'repeated row')} (a comparison with the same answer is kept at "
                         f"most {MAX_REPEATS} times: repeated answers count, a file of copies does not)")
        if missing:
            notes.append(f"{plural(len(missing), 'shape')} named {'is' if len(missing) == 1 else 'are'} not in this "
                         f"file ('{missing[0]}'…)")
        self.report({'WARNING' if notes else 'INFO'}, "; ".join(
            [f"Imported {plural(len(added), 'comparison')} from {path.name}"] + notes))
        return {'FINISHED'}


MAX_CSV_BYTES = 256 << 20  # 256 MB: millions of comparisons; more is a wrong file, not answers
_CHUNK_LINES = 20_000
MAX_REPEATS = 5  # copies of one answer kept: several people agreeing weigh more, up to a point  # rows parsed at a time: memory stays bounded by the distinct comparisons


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def comparison_key(a: str, b: str, attribute: str, answer: str) -> tuple:
    """The same comparison whichever way round it was asked ("A more" of (a, b) is "B more" of (b, a))."""
    if a <= b:
        return a, b, attribute, answer
    return b, a, attribute, {"A": "B", "B": "A"}.get(answer, answer)


def read_new_comparisons(path: Path, existing: Counter):
    """(new comparisons as (a, b, attribute, answer), repeated rows, skipped rows, the first skipped (line, why))
    of a comparisons CSV, read in chunks of rows so that a huge file of repeats costs little memory."""
    from itertools import islice

    from ...learning.ranking import read_comparisons_csv

    if not path.exists():
        raise FileNotFoundError(f"'{path}' does not exist; choose a comparisons .csv file "
                                "(shape_a,shape_b,attribute,answer)")
    if path.is_dir():
        raise ValueError(f"'{path}' is a folder; choose a comparisons .csv file inside it")
    size = path.stat().st_size
    if size > MAX_CSV_BYTES:
        raise ValueError(f"'{path}' is {size / (1 << 20):.0f} MB, more than a comparisons file holds "
                         f"({MAX_CSV_BYTES >> 20} MB); split it or choose the right file")
    seen, added, examples, skipped, repeats, first_line = Counter(existing), [], [], 0, 0, 1
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            while lines := list(islice(handle, _CHUNK_LINES)):
                report = read_comparisons_csv("".join(lines))
                skipped += len(report.skipped)
                examples += [(first_line - 1 + n, why) for n, why in report.skipped[:5 - len(examples)]]
                for c in report.comparisons:
                    key = comparison_key(c.shape_a, c.shape_b, c.attribute, c.answer)
                    if seen[key] >= MAX_REPEATS:
                        repeats += 1
                    else:
                        seen[key] += 1
                        added.append((c.shape_a, c.shape_b, c.attribute, c.answer))
                first_line += len(lines)
    except UnicodeDecodeError:
        raise ValueError(f"'{path}' is not UTF-8 text (after line {first_line - 1} a byte cannot be read); save it "
                         "as a UTF-8 CSV file") from None
    return added, repeats, skipped, examples
