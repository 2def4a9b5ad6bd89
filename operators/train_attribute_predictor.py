"""Learn to predict a numeric attribute (height, leg count, …) of shapes from their geometry.

The first model on the training runtime: shape descriptors (box proportions + D2 distribution) of
the training collection → an MLP trained by the shared trainer, or closed-form ridge regression.
Training runs off the main thread with progress, a live loss-curve image and Esc/Cancel.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .background_jobs import Job, Progress, runner
from .data_sources import preferences
from .image_bridge import write_image
from .mesh_bridge import BridgeError, read_collection
from .model_store import add_model_entry, new_model_path
from .operator_support import reports_errors

CURVE_IMAGE = "Design Space Training"
_PLOT_EVERY_SECONDS = 0.25


def numeric_attribute_names(shapes) -> list[str]:
    names = set()
    for shape in shapes:
        names |= {k for k, v in shape.attributes.items() if isinstance(v, (int, float, bool))}
    return sorted(names - {"design_space_seed"})


def attribute_targets(shapes, target: str, skip_incomplete: bool):
    """(kept shapes, target values) or a ValueError naming the shapes that lack a usable value."""
    values, missing = [], []
    for shape in shapes:
        value = shape.attributes.get(target)
        if isinstance(value, (bool, int, float)) and math.isfinite(float(value)):
            values.append(float(value))
        else:
            missing.append(shape.name)
    if missing and not skip_incomplete:
        listed = ", ".join(f"'{n}'" for n in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} shapes have no number in '{target}': {listed}; give them a value "
                         "or enable 'Skip Incomplete Shapes'")
    kept = [s for s in shapes if s.name not in set(missing)]
    if len(set(values)) < 2:
        raise ValueError(f"'{target}' has the same value on every shape; there is nothing to learn")
    return kept, np.array(values, dtype=np.float32)[:, None]


@dataclass
class TrainingOutcome:
    model: object
    report: object
    curves: np.ndarray | None

    @property
    def cancelled(self) -> bool:
        return self.report.stop_reason == "cancelled"


class AttributePredictorJob(Job):
    def __init__(self, shapes, targets, target: str, collection: str, kind: str, config, lam: float, seed: int):
        self.shapes, self.targets, self.target, self.collection = shapes, targets, target, collection
        self.kind, self.config, self.lam, self.seed = kind, config, lam, seed
        self.label = f"Train '{target}' predictor"
        self.push_undo = True
        self.history = {"train_loss": [], "val_loss": []}
        self._last_plot = 0.0

    def work(self, report, should_stop):
        from ..learning.models import MLPRegressor, RidgeRegression
        from ..shapespace.descriptors import descriptor_matrix, descriptor_names

        features = []
        for i, shape in enumerate(self.shapes):  # per shape, so a cancel is prompt
            if should_stop():
                raise _Cancelled()
            features.append(descriptor_matrix([shape], seed=self.seed)[0])
            if (i + 1) % max(1, len(self.shapes) // 10) == 0 or i + 1 == len(self.shapes):
                report(Progress(0.1 * (i + 1) / len(self.shapes), f"describing shapes {i + 1}/{len(self.shapes)}"))
        x = np.stack(features)
        names = descriptor_names()
        if self.kind == 'RIDGE':
            model = RidgeRegression(self.lam)
            result = model.fit(x, self.targets, feature_names=names, target_names=[self.target],
                               validation_fraction=self.config.validation_fraction, seed=self.seed)
        else:
            model = MLPRegressor(hidden=(64, 64), config=self.config)

            def on_epoch(progress):
                self.history["train_loss"].append(progress.train_loss)
                self.history["val_loss"].append(progress.val_loss)
                now = time.perf_counter()
                curves = None
                if now - self._last_plot > _PLOT_EVERY_SECONDS or progress.epoch == progress.epochs:
                    from ..learning.training_plot import plot_curves

                    curves = plot_curves(self.history, 512, 256, log_scale=True)
                    self._last_plot = now
                report(Progress(0.1 + 0.9 * progress.fraction, _short_line(progress),
                                {"curves": curves, "line": progress.line()}))

            result = model.fit(x, self.targets, feature_names=names, target_names=[self.target], config=self.config,
                               progress=on_epoch, should_stop=should_stop)
        curves = None
        if result.history is not None and len(result.history):
            from ..learning.training_plot import plot_curves

            curves = plot_curves(result.history, 512, 256, log_scale=True, best_epoch=result.best_epoch)
        return TrainingOutcome(model, result, curves)

    def apply(self, context, outcome: TrainingOutcome):
        report = outcome.report
        name = f"{self.target} from {self.collection} ({'ridge' if self.kind == 'RIDGE' else 'MLP'})"
        path = new_model_path(name)
        outcome.model.save(path, collection=self.collection)  # layout: descriptor names in, target out
        metrics = report.metrics
        summary = (f"validation RMSE {metrics['val_rmse']:.4g}, R² {metrics['val_r2']:.3f}"
                   if metrics.get("val_rmse") is not None else f"training RMSE {metrics['train_rmse']:.4g}")
        add_model_entry(context.scene, name, outcome.model.kind, path, self.collection, self.target, summary)
        if outcome.curves is not None:
            image = write_image(CURVE_IMAGE, outcome.curves)
            if bpy.app.background:
                png = path.with_suffix(".png")
                from ..learning.training_plot import write_png

                write_png(png, outcome.curves)
                print(f"[Design Space] training curves saved to {png}", flush=True)
            image.filepath_raw = ""
        if not report.ok:
            return 'WARNING', f"{report.message}; kept the last good model '{name}' ({summary})"
        return 'INFO', f"Trained '{name}' on {metrics['n_train']} shapes: {summary}; saved to {path.name}"

    def discard(self, reason: str) -> None:
        pass  # nothing is written before apply, so there is nothing to take back


def _short_line(progress) -> str:
    """Epoch, losses and time left, short enough for the panel's progress bar."""
    val = f" · val {progress.val_loss:.3g}" if progress.val_loss is not None else ""
    return (f"epoch {progress.epoch}/{progress.epochs} · loss {progress.train_loss:.3g}{val} · "
            f"{progress.seconds_left:.0f} s left")


class _Cancelled(Exception):
    pass


def show_curves(progress: Progress | None) -> None:
    """Runner listener: refresh the training-curve image while a job runs."""
    if progress is not None and progress.history.get("curves") is not None:
        write_image(CURVE_IMAGE, progress.history["curves"])


def _attribute_search(self, context, edit_text):
    collection = context.scene.design_space.training_collection
    if collection is None:
        return []
    try:
        shapes = read_collection(collection)
    except BridgeError:
        return []
    return [n for n in numeric_attribute_names(shapes) if edit_text.lower() in n.lower()]


class DESIGN_SPACE_OT_train_attribute_predictor(bpy.types.Operator):
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

    def _start(self, context):
        from ..learning.trainer import TrainConfig

        settings = context.scene.design_space
        collection = settings.training_collection
        shapes = read_collection(collection)
        if not self.target.strip():
            raise ValueError(f"Choose the attribute to predict; '{collection.name}' has: "
                             + ", ".join(numeric_attribute_names(shapes)[:12]))
        shapes, targets = attribute_targets(shapes, self.target.strip(), self.skip_incomplete)
        prefs = preferences()
        config = TrainConfig(optimizer=self.optimizer, learning_rate=self.learning_rate, epochs=self.epochs,
                             l2=self.l2, batch_size=32, validation_fraction=self.validation_fraction,
                             early_stopping_patience=max(40, self.epochs // 5), seed=self.seed,
                             device=prefs.device.lower() if prefs is not None else "cpu", schedule="plateau",
                             plateau_patience=15)
        config.validate()
        job = AttributePredictorJob(shapes, targets, self.target.strip(), collection.name, self.model_kind, config,
                                    self.ridge_lambda, self.seed)
        return job, runner.start(job, context)

    def _report_summary(self, summary):
        if summary:
            level, message = summary
            self.report({level}, message)

    @reports_errors
    def execute(self, context):
        job, summary = self._start(context)
        self._report_summary(summary)
        if summary is None:
            self.report({'INFO'}, f"{job.label} started; progress shows in the Design Space panel")
        return {'FINISHED'}

    @reports_errors
    def invoke(self, context, event):
        job, summary = self._start(context)
        if summary is not None:  # background mode: already done
            self._report_summary(summary)
            return {'FINISHED'}
        job.push_undo = False  # this operator's own finish makes the undo step
        self._job = job
        self._timer = context.window_manager.event_timer_add(0.2, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if runner.job is not self._job:
            context.window_manager.event_timer_remove(self._timer)
            self._report_summary(runner.last_summary)
            return {'FINISHED'}
        if event.type == 'ESC' and event.value == 'PRESS':
            runner.cancel()
            return {'RUNNING_MODAL'}
        return {'PASS_THROUGH'}
