"""Train sketch search (Wang et al. 2015) on the training collection: line drawings of every shape,
a two-branch network trained with a contrastive loss on hand-drawn-looking copies."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, IntProperty

from .operator_support import reports_errors
from .train_classifier import ClassifierJob, LabelledTraining


class SketchJob(ClassifierJob):
    task = "sketch_retrieval"
    model_name, model_kind = "Sketch Search", "sketch_retrieval"

    def summary(self, metrics) -> str:
        if "top1" not in metrics:
            return "no held-out shapes"
        return f"held-out sketches: right class first {100 * metrics['top1']:.0f}%, mAP {metrics['sketch_map']:.2f}"

    def pictures(self, path) -> None:
        pass  # the loss curves are all there is to show


class DESIGN_SPACE_OT_train_sketch_search(LabelledTraining, bpy.types.Operator):
    """Learn to find the training collection's shapes from a sketch (line drawings of every shape, a two-branch network; runs in the background)"""

    bl_idname = "design_space.train_sketch_search"
    bl_label = "Train Sketch Search"
    bl_options = {'REGISTER', 'UNDO'}

    pairs: IntProperty(name="Pairs", description="Sketch–view pairs drawn for training", default=3000, min=100,
                       max=200000)
    epochs: IntProperty(name="Epochs", description="Passes over the pairs", default=10, min=1, max=1000)
    validation_fraction: FloatProperty(name="Held Out", description="Share of shapes kept out to measure the "
                                       "search with sketches of their outlines", default=0.2, min=0.0, max=0.8,
                                       subtype='FACTOR')

    @reports_errors
    def execute(self, context):
        self.start(context, SketchJob, pairs=self.pairs)
        return {'FINISHED'}
