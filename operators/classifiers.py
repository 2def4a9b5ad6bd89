"""Shared by classify and find_similar: the active multi-view classifier (loaded once per file) and
the views of the shapes asked about."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .mesh_bridge import read_shape
from .model_store import absolute_path, active_model

_cache: dict = {}


def active_classifier(context):
    """(classifier, metadata, extra arrays, path) of the active model, which must be a classifier."""
    from ..learning.multiview import MVCNN_KIND, MultiViewClassifier

    entry = active_model(context.scene)
    if entry is None or entry.kind != MVCNN_KIND:
        raise ValueError("Make a classifier the active model first (Train Classifier, or pick one in the list)")
    path = Path(absolute_path(entry.filepath))
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _cache:
        _cache.clear()
        _cache[key] = (*MultiViewClassifier.load(path), path)
    return _cache[key]


def shape_views(objects, resolution: int) -> np.ndarray:
    """(N, views, resolution, resolution) shaded views of objects (each with its mesh children)."""
    from ..shapespace.views import render_views

    return np.array([render_views(read_shape(obj, children=obj.children_recursive), resolution=resolution)["shaded"]
                     for obj in objects], dtype=np.float32)
