"""Canonical pose of any mesh: area-weighted PCA of its surface with sign disambiguation, and the
rotation groups used to search over what the pose leaves ambiguous.

Real downloaded models are not in a common frame (chairs lie on their sides, airplanes point
anywhere), so view, voxel and descriptor pipelines first put every mesh in this frame:

* centre: the area-weighted centroid of the surface;
* axes: eigenvectors of the area-weighted second moments of the surface about that centre, ordered
  by decreasing variance (canonical x = the direction of largest variance);
* signs: each axis points towards the side where the surface's third moment (skewness) is positive;
  if that gives a left-handed frame, the axis whose skewness is least decisive is flipped (det +1);
* scale: the RMS radius of the surface about the centre.

The moments are exact integrals over the triangles (no sampling), so re-tessellating a surface
(splitting its triangles) changes nothing, flipped normals change nothing (areas are unsigned), and
holes or internal faces change the frame only as much as they change the surface's area. PCA is
still ambiguous when two variances are nearly equal or a skewness is nearly zero (every
mirror-symmetric shape has one zero skewness), so comparisons search over `axis_rotations()` (the 24
proper rotations of the cube) or `icosahedral_rotations()` (the 60 that map the 20 dodecahedron
views onto themselves, as the Light Field Descriptor does).

No upright heuristic: one was measured and left out. Turning the largest flat base (faces within
10° of a principal direction, at its extreme, ≥ 3% of the area) to face -Z fired on 59% of the hard
procedural shapes (shapespace.light_field's test set: 3D rotation, scale, re-tessellation, holes,
flipped faces; 6 draws of 5 × 12) and lowered light-field retrieval's first tier from 0.790 to 0.774
(nearest neighbour 0.992 both): a base found on one copy and missed on another breaks the PCA frame's
consistency, and the ambiguities it would settle are sign flips and axis orders that the
60-rotation search covers anyway. `aligned=True` is for collections that are already
upright and aligned: rotation = identity, only centre and scale are normalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations, product

import numpy as np

from .mesh_arrays import MeshArrays


@dataclass
class PoseFrame:
    """A similarity frame: canonical = (v - centre) @ rotation.T / scale."""

    rotation: np.ndarray  # (3, 3) float64; rows = canonical axes in the mesh's frame, det +1
    centre: np.ndarray  # (3,) float64
    scale: float

    def apply(self, vertices) -> np.ndarray:
        """(V, 3) mesh-frame points -> canonical points."""
        return (np.asarray(vertices, dtype=np.float64) - self.centre) @ self.rotation.T / self.scale

    def undo(self, points) -> np.ndarray:
        """(V, 3) canonical points -> mesh-frame points (the inverse of apply)."""
        return np.asarray(points, dtype=np.float64) * self.scale @ self.rotation + self.centre


def surface_triangles(mesh: MeshArrays) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3, 3) float64 corner positions and (T,) areas of the mesh's triangles; ValueError naming
    the mesh if it has no usable surface."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    triangles = mesh.triangles if len(mesh.face_sizes) else np.zeros((0, 3), np.int32)
    if len(triangles) == 0:
        raise ValueError(f"'{mesh.name}' has no faces; a shape descriptor needs a surface "
                         "(add faces, or leave this object out of the collection)")
    corners = vertices[triangles]
    if not np.isfinite(corners).all():
        raise ValueError(f"'{mesh.name}' has NaN or infinite vertex positions; fix or delete those "
                         "vertices (Mesh > Clean Up) before using it")
    areas = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    total = float(areas.sum())
    extent = float(np.abs(corners).max())
    if not total > 1e-12 * max(extent, 1e-30) ** 2:
        raise ValueError(f"'{mesh.name}' has zero surface area (all its faces are degenerate); "
                         "give it real faces or leave it out of the collection")
    return corners, areas


def _cubed_integrals(values: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Exact ∫ f³ dA over the surface, for functions linear on each triangle given by their corner
    values (T, 3, k): per triangle 2A·3!/5!·h3(f1, f2, f3) = A/10·(p1³ + 3 p1 p2 + 2 p3)/6, with p_k
    the power sums of the corner values and h3 the complete homogeneous polynomial of degree 3."""
    f1, f2, f3 = values[:, 0], values[:, 1], values[:, 2]  # explicit sums: reducing axis 1 is slow
    p1 = f1 + f2 + f3
    squares = (f1 * f1, f2 * f2, f3 * f3)
    p2 = squares[0] + squares[1] + squares[2]
    p3 = squares[0] * f1 + squares[1] * f2 + squares[2] * f3
    return areas @ ((p1 * p1 * p1 + 3.0 * p1 * p2 + 2.0 * p3) / 60.0)


def canonical_frame(mesh: MeshArrays, aligned: bool = False, samples: int = 4096, seed: int = 0) -> PoseFrame:
    """The mesh's canonical pose (see the module doc); ValueError naming the mesh if it has no
    faces, zero area or NaN positions. Moments are exact, so `samples` and `seed` are accepted for
    symmetry with sampled descriptors and do not change the result."""
    del samples, seed  # exact triangle integrals need no sampling
    corners, areas = surface_triangles(mesh)
    return frame_of_triangles(corners, areas, aligned)


def frame_of_triangles(corners: np.ndarray, areas: np.ndarray, aligned: bool = False) -> PoseFrame:
    """canonical_frame from surface_triangles' output (callers that already have them)."""
    total = areas.sum()
    corner_sum = corners[:, 0] + corners[:, 1] + corners[:, 2]
    centre = areas @ corner_sum / (3.0 * total)
    centred = corners - centre
    # ∫ x xᵀ dA over a triangle = A/12 (Σ vᵢ vᵢᵀ + s sᵀ), s = Σ vᵢ
    s = corner_sum - 3.0 * centre
    weighted = centred * areas[:, None, None]
    second = (weighted.reshape(-1, 3).T @ centred.reshape(-1, 3) + (s * areas[:, None]).T @ s) / (12.0 * total)
    scale = float(np.sqrt(max(np.trace(second), 1e-300)))
    if aligned:
        return PoseFrame(np.eye(3), centre, scale)
    variances, vectors = np.linalg.eigh(second)
    rotation = vectors[:, ::-1].T.copy()  # rows: axes by decreasing variance
    third = _cubed_integrals((centred.reshape(-1, 3) @ rotation.T).reshape(-1, 3, 3), areas)
    skew = third / total / np.maximum(variances[::-1], 1e-300) ** 1.5
    signs = np.where(skew < 0, -1.0, 1.0)
    if np.linalg.det(rotation * signs[:, None]) < 0:
        signs[np.argmin(np.abs(skew))] *= -1.0  # the least decisive axis gives way to right-handedness
    return PoseFrame(rotation * signs[:, None], centre, scale)


def axis_rotations() -> np.ndarray:
    """(24, 3, 3) the proper rotations of the cube: signed axis permutations with det +1; [0] = identity."""
    matrices = []
    for order in permutations(range(3)):
        for signs in product((1.0, -1.0), repeat=3):
            matrix = np.zeros((3, 3))
            matrix[np.arange(3), order] = signs
            if np.linalg.det(matrix) > 0:
                matrices.append(matrix)
    return np.array(matrices)


def _dodecahedron_views() -> np.ndarray:
    from .views import dodecahedron_views

    return dodecahedron_views()


def _matching_view(rotated: np.ndarray, views: np.ndarray) -> np.ndarray:
    """(…, 20) index of the view each rotated direction lands on; ValueError if one lands on none."""
    cosines = rotated @ views.T
    index = cosines.argmax(axis=-1)
    if not (cosines.max(axis=-1) > 1.0 - 1e-9).all():
        raise ValueError("a rotation does not map the dodecahedron views onto themselves")
    return index


def icosahedral_rotations() -> np.ndarray:
    """(60, 3, 3) the rotations that permute the 20 directions of views.dodecahedron_views() exactly;
    [0] = identity. Built as the maps taking view 0 and one neighbour to any view and its neighbours."""
    views = _dodecahedron_views()
    cosines = views @ views.T
    neighbour_cosine = np.sort(cosines[0])[-2]  # the nearest other vertex: an edge of the dodecahedron

    def frame(a, b):
        b = b - (b @ a) * a
        b = b / np.linalg.norm(b)
        return np.stack([a, b, np.cross(a, b)])

    source = frame(views[0], views[np.flatnonzero(np.isclose(cosines[0], neighbour_cosine))[0]])
    rotations = []
    for i in range(len(views)):
        for j in np.flatnonzero(np.isclose(cosines[i], neighbour_cosine)):
            rotations.append(frame(views[i], views[j]).T @ source)
    rotations = np.array(rotations)
    identity = np.argmin(np.abs(rotations - np.eye(3)).sum(axis=(1, 2)))
    rotations = np.concatenate([rotations[identity:identity + 1], np.delete(rotations, identity, axis=0)])
    _matching_view(np.einsum("gij,vj->gvi", rotations, views), views)  # check: every view lands on a view
    return rotations


def icosahedral_view_permutations() -> np.ndarray:
    """(60, 20) int: row g lists, for each view i, the view that rotation g moves direction i onto
    (R_g · views[i] = views[table[g, i]]). A shape rotated by R_g seen from views[table[g, i]]
    looks as the original seen from views[i]."""
    views = _dodecahedron_views()
    return _matching_view(np.einsum("gij,vj->gvi", icosahedral_rotations(), views), views)
