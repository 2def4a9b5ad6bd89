"""Training in a process of its own, so that Blender's interface never waits for it.

Blender's panels are drawn by Python, so a training thread inside Blender would compete with them
for the interpreter lock; a separate process shares nothing. The add-on writes a job file (shapes
and settings, no pickle), starts

    python -m learning.worker JOB.npz WORKDIR

with the extension's folder first on PYTHONPATH, and reads one JSON object per line from stdout:
{"type": "progress", ...}, then {"type": "done", ...} or {"type": "error", ...}. The model is
written to WORKDIR/model.npz, the newest loss curves to WORKDIR/curves.npy, and the job stops
cleanly within one batch once WORKDIR/cancel exists.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

CURVES_EVERY_SECONDS = 0.25


def emit(message: dict) -> None:
    print(json.dumps(message), flush=True)


def write_curves(path: Path, rgba: np.ndarray) -> None:
    temporary = path.with_suffix(".tmp.npy")
    np.save(temporary, rgba, allow_pickle=False)
    os.replace(temporary, path)


def meshes_from_arrays(arrays: dict, names: list):
    """The shapes of a job file: vertices, face sizes and corners concatenated, with offsets."""
    from shapespace.mesh_arrays import MeshArrays

    v_off, f_off, c_off = arrays["vertex_offsets"], arrays["face_offsets"], arrays["corner_offsets"]
    return [MeshArrays(name, arrays["vertices"][v_off[i]:v_off[i + 1]], arrays["face_sizes"][f_off[i]:f_off[i + 1]],
                       arrays["corner_vertices"][c_off[i]:c_off[i + 1]]) for i, name in enumerate(names)]


def run_attribute_predictor(arrays: dict, spec: dict, workdir: Path) -> dict:
    from shapespace.descriptors import descriptor_matrix, descriptor_names

    from .models import MLPRegressor, RidgeRegression
    from .trainer import TrainConfig
    from .training_plot import plot_curves

    cancel = workdir / "cancel"

    def should_stop() -> bool:
        return cancel.exists()

    shapes = meshes_from_arrays(arrays, spec["shape_names"])
    features = []
    step = max(1, len(shapes) // 10)
    for i, shape in enumerate(shapes):
        if should_stop():
            return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
        features.append(descriptor_matrix([shape], seed=spec["seed"])[0])
        if (i + 1) % step == 0 or i + 1 == len(shapes):
            emit({"type": "progress", "fraction": 0.1 * (i + 1) / len(shapes),
                  "short": f"describing shapes {i + 1}/{len(shapes)}", "line": f"describing shapes {i + 1}/{len(shapes)}"})
    x = np.stack(features)
    y = arrays["targets"]
    names = descriptor_names()
    history = {"train_loss": [], "val_loss": []}
    last_plot = [0.0]

    def on_epoch(progress):
        history["train_loss"].append(progress.train_loss)
        history["val_loss"].append(progress.val_loss)
        now = time.perf_counter()
        curves = False
        if now - last_plot[0] > CURVES_EVERY_SECONDS or progress.epoch == progress.epochs:
            write_curves(workdir / "curves.npy", plot_curves(history, 512, 256, log_scale=True))
            last_plot[0], curves = now, True
        val = f" · val {progress.val_loss:.3g}" if progress.val_loss is not None else ""
        emit({"type": "progress", "fraction": 0.1 + 0.9 * progress.fraction, "line": progress.line(), "curves": curves,
              "short": f"epoch {progress.epoch}/{progress.epochs}{val or f' · loss {progress.train_loss:.3g}'} · "
                       f"{progress.seconds_left:.0f} s left"})

    config = TrainConfig.from_dict(spec["config"])
    if spec["kind"] == "RIDGE":
        model = RidgeRegression(spec["lam"])
        report = model.fit(x, y, feature_names=names, target_names=[spec["target"]],
                           validation_fraction=config.validation_fraction, seed=spec["seed"])
    else:
        model = MLPRegressor(hidden=(64, 64), config=config)
        report = model.fit(x, y, feature_names=names, target_names=[spec["target"]], config=config,
                           progress=on_epoch, should_stop=should_stop)
    if report.stop_reason == "cancelled":
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": report.message}
    if report.history is not None and len(report.history):
        write_curves(workdir / "curves.npy",
                     plot_curves(report.history, 512, 256, log_scale=True, best_epoch=report.best_epoch))
    model.save(workdir / "model.npz", collection=spec["collection"])
    return {"type": "done", "stop_reason": report.stop_reason, "ok": report.ok, "message": report.message,
            "metrics": {k: v for k, v in report.metrics.items() if isinstance(v, (int, float)) or v is None},
            "kind": model.kind}


TASKS = {"attribute_predictor": run_attribute_predictor}


def main(argv) -> int:
    from .model_files import read_archive

    job_path, workdir = Path(argv[0]), Path(argv[1])
    try:
        arrays, spec, _ = read_archive(job_path, "job file")
        if spec.get("threads") and spec.get("kind") != "RIDGE":  # closed-form models never need torch
            from .trainer import require_torch

            require_torch("Training a neural network").set_num_threads(int(spec["threads"]))
        emit(TASKS[spec["task"]](arrays, spec, workdir))
        return 0
    except (ValueError, ImportError) as error:  # bad input or no PyTorch: the message says what to do
        emit({"type": "error", "kind": type(error).__name__, "message": str(error)})
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
