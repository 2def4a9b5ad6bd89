"""Make one part of an assembly more (or less) of a learned attribute: "make the legs sturdier"."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, StringProperty

from ..model_store import absolute_path
from ..operator_support import reports_errors
from .part_models import assembly_part
from .swap_part import replace_assembly


def part_ranking(context, label: str, attribute: str):
    """The newest ranking learned for `attribute` over `label` parts, or a ValueError that says how to get one."""
    from ...learning.ranking import load_rankings

    for entry in reversed(context.scene.design_space.models):
        if entry.kind == "semantic_attributes" and entry.part == label and attribute in entry.target.split(", "):
            rankings, _ = load_rankings(absolute_path(entry.filepath))
            return next(r for r in rankings if r.attribute == attribute)
    raise ValueError(f"No '{attribute}' has been learned for '{label}' parts; compare parts named "
                     f"'shape:{label}' and press Learn from Comparisons")


class DESIGN_SPACE_OT_adjust_part(bpy.types.Operator):
    """Swap one part of the active assembly for the fitting part that is next more (or less) of a learned attribute"""

    bl_idname = "design_space.adjust_part"
    bl_label = "Adjust Part"
    bl_options = {'REGISTER', 'UNDO'}

    label: StringProperty(name="Part", description="The part label (leg, back, …)")
    attribute: StringProperty(name="Attribute", description="A learned attribute of that part (sturdy, …)")
    direction: EnumProperty(name="Direction", description="More or less of the attribute",
                            items=[('MORE', "More", "The next part with more of it"),
                                   ('LESS', "Less", "The next part with less of it")], default='MORE')

    @reports_errors
    def execute(self, context):
        from ...shapespace.parts import ranking_features

        obj, sources, path, synthesizer = assembly_part(context, self.label)
        ranking = part_ranking(context, self.label, self.attribute)

        def strength(source_name):
            part = synthesizer.parts[synthesizer.names.index(source_name)][self.label]
            return float(ranking.strength(ranking_features(part)[None])[0])

        current = strength(sources[self.label])
        sign = 1.0 if self.direction == 'MORE' else -1.0
        candidates = [(sign * (strength(a.sources[self.label]) - current), a)
                      for a in synthesizer.alternatives(sources, self.label)]
        candidates = [(gap, a) for gap, a in candidates if gap > 0]
        if not candidates:
            word = "more" if sign > 0 else "less"
            raise ValueError(f"No '{self.label}' that fits '{obj.name}' is {word} {self.attribute} than the one it has")
        # a clear step (half the spread of the label's parts), not the extreme and not a step within the noise
        spread = float(np.std([strength(n) for n, parts in zip(synthesizer.names, synthesizer.parts)
                               if self.label in parts]))
        gap, choice = min(candidates, key=lambda item: abs(item[0] - 0.5 * spread))
        replace_assembly(obj, choice, path)
        self.report({'INFO'}, f"'{obj.name}': {self.label} from '{choice.sources[self.label]}' "
                              f"({self.attribute} {current:.2f} → {current + sign * gap:.2f})")
        return {'FINISHED'}
