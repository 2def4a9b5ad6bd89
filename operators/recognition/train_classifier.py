"""Train a classifier that tells the training collection's shapes apart by a label: a custom property
(category by default) or, failing that, the child collection a shape is in. The default is the
multi-view network on light fields of shapes in canonical pose (metric learning, measured against
softmax regression); the older image CNN (MVCNN 2015 on 12 ring views) stays for upright collections.
Describing and training run in the worker process, with progress and Cancel like any training."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty

from ..image_bridge import keep_picture
from ..operator_support import reports_errors
from ..worker_jobs import LabelledJob, LabelledTraining

CONFUSION_IMAGE = "Design Space Confusion"


def confusion_picture(matrix: np.ndarray, cell: int = 24) -> np.ndarray:
    """Rows: true class, columns: predicted; brighter = more shapes (the diagonal is right)."""
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    classes = len(matrix)
    image = np.ones((classes * cell, classes * cell, 4), np.float32)
    for i in range(classes):
        for j in range(classes):  # a handful of classes: cells, not pixels
            colour = (0.2, 0.8, 0.3) if i == j else (0.9, 0.3, 0.2)
            image[i * cell + 1:(i + 1) * cell - 1, j * cell + 1:(j + 1) * cell - 1, :3] = \
                0.12 + share[i, j] * (np.array(colour) - 0.12)
    return image


class ClassifierJob(LabelledJob):
    """The worker renders the views and trains; the model file also holds the retrieval library."""

    task = "multiview_classifier"
    model_name, model_kind = "Classifier", "mvcnn_classifier"

    def summary(self, metrics) -> str:
        if "accuracy" not in metrics:
            return "no held-out shapes"
        return f"held-out accuracy {100 * metrics['accuracy']:.0f}%; retrieval mAP {metrics['retrieval_map']:.2f}"

    def pictures(self, path) -> None:
        from ...learning.multiview import MultiViewClassifier

        _, _, extra = MultiViewClassifier.load(path)
        keep_picture(CONFUSION_IMAGE, confusion_picture(extra["confusion"]))


class ViewNetworkJob(ClassifierJob):
    """The multi-view network on light fields: the worker describes the shapes (and turned copies) and trains."""

    task = "view_network"
    model_name, model_kind = "Classifier", "view_network"

    def summary(self, metrics) -> str:
        if "accuracy" not in metrics:
            return "no held-out shapes"
        return (f"held-out accuracy {100 * metrics['accuracy']:.0f}% (softmax regression on light fields "
                f"{100 * metrics['baseline_accuracy']:.0f}%)")

    def pictures(self, path) -> None:
        from ...learning.view_network import ViewNetwork

        _, _, extra = ViewNetwork.load(path)
        keep_picture(CONFUSION_IMAGE, confusion_picture(extra["confusion"]))


class DESIGN_SPACE_OT_train_classifier(LabelledTraining, bpy.types.Operator):
    """Train a multi-view CNN that tells the training collection's shapes apart by a label (a custom property, or the child collection a shape is in); runs in the background"""

    bl_idname = "design_space.train_classifier"
    bl_label = "Train Classifier"
    bl_options = {'REGISTER', 'UNDO'}

    epochs: IntProperty(name="Epochs", description="Passes over the training shapes", default=60, min=1, max=1000)
    validation_fraction: FloatProperty(name="Held Out", description="Share of shapes kept out of training to "
                                       "measure accuracy and retrieval", default=0.25, min=0.0, max=0.8,
                                       subtype='FACTOR')

    model: EnumProperty(
        name="Model", description="Which classifier to train",
        items=[('VIEW_NETWORK', "Multi-View Network", "Light fields of each shape in canonical pose, a network "
                "shared by the views, metric learning; for shapes in any orientation"),
               ('CNN', "Image CNN", "The older multi-view CNN on 12 rendered views around +Z; for upright "
                "collections only")],
        default='VIEW_NETWORK')
    copies: IntProperty(name="Turned Copies", description="Randomly turned copies of every training shape "
                        "(rotation augmentation)", default=2, min=0, max=16)

    @reports_errors
    def execute(self, context):
        if self.model == 'CNN':
            self.start(context, ClassifierJob)
        else:
            self.start(context, ViewNetworkJob, copies=self.copies,
                       aligned=bool(context.scene.design_space.collection_aligned))
        return {'FINISHED'}
