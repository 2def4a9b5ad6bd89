"""Shared by classify and find_similar: the active recognition model (loaded once per file), the
light-field descriptors of objects (computed once per mesh content, kept for the session), and the
job that computes the missing ones with progress and Cancel."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .background_jobs import Job, Progress
from .mesh_bridge import read_shape
from .model_store import absolute_path, active_model

RECOGNITION_KINDS = ("view_network", "mvcnn_classifier")
DESCRIPTOR_CACHE_LIMIT = 20000  # about 130 MB of light fields

_models: dict = {}
_light_fields: dict = {}


def active_recognition_entry(scene):
    """The active model's entry if it recognises shapes (read from the list: no file is opened)."""
    entry = active_model(scene)
    return entry if entry is not None and entry.kind in RECOGNITION_KINDS else None


def load_recognition_model(entry):
    """(model, metadata, extra arrays) of a recognition entry, loaded once per file version."""
    from ..learning.multiview import MultiViewClassifier
    from ..learning.view_network import ViewNetwork

    path = Path(absolute_path(entry.filepath))
    if not path.is_file():
        raise ValueError(f"The model file of '{entry.name}' is missing ({path}); train it again or load the file "
                         "with Load Model File")
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _models:
        _models.clear()
        loader = ViewNetwork.load if entry.kind == "view_network" else MultiViewClassifier.load
        loaded = loader(path)
        if entry.kind == "view_network":
            from ..shapespace.light_field import LIGHT_FIELD_LAYOUT

            layout = loaded[1]["info"].get("layout", "")
            if layout != LIGHT_FIELD_LAYOUT:
                raise ValueError(f"'{entry.name}' was trained on light fields of another layout ({layout or 'unknown'}; "
                                 f"this Design Space computes {LIGHT_FIELD_LAYOUT}); train it again on "
                                 f"'{entry.collection}'")
        _models[key] = loaded
    return _models[key]


def active_classifier(context):
    """(model, metadata, extra arrays, entry) of the active model, which must recognise shapes."""
    entry = active_recognition_entry(context.scene)
    if entry is None:
        raise ValueError("Make a classifier the active model first (Train Classifier, or pick one in the list)")
    return (*load_recognition_model(entry), entry)


def shape_views(objects, resolution: int, directions=None) -> np.ndarray:
    """(N, views, resolution, resolution) shaded views of objects (each with its mesh children)."""
    from ..shapespace.views import render_views

    return np.array([render_views(read_shape(obj, children=obj.children_recursive), directions,
                                  resolution=resolution)["shaded"] for obj in objects], dtype=np.float32)


THUMBNAIL_DIRECTION = np.array([[0.66, -0.66, 0.36]])  # a three-quarter view from the front right, above


def thumbnail_views(objects) -> np.ndarray:
    """One shaded 64-px three-quarter view per object: (N, 64, 64)."""
    return shape_views(objects, 64, THUMBNAIL_DIRECTION)[:, 0]


def _content_key(shape, aligned: bool, query: bool) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for array in (shape.vertices, shape.face_sizes, shape.corner_vertices):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest(), bool(aligned), bool(query)


def read_shapes(objects) -> list:
    """MeshArrays of objects (each with its mesh children), named by the object."""
    return [read_shape(obj, children=obj.children_recursive) for obj in objects]


def describe(shape, aligned: bool, query: bool = False) -> np.ndarray:
    """The light field of one shape — as a query (both quarter turns, (2, 20, F)) or as a library shape
    ((20, F)); a shape with no surface is refused by name."""
    from ..shapespace.light_field import light_field_descriptor, light_field_query

    try:
        return light_field_query(shape, aligned) if query else light_field_descriptor(shape, aligned=aligned)
    except ValueError as error:
        raise ValueError(f"'{shape.name}' cannot be described: {error}") from None


class LightFieldJob(Job):
    """Computes the light fields the session's cache lacks (off the main thread, pure numpy), then hands
    them to `finish(context, queries (Q, 2, 20, F), library (N, 20, F))` on the main thread. The first
    `queries` shapes are described as queries (compared over all 24 axis rotations), the rest as library."""

    push_undo = True

    def __init__(self, label: str, shapes, aligned: bool, finish, queries: int = 0):
        self.label, self.shapes, self.aligned, self.finish, self.queries = label, shapes, aligned, finish, queries
        self.keys = [_content_key(shape, aligned, i < queries) for i, shape in enumerate(shapes)]
        self.known = [_light_fields.get(key) for key in self.keys]

    def work(self, report, should_stop):
        missing = [i for i, d in enumerate(self.known) if d is None]
        computed = {}
        for done, i in enumerate(missing):
            if should_stop():
                return None
            computed[i] = describe(self.shapes[i], self.aligned, query=i < self.queries)
            if done % 20 == 19:
                report(Progress((done + 1) / len(missing), f"describing shapes {done + 1}/{len(missing)}"))
        return computed

    def apply(self, context, computed):
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
