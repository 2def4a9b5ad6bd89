"""Shared by classify and find_similar: the active recognition model (loaded once per file), the
light-field descriptors of objects (computed once per mesh content, kept for the session), and the
job that computes the missing ones with progress and Cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..mesh_bridge import read_shape
from ..model_store import absolute_path, active_model
from ..worker_jobs import WorkerJob, job_arrays

RECOGNITION_KINDS = ("view_network", "mvcnn_classifier")
DESCRIPTOR_CACHE_LIMIT = 20000  # about 130 MB of light fields

_models: dict = {}
_light_fields: dict = {}


def active_recognition_entry(scene):
    """The active model's entry if it recognises shapes (read from the list: no file is opened)."""
    entry = active_model(scene)
    return entry if entry is not None and entry.kind in RECOGNITION_KINDS else None


def _model_file(entry) -> Path:
    path = Path(absolute_path(entry.filepath))
    if not path.is_file():
        raise ValueError(f"The model file of '{entry.name}' is missing ({path}); train it again or load the file "
                         "with Load Model File")
    return path


def _check_layout(entry, metadata) -> None:
    """A multi-view network compares light fields of one layout: refuse another by name."""
    from ...shapespace.light_field import LIGHT_FIELD_LAYOUT

    layout = metadata["info"].get("layout", "")
    if layout != LIGHT_FIELD_LAYOUT:
        raise ValueError(f"'{entry.name}' was trained on light fields of another layout ({layout or 'unknown'}; "
                         f"this Design Space computes {LIGHT_FIELD_LAYOUT}); train it again on '{entry.collection}'")


def load_recognition_model(entry):
    """(model, metadata, extra arrays) of a recognition entry, loaded once per file version."""
    from ...learning.multiview import MultiViewClassifier
    from ...learning.view_network import ViewNetwork

    path = _model_file(entry)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _models:
        _models.clear()
        loader = ViewNetwork.load if entry.kind == "view_network" else MultiViewClassifier.load
        loaded = loader(path)
        if entry.kind == "view_network":
            _check_layout(entry, loaded[1])
        _models[key] = loaded
    return _models[key]


_metrics: dict = {}


def view_metric_of(entry):
    """(ViewMetric, metadata) of a multi-view network entry: its retrieval metric alone, read once per
    file version with numpy (Find Similar needs no PyTorch)."""
    from ...learning.view_network import load_view_metric

    path = _model_file(entry)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _metrics:
        _metrics.clear()
        metric, metadata = load_view_metric(path)
        _check_layout(entry, metadata)
        _metrics[key] = (metric, metadata)
    return _metrics[key]


def active_classifier(context):
    """(model, metadata, extra arrays, entry) of the active model, which must recognise shapes."""
    entry = active_recognition_entry(context.scene)
    if entry is None:
        raise ValueError("Make a classifier the active model first (Train Classifier, or pick one in the list)")
    return (*load_recognition_model(entry), entry)


def shape_views(objects, resolution: int, directions=None) -> np.ndarray:
    """(N, views, resolution, resolution) shaded views of objects (each with its mesh children)."""
    from ...shapespace.views import render_views

    return np.array([render_views(read_shape(obj, children=obj.children_recursive), directions,
                                  resolution=resolution)["shaded"] for obj in objects], dtype=np.float32)


THUMBNAIL_DIRECTION = np.array([[0.66, -0.66, 0.36]])  # a three-quarter view from the front right, above


def thumbnail_views(objects) -> np.ndarray:
    """One shaded 64-px three-quarter view per object: (N, 64, 64)."""
    return shape_views(objects, 64, THUMBNAIL_DIRECTION)[:, 0]


def _content_key(shape, aligned: bool, query: bool) -> tuple:
    from ...shapespace.mesh_arrays import content_digest

    return content_digest(shape), bool(aligned), bool(query)


def read_shapes(objects) -> list:
    """MeshArrays of objects (each with its mesh children), named by the object."""
    return [read_shape(obj, children=obj.children_recursive) for obj in objects]


def describe(shape, aligned: bool, query: bool = False) -> np.ndarray:
    """The light field of one shape — as a query (both quarter turns, (2, 20, F)) or as a library shape
    ((20, F)); a shape with no surface is refused by name."""
    from ...shapespace.light_field import light_field_descriptor, light_field_query

    try:
        return light_field_query(shape, aligned) if query else light_field_descriptor(shape, aligned=aligned)
    except ValueError as error:
        raise ValueError(f"'{shape.name}' cannot be described: {error}") from None


class LightFieldJob(WorkerJob):
    """Computes the light fields the session's cache lacks, then hands them to `finish(context, queries
    (Q, 2, 20, F), library (N, 20, F))` on the main thread. The first `queries` shapes are described as
    queries (compared over all 24 axis rotations), the rest as library. More than a few shapes are
    described in the worker process (numpy on a thread here would make the window stutter); a few are
    described here, where starting a process would cost more than the work."""

    push_undo = True
    IN_PROCESS_LIMIT = 3  # shapes: about 25 ms each, against ~0.5 s to start the worker

    def __init__(self, label: str, shapes, aligned: bool, finish, queries: int = 0):
        self.shapes, self.aligned, self.finish, self.queries = shapes, aligned, finish, queries
        self.keys = [_content_key(shape, aligned, i < queries) for i, shape in enumerate(shapes)]
        self.known = [_light_fields.get(key) for key in self.keys]
        self.missing = [i for i, d in enumerate(self.known) if d is None]
        if len(self.missing) > self.IN_PROCESS_LIMIT:
            wanted = [shapes[i] for i in self.missing]
            arrays = job_arrays(wanted, np.zeros((len(wanted), 1), np.float32))
            arrays["is_query"] = np.array([i < queries for i in self.missing], np.int8)
            super().__init__(label, arrays, {"task": "light_fields", "aligned": bool(aligned),
                                             "shape_names": [s.name for s in wanted]})
        else:
            self.label, self.workdir = label, None

    def work(self, report, should_stop):
        if self.workdir is None:
            computed = {}
            for i in self.missing:
                if should_stop():
                    return None
                computed[i] = describe(self.shapes[i], self.aligned, query=i < self.queries)
            return computed
        outcome = super().work(report, should_stop)
        if outcome.cancelled:
            return None
        with np.load(self.workdir / "light_fields.npz", allow_pickle=False) as described:
            queries, library = iter(described["queries"]), iter(described["library"])
            return {i: next(queries) if i < self.queries else next(library) for i in self.missing}

    def discard(self, reason: str) -> None:
        if self.workdir is not None:
            self._clean()

    def apply(self, context, computed):
        self.discard("done")
        if computed is None:
            return 'INFO', f"{self.label} cancelled; nothing was changed"
        if len(_light_fields) + len(computed) > DESCRIPTOR_CACHE_LIMIT:
            _light_fields.clear()
        for i, descriptor in computed.items():
            _light_fields[self.keys[i]] = descriptor
        every = [computed[i] if d is None else d for i, d in enumerate(self.known)]
        queries = np.stack(every[:self.queries]) if self.queries else np.zeros((0, 2, 20, 0), np.float32)
        library = np.stack(every[self.queries:]) if len(every) > self.queries else np.zeros((0, 20, 0), np.float32)
        return self.finish(context, queries, library)
