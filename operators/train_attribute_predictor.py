"""Learn to predict a numeric attribute (height, leg count, …) of shapes from their geometry.

The first model on the training runtime: shape descriptors (box proportions + D2 distribution) of
the training collection → an MLP trained by the shared trainer, or closed-form ridge regression.
Training runs in a worker process (learning/worker.py), relayed by a thread, with progress, a live
loss-curve image and Esc/Cancel.
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .background_jobs import Job, Progress, runner
from .data_sources import EXTENSION_DIR, preferences
from .image_bridge import keep_training_curves, show_live_picture
from .mesh_bridge import read_collection
from .model_store import add_model_entry, new_model_path, unique_model_name
from .operator_support import reports_errors

CURVE_IMAGE = "Design Space Training"


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
        raise ValueError(f"{len(missing)} shape{' has' if len(missing) == 1 else 's have'} no number in '{target}': "
                         f"{listed}; give {'it' if len(missing) == 1 else 'them'} a value "
                         "or enable 'Skip Incomplete Shapes'")
    kept = [s for s in shapes if s.name not in set(missing)]
    if not values:
        raise ValueError(f"No shape has a number in '{target}'; the shapes have: "
                         + ", ".join(numeric_attribute_names(shapes)[:12]))
    if len(values) < 2:  # one shape is not a constant attribute: say which it is
        raise ValueError(f"Only 1 shape has a number in '{target}' ('{kept[0].name}'); learning to predict it needs "
                         "at least 2 (dozens are better): add shapes with a value")
    if len(set(values)) < 2:
        raise ValueError(f"'{target}' has the same value on every shape; there is nothing to learn")
    return kept, np.array(values, dtype=np.float32)[:, None]


@dataclass
class TrainingOutcome:
    result: dict  # the worker's final message
    curves: np.ndarray | None

    @property
    def cancelled(self) -> bool:
        return self.result.get("stop_reason") == "cancelled"


def _job_arrays(shapes, targets) -> dict:
    """The shapes of a job as concatenated arrays with offsets (the job file holds no objects)."""
    def offsets(counts):
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    return {"vertices": np.concatenate([s.vertices for s in shapes]),
            "face_sizes": np.concatenate([s.face_sizes for s in shapes]),
            "corner_vertices": np.concatenate([s.corner_vertices for s in shapes]),
            "vertex_offsets": offsets([len(s.vertices) for s in shapes]),
            "face_offsets": offsets([len(s.face_sizes) for s in shapes]),
            "corner_offsets": offsets([len(s.corner_vertices) for s in shapes]),
            "targets": targets}


class AttributePredictorJob(Job):
    """Trains in a separate Python process (learning/worker.py): nothing competes with the UI."""

    def __init__(self, shapes, targets, target: str, collection: str, kind: str, config, lam: float, seed: int):
        self.target, self.collection, self.kind = target, collection, kind
        self.label = f"Train '{target}' predictor"
        self.push_undo = True
        self.workdir = Path(tempfile.mkdtemp(prefix="design_space_job_"))
        self.job_file = self.workdir / "job.npz"
        self.job_contents = (_job_arrays(shapes, targets), {
            "task": "attribute_predictor", "shape_names": [s.name for s in shapes], "seed": seed, "kind": kind,
            "config": config.to_dict(), "lam": lam, "target": target, "collection": collection,
            "threads": max(1, (os.cpu_count() or 2) - 1)})  # one core stays with Blender's interface

    def work(self, report, should_stop):
        from ..learning.model_files import write_archive

        write_archive(self.job_file, *self.job_contents)  # here, off the main thread: hashing takes a while
        self.job_contents = None
        python_path = [str(EXTENSION_DIR)] + [p for p in sys.path if p and Path(p).exists()]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(python_path), PYTHONUNBUFFERED="1")
        with open(self.workdir / "stderr.txt", "w") as errors:
            process = subprocess.Popen([sys.executable, "-m", "learning.worker", str(self.job_file), str(self.workdir)],
                                       stdout=subprocess.PIPE, stderr=errors, text=True, cwd=str(EXTENSION_DIR),
                                       env=env, creationflags=getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0))
            self.process = process  # so that discard() stops it whatever ends this job (Ctrl+C included)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
            final, cancel_sent = None, None
            while True:
                if should_stop() and cancel_sent is None:
                    (self.workdir / "cancel").touch()
                    cancel_sent = time.perf_counter()
                if cancel_sent is not None and time.perf_counter() - cancel_sent > 10:
                    process.kill()  # it did not stop by itself within 10 s
                try:
                    line = lines.get(timeout=0.1)
                except queue.Empty:
                    continue
                if line is None:
                    break
                message = _parse(line)
                if message is None:
                    continue
                if message["type"] == "progress":
                    curves = _load_curves(self.workdir) if message.get("curves") else None
                    report(Progress(message["fraction"], message["short"], {"curves": curves, "line": message["line"]}))
                else:
                    final = message
            code = process.wait()
        if final is None:
            if cancel_sent is not None:
                return TrainingOutcome({"stop_reason": "cancelled"}, None)
            tail = (self.workdir / "stderr.txt").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"the training process stopped unexpectedly (exit code {code}): {tail}")
        if final["type"] == "error":
            raise (ImportError if final["kind"] == "ImportError" else ValueError)(final["message"])
        return TrainingOutcome(final, _load_curves(self.workdir))

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
        if not result["ok"]:
            return 'WARNING', f"{result['message']}; kept the last good model '{name}' ({summary})"
        return 'INFO', f"Trained '{name}' on {metrics['n_train']} shapes: {summary}; saved to {path.name}"

    def discard(self, reason: str) -> None:
        self._clean()  # the model only ever existed in the job's own folder

    def _clean(self) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.kill()  # interrupted, failed or abandoned: the worker must not train on as an orphan
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _parse(line: str):
    try:
        message = json.loads(line)
    except ValueError:  # a library's own print
        return None
    return message if isinstance(message, dict) and "type" in message else None


def _load_curves(workdir: Path):
    try:
        return np.load(workdir / "curves.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None


def show_curves(progress: Progress | None) -> None:
    """Runner listener: refresh the live training curves while a job runs."""
    if progress is not None and progress.history.get("curves") is not None:
        show_live_picture(CURVE_IMAGE, progress.history["curves"])


def attribute_search(context, edit_text):
    """Numeric attributes of the training collection's objects (read from object properties only)."""
    collection = context.scene.design_space.training_collection
    if collection is None:
        return []
    names = set()
    for obj in collection.all_objects:  # custom properties only: no mesh data is read per keystroke
        names |= {k for k in obj.keys() if isinstance(obj[k], (bool, int, float))}
    return sorted(n for n in names - {"design_space_seed"} if edit_text.lower() in n.lower())


def _attribute_search(self, context, edit_text):
    return attribute_search(context, edit_text)


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
            self.target = settings.predictor_target
        if not self.target.strip():
            raise ValueError(f"Choose the attribute to predict; '{collection.name}' has: "
                             + ", ".join(numeric_attribute_names(shapes)[:12]))
        shapes, targets = attribute_targets(shapes, self.target.strip(), self.skip_incomplete)
        prefs = preferences()
        config = TrainConfig(optimizer=self.optimizer, learning_rate=self.learning_rate, epochs=self.epochs,
                             l2=self.l2, batch_size=32, validation_fraction=self.validation_fraction,
                             early_stopping_patience=max(30, self.epochs // 10), min_learning_rate=self.learning_rate * 1e-3, seed=self.seed,
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
        if not self.target.strip():
            self.target = context.scene.design_space.predictor_target
        if not self.target.strip():  # ask, instead of failing
            return context.window_manager.invoke_props_dialog(self)
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
