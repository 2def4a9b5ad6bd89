"""Finding the mesh files of a dataset folder: one category per subfolder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off")


@dataclass(frozen=True)
class DatasetFile:
    path: Path
    folders: tuple  # subfolders from the dataset root down to the file's folder
    category: str  # the first folder below the root, as in ModelNet's <class>/train/x.off (the root's name at the top)

    @property
    def format(self) -> str:
        return self.path.suffix.lower()[1:]


def scan_dataset(directory) -> list[DatasetFile]:
    """Every mesh file below `directory`, sorted by folder and name; symlinked folders are
    followed (each real folder once, so a link loop ends).

    Raises FileNotFoundError / NotADirectoryError / ValueError with a message that names the
    folder and what to do.
    """
    root = Path(directory).expanduser()
    if not str(directory).strip():
        raise ValueError("No dataset folder given; choose a folder of OBJ, PLY, STL or OFF files")
    if not root.exists():
        raise FileNotFoundError(f"Dataset folder '{root}' does not exist; choose an existing folder")
    if not root.is_dir():
        raise NotADirectoryError(f"'{root}' is a file, not a folder; choose the folder that holds the meshes")
    if not os.access(root, os.R_OK | os.X_OK):
        raise PermissionError(f"Dataset folder '{root}' cannot be read; check its permissions")
    files = []
    visited = set()  # real paths of folders walked: symlinked class folders are followed, link loops are not
    for current, subdirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(current)
        if real in visited:
            subdirs[:] = []
            continue
        visited.add(real)
        subdirs[:] = sorted(d for d in subdirs if os.path.realpath(os.path.join(current, d)) not in visited)
        folders = Path(current).relative_to(root).parts
        for name in sorted(names):
            path = Path(current) / name
            if path.suffix.lower() in MESH_SUFFIXES and not name.startswith("."):
                files.append(DatasetFile(path, folders, folders[0] if folders else root.name))
    if not files:
        raise ValueError(f"Dataset folder '{root}' holds no .obj, .ply, .stl or .off files")
    return files


def check_stl(path) -> str | None:
    """Why an STL file cannot be a mesh, or None if it looks sound (Blender's importer accepts noise)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as error:
        return f"{path.name}: cannot be read ({error.strerror})"
    if head[:5].lower() == b"solid" and b"facet" in head:
        return None
    head = head[:84]
    if size < 84:
        return f"{path.name}: too short to be an STL file ({size} bytes)"
    triangles = int.from_bytes(head[80:84], "little")
    if triangles == 0:
        return f"{path.name}: the STL file holds no triangles"
    if size != 84 + 50 * triangles:
        return (f"{path.name}: not a valid binary STL (declares {triangles} triangles, "
                f"which needs {84 + 50 * triangles} bytes, but the file has {size})")
    return None


def read_npy_header(stream) -> tuple:
    """(shape, fortran_order, dtype) from the header of a .npy stream, before any data is read;
    ValueError when it is no .npy header."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream)
        if version in ((2, 0), (3, 0)):
            return np.lib.format.read_array_header_2_0(stream)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise ValueError(str(exc)) from None
    raise ValueError(f"unknown .npy version {version}")
