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
PLOT_SIZE = (480, 360)  # 4:3 fills the sidebar's square picture better than a wide plot
WORKER_NICENESS = 10  # the worker's absolute priority (Unix nice value)


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


def epoch_reporter(workdir: Path, start: float):
    """(progress callback for the trainer, loss history): emits progress lines, the fraction running
    from `start` to 1, and refreshes the curve image now and then."""
    from .training_plot import plot_curves

    history = {"train_loss": [], "val_loss": []}
    last_plot = [0.0]

    def on_epoch(progress):
        history["train_loss"].append(progress.train_loss)
        history["val_loss"].append(progress.val_loss)
        now = time.perf_counter()
        curves = False
        if now - last_plot[0] > CURVES_EVERY_SECONDS or progress.epoch == progress.epochs:
            write_curves(workdir / "curves.npy", plot_curves(history, *PLOT_SIZE, log_scale=True))
            last_plot[0], curves = now, True
        val = f" · val {progress.val_loss:.3g}" if progress.val_loss is not None else ""
        emit({"type": "progress", "fraction": start + (1 - start) * progress.fraction, "line": progress.line(),
              "curves": curves, "short": f"epoch {progress.epoch}/{progress.epochs}"
                                         f"{val or f' · loss {progress.train_loss:.3g}'} · "
                                         f"{progress.seconds_left:.0f} s left"})

    return on_epoch, history


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
    on_epoch, _ = epoch_reporter(workdir, 0.1)

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
                     plot_curves(report.history, *PLOT_SIZE, log_scale=True, best_epoch=report.best_epoch))
    model.save(workdir / "model.npz", collection=spec["collection"])
    return {"type": "done", "stop_reason": report.stop_reason, "ok": report.ok, "message": report.message,
            "metrics": {k: v for k, v in report.metrics.items() if isinstance(v, (int, float)) or v is None},
            "kind": model.kind}


def run_multiview_classifier(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Render every shape's views, train the multi-view CNN, measure it on the held-out split, and
    keep every shape's pooled descriptor (the retrieval library) in the model file."""
    from shapespace.views import render_views

    from .multiview import MultiViewClassifier, confusion_matrix, retrieval_map
    from .trainer import split_indices
    from .training_plot import plot_curves

    cancel = workdir / "cancel"
    shapes = meshes_from_arrays(arrays, spec["shape_names"])
    images = []
    step = max(1, len(shapes) // 10)
    for i, shape in enumerate(shapes):
        if cancel.exists():
            return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
        images.append(render_views(shape, resolution=spec["resolution"])["shaded"])
        if (i + 1) % step == 0 or i + 1 == len(shapes):
            line = f"rendering views {i + 1}/{len(shapes)}"
            emit({"type": "progress", "fraction": 0.1 * (i + 1) / len(shapes), "short": line, "line": line})
    images = np.asarray(images, np.float32)
    labels = arrays["labels"].astype(np.int64)
    train_idx, held_idx = split_indices(len(images), spec["validation_fraction"], spec["seed"])
    model = MultiViewClassifier.create(spec["classes"], spec["resolution"], images.shape[1], seed=spec["seed"])
    on_epoch, _ = epoch_reporter(workdir, 0.1)
    result = model.fit(images[train_idx], labels[train_idx], epochs=spec["epochs"], seed=spec["seed"],
                       device=spec.get("device", "cpu"), progress=on_epoch, should_stop=cancel.exists)
    if result.stop_reason == "cancelled":
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": result.message}
    write_curves(workdir / "curves.npy", plot_curves(result.history, *PLOT_SIZE, log_scale=True))
    metrics = {"n_train": int(len(train_idx)), "n_held_out": int(len(held_idx))}
    confusion = np.zeros((len(spec["classes"]),) * 2, dtype=np.int64)
    if len(held_idx):
        predicted = model.probabilities(images[held_idx]).argmax(axis=1)
        confusion = confusion_matrix(labels[held_idx], predicted, len(spec["classes"]))
        metrics["accuracy"] = float((predicted == labels[held_idx]).mean())
        metrics["retrieval_map"] = retrieval_map(model.descriptors(images[held_idx]), labels[held_idx])
    model.save(workdir / "model.npz", collection=spec["collection"], metrics=metrics, extra={
        "library": model.descriptors(images), "library_labels": labels, "confusion": confusion},
        library_names=spec["shape_names"])
    return {"type": "done", "stop_reason": result.stop_reason, "ok": result.ok, "message": result.message,
            "metrics": metrics, "kind": "mvcnn_classifier"}


def turn(rng: np.random.Generator, about_up_only: bool) -> np.ndarray:
    """A uniformly random rotation, or a random turn about +Z (for collections that are already upright)."""
    from shapespace.roughen import random_rotation

    if not about_up_only:
        return random_rotation(rng)
    angle = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def light_field_of_shapes(shapes, aligned: bool, cancel: Path, start: float, end: float, copies: int = 0,
                          seed: int = 0):
    """(descriptors (N, 20, F), copies (M, 20, F), copy_of (M,)) of the shapes and of `copies` randomly
    turned copies of each (about +Z only when the collection is aligned), or None once cancelled."""
    from shapespace.light_field import light_field_descriptor
    from shapespace.mesh_arrays import MeshArrays

    rng = np.random.default_rng(seed)
    own, turned, turned_of = [], [], []
    step = max(1, len(shapes) // 20)
    for i, shape in enumerate(shapes):
        if cancel.exists():
            return None
        own.append(light_field_descriptor(shape, aligned=aligned))
        for _ in range(copies):
            rotation = turn(rng, about_up_only=aligned)
            copy = MeshArrays(shape.name, shape.vertices @ rotation.T.astype(np.float32), shape.face_sizes,
                              shape.corner_vertices)
            turned.append(light_field_descriptor(copy, aligned=aligned))
            turned_of.append(i)
        if (i + 1) % step == 0 or i + 1 == len(shapes):
            line = f"describing shapes {i + 1}/{len(shapes)}" + (f" (and {copies} turned copies each)" if copies else "")
            emit({"type": "progress", "fraction": start + (end - start) * (i + 1) / len(shapes), "short": line,
                  "line": line})
    own = np.asarray(own, np.float32)
    turned = np.asarray(turned, np.float32).reshape((-1,) + own.shape[1:])
    return own, turned, np.asarray(turned_of, np.int64)


def run_view_network(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Describe every shape by its light field (and turned copies), train the multi-view network with
    metric learning, measure it against softmax regression on held-out shapes, refit on every shape,
    and keep the library (each shape's learned view descriptors) in the model file."""
    from shapespace.light_field import LIGHT_FIELD_LAYOUT

    from .training_plot import plot_curves
    from .view_network import fit_view_network

    cancel = workdir / "cancel"
    shapes = meshes_from_arrays(arrays, spec["shape_names"])
    described = light_field_of_shapes(shapes, bool(spec.get("aligned", False)), cancel, 0.0, 0.3,
                                      copies=int(spec.get("copies", 2)), seed=spec["seed"])
    if described is None:
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
    descriptors, copies, copy_of = described
    labels = arrays["labels"].astype(np.int64)
    history = {"train_loss": [], "val_loss": []}
    stages = {"name": ""}

    def on_progress(fraction, p):
        history["train_loss"].append(p.train_loss)
        history["val_loss"].append(None)
        line = f"{stages['name']}: epoch {p.epoch}/{p.epochs} · loss {p.train_loss:.3g}"
        emit({"type": "progress", "fraction": 0.3 + 0.7 * fraction, "line": line, "curves": False,
              "short": line})

    def on_stage(name, fraction):
        stages["name"] = name

    network, metrics, stopped = fit_view_network(
        descriptors, labels, spec["classes"], copies=(copies, copy_of), held_out=spec["validation_fraction"],
        epochs=spec["epochs"], seed=spec["seed"], device=spec.get("device", "cpu"), progress=on_progress,
        should_stop=cancel.exists, stage=on_stage)
    if stopped:
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
    if history["train_loss"]:
        write_curves(workdir / "curves.npy", plot_curves({"train_loss": history["train_loss"][-spec["epochs"]:]},
                                                         *PLOT_SIZE, log_scale=True))
    confusion = metrics.pop("confusion", np.zeros((len(spec["classes"]),) * 2, np.int64))
    network.save(workdir / "model.npz", collection=spec["collection"], metrics=metrics, extra={
        "library": network.view_descriptors(descriptors), "library_labels": labels, "confusion": confusion},
        library_names=spec["shape_names"],
        info={"layout": LIGHT_FIELD_LAYOUT, "aligned": bool(spec.get("aligned", False))})
    plain = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    return {"type": "done", "stop_reason": "finished", "ok": True, "message": "trained", "metrics": plain,
            "kind": "view_network"}


def run_sketch_retrieval(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Draw every shape's normalised line drawings from the views people draw from, train a sketch encoder
    on the Quick, Draw! doodles when they are there (Quick, Draw! dataset, Google; CC BY 4.0), start the
    two-branch sketch network from it, measure it with sketches drawn from held-out shapes, and keep the
    library's view embeddings in the model file."""
    from shapespace.quickdraw import find_quickdraw, load_quickdraw

    from .sketch import SketchEncoder, SketchRetrieval, hand_drawn, library_drawings, normalize_sketches
    from .trainer import split_indices
    from .training_plot import plot_curves

    cancel = workdir / "cancel"
    cancelled = {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
    device, size = spec.get("device", "cpu"), int(spec["resolution"])
    shapes = meshes_from_arrays(arrays, spec["shape_names"])

    def on_shape(done, total):
        line = f"drawing views {done}/{total}"
        emit({"type": "progress", "fraction": 0.1 * done / total, "short": line, "line": line})

    drawings = library_drawings(shapes, size=size, progress=on_shape, should_stop=cancel.exists)
    if drawings is None:
        return cancelled
    lines, outlines = drawings["lines"], drawings["outlines"]
    labels = arrays["labels"].astype(np.int64)
    train_idx, held_idx = split_indices(len(lines), spec["validation_fraction"], spec["seed"])
    metrics = {"n_train": int(len(train_idx)), "n_held_out": int(len(held_idx))}
    encoder, start = None, 0.1
    doodles = find_quickdraw([spec["quickdraw"]] if spec.get("quickdraw") else []) \
        if spec.get("doodle_epochs", 0) > 0 else None
    if doodles is not None:  # human stroke statistics first: a doodle classifier starts the sketch branch
        images, doodle_labels, doodle_classes = load_quickdraw(doodles)
        emit({"type": "progress", "fraction": 0.1, "short": "normalising doodles",
              "line": f"normalising {len(images)} Quick, Draw! doodles"})
        encoder = SketchEncoder.create(doodle_classes, size, seed=spec["seed"])

        def on_doodle_epoch(progress):
            emit({"type": "progress", "fraction": 0.1 + 0.3 * progress.fraction, "line": "doodles: " + progress.line(),
                  "short": f"doodles: epoch {progress.epoch}/{progress.epochs}"})

        result = encoder.fit(normalize_sketches(images, size), doodle_labels, epochs=int(spec["doodle_epochs"]),
                             seed=spec["seed"], device=device, progress=on_doodle_epoch, should_stop=cancel.exists)
        if result.stop_reason == "cancelled":
            return cancelled
        if (doodles / "quickdraw-test").is_dir():  # the measure; training needs only quickdraw-train/
            test_images, test_labels, _ = load_quickdraw(doodles, "test", doodle_classes)
            metrics["doodle_top1"] = float((encoder.predict(normalize_sketches(test_images, size)) == test_labels).mean())
        start = 0.4
    model = SketchRetrieval.create(size, seed=spec["seed"], classes=len(spec["classes"]), encoder=encoder)
    on_epoch, _ = epoch_reporter(workdir, start)
    result = model.fit(lines[train_idx], labels[train_idx], outlines[train_idx], pairs=spec["pairs"],
                       epochs=spec["epochs"], seed=spec["seed"], device=device, progress=on_epoch,
                       should_stop=cancel.exists)
    if result.stop_reason == "cancelled":
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": result.message}
    write_curves(workdir / "curves.npy", plot_curves(result.history, *PLOT_SIZE, log_scale=True))
    if len(held_idx):
        rng = np.random.default_rng(spec["seed"])
        library = model.library(lines[train_idx])
        first, precisions = [], []
        for i in held_idx:  # a sketch of each held-out shape's outline, searched among the others
            sketch = normalize_sketches([hand_drawn(outlines[i, rng.integers(lines.shape[1])], rng)], size)[0]
            similarity = model.search(sketch, library, labels[train_idx])
            relevant = labels[train_idx][np.argsort(-similarity)] == labels[i]
            first.append(bool(relevant[0]))
            if relevant.any():
                hits = np.cumsum(relevant)
                precisions.append(float((hits[relevant] / (np.flatnonzero(relevant) + 1)).mean()))
        metrics["top1"], metrics["sketch_map"] = float(np.mean(first)), float(np.mean(precisions))
    model.save(workdir / "model.npz", model.library(lines), spec["shape_names"], labels, spec["classes"],
               collection=spec["collection"], metrics=metrics, directions=drawings["directions"])
    return {"type": "done", "stop_reason": result.stop_reason, "ok": result.ok, "message": result.message,
            "metrics": metrics, "kind": "sketch_retrieval"}


def run_volumetric_model(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Voxelise every shape (each normalised into its own grid), train the per-voxel logistic
    regression or the conditional VAE (or, for kind 'implicit_sdf', hand over to run_implicit_model), and measure completion (and, for the VAE, classification)
    on the held-out shapes."""
    from shapespace.voxel_cache import VoxelCache, voxelize_shapes

    from .trainer import split_indices
    from .training_plot import plot_curves
    from .volumetric import (VAE_KIND, Conditions, VoxelLogistic, VoxelVAE, class_pieces, completion_scores,
                             fit_size_model)

    from .implicit_decoder import IMPLICIT_KIND

    if spec["kind"] == IMPLICIT_KIND:
        return run_implicit_model(arrays, spec, workdir)
    cancel = workdir / "cancel"
    shapes = meshes_from_arrays(arrays, spec["shape_names"])
    resolution = int(spec["resolution"])

    def on_shape(done, total):
        line = f"voxelising shapes {done}/{total}"
        emit({"type": "progress", "fraction": 0.05 * done / total, "short": line, "line": line})

    cache = VoxelCache(spec["voxel_cache"]) if spec.get("voxel_cache") else None  # a second learn reads, not voxelises
    voxelized = voxelize_shapes(shapes, resolution, cache, progress=on_shape, should_stop=cancel.exists)
    if voxelized is None:
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
    grids, sizes = voxelized
    empty = [shape.name for shape, grid in zip(shapes, grids) if not grid.any()]
    if empty and 2 * len(empty) >= len(shapes):  # a model of (mostly) nothing: refuse before training
        # (a few thin shapes that vanish at a coarse resolution are tolerated: the others carry the model)
        listed = ", ".join(f"'{n}'" for n in empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise ValueError(f"{len(empty)} shape{'' if len(empty) == 1 else 's'} of '{spec['collection']}' "
                         f"voxelise{'s' if len(empty) == 1 else ''} to an empty {resolution}³ grid ({listed}): they "
                         "enclose no volume (flat or open surfaces); give them thickness (Solidify modifier, "
                         "applied) or leave them out")
    labels = arrays["labels"].astype(np.int64)
    attributes = arrays["attributes"].astype(np.float64)
    train_idx, held_idx = split_indices(len(grids), spec["validation_fraction"], spec["seed"])
    conditions = Conditions.fit(labels[train_idx], attributes[train_idx], spec["classes"], spec["attribute_names"])
    vectors = conditions.vectors(labels, attributes)
    on_epoch, _ = epoch_reporter(workdir, 0.05)
    if spec["kind"] == VAE_KIND:
        model = VoxelVAE.create(conditions, resolution, seed=spec["seed"])
        result = model.fit(grids[train_idx], labels[train_idx], vectors[train_idx], epochs=spec["epochs"],
                           seed=spec["seed"], progress=on_epoch, should_stop=cancel.exists)
    else:
        model = VoxelLogistic.create(conditions, resolution, seed=spec["seed"])
        result = model.fit(grids[train_idx], vectors[train_idx], epochs=spec["epochs"], l1=spec.get("l1", 0.0),
                           l2=spec.get("l2", 1e-4), seed=spec["seed"], progress=on_epoch, should_stop=cancel.exists)
    if result.stop_reason == "cancelled":
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": result.message}
    write_curves(workdir / "curves.npy", plot_curves(result.history, *PLOT_SIZE, log_scale=True))
    model.size_weights = fit_size_model(vectors[train_idx], sizes[train_idx])
    model.pieces = class_pieces(grids[train_idx], labels[train_idx], len(spec["classes"]))
    metrics = {"n_train": int(len(train_idx)), "n_held_out": int(len(held_idx)),
               "seconds_per_epoch": float(result.seconds / max(result.epochs_run, 1))}
    if len(held_idx):
        emit({"type": "progress", "fraction": 0.99, "short": "measuring on held-out shapes",
              "line": "completing held-out shapes with 40% removed"})
        metrics["completion_iou"] = float(np.mean(completion_scores(model, grids[held_idx], 0.4, spec["seed"])))
        if spec["kind"] == VAE_KIND:
            metrics["accuracy"] = float((model.classify(grids[held_idx]).argmax(axis=1) == labels[held_idx]).mean())
    model.save(workdir / "model.npz", collection=spec["collection"], metrics=metrics,
               info={"frame": "BOUNDS", "training_shapes": list(spec["shape_names"])})
    return {"type": "done", "stop_reason": result.stop_reason, "ok": result.ok, "message": result.message,
            "metrics": metrics, "kind": spec["kind"]}


class _Cancelled(Exception):
    """Raised from a progress callback once the job's cancel file exists (shapespace loops have no
    should_stop of their own)."""


def class_medoids(grids, labels, classes: int) -> np.ndarray:
    """(C,) index of each class's medoid (highest mean inside-IoU to its class), -1 for an empty class."""
    out = np.full(classes, -1, np.int64)
    for k in range(classes):
        members = np.flatnonzero(labels == k)
        if len(members) == 0:
            continue
        flat = (grids[members] < 0).reshape(len(members), -1).astype(np.float32)
        both = flat @ flat.T
        union = flat.sum(1)[:, None] + flat.sum(1)[None] - both
        out[k] = members[int(np.argmax((both / np.maximum(union, 1)).mean(axis=1)))]
    return out


def level_set_points(grid, low, pitch: float, level: float = 0.0, count: int = 800) -> np.ndarray:
    """Up to `count` voxel centres (evenly picked) within one voxel of a signed-distance grid's level
    set: the surface, as points for a Chamfer distance."""
    r = grid.shape[0]
    near = np.flatnonzero(np.abs(np.asarray(grid).ravel() - level) < pitch)
    if len(near) == 0:  # no voxel that close: the nearest ones
        near = np.argsort(np.abs(np.asarray(grid).ravel() - level))[:20]
    near = near[np.linspace(0, len(near) - 1, min(count, len(near))).astype(np.int64)]
    index = np.stack(np.unravel_index(near, (r, r, r)), axis=1)
    return np.asarray(low, np.float64) + (index + 0.5) * pitch


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance of two point sets: mean nearest distance one way plus the other."""
    d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    return float(d.min(axis=1).mean() + d.min(axis=0).mean())


def implicit_generation_scores(model, grids, labels, pitch: float, per_class: int = 4, most: int = 12,
                               seed: int = 0) -> dict:
    """Generated shapes at the training resolution, per class as many as it has training shapes
    (at least `per_class`, at most `most`): the share whose nearest training grid (inside IoU) is of
    the class asked for, the share in as many pieces as the class has, the closest copy (IoU to any
    training shape), and the coverage — the share of those classes' training shapes that are some
    generated shape's nearest (a model that makes one shape per class over and over covers little)."""
    from shapespace.mesh_cleanup import clean_surface

    resolution = grids.shape[1]
    low = model.frame[:3]
    right, single, total, closest = 0, 0, 0, 0.0
    covered, coverable = set(), 0
    inside = (grids < 0).reshape(len(grids), -1).astype(np.float32)
    for k, name in enumerate(model.conditions.classes):
        members = int((labels == k).sum())
        if not members:
            continue
        coverable += members
        for grid in model.generate(name, min(max(per_class, members), most), seed=seed + k, resolution=resolution):
            g = (grid < 0).ravel().astype(np.float32)
            both = inside @ g
            ious = both / np.maximum(inside.sum(1) + g.sum() - both, 1)
            nearest = int(np.argmax(ious))
            right += int(labels[nearest] == k)
            covered.add(nearest)
            closest = max(closest, float(ious.max()))
            try:
                _, report = clean_surface(grid - model.surface_level(), low, pitch, int(model.pieces[k]))
                single += int(report.significant_after <= int(model.pieces[k]))
            except ValueError:  # an empty shape counts as neither
                pass
            total += 1
    return {"class_match": right / max(total, 1), "single_piece": single / max(total, 1), "closest_copy_iou": closest,
            "coverage": len(covered) / max(coverable, 1), "generated": total}


def run_implicit_model(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Canonical pose (or the collection's own frame when it is aligned), signed-distance grids and
    training points of every shape, the implicit decoder trained on them with early stopping on the
    completion of held-out shapes, then per class its typical piece count, reference grid (to align
    new shapes), frame back to the collection (from its medoid) and a size model; measured on the
    held-out shapes (completion IoU) and on a few generated ones (class match, single piece)."""
    from shapespace.mesh_cleanup import typical_piece_count
    from shapespace.signed_distance import class_references, prepare_signed_distances

    from .implicit_decoder import IMPLICIT_KIND, ImplicitSDF, inside_iou
    from .trainer import split_indices
    from .training_plot import plot_curves
    from .volumetric import Conditions, fit_size_model, half_space_mask

    cancel = workdir / "cancel"
    cancelled = {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
    shapes = meshes_from_arrays(arrays, spec["shape_names"])
    labels = arrays["labels"].astype(np.int64)
    attributes = arrays["attributes"].astype(np.float64)
    classes = list(spec["classes"])
    resolution, aligned, seed = int(spec["resolution"]), bool(spec.get("aligned", False)), int(spec["seed"])
    train_idx, held_idx = split_indices(len(shapes), spec["validation_fraction"], seed)
    counts = np.bincount(labels[train_idx], minlength=len(classes))
    few = [classes[k] for k in range(len(classes)) if counts[k] < 2]
    if few:
        listed = ", ".join(f"'{c}' ({counts[classes.index(c)]})" for c in few)
        raise ValueError(f"The implicit decoder needs at least 2 training shapes of every class of "
                         f"'{spec['collection']}'; {listed} had fewer after holding out "
                         f"{spec['validation_fraction']:.0%}: add shapes of that class or lower Held Out")

    def phase(start: float, end: float):
        def report(fraction, message):
            if cancel.exists():
                raise _Cancelled
            emit({"type": "progress", "fraction": start + (end - start) * fraction, "short": message, "line": message})
        return report

    from shapespace.voxel_cache import VoxelCache

    cache = VoxelCache(spec["voxel_cache"]) if spec.get("voxel_cache") else None  # a second learn reads its grids
    try:
        data = prepare_signed_distances([shapes[i] for i in train_idx], labels[train_idx], resolution=resolution,
                                        samples=int(spec.get("samples", 2048)), aligned=aligned,
                                        classes=len(classes), seed=seed, progress=phase(0.0, 0.25), cache=cache)
        references = class_references(data.grids, data.labels, len(classes))
        held = None
        if len(held_idx):
            held = prepare_signed_distances([shapes[i] for i in held_idx], labels[held_idx], resolution=resolution,
                                            samples=0, aligned=aligned, frame=data.frame, truncation=data.truncation,
                                            references=None if aligned else references, progress=phase(0.25, 0.3),
                                            cache=cache)
    except _Cancelled:
        return cancelled
    empty = [shapes[train_idx[i]].name for i, g in enumerate(data.grids) if not (g < 0).any()]
    if empty and 2 * len(empty) >= len(data.grids):  # a few thin shapes (a sheet-thin table top) are kept:
        # their training points near the surface still carry the sign; a model of mostly nothing is refused
        listed = ", ".join(f"'{n}'" for n in empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise ValueError(f"{len(empty)} shape{'' if len(empty) == 1 else 's'} of '{spec['collection']}' enclose "
                         f"no volume at {resolution}³ ({listed}): flat or open surfaces; give them thickness "
                         "(Solidify modifier, applied) or leave them out")
    conditions = Conditions.fit(labels[train_idx], attributes[train_idx], classes, spec["attribute_names"])
    vectors = conditions.vectors(labels, attributes)
    model = ImplicitSDF.create(conditions, data.frame, data.truncation, latent=int(spec.get("latent", 32)), seed=seed,
                               device=spec.get("device", "cpu"))
    rng = np.random.default_rng(seed)
    validation = None
    if held is not None:
        validation = (held.grids, [half_space_mask(resolution, (g < 0).astype(np.float32), 0.4, rng)
                                   for g in held.grids])
    epochs = int(spec["epochs"])
    fit_report = phase(0.3, 0.92)

    def on_epoch(fraction, message):
        fit_report(fraction, message)

    try:
        result = model.fit(data.points, data.distances, data.labels, vectors[train_idx], data.grids, epochs=epochs,
                           points_per_shape=int(spec.get("points_per_shape", 1024)), validation=validation,
                           check_every=max(1, epochs // 4), check_steps=10, seed=seed, progress=on_epoch,
                           should_stop=cancel.exists)
    except _Cancelled:
        return cancelled
    if result.stop_reason == "cancelled" or cancel.exists():
        return cancelled
    if result.losses:
        write_curves(workdir / "curves.npy", plot_curves({"train_loss": result.losses}, *PLOT_SIZE, log_scale=True))
    emit({"type": "progress", "fraction": 0.93, "short": "counting pieces and measuring",
          "line": "counting each class's pieces, measuring on held-out and generated shapes"})
    model.pieces = np.array([typical_piece_count(data.grids[data.labels == k], data.frame.low, data.frame.pitch)
                             for k in range(len(classes))], np.int64)
    model.references = references
    # Generated shapes come back upright like the training collection: the frame of the class's medoid
    # (its pose and axis turn undone), scaled by a size model of the condition (canonical pose made
    # every shape the same size).
    medoids = class_medoids(data.grids, data.labels, len(classes))
    to_collection = np.repeat(np.eye(3)[None], len(classes), axis=0)
    for k, i in enumerate(medoids):
        if i >= 0:
            to_collection[k] = data.rotations[i] @ data.poses[i].rotation
    scales = np.array([pose.scale for pose in data.poses])
    # A partial shape's own pose is off (half a chair is centred on its half and scaled up): for an aligned
    # collection, completion takes centre and scale from the bounding box instead, through these ratios.
    boxes = np.array([[shapes[i].vertices.min(axis=0), shapes[i].vertices.max(axis=0)] for i in train_idx])
    diagonals = np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1) / scales
    offsets = ((boxes[:, 0] + boxes[:, 1]) / 2 - np.array([pose.centre for pose in data.poses])) / scales[:, None]
    box_ratio = [float(np.mean(diagonals[data.labels == k])) if (data.labels == k).any() else float(diagonals.mean())
                 for k in range(len(classes))]
    box_offset = [offsets[data.labels == k].mean(axis=0).tolist() if (data.labels == k).any()
                  else offsets.mean(axis=0).tolist() for k in range(len(classes))]
    size_weights = fit_size_model(vectors[train_idx], scales)
    metrics = {"n_train": int(len(train_idx)), "n_held_out": int(len(held_idx)),
               "seconds_per_epoch": float(result.seconds / max(result.epochs_run, 1))}
    if held is not None:
        ious, chamfers = [], []
        for g, m in zip(*validation):
            completed = model.complete(g, m, steps=20)[0]
            ious.append(inside_iou(completed, g))
            # Chamfer in shares of the grid's cube: the completed surface against the held-out one
            chamfers.append(chamfer_distance(level_set_points(completed, data.frame.low, data.frame.pitch,
                                                              model.surface_level()),
                                             level_set_points(g, data.frame.low, data.frame.pitch))
                            / (data.frame.pitch * resolution))
        metrics["completion_iou"], metrics["completion_chamfer"] = float(np.mean(ious)), float(np.mean(chamfers))
    metrics |= implicit_generation_scores(model, data.grids, data.labels, data.frame.pitch, seed=seed)
    model.save(workdir / "model.npz", collection=spec["collection"], metrics=metrics, info={
        "aligned": aligned, "training_shapes": [shapes[i].name for i in train_idx],
        "to_collection": to_collection.tolist(), "size_weights": size_weights.tolist(),
        "stop_reason": result.stop_reason, "box_ratio": box_ratio, "box_offset": box_offset})
    return {"type": "done", "stop_reason": result.stop_reason, "ok": True, "message": result.message,
            "metrics": metrics, "kind": IMPLICIT_KIND}


def run_light_fields(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Describe shapes by their light fields for classifying and searching (no training): the flagged
    ones as queries (both quarter turns), the rest as library shapes; written to light_fields.npz."""
    from shapespace.light_field import light_field_descriptor, light_field_query

    cancel = workdir / "cancel"
    shapes = meshes_from_arrays(arrays, spec["shape_names"])
    is_query = arrays["is_query"].astype(bool)
    queries, library = [], []
    step = max(1, len(shapes) // 20)
    for i, shape in enumerate(shapes):
        if cancel.exists():
            return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
        try:
            if is_query[i]:
                queries.append(light_field_query(shape, bool(spec["aligned"])))
            else:
                library.append(light_field_descriptor(shape, aligned=bool(spec["aligned"])))
        except ValueError as error:
            raise ValueError(f"'{shape.name}' cannot be described: {error}") from None
        if (i + 1) % step == 0 or i + 1 == len(shapes):
            line = f"describing shapes {i + 1}/{len(shapes)}"
            emit({"type": "progress", "fraction": (i + 1) / len(shapes), "short": line, "line": line})
    empty = np.zeros((0,), np.float32)
    np.savez(workdir / "light_fields.npz", queries=np.asarray(queries, np.float32) if queries else empty,
             library=np.asarray(library, np.float32) if library else empty)
    return {"type": "done", "stop_reason": "finished", "ok": True, "message": "described", "metrics": {}}


RESULT_FILE = "result.npz"  # what a computing task (no model file) leaves for the add-on, written by write_archive


def run_articulated_space(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Learn Shape Space (Articulated): learning.articulated_space.learn_articulated_collection on the
    collection's meshes and rig; the space, its total variance, the training meshes' coefficients and
    poses go to RESULT_FILE."""
    from .articulated_space import LearningStopped, learn_articulated_collection
    from .model_files import write_archive

    cancel = workdir / "cancel"

    def progress(fraction, line):
        emit({"type": "progress", "fraction": fraction, "short": f"articulated space: {line}", "line": line})

    try:
        space, total, coefficients, poses = learn_articulated_collection(
            arrays["stacked"], arrays["parents"], arrays["weights"], arrays["head_regressor"], arrays["rest_template"],
            arrays["person_ids"] if "person_ids" in arrays else None, k=spec.get("k"), variance=spec.get("variance"),
            joint_names=tuple(spec["bone_names"]), progress=progress, should_stop=cancel.exists)
    except LearningStopped:
        return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
    result = {name: array for name, array in space.to_arrays().items() if name != "joint_names"}
    result |= {"total_variance": np.array([total]), "coefficients": coefficients, "poses": poses}
    write_archive(workdir / RESULT_FILE, result, {"kind": "articulated_space_result"})
    return {"type": "done", "stop_reason": "finished", "ok": True, "message": "learned", "metrics": {}}


def run_template_fit(arrays: dict, spec: dict, workdir: Path) -> dict:
    """Fit Template (Learn Shape Space): the template deformed onto every shape, a shape whose fit
    misses by more than `max_residual` of its size (or has no surface) left out by name. To
    RESULT_FILE: the fitted vertices of the kept shapes, their indices and residual ratios, and the
    refused shapes' indices and ratios (−1: no surface)."""
    from shapespace.mesh_arrays import MeshArrays
    from shapespace.template_fitting import FitSettings, fit_template

    from .model_files import write_archive

    cancel = workdir / "cancel"
    shapes = meshes_from_arrays(arrays, spec["shape_names"])
    template = MeshArrays(spec["template_name"], arrays["template_vertices"], arrays["template_face_sizes"],
                          arrays["template_corners"])
    settings = FitSettings(**{key: tuple(value) if isinstance(value, list) else value
                              for key, value in spec["settings"].items()})
    ends = np.cumsum(arrays["marker_counts"])
    kept, fitted, residuals, refused, refused_ratios = [], [], [], [], []
    for i, shape in enumerate(shapes):
        if cancel.exists():
            return {"type": "done", "stop_reason": "cancelled", "ok": False, "message": "cancelled"}
        start = ends[i] - arrays["marker_counts"][i]
        template_markers = arrays["marker_template"][start:ends[i]] if ends[i] > start else None
        target_markers = arrays["marker_target"][start:ends[i]] if ends[i] > start else None
        try:
            fit = fit_template(template, shape, settings, template_markers, target_markers)
        except ValueError as error:  # e.g. a shape without surface: left out, by name
            refused.append(i)
            refused_ratios.append(-1.0)
            print(f"[Design Space] '{shape.name}' was left out: {error}", file=sys.stderr)
            continue
        if fit.residual_ratio > float(spec["max_residual"]):
            refused.append(i)
            refused_ratios.append(fit.residual_ratio)
        else:
            kept.append(i)
            fitted.append(fit.vertices)
            residuals.append(fit.residual_ratio)
        line = f"fitted {i + 1}/{len(shapes)}: '{shape.name}' residual {100 * fit.residual_ratio:.2f}%"
        emit({"type": "progress", "fraction": (i + 1) / len(shapes), "short": line, "line": line})
    vertex_count = len(template.vertices)
    write_archive(workdir / RESULT_FILE, {
        "vertices": np.asarray(fitted, np.float32).reshape(len(fitted), vertex_count, 3),
        "kept": np.asarray(kept, np.int64), "residuals": np.asarray(residuals, np.float64),
        "refused": np.asarray(refused, np.int64), "refused_ratios": np.asarray(refused_ratios, np.float64)},
        {"kind": "template_fit_result"})
    return {"type": "done", "stop_reason": "finished", "ok": True, "message": "fitted", "metrics": {}}


TASKS = {"attribute_predictor": run_attribute_predictor, "multiview_classifier": run_multiview_classifier,
         "view_network": run_view_network,
         "sketch_retrieval": run_sketch_retrieval, "volumetric_model": run_volumetric_model,
         "light_fields": run_light_fields, "articulated_space": run_articulated_space,
         "template_fit": run_template_fit}


def main(argv) -> int:
    from .model_files import read_archive

    job_path, workdir = Path(argv[0]), Path(argv[1])
    if hasattr(os, "nice"):  # the interface (and its software renderer, if any) gets the CPU first
        os.nice(max(0, WORKER_NICENESS - os.nice(0)))  # absolute: under a niced script, not 10 more
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
