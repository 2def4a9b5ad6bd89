"""Record the answer for the pair on show and show the next pair."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty

from .comparison_support import clear_display, show_pair
from .next_comparison import SKIPPED, pick_next
from ..operator_support import reports_errors


class DESIGN_SPACE_OT_answer_comparison(bpy.types.Operator):
    """Answer which of the two shapes on show is more so, then show the next pair"""

    bl_idname = "design_space.answer_comparison"
    bl_label = "Answer"
    bl_options = {'REGISTER', 'UNDO'}

    answer: EnumProperty(name="Answer", description="Which shape is more so",
                         items=[('A', "A More", "The left shape (A) is more so"),
                                ('B', "B More", "The right shape (B) is more so"),
                                ('SAME', "About the Same", "Neither is clearly more so"),
                                ('SKIP', "Skip", "Do not answer this pair; show another"),
                                ('STOP', "Stop", "Stop comparing and remove the pair on show")])

    @reports_errors
    def execute(self, context):
        settings = context.scene.design_space
        if self.answer == 'STOP':
            clear_display()
            settings.comparison_a = settings.comparison_b = ""
            return {'FINISHED'}
        if not settings.comparison_a or not settings.comparison_b:
            raise ValueError("No pair is on show; press Compare Shapes first")
        if self.answer == 'SKIP':
            SKIPPED.add((settings.comparison_a, settings.comparison_b, settings.comparison_attribute.strip()))
        else:
            item = settings.comparisons.add()
            item.shape_a, item.shape_b = settings.comparison_a, settings.comparison_b
            item.attribute, item.answer = settings.comparison_attribute.strip(), self.answer
        try:
            a, b = pick_next(context, len(settings.comparisons) + (self.answer == 'SKIP'))
        except ValueError as done:
            clear_display()
            settings.comparison_a = settings.comparison_b = ""
            self.report({'INFO'}, str(done))
            return {'FINISHED'}
        settings.comparison_a, settings.comparison_b = a, b
        show_pair(context, a, b)
        count = sum(c.attribute == settings.comparison_attribute.strip() for c in settings.comparisons)
        self.report({'INFO'}, f"{count} comparisons for '{settings.comparison_attribute}'; next: A '{a}', B '{b}'")
        return {'FINISHED'}
