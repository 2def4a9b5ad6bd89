"""Jobs that compute in a worker process of their own (learning/worker.py), relayed by a thread.

Blender's panels are drawn by Python, so long numeric work on a thread inside Blender competes with
them for the interpreter lock and the window stutters; a separate process shares nothing. A
`WorkerJob` writes its shapes and settings to a job file (no pickle), starts the worker, relays its
progress lines and the live loss curves, and makes sure that whatever ends the job (a result, an
error, Cancel, Ctrl+C, Blender quitting) the worker stops and the job folder goes. `LabelledJob` is
the common case: shapes with a class each, a model file that becomes a model entry.
"""

from __future__ import annotations

import json
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

import numpy as np
from bpy.props import IntProperty, StringProperty

from .background_jobs import Job, Progress, runner, start_and_report
from .data_sources import EXTENSION_DIR, preferences
from .image_bridge import keep_training_curves, show_live_picture
from .mesh_bridge import read_collection
from .model_store import add_model_entry, new_model_path, unique_model_name
from .shape_properties import shape_labels

CURVE_IMAGE = "Design Space Training"
CANCEL_GRACE_SECONDS = 10  # a worker that ignores the cancel file this long is killed


def training_device() -> str:
    """The preferences' training device (cpu, cuda, mps)."""
    prefs = preferences()
    return prefs.device.lower() if prefs is not None else "cpu"


def training_threads() -> int:
    """Threads for torch in the worker: the preferences' choice, else all cores but one (Blender keeps one)."""
    prefs = preferences()
    chosen = int(getattr(prefs, "training_threads", 0) or 0) if prefs is not None else 0
    return chosen if chosen > 0 else max(1, (os.cpu_count() or 2) - 1)


@dataclass
class TrainingOutcome:
    result: dict  # the worker's final message
    curves: np.ndarray | None

    @property
    def cancelled(self) -> bool:
        return self.result.get("stop_reason") == "cancelled"


def job_arrays(shapes, targets) -> dict:
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


class WorkerJob(Job):
    """Runs `python -m learning.worker` on the job file; subclasses fill `job_contents` (arrays, spec)
    in their constructor and turn the worker's final message into a result in `apply`."""

    push_undo = True

    def __init__(self, label: str, arrays: dict, spec: dict):
        self.label = label
        self.workdir = Path(tempfile.mkdtemp(prefix="design_space_job_"))
        self.job_file = self.workdir / "job.npz"
        self.job_contents = (arrays, spec)

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
                if cancel_sent is not None and time.perf_counter() - cancel_sent > CANCEL_GRACE_SECONDS:
                    process.kill()
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
            raise RuntimeError(f"the worker process stopped unexpectedly (exit code {code}): {tail}")
        if final["type"] == "error":
            raise (ImportError if final["kind"] == "ImportError" else ValueError)(final["message"])
        return TrainingOutcome(final, _load_curves(self.workdir))

    def result_arrays(self) -> dict:
        """The arrays a computing task (no model file) left in the job folder: learning.worker.RESULT_FILE,
        read like any archive (sizes checked, nothing unpickled)."""
        from ..learning.model_files import read_archive
        from ..learning.worker import RESULT_FILE

        arrays, _, _ = read_archive(self.workdir / RESULT_FILE, "job file")
        return arrays

    def discard(self, reason: str) -> None:
        self._clean()  # whatever the worker made only ever existed in the job's own folder

    def _clean(self) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.kill()  # interrupted, failed or abandoned: the worker must not compute on as an orphan
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


class LabelledJob(WorkerJob):
    """Learns from shapes with a class each; the worker's model file becomes a model entry.
    Subclasses name the worker `task`, `model_name`, `model_kind`, and say `summary` and `pictures`."""

    task = ""
    model_name, model_kind = "Model", ""

    def __init__(self, shapes, labels, collection: str, classes, resolution: int, epochs: int, validation: float,
                 seed: int, arrays: dict | None = None, **extra):
        """`arrays` join the job file's arrays (per-shape data), `extra` its settings."""
        self.collection, self.classes = collection, classes
        arrays = job_arrays(shapes, np.zeros((len(shapes), 1), np.float32)) | (arrays or {})
        arrays["labels"] = np.array([classes.index(label) for label in labels], dtype=np.int64)
        super().__init__(f"Train {self.model_name.lower()} on '{collection}'", arrays, {
            "task": self.task, "shape_names": [s.name for s in shapes], "seed": seed,
            "classes": classes, "resolution": resolution, "epochs": epochs, "validation_fraction": validation,
            "collection": collection, "threads": training_threads(), "device": training_device()} | extra)

    def summary(self, metrics) -> str:
        raise NotImplementedError

    def pictures(self, path) -> None:
        """Keep the model's pictures (a confusion matrix, …) as images; nothing by default."""

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
        self.applied = True
        return 'INFO', f"Trained '{name}' on {metrics['n_train']} shapes ({len(self.classes)} classes): {summary}"


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
