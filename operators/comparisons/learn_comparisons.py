"""Learn a ranking function per attribute from the scene's comparisons (AttribIt, Chaudhuri et al.
2013) with the exact numpy Rank-SVM of learning.ranking (no PyTorch; 200 answers in well under a
second, cross-validation included). The feature set is chosen by cross-validation over the shapes
among the collection's shape-space coordinates (preferred unless another set is clearly better:
then the attributes become sliders that move shapes through the space), the 38-number descriptor,
the pooled light field in canonical pose, and both."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, FloatProperty, IntProperty

from .comparison_support import (PART_SEPARATOR, feature_candidates, part_features, part_labels_of, part_of,
                                 stored_comparisons, training_shapes)
from ..image_bridge import write_image
from ..model_store import add_model_entry, new_model_path
from ..operator_support import reports_errors

CURVE_IMAGE = "Design Space Comparisons"
# Held-out pair accuracy another feature set must beat the shape space by to replace it (the shape
# space gives sliders; a tie or a hair better elsewhere is not worth losing them).
SHAPE_SPACE_MARGIN = 0.03


def learning_curve_picture(counts, accuracy):
    from ...learning.training_plot import plot_curves

    return plot_curves({"epoch": np.asarray(counts, dtype=np.float64), "train_loss": 100.0 * np.asarray(accuracy),
                        "val_loss": [None] * len(counts)}, 320, 240, legend=False, mark_best=False)


def check_comparisons(comparisons, names, attribute):
    """(usable comparisons, notes): flags deleted shapes and cycles; too few raises, saying how many more."""
    from ...learning.ranking import MIN_COMPARISONS, find_cycles

    known = set(names)
    base = lambda name: name.split(PART_SEPARATOR, 1)[0]  # noqa: E731
    gone = sorted({n for c in comparisons for n in (c.shape_a, c.shape_b) if base(n) not in bpy.data.objects})
    usable = [c for c in comparisons if c.shape_a in known and c.shape_b in known]
    notes = []
    if gone:
        dropped = sum(1 for c in comparisons if base(c.shape_a) not in bpy.data.objects
                      or base(c.shape_b) not in bpy.data.objects)
        notes.append(f"{dropped} comparisons name shapes that are gone (deleted or renamed: '{gone[0]}'…) and "
                     "were left out")
    if len(usable) < MIN_COMPARISONS:
        raise ValueError(f"'{attribute}' has {len(usable)} usable comparisons; answer {MIN_COMPARISONS - len(usable)} "
                         f"more (at least {MIN_COMPARISONS})")
    cycles = find_cycles(usable)
    if cycles:
        notes.append(f"{len(cycles)} contradictory cycles, e.g. {' > '.join(cycles[0])}; they were kept (the "
                     "ranking takes the majority)")
    return usable, notes


class DESIGN_SPACE_OT_learn_comparisons(bpy.types.Operator):
    """Learn each compared attribute (sturdy, comfortable, …) of the training collection from the scene's comparisons; with a shape space, the attributes become sliders"""

    bl_idname = "design_space.learn_comparisons"
    bl_label = "Learn from Comparisons"
    bl_options = {'REGISTER', 'UNDO'}

    use_similar: BoolProperty(name="Use 'About the Same'", description="Learn from the 'about the same' answers too "
                              "(off: ordered answers only)", default=True)
    mu: FloatProperty(name="μ", description="Weight of the ordered answers", default=1.0, min=0.0)
    nu: FloatProperty(name="ν", description="Weight of the 'about the same' answers", default=1.0, min=0.0)
    folds: IntProperty(name="Folds", description="Cross-validation folds for the held-out accuracy", default=5,
                       min=2, max=20)
    seed: IntProperty(name="Seed", description="Same seed, same result", default=0, min=0)

    @reports_errors
    def execute(self, context):
        settings = context.scene.design_space
        collection = settings.training_collection
        if collection is None:
            raise ValueError("Pick a training collection in the Design Space panel first")
        members = {o.name for o in training_shapes(context)}
        base = lambda name: name.split(PART_SEPARATOR, 1)[0]  # noqa: E731
        # comparisons of this collection's shapes (and of shapes that are gone, to say so); other
        # collections' comparisons stay for when those are learned
        relevant = [c for c in stored_comparisons(context.scene)
                    if all(base(n) in members or base(n) not in bpy.data.objects for n in (c.shape_a, c.shape_b))
                    and any(base(n) in members for n in (c.shape_a, c.shape_b))]
        if not relevant:
            raise ValueError(f"There are no comparisons of '{collection.name}' yet; press Compare Shapes, or import "
                             "a CSV file")
        self._relevant = relevant
        groups: dict = {}  # None (whole shapes) or a part label -> attributes
        for attribute in sorted({c.attribute for c in relevant}):
            for label in part_labels_of([c for c in relevant if c.attribute == attribute]):
                groups.setdefault(label, []).append(attribute)
        reports, notes = [], []
        for label, group in groups.items():
            if label is None:
                candidates, names, space_path = feature_candidates(context)
            else:
                features, names = part_features(context, label)
                candidates, space_path = {f"parts:{label}": features}, None
            learned, group_notes = self._learn(context, collection, group, candidates, names, space_path, label)
            reports += learned
            notes += group_notes
        if not reports:
            raise ValueError("; ".join(notes))
        self.report({'WARNING' if notes else 'INFO'}, "; ".join(reports + notes))
        return {'FINISHED'}

    def _learn(self, context, collection, attributes, candidates, names, space_path, label):
        from ...learning.ranking import choose_features, choose_reweighting, cross_validated_accuracy, save_rankings
        from ...learning.training_plot import write_png

        settings = context.scene.design_space
        notes, checked = [], {}
        options = dict(mu=self.mu, nu=self.nu, use_similar=self.use_similar)
        for attribute in attributes:
            try:
                asked = [c for c in self._relevant if c.attribute == attribute and part_of(c) == label]
                usable, found = check_comparisons(asked, names, attribute if label is None else f"{attribute}' of "
                                                  f"'{label}")
            except ValueError as too_few:  # the other attributes can still be learned
                notes.append(str(too_few))
                continue
            notes += [f"'{attribute}': {n}" for n in found]
            checked[attribute] = usable
        if not checked:
            return [], notes
        # one feature set per model file: the one with the best held-out accuracy over its attributes
        totals = {}
        for attribute, usable in checked.items():
            _, scores = choose_features(candidates, names, usable, attribute, folds=self.folds, seed=self.seed,
                                        **options)
            for source, score in scores.items():
                totals[source] = totals.get(source, 0.0) + score / len(checked)
        source = max(totals, key=totals.get)
        if "shape_space" in totals and totals[source] <= totals["shape_space"] + SHAPE_SPACE_MARGIN:
            source = "shape_space"
        features = candidates[source]
        rankings, summary, curve = [], [], None
        for attribute, usable in checked.items():
            # reweighted refits when they win on held-out shapes (a few telling numbers among many)
            rounds, _, ranking = choose_reweighting(features, names, usable, attribute, folds=self.folds,
                                                    seed=self.seed, **options)
            rankings.append(ranking)
            # the learning curve at the chosen λ: 5 sizes × folds Newton solves, milliseconds
            accuracy, counts, _ = cross_validated_accuracy(features, names, usable, attribute, self.folds, self.seed,
                                                           sizes=[0.2, 0.4, 0.6, 0.8, 1.0], l2=ranking.regularization,
                                                           reweight=rounds, **options)
            reweighted = f", reweighted ×{rounds}" if rounds else ""
            summary.append(f"{attribute} {100 * accuracy[-1]:.0f}% of held-out pairs ({len(usable)} comparisons"
                           f"{reweighted})")
            if attribute == settings.comparison_attribute.strip() or curve is None:
                curve = learning_curve_picture(counts, accuracy)
        part = source.split(":", 1)[1] if source.startswith("parts:") else None
        name = f"{collection.name} {'Semantic Attributes' if part is None else part.title() + ' Attributes'}"
        path = new_model_path(name)
        space_file = "" if space_path is None or source != "shape_space" else (
            space_path.name if space_path.parent == path.parent else str(space_path))
        chosen = ", ".join(f"{k} {100 * v:.0f}%" for k, v in totals.items())
        save_rankings(path, rankings, collection=collection.name, feature_source=source, shape_space_file=space_file,
                      shape_names=names, metrics={"feature_choice": chosen})
        write_image(CURVE_IMAGE, curve, keep=True)
        write_png(path.with_suffix(".curve.png"), curve)
        learned = [r.attribute for r in rankings]
        add_model_entry(context.scene, name, "semantic_attributes", path, collection.name, ", ".join(learned),
                        "; ".join(summary), part=part or "")
        where = {"shape_space": "shape-space coordinates (sliders available)",
                 "descriptors": "shape descriptors", "light_field": "the light field (canonical pose)",
                 "descriptors+light_field": "shape descriptors and the light field",
                 "profile": "cross-section profiles (upright frame)"}.get(source, f"the {part} parts")
        choice = f" (chosen by held-out accuracy: {chosen})" if len(totals) > 1 else ""
        return [f"Learned {', '.join(learned)} over {where}{choice}: " + "; ".join(summary)], notes
