"""Learn the probabilistic part model (Kalogerakis et al. 2012) of a part-labelled collection."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, FloatProperty, IntProperty

from ..mesh_bridge import read_collection
from ..model_store import add_model_entry, new_model_path
from ..operator_support import reports_errors


def collection_warnings(shapes, parts_per_shape, labels) -> list[str]:
    """What is odd about a collection for part synthesis, said by name."""
    notes = []
    for label in labels:
        holders = [s.name for s, parts in zip(shapes, parts_per_shape) if label in parts]
        if len(holders) == 1:
            notes.append(f"label '{label}' appears only in '{holders[0]}'")
    lonely = [f"'{label}' of '{s.name}'" for s, parts in zip(shapes, parts_per_shape)
              for label, part in parts.items() if not part.contacts and len(parts) > 1]
    if lonely:
        notes.append(f"{len(lonely)} parts touch nothing ({lonely[0]}…) and cannot be attached")
    if len(shapes) < 20:
        notes.append(f"{len(shapes)} shapes are few for finding styles; 20 or more work better")
    return notes


def check_scales(shapes) -> None:
    sizes = np.array([np.linalg.norm(np.ptp(s.vertices, axis=0)) for s in shapes])
    median = float(np.median(sizes))
    odd = [s.name for s, size in zip(shapes, sizes) if size > 10 * median or size < median / 10]
    if odd:
        raise ValueError(f"{len(odd)} shapes differ in size from the others by more than 10× ('{odd[0]}'…): "
                         "mixed units? Scale them to match (and apply the scale) or leave them out")


class DESIGN_SPACE_OT_learn_part_model(bpy.types.Operator):
    """Learn which parts go together and how their sizes relate, from the part-labelled shapes of the training collection (styles, part counts, contacts; Kalogerakis et al. 2012)"""

    bl_idname = "design_space.learn_part_model"
    bl_label = "Learn Part Model"
    bl_options = {'REGISTER', 'UNDO'}

    latent: BoolProperty(name="Styles", description="Learn latent shape and component styles (off: an ablation "
                         "without latent variables)", default=True)
    lateral: BoolProperty(name="Lateral Edges", description="Search for dependencies between part counts and "
                          "contacts (off: an ablation without lateral edges)", default=True)
    time_budget: FloatProperty(name="Time Budget", description="Longest time the structure search may take",
                               default=20.0, min=1.0, max=600.0, unit='TIME_ABSOLUTE')
    seed: IntProperty(name="Seed", description="Same seed, same model", default=0, min=0)

    @reports_errors
    def execute(self, context):
        from ...learning.part_model import fit_part_model, part_table, save_part_model
        from ...shapespace.parts import describe_collection

        collection = context.scene.design_space.training_collection
        shapes = read_collection(collection)
        check_scales(shapes)
        parts, labels = describe_collection(shapes, self.seed)
        table = part_table(parts, labels, [s.name for s in shapes])
        options = dict(latent=self.latent, lateral=self.lateral, seed=self.seed, time_budget=self.time_budget)
        held_out = None
        if len(shapes) >= 12:  # a held-out figure: fit on 75%, score the rest
            order = np.random.default_rng(self.seed).permutation(len(shapes))
            cut = len(shapes) // 4
            trial = fit_part_model(table.subset(order[cut:]), **options)
            held_out = float(trial.log_likelihood(table.subset(order[:cut])).mean())
        model = fit_part_model(table, **options)
        name = f"{collection.name} Parts"
        path = new_model_path(name)
        metrics = {"shapes": len(shapes), "shape_styles": model.shape_styles,
                   "train_log_likelihood": model.train_log_likelihood / len(shapes)}
        if held_out is not None:
            metrics["held_out_log_likelihood"] = held_out
        save_part_model(path, model, table, collection=collection.name, metrics=metrics)
        plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
        summary = (f"{plural(model.shape_styles, 'shape style')}, {plural(len(model.edges), 'lateral edge')}; "
                   "styles per part: " + ", ".join(f"{l} {k}" for l, k in zip(labels, model.component_styles))
                   + (f"; held-out log-likelihood {held_out:.1f} per shape" if held_out is not None else ""))
        add_model_entry(context.scene, name, "part_model", path, collection.name, ", ".join(labels), summary)
        notes = collection_warnings(shapes, parts, labels)
        self.report({'WARNING' if notes else 'INFO'}, "; ".join([f"Learned '{name}': {summary}"] + notes))
        return {'FINISHED'}
