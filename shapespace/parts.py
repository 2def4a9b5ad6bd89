"""Parts of part-labelled shapes: splitting a shape by label, per-part features, and contact slots
(where a part touches its neighbours), for part-based synthesis (Kalogerakis et al. 2012).

A part is every face of one label in one shape (four legs are one "leg" part of four components).
Contacts are read from the geometry: surface samples of one part that lie within a small distance
of another part's surface. A slot records the bounding box of that contact region, in the shape's
coordinates, so a part from another shape can be placed where the old one touched its neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .descriptors import d2_histogram
from .mesh_arrays import MeshArrays
from .primitives import vertex_components
from .descriptors import triangle_areas
from .template_fitting import sample_with_normals, surface_distance

CONTACT_TOLERANCE = 0.004  # share of the shape's bounding-box diagonal
GROUND_TOLERANCE = 0.005
SAMPLES_PER_PART = 1500
DESCRIPTOR_BINS = 16


@dataclass
class Part:
    label: str
    source: str  # the shape it came from
    mesh: MeshArrays  # the label's faces, vertices re-indexed, in the source shape's coordinates
    components: int  # connected pieces (four legs: 4)
    low: np.ndarray  # (3,) bounding box
    high: np.ndarray
    descriptor: np.ndarray  # D2 shape distribution of the part's surface
    contacts: dict = field(default_factory=dict)  # neighbour label -> (low, high) of the shared contact region
    grounded: bool = False  # rests on the ground (z = 0 of its shape)

    @property
    def size(self) -> np.ndarray:
        return self.high - self.low

    @property
    def centre(self) -> np.ndarray:
        return (self.low + self.high) / 2.0


def submesh(mesh: MeshArrays, face_mask, name: str) -> MeshArrays:
    """The faces selected by face_mask as a mesh of their own (unused vertices dropped)."""
    face_mask = np.asarray(face_mask, dtype=bool)
    corner_mask = np.repeat(face_mask, mesh.face_sizes)
    corners = mesh.corner_vertices[corner_mask]
    used, remapped = np.unique(corners, return_inverse=True)
    return MeshArrays(name, mesh.vertices[used], mesh.face_sizes[face_mask], remapped.reshape(-1).astype(np.int32))


def split_parts(shape: MeshArrays, seed: int = 0) -> dict:
    """label -> Part for a shape with face part labels; raises ValueError naming an unlabelled shape."""
    if shape.face_parts is None or not shape.part_labels:
        raise ValueError(f"'{shape.name}' has no part labels: give its faces a 'part' attribute with "
                         "'part_labels', or make its parts child objects")
    diagonal = float(np.linalg.norm(np.ptp(shape.vertices, axis=0))) or 1.0
    parts, samples, normals, spacing = {}, {}, {}, {}
    for index, label in enumerate(shape.part_labels):
        mask = shape.face_parts == index
        if not mask.any() or not label:
            continue
        mesh = submesh(shape, mask, f"{shape.name}:{label}")
        _, components = vertex_components(mesh)
        points, point_normals = sample_with_normals(mesh.vertices, mesh.triangles, SAMPLES_PER_PART, seed + index)
        samples[label], normals[label] = points, point_normals
        spacing[label] = np.sqrt(triangle_areas(mesh.vertices, mesh.triangles).sum() / SAMPLES_PER_PART)
        descriptor = d2_histogram(points, bins=DESCRIPTOR_BINS, pairs=4000, seed=seed)
        low, high = mesh.vertices.min(axis=0).astype(np.float64), mesh.vertices.max(axis=0).astype(np.float64)
        parts[label] = Part(label, shape.name, mesh, int(components), low, high, descriptor,
                            grounded=bool(low[2] - shape.vertices[:, 2].min() < GROUND_TOLERANCE * diagonal))
    _find_contacts(parts, samples, normals, spacing, CONTACT_TOLERANCE * diagonal)
    return parts


def _find_contacts(parts: dict, samples: dict, normals: dict, spacing: dict, tolerance: float) -> None:
    """A slot is the bounding box of everything within `tolerance` of the other part, on both parts,
    so the two parts of a training shape share it exactly."""
    labels = list(parts)

    def touching(a, b):
        pb = parts[b]
        near_box = np.all((samples[a] >= pb.low - tolerance) & (samples[a] <= pb.high + tolerance), axis=1)
        if not near_box.any():
            return samples[a][:0]
        candidates = samples[a][near_box]
        distance = surface_distance(candidates, samples[b], normals[b], 2 * spacing[b])
        return candidates[distance < tolerance]

    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            ab, ba = touching(a, b), touching(b, a)
            if len(ab) and len(ba) and len(ab) + len(ba) >= 3:
                region = np.concatenate([ab, ba])
                slot = (region.min(axis=0), region.max(axis=0))
                parts[a].contacts[b] = slot
                parts[b].contacts[a] = slot


def describe_collection(shapes, seed: int = 0):
    """(parts per shape: list of {label: Part}, labels in first-seen order). Names unlabelled shapes."""
    unlabelled = [s.name for s in shapes if s.face_parts is None or not s.part_labels]
    if unlabelled:
        listed = ", ".join(f"'{n}'" for n in unlabelled[:5]) + (f" and {len(unlabelled) - 5} more"
                                                                  if len(unlabelled) > 5 else "")
        raise ValueError(f"{len(unlabelled)} {'shape has' if len(unlabelled) == 1 else 'shapes have'} no part labels: {listed}; label their parts (child "
                         "objects with a 'part' property, or a 'part' face attribute) or leave them out")
    table = [split_parts(s, seed) for s in shapes]
    labels = []
    for parts in table:
        labels += [label for label in parts if label not in labels]
    return table, labels


def ranking_features(part: Part) -> np.ndarray:
    """Descriptors of one part for learning what people say about it ("sturdier legs"): log size
    of the whole part and of its average piece, the number of pieces, log surface area and the D2
    shape distribution."""
    from .descriptors import triangle_areas

    labels, count = vertex_components(part.mesh)
    vertices = part.mesh.vertices.astype(np.float64)
    pieces = np.array([np.ptp(vertices[labels == i], axis=0) for i in range(count)]) if count else np.zeros((1, 3))
    area = triangle_areas(vertices, part.mesh.triangles).sum()
    return np.concatenate([np.log(np.maximum(part.size, 1e-4)), np.log(np.maximum(pieces.mean(axis=0), 1e-4)),
                           [float(count), np.log(max(area, 1e-8))], part.descriptor])
