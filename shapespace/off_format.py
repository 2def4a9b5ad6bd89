"""Reader for the OFF mesh format (Princeton Shape Benchmark, ModelNet), which Blender lacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .mesh_arrays import MeshArrays


class MeshFileError(ValueError):
    """A mesh file that cannot be read; the message names the file and the problem."""


_SUPPORTED_KEYWORDS = {"OFF", "COFF", "NOFF", "CNOFF", "NCOFF"}


def _data_lines(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def parse_off(text: str, name: str = "mesh", source: str | None = None) -> MeshArrays:
    """Parse OFF text (also COFF/NOFF/CNOFF headers, colours after face indices are ignored).

    `name` names the mesh; `source` (the file name, by default `name`) starts every error message.
    """
    mesh_name, name = name, source or name
    lines = _data_lines(text)
    if not lines:
        raise MeshFileError(f"{name}: the file is empty")
    header = lines[0].split()
    keyword = header[0].upper() if header else ""
    if not keyword.endswith("OFF"):
        raise MeshFileError(f"{name}: not an OFF file (the first word is {header[0]!r}, expected 'OFF')")
    if keyword not in _SUPPORTED_KEYWORDS:
        raise MeshFileError(f"{name}: the {header[0]} variant of OFF is not supported (only OFF, COFF, NOFF)")
    per_vertex_extra = ("C" in keyword[:-3]) * 4 + ("N" in keyword[:-3]) * 3
    counts_tokens = header[1:] if len(header) > 1 else (lines[1].split() if len(lines) > 1 else [])
    body_start = 1 if len(header) > 1 else 2
    try:
        vertex_count, face_count = int(counts_tokens[0]), int(counts_tokens[1])
    except (IndexError, ValueError):
        raise MeshFileError(f"{name}: the vertex and face counts are missing after the OFF header") from None
    if vertex_count < 3 or face_count < 1:
        raise MeshFileError(f"{name}: the file declares {vertex_count} vertices and {face_count} faces; "
                            "a mesh needs at least 3 vertices and 1 face")
    vertex_lines = lines[body_start:body_start + vertex_count]
    face_lines = lines[body_start + vertex_count:body_start + vertex_count + face_count]
    if len(vertex_lines) < vertex_count or len(face_lines) < face_count:
        raise MeshFileError(f"{name}: the file is truncated: {vertex_count} vertices and {face_count} faces "
                            f"declared, {len(vertex_lines)} and {len(face_lines)} found")
    try:
        table = np.array([line.split()[:3 + per_vertex_extra] for line in vertex_lines], dtype=np.float64)
        vertices = table[:, :3]
    except ValueError:
        raise MeshFileError(f"{name}: a vertex line does not hold three numbers") from None
    sizes = np.empty(face_count, dtype=np.int32)
    corners: list[int] = []
    try:
        for i, line in enumerate(face_lines):
            tokens = line.split()
            n = int(tokens[0])
            sizes[i] = n
            indices = [int(t) for t in tokens[1:n + 1]]
            if len(indices) < n:
                break
            corners.extend(indices)
    except ValueError:
        raise MeshFileError(f"{name}: face {i} is not a list of integers") from None
    if len(corners) != int(sizes[:i + 1].sum()):
        raise MeshFileError(f"{name}: face {i} lists {len(indices)} indices but declares {n}")
    mesh = MeshArrays(mesh_name, vertices, sizes, np.array(corners, dtype=np.int32))
    if not np.isfinite(mesh.vertices).all():
        raise MeshFileError(f"{name}: vertex positions contain NaN or infinite values")
    try:
        mesh.validate()
    except ValueError as error:
        raise MeshFileError(str(error).replace(mesh_name, name, 1)) from None
    return mesh


def read_off(path) -> MeshArrays:
    """Read an OFF file into MeshArrays named after the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise MeshFileError(f"{path.name}: not a text OFF file (binary OFF is not supported)") from None
    except OSError as error:
        raise MeshFileError(f"{path.name}: cannot be read ({error.strerror})") from None
    return parse_off(text, path.stem, path.name)
