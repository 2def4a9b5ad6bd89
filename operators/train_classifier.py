"""Train a classifier that tells the training collection's shapes apart by a label: a custom property
(category by default) or, failing that, the child collection a shape is in. The default is the
multi-view network on light fields of shapes in canonical pose (metric learning, measured against
softmax regression); the older image CNN (MVCNN 2015 on 12 ring views) stays for upright collections.
Describing and training run in the worker process, with progress and Cancel like any training."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from .background_jobs import runner, start_and_report
from .data_sources import preferences
from .image_bridge import keep_picture, keep_training_curves
from .mesh_bridge import read_collection
from .model_store import add_model_entry, new_model_path, unique_model_name
from .operator_support import reports_errors
from .train_attribute_predictor import CURVE_IMAGE, AttributePredictorJob, _job_arrays

CONFUSION_IMAGE = "Design Space Confusion"


def training_device() -> str:
    """The preferences' training device (cpu, cuda, mps)."""
    prefs = preferences()
    return prefs.device.lower() if prefs is not None else "cpu"


def training_threads() -> int:
    """Threads for torch in the worker: the preferences' choice, else all cores but one (Blender keeps one)."""
    prefs = preferences()
    chosen = int(getattr(prefs, "training_threads", 0) or 0) if prefs is not None else 0
    return chosen if chosen > 0 else max(1, (os.cpu_count() or 2) - 1)


def shape_labels(collection, shapes, label_property: str) -> list:
    """A label per shape: its `label_property`, else the name of the child collection holding it."""
    holder = {}
    for child in collection.children_recursive:
        for obj in child.objects:
            holder.setdefault(obj.name, child.name)
    labels, missing = [], []
    for shape in shapes:
        value = shape.attributes.get(label_property)
        if isinstance(value, (str, int, bool)) and str(value):
            labels.append(str(value))
        elif shape.name in holder:
            labels.append(holder[shape.name])
        else:
            missing.append(shape.name)
    if missing:
        one = len(missing) == 1
        raise ValueError(f"{len(missing)} {'shape has' if one else 'shapes have'} no '{label_property}' and "
                         f"{'sits' if one else 'sit'} in no child collection ('{missing[0]}'…); give "
                         f"{'it' if one else 'them'} the property or sort {'it' if one else 'them'} into child "
                         "collections")
    return labels


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


class ClassifierJob(AttributePredictorJob):
    """The worker renders the views and trains; the model file also holds the retrieval library."""

    task = "multiview_classifier"

    def __init__(self, shapes, labels, collection: str, classes, resolution: int, epochs: int, validation: float,
                 seed: int, arrays: dict | None = None, **extra):
        """`arrays` join the job file's arrays (per-shape data), `extra` its settings."""
        self.collection, self.classes = collection, classes
        self.target, self.kind = "category", "MVCNN"
        self.label = f"Train {self.model_name.lower()} on '{collection}'"
        self.push_undo = True
        self.workdir = Path(tempfile.mkdtemp(prefix="design_space_job_"))
        self.job_file = self.workdir / "job.npz"
        job_arrays = _job_arrays(shapes, np.zeros((len(shapes), 1), np.float32)) | (arrays or {})
        job_arrays["labels"] = np.array([classes.index(label) for label in labels], dtype=np.int64)
        self.job_contents = (job_arrays, {
            "task": self.task, "shape_names": [s.name for s in shapes], "seed": seed,
            "classes": classes, "resolution": resolution, "epochs": epochs, "validation_fraction": validation,
            "collection": collection, "threads": training_threads(), "device": training_device()} | extra)

    model_name, model_kind = "Classifier", "mvcnn_classifier"

    def summary(self, metrics) -> str:
        if "accuracy" not in metrics:
            return "no held-out shapes"
        return f"held-out accuracy {100 * metrics['accuracy']:.0f}%; retrieval mAP {metrics['retrieval_map']:.2f}"

    def pictures(self, path) -> None:
        from ..learning.multiview import MultiViewClassifier

        _, _, extra = MultiViewClassifier.load(path)
        keep_picture(CONFUSION_IMAGE, confusion_picture(extra["confusion"]))

    def apply(self, context, outcome):
        metrics = outcome.result["metrics"]
        name = unique_model_name(context.scene, f"{self.collection} {self.model_name}")
        path = new_model_path(name)
        shutil.move(str(self.workdir / "model.npz"), str(path))
        summary = self.summary(metrics)
        add_model_entry(context.scene, name, self.model_kind, path, self.collection, ", ".join(self.classes), summary)
        keep_training_curves(CURVE_IMAGE, outcome.curves, path)
        self.pictures(path)
        self._clean()
        return 'INFO', f"Trained '{name}' on {metrics['n_train']} shapes ({len(self.classes)} classes): {summary}"


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
        from ..learning.view_network import ViewNetwork

        _, _, extra = ViewNetwork.load(path)
        keep_picture(CONFUSION_IMAGE, confusion_picture(extra["confusion"]))


class LabelledTraining:
    """Options and start shared by the operators that learn from labelled shapes in the worker."""

    label_property: StringProperty(name="Label", description="Custom property holding each shape's class (shapes "
                                   "without it take the name of their child collection)", default="category")
    resolution: IntProperty(name="Resolution", description="Pixels per side of each rendered view", default=32,
                            min=16, max=224)
    seed: IntProperty(name="Seed", description="Same seed, same model", default=0, min=0)

    @classmethod
    def poll(cls, context):
        return not runner.running

    def start(self, context, job_class, **extra):
        collection = context.scene.design_space.training_collection
        shapes = read_collection(collection)
        labels = shape_labels(collection, shapes, self.label_property.strip())
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"Every shape of '{collection.name}' is '{classes[0]}'; learning to tell shapes "
                             "apart needs two classes or more")
        job = job_class(shapes, labels, collection.name, classes, self.resolution, self.epochs,
                        self.validation_fraction, self.seed, **extra)
        start_and_report(self, job, context)


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
