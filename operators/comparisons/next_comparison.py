"""Show the next pair of shapes to compare: one not asked before, chosen by the learned ranking's
uncertainty (the gap of two strengths over its standard deviation) and coverage (shapes compared
least come up), learning.ranking.next_pairs; random before anything is learned."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import IntProperty

from .comparison_support import PART_SEPARATOR, show_pair, stored_comparisons, training_shapes
from ..model_store import absolute_path
from ..operator_support import reports_errors


def current_ranking(context, names, attribute):
    """(ranking, features of `names`) of the newest model learned for `attribute`, or None."""
    from ...learning.ranking import load_rankings
    from .comparison_support import collection_features

    for entry in reversed(context.scene.design_space.models):
        if entry.kind == "semantic_attributes" and attribute in entry.target.split(", ") and not entry.part:
            try:
                rankings, metadata = load_rankings(absolute_path(entry.filepath))
                features, feature_names, _, _ = collection_features(context, metadata["info"].get("feature_source"))
            except (OSError, ValueError):
                return None
            ranking = next(r for r in rankings if r.attribute == attribute)
            row = {n: i for i, n in enumerate(feature_names)}
            if ranking.weights.shape[0] != features.shape[1] or not set(names) <= set(row):
                return None
            return ranking, features[[row[n] for n in names]]
    return None


def current_strengths(context, names, attribute):
    """Strengths of the shapes under the newest ranking learned for `attribute` (None if none)."""
    found = current_ranking(context, names, attribute)
    return None if found is None else found[0].strength(found[1])


def part_labels(obj) -> set:
    """Part labels of a shape, from its mesh's label list or its child objects (no mesh is read)."""
    labels = set(obj.data.get("part_labels", ())) if obj.type == 'MESH' and obj.data is not None else set()
    for child in obj.children_recursive:
        labels.add(str(child.get("part", "")) or child.name.split(".")[0])
    return labels


SKIPPED: set = set()  # pairs skipped in this session: not shown again until Blender restarts


def pick_next(context, seed: int):
    from ...learning.ranking import next_pairs

    settings = context.scene.design_space
    attribute = settings.comparison_attribute.strip()
    if not attribute:
        raise ValueError("Type the attribute to ask about (for example sturdy) first")
    names = [o.name for o in training_shapes(context)]
    label = settings.comparison_part.strip()
    if label:  # compare parts of one label: "shape:label" for the shapes that have one
        names = [f"{n}{PART_SEPARATOR}{label}" for n in names if label in part_labels(bpy.data.objects[n])]
        if len(names) < 2:
            raise ValueError(f"Fewer than 2 shapes of '{settings.training_collection.name}' have a '{label}' part")
    asked = [(c.shape_a, c.shape_b) for c in stored_comparisons(context.scene, attribute)]
    asked += [(a, b) for a, b, skipped_for in SKIPPED if skipped_for == attribute]
    rng = np.random.default_rng(seed + len(asked))
    found = None if label else current_ranking(context, names, attribute)
    ranking, features = found if found is not None else (None, None)
    pairs = next_pairs(ranking, features, names, asked, rng)
    if not pairs:
        raise ValueError(f"Every pair of '{settings.training_collection.name}' has been compared for '{attribute}'")
    return pairs[0]


class DESIGN_SPACE_OT_next_comparison(bpy.types.Operator):
    """Show two shapes of the training collection side by side and ask which is more so (pairs not asked before; where the learned ranking is least sure and shapes were compared least)"""

    bl_idname = "design_space.next_comparison"
    bl_label = "Compare Shapes"
    bl_options = {'REGISTER', 'UNDO'}

    seed: IntProperty(name="Seed", description="Which pair comes next among equally good ones", default=0, min=0)

    @reports_errors
    def execute(self, context):
        settings = context.scene.design_space
        a, b = pick_next(context, self.seed)
        settings.comparison_a, settings.comparison_b = a, b
        show_pair(context, a, b)
        self.report({'INFO'}, f"Which is more {settings.comparison_attribute}: A '{a}' or B '{b}'?")
        return {'FINISHED'}
