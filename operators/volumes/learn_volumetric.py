"""Learn a volumetric model of the training collection: every shape voxelised into its own grid (once: the
grids are cached per shape in the extension's cache folder, keyed by mesh content and resolution), then a
per-voxel logistic regression or a conditional 3D-convolutional VAE trained in the worker process
(progress, curves and Cancel like any training) — or the implicit signed-distance decoder, trained on
shapes in a canonical pose (the collection's own frame when it is marked aligned). The class is a label (custom property or child
collection); the attributes are the shapes' numeric custom properties."""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from ..background_jobs import runner, start_and_report
from ..mesh_bridge import read_collection
from ..operator_support import reports_errors
from ..shape_properties import numeric_attribute_names, shape_labels
from ..worker_jobs import LabelledJob
from .volumetric_support import check_memory, fill_volume_attributes, voxel_cache

IGNORED_PREFIXES = ("design_space", "predicted_", "shape_space")
MODEL_NAMES = {"voxel_vae": "Volumes (VAE)", "voxel_logistic": "Volumes (logistic)",
               "implicit_sdf": "Volumes (implicit)"}


def conditioning_attributes(shapes) -> tuple[list, np.ndarray]:
    """(names, (N, A) values with NaN where a shape lacks one) of the shapes' numeric properties."""
    names = [n for n in numeric_attribute_names(shapes) if not n.startswith(IGNORED_PREFIXES)]
    values = np.full((len(shapes), len(names)), np.nan)
    for i, shape in enumerate(shapes):
        for j, name in enumerate(names):
            value = shape.attributes.get(name)
            if isinstance(value, (bool, int, float)) and np.isfinite(float(value)):
                values[i, j] = float(value)
    return names, values


def refuse_flat_shapes(collection_name: str, shapes) -> None:
    """Shapes that cannot enclose a volume (no faces, or flat along an axis) voxelise to empty
    grids: refuse them by name before a model of nothing is trained (the worker checks the grids too)."""
    flat = []
    for shape in shapes:
        extent = shape.vertices.max(axis=0) - shape.vertices.min(axis=0) if len(shape.vertices) else np.zeros(3)
        if not len(shape.face_sizes) or extent.min() <= 1e-6 * max(float(extent.max()), 1e-30):
            flat.append(shape.name)
    if flat:
        listed = ", ".join(f"'{n}'" for n in flat[:5]) + (f" and {len(flat) - 5} more" if len(flat) > 5 else "")
        raise ValueError(f"{len(flat)} shape{'' if len(flat) == 1 else 's'} in '{collection_name}' "
                         f"{'is' if len(flat) == 1 else 'are'} flat or without faces ({listed}) and would voxelise "
                         "to empty grids; give them thickness (Solidify modifier, applied) or leave them out")


def refuse_thin_classes(collection_name: str, labels, classes, validation: float) -> None:
    """The implicit decoder fits a Gaussian of codes per class: a class needs 2 training shapes or
    more (after the held-out share is set aside); refuse by name before the worker starts."""
    counts = {c: sum(label == c for label in labels) for c in classes}
    few = [c for c, n in counts.items() if n * (1 - validation) < 2]
    if few:
        listed = ", ".join(f"'{c}' ({counts[c]} shape{'' if counts[c] == 1 else 's'})" for c in few)
        raise ValueError(f"{listed} in '{collection_name}' {'is' if len(few) == 1 else 'are'} too few to learn a "
                         "class from: the implicit decoder needs at least 2 training shapes per class (3 or more "
                         "with shapes held out); add shapes of that class or take it out of the collection")


class VolumetricJob(LabelledJob):
    """The worker voxelises and trains; the model file holds the weights and the conditioning."""

    task = "volumetric_model"

    def __init__(self, shapes, labels, collection: str, classes, names, values, kind: str, resolution: int,
                 epochs: int, validation: float, seed: int, voxel_cache: str = "", aligned: bool = False):
        """`voxel_cache`: the folder of the per-shape voxel cache (shapespace.voxel_cache) the worker reads
        grids from and adds them to, so learning again on the same shapes voxelises none of them.
        `aligned`: the collection is upright and aligned already (the implicit decoder then keeps its
        frame instead of a canonical pose)."""
        super().__init__(shapes, labels, collection, classes, resolution, epochs, validation, seed,
                         arrays={"attributes": values}, attribute_names=names, kind=kind, voxel_cache=voxel_cache,
                         aligned=bool(aligned))
        self.model_kind, self.model_name = kind, MODEL_NAMES[kind]
        self.target, self.kind = "occupancy", kind
        self.label = f"Learn volumes of '{collection}'"

    def summary(self, metrics) -> str:
        parts = []
        if metrics.get("completion_iou") is not None:
            chamfer = metrics.get("completion_chamfer")
            parts.append(f"completion IoU {metrics['completion_iou']:.2f}"
                         + (f" (Chamfer {100 * chamfer:.1f}% of the cube)" if chamfer is not None else ""))
        if metrics.get("class_match") is not None:
            coverage = metrics.get("coverage")
            parts.append(f"generated: class match {100 * metrics['class_match']:.0f}%, single piece "
                         f"{100 * metrics['single_piece']:.0f}%"
                         + (f", {100 * coverage:.0f}% of the training shapes covered by {metrics['generated']}"
                            if coverage is not None else ""))
        if metrics.get("accuracy") is not None:
            compared = getattr(self, "multiview", None)
            compared = f" (multi-view classifier: {compared.split(';')[0]})" if compared else ""
            parts.append(f"accuracy {100 * metrics['accuracy']:.0f}%{compared}")
        parts.append(f"{metrics['seconds_per_epoch']:.1f} s/epoch")
        return "; ".join(parts)

    def pictures(self, path) -> None:
        pass

    def apply(self, context, outcome):
        from .volumetric_support import active_volumetric

        self.multiview = next((e.metrics for e in reversed(context.scene.design_space.models)
                               if e.kind == "mvcnn_classifier" and e.collection == self.collection), None)
        level, message = super().apply(context, outcome)
        _, model, _ = active_volumetric(context)
        fill_volume_attributes(context.scene, model)
        return level, message


class DESIGN_SPACE_OT_learn_volumetric(bpy.types.Operator):
    """Learn to generate, complete and classify shapes as voxel grids from the training collection (class: a custom property or child collection; attributes: numeric custom properties); runs in the background"""

    bl_idname = "design_space.learn_volumetric"
    bl_label = "Learn Volumes"
    bl_options = {'REGISTER', 'UNDO'}

    model_kind: EnumProperty(
        name="Model", description="Which volumetric model to learn",
        items=[('voxel_vae', "Deep (3D VAE)", "A 3D convolutional variational auto-encoder: generates varied "
                "shapes, interpolates, completes and classifies"),
               ('voxel_logistic', "Per-Voxel Logistic", "The lecture's baseline: one logistic regression per "
                "voxel from class and attributes; quick, one shape per request"),
               ('implicit_sdf', "Implicit (Signed Distance)", "An implicit signed-distance decoder on shapes in "
                "a canonical pose (or the collection's frame when it is marked aligned): smooth surfaces at any "
                "resolution, one clean piece per shape, generates and completes")],
        default='voxel_vae')
    resolution: EnumProperty(
        name="Resolution", description="Voxels along each side of the grid",
        items=[('16', "16³", "Coarse and quick"), ('32', "32³", "The usual choice"),
               ('64', "64³", "Finer detail; about eight times the memory and time")],
        default='32')
    epochs: IntProperty(name="Epochs", description="Passes over the training shapes", default=80, min=1, max=2000)
    label_property: StringProperty(name="Label", description="Custom property holding each shape's class (shapes "
                                   "without it take the name of their child collection)", default="category")
    validation_fraction: FloatProperty(name="Held Out", description="Share of shapes kept out of training to "
                                       "measure completion and classification", default=0.15, min=0.0, max=0.8,
                                       subtype='FACTOR')
    seed: IntProperty(name="Seed", description="Same seed, same model", default=0, min=0)

    @classmethod
    def poll(cls, context):
        return not runner.running

    @reports_errors
    def execute(self, context):
        collection = context.scene.design_space.training_collection
        if collection is None:
            raise ValueError("Choose a training collection first (Design Space ▸ Data)")
        shapes = read_collection(collection)
        if len(shapes) < 4:
            raise ValueError(f"'{collection.name}' holds {len(shapes)} shape{'' if len(shapes) == 1 else 's'}; "
                             "learning volumes needs at least 4: add shapes to it "
                             "(a few dozen per class is better)")
        refuse_flat_shapes(collection.name, shapes)
        resolution = int(self.resolution)
        check_memory(resolution, len(shapes))
        labels = shape_labels(collection, shapes, self.label_property.strip())
        classes = sorted(set(labels))
        names, values = conditioning_attributes(shapes)
        if self.model_kind == 'implicit_sdf':
            refuse_thin_classes(collection.name, labels, classes, self.validation_fraction)
        job = VolumetricJob(shapes, labels, collection.name, classes, names, values, self.model_kind, resolution,
                            self.epochs, self.validation_fraction, self.seed, voxel_cache=str(voxel_cache().folder),
                            aligned=bool(context.scene.design_space.collection_aligned))
        start_and_report(self, job, context)
        return {'FINISHED'}

