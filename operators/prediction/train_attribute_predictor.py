"""Learn to predict a numeric attribute (height, leg count, …) of shapes from their geometry.

The first model on the training runtime: shape descriptors (box proportions + D2 distribution) of
the training collection → an MLP trained by the shared trainer, or closed-form ridge regression.
Training runs in a worker process (operators/worker_jobs.py), with progress, a live loss-curve image
and Esc/Cancel.
"""

from __future__ import annotations

import shutil

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..background_jobs import JobOperator, runner
from ..data_sources import preferences
from ..image_bridge import keep_training_curves
from ..mesh_bridge import read_collection
from ..model_store import add_model_entry, new_model_path, unique_model_name
from ..operator_support import reports_errors
from ..shape_properties import SEED_PROPERTY, attribute_targets, numeric_attribute_names
from ..worker_jobs import CURVE_IMAGE, TrainingOutcome, WorkerJob, job_arrays, training_threads


class AttributePredictorJob(WorkerJob):
    """Trains the predictor in the worker process: nothing competes with the UI."""

    def __init__(self, shapes, targets, target: str, collection: str, kind: str, config, lam: float, seed: int):
        self.target, self.collection, self.kind = target, collection, kind
        super().__init__(f"Train '{target}' predictor", job_arrays(shapes, targets), {
            "task": "attribute_predictor", "shape_names": [s.name for s in shapes], "seed": seed, "kind": kind,
            "config": config.to_dict(), "lam": lam, "target": target, "collection": collection,
            "threads": training_threads()})

    def apply(self, context, outcome: TrainingOutcome):
        result = outcome.result
        name = unique_model_name(context.scene, f"{self.target} from {self.collection} "
                                                f"({'ridge' if self.kind == 'RIDGE' else 'MLP'})")
        path = new_model_path(name)
        shutil.move(str(self.workdir / "model.npz"), str(path))
        metrics = result["metrics"]
        summary = (f"validation RMSE {metrics['val_rmse']:.4g}, R² {metrics['val_r2']:.3f}"
                   if metrics.get("val_rmse") is not None else f"training RMSE {metrics['train_rmse']:.4g}")
        add_model_entry(context.scene, name, result["kind"], path, self.collection, self.target, summary)
        keep_training_curves(CURVE_IMAGE, outcome.curves, path)
        self._clean()
        self.applied = True
        if not result["ok"]:
            return 'WARNING', f"{result['message']}; kept the last good model '{name}' ({summary})"
        return 'INFO', f"Trained '{name}' on {metrics['n_train']} shapes: {summary}; saved to {path.name}"


def attribute_search(context, edit_text):
    """Numeric attributes of the training collection's objects (read from object properties only)."""
    collection = context.scene.design_space.training_collection
    if collection is None:
        return []
    names = set()
    for obj in collection.all_objects:  # custom properties only: no mesh data is read per keystroke
        names |= {k for k in obj.keys() if isinstance(obj[k], (bool, int, float))}
    return sorted(n for n in names - {SEED_PROPERTY} if edit_text.lower() in n.lower())


def _attribute_search(self, context, edit_text):
    return attribute_search(context, edit_text)


class DESIGN_SPACE_OT_train_attribute_predictor(JobOperator, bpy.types.Operator):
    """Learn to predict a numeric attribute of shapes from their geometry, from the training collection (runs in the background; Esc cancels)"""

    bl_idname = "design_space.train_attribute_predictor"
    bl_label = "Train Attribute Predictor"
    bl_options = {'REGISTER', 'UNDO'}

    target: StringProperty(name="Attribute", description="The numeric custom property to learn to predict",
                           search=_attribute_search)
    model_kind: EnumProperty(
        name="Model", description="Which model to train",
        items=[('MLP', "Neural Network", "A small multi-layer perceptron trained by gradient descent"),
               ('RIDGE', "Ridge Regression", "A linear model solved in closed form (needs no PyTorch)")],
        default='MLP')
    epochs: IntProperty(name="Epochs", description="Passes over the training shapes", default=300, min=1, max=100000)
    learning_rate: FloatProperty(name="Learning Rate", description="Step size of the optimizer", default=1e-2,
                                 min=1e-8, max=10.0, precision=5)
    optimizer: EnumProperty(name="Optimizer", description="How the weights are updated",
                            items=[('adam', "Adam", "Adaptive moments"), ('sgd', "SGD + Momentum", "Momentum 0.9")],
                            default='adam')
    l2: FloatProperty(name="L2", description="Weight decay (ridge penalty) on the network weights", default=1e-3,
                      min=0.0, precision=5)
    ridge_lambda: FloatProperty(name="λ", description="Ridge penalty of the linear model", default=1.0, min=0.0)
    validation_fraction: FloatProperty(name="Validation Share", description="Share of shapes held out to measure "
                                       "overfitting", default=0.2, min=0.0, max=0.9, subtype='FACTOR')
    seed: IntProperty(name="Seed", description="Same seed, same model", default=0, min=0)
    skip_incomplete: BoolProperty(name="Skip Incomplete Shapes",
                                  description="Leave out shapes without a value instead of stopping", default=False)

    @classmethod
    def poll(cls, context):
        return not runner.running

    def job(self, context):
        from ...learning.trainer import TrainConfig

        settings = context.scene.design_space
        collection = settings.training_collection
        shapes = read_collection(collection)
        if not self.target.strip():
            self.target = settings.predictor_target
        if not self.target.strip():
            raise ValueError(f"Choose the attribute to predict; '{collection.name}' has: "
                             + ", ".join(numeric_attribute_names(shapes)[:12]))
        shapes, targets = attribute_targets(shapes, self.target.strip(), self.skip_incomplete)
        prefs = preferences()
        config = TrainConfig(optimizer=self.optimizer, learning_rate=self.learning_rate, epochs=self.epochs,
                             l2=self.l2, batch_size=32, validation_fraction=self.validation_fraction,
                             early_stopping_patience=max(30, self.epochs // 10),
                             min_learning_rate=self.learning_rate * 1e-3, seed=self.seed,
                             device=prefs.device.lower() if prefs is not None else "cpu", schedule="plateau",
                             plateau_patience=15)
        config.validate()
        return AttributePredictorJob(shapes, targets, self.target.strip(), collection.name, self.model_kind,
                                     config, self.ridge_lambda, self.seed)

    @reports_errors
    def invoke(self, context, event):
        if not self.target.strip():
            self.target = context.scene.design_space.predictor_target
        if not self.target.strip():  # ask, instead of failing
            return context.window_manager.invoke_props_dialog(self)
        return JobOperator._invoke(self, context, event)
