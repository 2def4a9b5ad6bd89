"""Real doodles for learning what human strokes look like: a reader for the 28 × 28 bitmaps of the
*Quick, Draw!* dataset (Quick, Draw! dataset, Google; CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/). Keep that attribution wherever the doodles, or a
file derived from them (a trained sketch encoder), are shipped.

Layout (as in `shared/data/quickdraw/`): `quickdraw-train/<class>.npy` and `quickdraw-test/<class>.npy`,
each a uint8 (N, 784) array of row-major 28 × 28 bitmaps with the ink high. Nothing is downloaded:
`find_quickdraw` looks in the folders given, in $DESIGN_SPACE_QUICKDRAW, and beside the repository
(`<repo>/../shared/data/quickdraw`, where a fresh clone finds it in CI).

Every file's header is read and checked (size, dtype, shape) before its data, and never with pickle.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .dataset_files import read_npy_header

QUICKDRAW_ENV = "DESIGN_SPACE_QUICKDRAW"
SPLITS = ("train", "test")
SIDE = 28  # pixels per side of every doodle
MAX_FILE_BYTES = 256 * 1024 * 1024  # a class file with ~340k doodles; anything larger is not this dataset
_REPO = Path(__file__).resolve().parent.parent


def _is_quickdraw(folder: Path) -> bool:
    train = folder / "quickdraw-train"
    return train.is_dir() and any(train.glob("*.npy"))


def find_quickdraw(candidates=()) -> Path | None:
    """The first folder holding `quickdraw-train/*.npy`: among `candidates`, then $DESIGN_SPACE_QUICKDRAW,
    then `shared/data/quickdraw` beside or inside the repository, then the training doodles shipped in the
    extension's `data/quickdraw`; None when there is none."""
    folders = [Path(c) for c in candidates if c]
    if os.environ.get(QUICKDRAW_ENV):
        folders.append(Path(os.environ[QUICKDRAW_ENV]))
    folders += [_REPO.parent / "shared" / "data" / "quickdraw", _REPO / "shared" / "data" / "quickdraw",
                _REPO / "data" / "quickdraw"]  # the last: the copy shipped inside the extension
    for folder in folders:
        folder = folder.expanduser()
        if _is_quickdraw(folder):
            return folder
    return None


def _read_doodles(path: Path) -> np.ndarray:
    """(N, 784) uint8 from one class file, its header checked before the data are read."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"'{path}' is {size / 2 ** 20:.0f} MB, more than a Quick, Draw! class file can be "
                         f"({MAX_FILE_BYTES // 2 ** 20} MB); point the reader at the 28 × 28 bitmap files")
    with open(path, "rb") as f:
        try:
            shape, fortran, dtype = read_npy_header(f)
        except ValueError as error:
            raise ValueError(f"'{path}' is not a readable .npy file ({error}); use the Quick, Draw! "
                             "numpy bitmap files (uint8, N × 784)") from None
    if dtype != np.uint8 or len(shape) != 2 or shape[1] != SIDE * SIDE or fortran:
        raise ValueError(f"'{path}' holds a {dtype} array of shape {shape}; Quick, Draw! bitmaps are uint8 "
                         f"(N, {SIDE * SIDE}) in C order — is this the right file?")
    if size < shape[0] * shape[1]:
        raise ValueError(f"'{path}' is cut short: its header promises {shape[0]} doodles; copy it again")
    return np.load(path, allow_pickle=False)


def load_quickdraw(folder, split: str = "train", classes=None):
    """(images float32 (N, 28, 28) in 0..1 with the ink 1, labels int64 (N,), classes) of one split;
    `classes` picks and orders the class files (default: every file, sorted by name)."""
    if split not in SPLITS:
        raise ValueError(f"Unknown Quick, Draw! split {split!r}; use one of {', '.join(SPLITS)}")
    split_folder = Path(folder) / f"quickdraw-{split}"
    if not split_folder.is_dir():
        raise ValueError(f"'{split_folder}' is missing; the Quick, Draw! folder needs quickdraw-train/ and "
                         "quickdraw-test/ with one <class>.npy per class")
    classes = sorted(p.stem for p in split_folder.glob("*.npy")) if classes is None else list(classes)
    if not classes:
        raise ValueError(f"'{split_folder}' has no <class>.npy files")
    images, labels = [], []
    for label, name in enumerate(classes):
        path = split_folder / f"{name}.npy"
        if not path.is_file():
            raise ValueError(f"'{path}' is missing; class '{name}' has no {split} doodles (classes there: "
                             f"{', '.join(sorted(p.stem for p in split_folder.glob('*.npy')))})")
        doodles = _read_doodles(path)
        images.append(doodles.reshape(-1, SIDE, SIDE).astype(np.float32) / 255.0)
        labels.append(np.full(len(doodles), label, np.int64))
    return np.concatenate(images), np.concatenate(labels), classes
