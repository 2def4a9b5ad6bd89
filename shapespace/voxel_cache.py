"""A per-shape cache of voxel grids on disk, so that learning twice on one collection voxelises once.

A grid is keyed by what decides it: a SHA-256 of the mesh's content (vertex positions as float64 and
triangles as int64, bytes for bytes), the grid's frame (corner, size, resolution), what is stored (the
`kind`: 'SOLID', 'SURFACE' or a caller's own name such as a signed-distance variant) and CACHE_VERSION,
bumped whenever voxelising changes its answers. Renaming or moving an object changes nothing; editing
one vertex makes a new entry. Files live in a folder the caller passes (the operator's job folder, or the
extension's user cache folder) as one uncompressed .npz per grid — boolean grids as packed bits (4 KiB
at 32³), other grids in their own dtype — read back with allow_pickle=False. Writes go to a temporary
name and are renamed into place, so a cancelled job never leaves half a file. When the folder grows past
`max_bytes`, the least recently used files go first; a file that cannot be read is deleted and computed
again. Signed-distance grids (kind 'SDF truncation=…') and the solid-pose voxelisation that
shapespace.signed_distance.prepare_signed_distances needs go through the same cache.

    cache = VoxelCache(folder)
    grid = cache.voxelize(vertices, triangles, frame)            # computed once, then read back
    sdf = cache.signed_distance_grid(vertices, triangles, frame, truncation)    # signed distance, likewise
    grids, sizes = voxelize_shapes(shapes, resolution, cache)    # a collection, each in its own frame
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .voxels import GridFrame, frame_around, voxelize

__all__ = ["CACHE_VERSION", "DEFAULT_MAX_BYTES", "VoxelCache", "grid_key", "voxelize_shapes"]

CACHE_VERSION = 3  # 2: fast hierarchical winding numbers where the rays disagree; 3: faces wound consistently
DEFAULT_MAX_BYTES = 256 * 2 ** 20
_SUFFIX = ".npz"


def grid_key(vertices, triangles, frame: GridFrame, kind: str = "SOLID") -> str:
    """The hex SHA-256 naming a grid: mesh content, frame, kind and CACHE_VERSION."""
    digest = hashlib.sha256()
    digest.update(f"design-space voxels v{CACHE_VERSION} {kind} {frame.as_list()!r}".encode())
    vertices = np.ascontiguousarray(np.asarray(vertices, np.float64).reshape(-1, 3))
    triangles = np.ascontiguousarray(np.asarray(triangles, np.int64).reshape(-1, 3))
    digest.update(np.array(vertices.shape + triangles.shape, np.int64).tobytes())
    digest.update(vertices.tobytes())
    digest.update(triangles.tobytes())
    return digest.hexdigest()


class VoxelCache:
    """Grids by key in `folder` (created when first written), at most about `max_bytes` of files.
    `hits` and `misses` count lookups since creation."""

    def __init__(self, folder, max_bytes: int = DEFAULT_MAX_BYTES):
        if max_bytes <= 0:
            raise ValueError(f"The voxel cache needs a positive size limit, not {max_bytes} bytes")
        self.folder, self.max_bytes = Path(folder), int(max_bytes)
        self.hits = self.misses = 0

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{_SUFFIX}"

    def get(self, key: str) -> np.ndarray | None:
        """The stored grid, or None (absent or unreadable: an unreadable file is removed)."""
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as stored:
                shape = tuple(int(n) for n in stored["shape"])
                if "bits" in stored:
                    grid = np.unpackbits(stored["bits"], count=int(np.prod(shape))).astype(bool).reshape(shape)
                else:
                    grid = stored["values"].reshape(shape)
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        try:
            os.utime(path)  # recently used: kept longest when the folder is trimmed
        except OSError:
            pass
        self.hits += 1
        return grid

    def put(self, key: str, grid: np.ndarray) -> None:
        """Store `grid` under `key`, then trim the folder to the size limit. A folder that cannot be
        written to is not an error: the grid simply is not cached."""
        grid = np.asarray(grid)
        arrays = {"shape": np.array(grid.shape, np.int64)}
        if grid.dtype == bool:
            arrays["bits"] = np.packbits(grid.ravel())
        else:
            arrays["values"] = np.ascontiguousarray(grid).ravel()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".partial")
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays)
            os.replace(temporary, self.path(key))
        except OSError:
            return
        self.trim()

    def get_or_compute(self, key: str, compute) -> np.ndarray:
        grid = self.get(key)
        if grid is None:
            grid = compute()
            self.put(key, grid)
        return grid

    def voxelize(self, vertices, triangles, frame: GridFrame, mode: str = "SOLID") -> np.ndarray:
        """shapespace.voxels.voxelize, read from the cache when this mesh was voxelised in this frame."""
        return self.get_or_compute(grid_key(vertices, triangles, frame, mode),
                                   lambda: voxelize(vertices, triangles, frame, mode))

    def signed_distance_grid(self, vertices, triangles, frame: GridFrame, truncation: float,
                             name: str = "mesh") -> np.ndarray:
        """shapespace.signed_distance.signed_distance_grid (float32, negative inside), read from the cache
        when this mesh's grid in this frame at this truncation was computed before."""
        from .signed_distance import signed_distance_grid  # signed_distance imports voxels, as this does

        truncation = float(truncation)
        return self.get_or_compute(grid_key(vertices, triangles, frame, f"SDF truncation={truncation!r}"),
                                   lambda: signed_distance_grid(vertices, triangles, frame, truncation, name))

    def size(self) -> int:
        """Bytes of grid files in the folder."""
        return sum(entry.stat().st_size for entry in self._entries())

    def trim(self) -> None:
        """Delete the least recently used grids until the folder holds at most 80% of the limit (so
        that not every write trims)."""
        entries = [(entry.stat().st_mtime, entry.stat().st_size, entry) for entry in self._entries()]
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return
        for _, size, entry in sorted(entries, key=lambda item: item[0]):
            if total <= 0.8 * self.max_bytes:
                break
            entry.unlink(missing_ok=True)
            total -= size

    def clear(self) -> None:
        for entry in self._entries():
            entry.unlink(missing_ok=True)

    def _entries(self):
        if not self.folder.is_dir():
            return []
        return [entry for entry in self.folder.iterdir() if entry.suffix == _SUFFIX and entry.is_file()]


def voxelize_shapes(shapes, resolution: int, cache: VoxelCache | None = None, progress=None,
                    should_stop=None) -> tuple[np.ndarray, np.ndarray] | None:
    """(grids (N, R, R, R) float32, frame sizes (N,)) of shapes (MeshArrays), each in the cube around
    its own bounds — through `cache` when given. progress(done, total) is called after each shape;
    None is returned when should_stop() says so."""
    grids = np.zeros((len(shapes),) + (int(resolution),) * 3, np.float32)
    sizes = np.zeros(len(shapes))
    for i, shape in enumerate(shapes):
        if should_stop is not None and should_stop():
            return None
        vertices = np.asarray(shape.vertices, np.float64)
        try:
            frame = frame_around(vertices.min(axis=0), vertices.max(axis=0), resolution)
        except ValueError:
            raise ValueError(f"'{shape.name}' has no extent (a point or nothing); leave it out of the "
                             "collection") from None
        if cache is None:
            grids[i] = voxelize(vertices, shape.triangles, frame)
        else:
            grids[i] = cache.voxelize(vertices, shape.triangles, frame)
        sizes[i] = frame.size
        if progress is not None:
            progress(i + 1, len(shapes))
    return grids, sizes
