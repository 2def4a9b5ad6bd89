"""Dataset files: a collection exported for training outside Blender.

An `.npz` of arrays (never pickled) with JSON metadata inside, written and verified like a model
file (see model_files.py): `features` (N, …) and optionally `targets` (N, …), plus the names of
their columns, which attribute each block of columns came from, the shapes' names and the
training collection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .model_files import ModelFileError, normalize_json, read_archive, write_archive
from .trainer import nonfinite_message

DATASET_FORMAT = "design_space.dataset"
DATASET_VERSION = 1
_FIX = "Export the dataset again from Blender (Design Space › Export Dataset)"


class DatasetFileError(ModelFileError):
    """A dataset file that cannot be used; the message names the file and the fix."""


@dataclass
class Dataset:
    features: np.ndarray  # (N, F) or (N, …) e.g. images
    targets: np.ndarray | None  # (N, T) or (N, …) or None
    feature_names: list = field(default_factory=list)  # one per column of a 2-D features array
    target_names: list = field(default_factory=list)
    feature_blocks: dict = field(default_factory=dict)  # attribute → [first column, end column)
    target_blocks: dict = field(default_factory=dict)
    sample_names: list = field(default_factory=list)
    collection: str = ""
    metadata: dict = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.features)

    @property
    def feature_layout(self) -> dict:
        """What a model trained on this dataset expects (compare with a model file's layout)."""
        return {"inputs": list(self.feature_names), "outputs": list(self.target_names),
                "input_shape": list(self.features.shape[1:]),
                "output_shape": list(self.targets.shape[1:]) if self.targets is not None else []}


def _columns(values, names, what: str):
    """(array, column names, blocks) from a dict of named arrays or one array."""
    if isinstance(values, dict):
        if not values:
            raise ValueError(f"No {what} given: the dict of {what} is empty")
        blocks, columns, parts = {}, [], []
        lengths = {name: len(np.asarray(a)) for name, a in values.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"The {what} disagree on the number of samples: "
                             + ", ".join(f"{k} has {n}" for k, n in lengths.items()))
        for name, a in values.items():
            a = np.asarray(a)
            if a.dtype.kind not in "biuf":
                raise ValueError(f"{what.capitalize()} {name!r} is not numeric (dtype {a.dtype}); encode it as numbers")
            a = a.reshape(len(a), -1).astype(np.float64 if a.dtype.kind == "f" else a.dtype, copy=False)
            start = sum(p.shape[1] for p in parts)
            blocks[str(name)] = [start, start + a.shape[1]]
            columns += [str(name)] if a.shape[1] == 1 else [f"{name}[{i}]" for i in range(a.shape[1])]
            parts.append(a)
        return np.concatenate(parts, axis=1), columns, blocks
    a = np.asarray(values)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"The {what} are not numeric (dtype {a.dtype})")
    if a.ndim == 0:
        raise ValueError(f"The {what} must have one row per sample, not be a single number")
    if a.ndim == 1:
        a = a[:, None]
    if names is None:
        names = [f"{what[0]}{i}" for i in range(a.shape[1])] if a.ndim == 2 else []
    names = [str(n) for n in names]
    if a.ndim == 2 and len(names) != a.shape[1]:
        raise ValueError(f"{len(names)} {what} names for {a.shape[1]} columns; give one name per column")
    blocks = {n: [i, i + 1] for i, n in enumerate(names)} if a.ndim == 2 else {}
    return a, names, blocks


def save_dataset(path, features, targets=None, *, feature_names=None, target_names=None, sample_names=None,
                 collection: str = "", metadata: dict | None = None) -> Path:
    """Write a dataset file atomically.

    `features`/`targets`: one array (N, F) / (N, …) with optional column names, or a dict
    attribute name → (N,) or (N, k) array (columns named `name` or `name[i]`).
    """
    x, x_names, x_blocks = _columns(features, feature_names, "features")
    arrays = {"features": x}
    y_names, y_blocks = [], {}
    if targets is not None:
        y, y_names, y_blocks = _columns(targets, target_names, "targets")
        if len(y) != len(x):
            raise ValueError(f"The features have {len(x)} samples but the targets {len(y)}; give one target row "
                             "per sample")
        arrays["targets"] = y
    if len(x) == 0:
        raise ValueError("The dataset is empty: there are no samples to save; add shapes to the collection")
    for name, a in arrays.items():
        message = nonfinite_message(a, name, x_names if name == "features" else y_names, sample_names)
        if message:
            raise ValueError(message)
    if sample_names is not None and len(sample_names) != len(x):
        raise ValueError(f"{len(sample_names)} sample names for {len(x)} samples")
    info = {
        "format": DATASET_FORMAT,
        "format_version": DATASET_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "collection": str(collection or ""),
        "feature_names": x_names,
        "target_names": y_names,
        "feature_blocks": x_blocks,
        "target_blocks": y_blocks,
        "sample_names": [str(s) for s in sample_names] if sample_names is not None else [],
        "user": normalize_json(metadata or {}),
    }
    write_archive(path, arrays, info)
    return Path(path)


def load_dataset(path, *, require_targets: bool = False) -> Dataset:
    """Read and check a dataset file; raise DatasetFileError naming the file and the fix."""
    arrays, info, _ = read_archive(path, "dataset file", DatasetFileError, _FIX)
    if info.get("format") != DATASET_FORMAT:
        raise DatasetFileError(path, f"this is not a Design Space dataset file (format {info.get('format')!r})",
                               "Choose a dataset exported by Design Space" + (
                                   "; this looks like a model file" if info.get("format") == "design_space.model"
                                   else ""))
    version = info.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise DatasetFileError(path, f"unreadable format version {version!r}", _FIX)
    if version > DATASET_VERSION:
        raise DatasetFileError(path, f"format version {version} is newer than this Design Space reads "
                               f"({DATASET_VERSION})", "Update the Design Space extension")
    if "features" not in arrays:
        raise DatasetFileError(path, "it holds no 'features' array", _FIX)
    x = arrays["features"]
    y = arrays.get("targets")
    if x.ndim == 0 or len(x) == 0:
        raise DatasetFileError(path, "the dataset is empty (no samples)", "Export a collection that holds shapes")
    if y is not None and (y.ndim == 0 or len(y) != len(x)):
        raise DatasetFileError(path, f"it has {len(x)} feature rows but {len(y) if y.ndim else 0} target rows", _FIX)
    if require_targets and y is None:
        raise DatasetFileError(path, "it has no targets to train on",
                               "Export the dataset with the attributes to predict chosen as targets")
    x_names = list(info.get("feature_names", []))
    y_names = list(info.get("target_names", []))
    if x.ndim == 2 and x_names and len(x_names) != x.shape[1]:
        raise DatasetFileError(path, f"{len(x_names)} feature names for {x.shape[1]} columns", _FIX)
    samples = list(info.get("sample_names", []))
    for name, a, names in (("features", x, x_names), ("targets", y, y_names)):
        if a is None:
            continue
        message = nonfinite_message(a, name, names or None, samples or None)
        if message:
            raise DatasetFileError(path, message[0].lower() + message[1:], _FIX)
    return Dataset(features=x, targets=y, feature_names=x_names, target_names=y_names,
                   feature_blocks=dict(info.get("feature_blocks", {})),
                   target_blocks=dict(info.get("target_blocks", {})), sample_names=samples,
                   collection=info.get("collection", ""), metadata=info.get("user", {}), path=Path(path))
