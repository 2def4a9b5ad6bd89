"""Reader for the OFF mesh format (Princeton Shape Benchmark, ModelNet), which Blender lacks."""

from __future__ import annotations

from pathlib import Path

from .mesh_arrays import MeshArrays


class MeshFileError(ValueError):
    """A mesh file that cannot be read; the message names the file and the problem."""


def parse_off(text: str, name: str = "mesh", source: str | None = None) -> MeshArrays:
    """Parse OFF text (also COFF/NOFF/CNOFF headers, colours after face indices are ignored).

    `name` names the mesh; `source` (the file name, by default `name`) starts every error message.
    The vectorised parser lives in mesh_readers with the other formats' readers.
    """
    from .mesh_readers import parse_off_bytes

    return parse_off_bytes(text.encode("utf-8"), name, source or name)


def read_off(path) -> MeshArrays:
    """Read an OFF file into MeshArrays named after the file."""
    from .mesh_readers import read_mesh

    path = Path(path)
    if path.suffix.lower() != ".off":
        from .mesh_readers import parse_off_bytes

        try:
            data = path.read_bytes()
        except OSError as error:
            raise MeshFileError(f"{path.name}: cannot be read ({error.strerror})") from None
        return parse_off_bytes(data, path.stem, path.name)
    return read_mesh(path)
