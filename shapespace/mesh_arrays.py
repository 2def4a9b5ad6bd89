"""Plain-array meshes: the one currency between the learning core and the mesh bridge."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class MeshArrays:
    """A polygon mesh as flat numpy arrays, with attributes and optional part labels.

    `face_sizes[i]` corners of face i are stored consecutively in `corner_vertices`, the
    same layout Blender uses for loops, so the bridge writes both arrays in one call each.
    """

    name: str
    vertices: np.ndarray  # (V, 3) float32
    face_sizes: np.ndarray  # (F,) int32
    corner_vertices: np.ndarray  # (sum(face_sizes),) int32
    attributes: dict = field(default_factory=dict)  # str -> float | int | bool | str
    face_parts: np.ndarray | None = None  # (F,) int32 index into part_labels
    part_labels: tuple = ()

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        self.face_sizes = np.ascontiguousarray(self.face_sizes, dtype=np.int32).reshape(-1)
        self.corner_vertices = np.ascontiguousarray(self.corner_vertices, dtype=np.int32).reshape(-1)
        if self.face_parts is not None:
            self.face_parts = np.ascontiguousarray(self.face_parts, dtype=np.int32).reshape(-1)
        self.part_labels = tuple(self.part_labels)

    @classmethod
    def from_faces(cls, name, vertices, faces, **kwargs) -> "MeshArrays":
        """Build from an (F, k) array of equal-sized faces or a list of index sequences."""
        if isinstance(faces, np.ndarray) and faces.ndim == 2:
            sizes = np.full(len(faces), faces.shape[1], dtype=np.int32)
            corners = faces.reshape(-1)
        else:
            faces = list(faces)
            sizes = np.fromiter((len(f) for f in faces), dtype=np.int32, count=len(faces))
            corners = np.fromiter((i for f in faces for i in f), dtype=np.int32, count=int(sizes.sum()))
        return cls(name, vertices, sizes, corners, **kwargs)

    @property
    def loop_starts(self) -> np.ndarray:
        starts = np.zeros(len(self.face_sizes), dtype=np.int32)
        np.cumsum(self.face_sizes[:-1], out=starts[1:])
        return starts

    @property
    def triangles(self) -> np.ndarray:
        """(T, 3) int32 fan triangulation of every face (exact for convex faces)."""
        sizes = self.face_sizes
        starts = self.loop_starts
        tri_per_face = np.maximum(sizes - 2, 0)
        face_of_tri = np.repeat(np.arange(len(sizes)), tri_per_face)
        first_tri = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(tri_per_face[:-1], out=first_tri[1:])
        k = np.arange(len(face_of_tri)) - first_tri[face_of_tri]  # index of the triangle within its face
        base = starts[face_of_tri]
        cv = self.corner_vertices
        return np.stack([cv[base], cv[base + k + 1], cv[base + k + 2]], axis=1).astype(np.int32)

    @property
    def face_count(self) -> int:
        return len(self.face_sizes)

    def validate(self) -> None:
        """Raise ValueError naming this mesh if its arrays are inconsistent."""
        v = len(self.vertices)
        if int(self.face_sizes.sum()) != len(self.corner_vertices):
            raise ValueError(f"{self.name}: face sizes add up to {int(self.face_sizes.sum())} corners, "
                             f"but {len(self.corner_vertices)} corners are given")
        if len(self.face_sizes) and self.face_sizes.min() < 3:
            raise ValueError(f"{self.name}: a face has fewer than 3 corners")
        if len(self.corner_vertices) and (self.corner_vertices.min() < 0 or self.corner_vertices.max() >= v):
            raise ValueError(f"{self.name}: a face refers to a vertex outside 0..{v - 1}")
        if not np.isfinite(self.vertices).all():
            raise ValueError(f"{self.name}: vertex positions contain NaN or infinite values")
        if self.face_parts is not None:
            if len(self.face_parts) != len(self.face_sizes):
                raise ValueError(f"{self.name}: {len(self.face_parts)} part indices for {len(self.face_sizes)} faces")
            if len(self.face_parts) and (self.face_parts.min() < 0 or self.face_parts.max() >= len(self.part_labels)):
                raise ValueError(f"{self.name}: a face's part index has no label")


def concatenate_parts(name: str, parts, attributes=None) -> MeshArrays:
    """Join labelled parts [(label, MeshArrays), ...] into one mesh with a per-face part index."""
    labels: list[str] = []
    verts, sizes, corners, face_parts = [], [], [], []
    offset = 0
    for label, part in parts:
        if label not in labels:
            labels.append(label)
        verts.append(part.vertices)
        sizes.append(part.face_sizes)
        corners.append(part.corner_vertices + offset)
        face_parts.append(np.full(len(part.face_sizes), labels.index(label), dtype=np.int32))
        offset += len(part.vertices)
    return MeshArrays(
        name,
        np.concatenate(verts) if verts else np.zeros((0, 3), np.float32),
        np.concatenate(sizes) if sizes else np.zeros(0, np.int32),
        np.concatenate(corners) if corners else np.zeros(0, np.int32),
        attributes=dict(attributes or {}),
        face_parts=np.concatenate(face_parts) if face_parts else np.zeros(0, np.int32),
        part_labels=tuple(labels),
    )


def content_digest(mesh: MeshArrays) -> str:
    """A hex digest of a mesh's geometry and connectivity (not its name or attributes): the key under
    which what is computed from the geometry alone (descriptors, light fields) is kept and found."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (mesh.vertices, mesh.face_sizes, mesh.corner_vertices):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
