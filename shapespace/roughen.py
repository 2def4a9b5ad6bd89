"""Make a clean procedural shape look like a model downloaded from the internet.

Real collections are not upright, not at one scale, not closed and not consistently wound (see
/work/shared/notes/measured-here.md: 93% of one public benchmark is not watertight). `roughen`
applies, each switchable and all drawn from the caller's rng:

* overlapping closed parts: a small closed piece (an ellipsoid or a box) pushed into the surface,
  or a copy of one of the shape's connected pieces, slightly shifted and rescaled;
* internal faces: a few faces of the largest piece copied shrunk towards its centre (inside it);
* re-tessellation: a random share of faces poked (a centre vertex and a fan of triangles), the
  rest partly triangulated from a random corner, so vertex and face counts change;
* holes: 3-10% of the faces deleted in a few patches (the faces nearest to random seed faces);
* flipped normals: a random share of faces, sometimes a whole piece, wound the other way;
* stretch: each axis of the shape scaled by its own factor in 0.75-1.33 (a longer sofa, a squatter
  mug: real classes vary in proportion far more than one procedural family does);
* clutter: a ground plate under the shape or a stray prop beside it, as scenes exported whole have;
* pose: an arbitrary 3D rotation (uniform on SO(3)) or one of the 24 axis rotations (Y-up files,
  models lying on their side), a log-uniform scale in 0.1-10x and an off-centre translation.

Geometry is moved but never smoothed or resampled, so the shape stays recognisable. Attributes are
kept (the category stays); face part labels are dropped (downloaded files have none).

    roughen(mesh, rng, arbitrary_rotation, **switches) -> MeshArrays
    roughen_with_record(...) -> (MeshArrays, RoughenRecord)   # what was done, for tests
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .canonical_pose import axis_rotations
from .mesh_arrays import MeshArrays
from .primitives import box, ellipsoid, vertex_components

__all__ = ["RoughenRecord", "roughen", "roughen_with_record", "axis_rotations", "random_rotation"]


@dataclass
class RoughenRecord:
    """What one `roughen` call did: output vertex = scale * rotation @ v + translation."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    scale: float = 1.0
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    overlap: str = ""  # "piece", "duplicate" or "" (none)
    overlap_faces: int = 0
    internal_faces: int = 0
    poked_faces: int = 0
    triangulated_faces: int = 0
    deleted_faces: int = 0
    flipped_faces: int = 0
    stretch: np.ndarray = field(default_factory=lambda: np.ones(3))
    clutter: str = ""  # "", "plate" or "prop"


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation drawn uniformly from SO(3) (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def roughen(mesh: MeshArrays, rng, arbitrary_rotation: bool, **switches) -> MeshArrays:
    """`mesh` as a downloaded model might be; see the module doc and `roughen_with_record`."""
    return roughen_with_record(mesh, rng, arbitrary_rotation, **switches)[0]


def roughen_with_record(mesh: MeshArrays, rng, arbitrary_rotation: bool, *, pose: bool = True,
                        rescale: bool = True, overlaps: bool = True, internal: bool = True,
                        retessellate: bool = True, holes: bool = True, flips: bool = True,
                        stretch: bool = True, clutter: bool = True) -> tuple[MeshArrays, RoughenRecord]:
    """Roughened copy of `mesh` and the record of what was done. `rng` is a numpy Generator or a seed.

    Switches (all on by default): `pose` (rotation and translation), `rescale`, `overlaps`,
    `internal`, `retessellate`, `holes`, `flips`, `stretch`, `clutter`. Each step draws from its own stream spawned from
    `rng`, so turning one off leaves the others' draws unchanged.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if mesh.face_count == 0 or len(mesh.vertices) == 0:
        raise ValueError(f"'{mesh.name}' has no faces; there is nothing to roughen")
    record = RoughenRecord()
    vertices = mesh.vertices.astype(np.float64)
    sizes, corners = mesh.face_sizes.astype(np.int64), mesh.corner_vertices.astype(np.int64)
    # Independent streams per step, so switching one step off keeps the others' draws.
    steps = rng.spawn(9) if hasattr(rng, "spawn") else [np.random.default_rng(s) for s in
                                                         rng.integers(0, 2**63, size=9)]

    pieces = _components(mesh) if (overlaps or internal) else None
    if overlaps:
        vertices, sizes, corners = _add_overlap(vertices, sizes, corners, mesh, pieces, steps[0], record)
    if internal:
        vertices, sizes, corners = _add_internal_faces(vertices, sizes, corners, mesh, pieces, steps[1], record)
    if retessellate:
        vertices, sizes, corners = _retessellate(vertices, sizes, corners, steps[2], record)
    if holes:
        sizes, corners = _open_holes(vertices, sizes, corners, steps[3], record)
    if flips:
        corners = _flip_faces(vertices, sizes, corners, steps[4], record)
    vertices, corners = _drop_unused(vertices, corners)
    if stretch:
        record.stretch = steps[7].uniform(0.75, 1.33, 3)
        vertices = vertices * record.stretch
    if clutter:
        vertices, sizes, corners = _add_clutter(vertices, sizes, corners, steps[8], record)

    pose_rng, scale_rng = steps[5], steps[6]
    if arbitrary_rotation:
        rotation = random_rotation(pose_rng)
    else:
        rotation = axis_rotations()[int(pose_rng.integers(24))]
    extent = float(np.linalg.norm(np.ptp(vertices, axis=0))) or 1.0
    offset = pose_rng.standard_normal(3) * pose_rng.uniform(0.0, 2.0) * extent
    scale = float(10.0 ** scale_rng.uniform(-1.0, 1.0))
    record.rotation = rotation if pose else np.eye(3)
    record.scale = scale if rescale else 1.0
    record.translation = record.scale * offset if pose else np.zeros(3)
    vertices = record.scale * (vertices @ record.rotation.T) + record.translation

    out = MeshArrays(mesh.name, vertices, sizes, corners, attributes=dict(mesh.attributes))
    return out, record


# --------------------------------------------------------------------------------------------------
# Steps (arrays in, arrays out)


def _add_clutter(vertices, sizes, corners, rng, record):
    """A thin ground plate under the shape (a third of the time), a stray box beside it (a fifth), or nothing."""
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = high - low
    draw = rng.random()
    if draw < 1 / 3:
        record.clutter = "plate"
        size = (extent[0] * rng.uniform(1.1, 1.6), extent[1] * rng.uniform(1.1, 1.6), 0.03 * extent.max())
        centre = ((low[0] + high[0]) / 2, (low[1] + high[1]) / 2, low[2] - size[2] / 2)
    elif draw < 1 / 3 + 1 / 5:
        record.clutter = "prop"
        size = tuple(extent.max() * rng.uniform(0.08, 0.25, 3))
        side = rng.choice([-1.0, 1.0])
        centre = (high[0] + size[0] if side > 0 else low[0] - size[0], rng.uniform(low[1], high[1]), low[2] + size[2] / 2)
    else:
        return vertices, sizes, corners
    piece = box(centre, size)
    return (np.concatenate([vertices, piece.vertices.astype(np.float64)]),
            np.concatenate([sizes, piece.face_sizes.astype(np.int64)]),
            np.concatenate([corners, piece.corner_vertices.astype(np.int64) + len(vertices)]))


def _face_index(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per corner: its face, and its position within the face."""
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    face = np.repeat(np.arange(len(sizes)), sizes)
    return face, np.arange(int(sizes.sum())) - starts[face]


def _face_centroids(vertices, sizes, corners) -> np.ndarray:
    face, _ = _face_index(sizes)
    sums = np.stack([np.bincount(face, vertices[corners, k], minlength=len(sizes)) for k in range(3)], axis=1)
    return sums / sizes[:, None]


def _components(mesh: MeshArrays) -> tuple[np.ndarray, int]:
    """Per-face connected component of the original mesh, and the count."""
    labels, count = vertex_components(mesh)
    return labels[mesh.corner_vertices[mesh.loop_starts]], count


def _append(vertices, sizes, corners, piece_vertices, piece_sizes, piece_corners):
    return (np.concatenate([vertices, piece_vertices]), np.concatenate([sizes, piece_sizes]),
            np.concatenate([corners, piece_corners + len(vertices)]))


def _add_overlap(vertices, sizes, corners, mesh, pieces, rng, record):
    """A small closed piece intersecting the surface, or a shifted copy of one piece."""
    diagonal = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    face_comp, count = pieces
    comp_faces = np.bincount(face_comp, minlength=count)
    small = np.flatnonzero(comp_faces < 0.3 * mesh.face_count)
    kind = "duplicate" if (len(small) and rng.random() < 0.5) else "piece"
    if kind == "duplicate":
        comp = int(rng.choice(small))
        keep = face_comp == comp
        corner_keep = np.repeat(keep, mesh.face_sizes)
        used, local = np.unique(mesh.corner_vertices[corner_keep], return_inverse=True)
        piece = mesh.vertices[used].astype(np.float64)
        centre = piece.mean(axis=0)
        shift = rng.standard_normal(3)
        shift *= rng.uniform(0.01, 0.03) * diagonal / np.linalg.norm(shift)
        piece = centre + (piece - centre) * rng.uniform(0.97, 1.05) + shift
        piece_sizes, piece_corners = mesh.face_sizes[keep].astype(np.int64), local.reshape(-1).astype(np.int64)
    else:
        anchor = vertices[int(rng.integers(len(mesh.vertices)))]
        radius = rng.uniform(0.04, 0.1) * diagonal * np.array([1.0, rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5)])
        if rng.random() < 0.5:
            extra = ellipsoid(anchor, radius, 12, 6, name="overlap")
        else:
            extra = box(anchor, 2 * radius, 2, name="overlap")
        piece = extra.vertices.astype(np.float64)
        piece_sizes, piece_corners = extra.face_sizes.astype(np.int64), extra.corner_vertices.astype(np.int64)
    record.overlap, record.overlap_faces = kind, len(piece_sizes)
    return _append(vertices, sizes, corners, piece, piece_sizes, piece_corners)


def _add_internal_faces(vertices, sizes, corners, mesh, pieces, rng, record):
    """Copies of a few faces of the largest piece, shrunk towards its centre (so they lie inside)."""
    face_comp, count = pieces
    largest = int(np.argmax(np.bincount(face_comp, minlength=count)))
    candidates = np.flatnonzero(face_comp == largest)
    chosen = np.sort(rng.choice(candidates, size=min(len(candidates), int(rng.integers(4, 13))), replace=False))
    comp_vertices = mesh.vertices[np.unique(mesh.corner_vertices[np.repeat(face_comp == largest, mesh.face_sizes)])]
    centre = comp_vertices.astype(np.float64).mean(axis=0)
    face_sizes = mesh.face_sizes.astype(np.int64)
    starts = mesh.loop_starts.astype(np.int64)
    corner_ids = np.repeat(starts[chosen], face_sizes[chosen]) + _face_index(face_sizes[chosen])[1]
    piece = centre + (mesh.vertices[mesh.corner_vertices[corner_ids]].astype(np.float64) - centre) * rng.uniform(0.3, 0.6)
    record.internal_faces = len(chosen)
    return _append(vertices, sizes, corners, piece, face_sizes[chosen], np.arange(len(piece), dtype=np.int64))


def _retessellate(vertices, sizes, corners, rng, record):
    """Poke a share of faces (centre vertex + triangle fan); triangulate a share of the others from a
    random corner (other diagonals); leave the rest."""
    n_faces = len(sizes)
    roll = rng.random(n_faces)
    poke = roll < rng.uniform(0.1, 0.4)
    triangulate = ~poke & (sizes > 3) & (rng.random(n_faces) < rng.uniform(0.3, 0.8))
    keep = ~poke & ~triangulate
    face, position = _face_index(sizes)
    starts = np.zeros(n_faces, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    nxt = corners[starts[face] + (position + 1) % sizes[face]]

    # Poked: one triangle per corner (corner, next corner, new centre vertex).
    centres = _face_centroids(vertices, sizes, corners)[poke]
    centre_id = np.full(n_faces, -1, dtype=np.int64)
    centre_id[poke] = len(vertices) + np.arange(int(poke.sum()))
    pc = poke[face]
    poked_tris = np.stack([corners[pc], nxt[pc], centre_id[face[pc]]], axis=1)

    # Triangulated: fan from a random corner.
    tri_faces = np.flatnonzero(triangulate)
    t_sizes = sizes[tri_faces]
    t_face, t_pos = _face_index(t_sizes)
    shift = (rng.random(len(tri_faces)) * t_sizes).astype(np.int64)
    rotated = corners[starts[tri_faces][t_face] + (t_pos + shift[t_face]) % t_sizes[t_face]]
    fan = MeshArrays("", np.zeros((0, 3)), t_sizes, rotated).triangles.astype(np.int64)

    kept_corners = corners[keep[face]]
    record.poked_faces, record.triangulated_faces = int(poke.sum()), len(tri_faces)
    new_sizes = np.concatenate([sizes[keep], np.full(len(poked_tris) + len(fan), 3, dtype=np.int64)])
    new_corners = np.concatenate([kept_corners, poked_tris.reshape(-1), fan.reshape(-1)])
    # Files list faces in no meaningful order: shuffle them (keeping each face's corners together).
    order = rng.permutation(len(new_sizes))
    n_face, n_pos = _face_index(new_sizes)
    n_starts = np.zeros(len(new_sizes), dtype=np.int64)
    np.cumsum(new_sizes[:-1], out=n_starts[1:])
    o_sizes = new_sizes[order]
    o_face, o_pos = _face_index(o_sizes)
    o_corners = new_corners[n_starts[order][o_face] + o_pos]
    return np.concatenate([vertices, centres]), o_sizes, o_corners


def _open_holes(vertices, sizes, corners, rng, record):
    """Delete 3-10% of the faces: those nearest to 1-4 random seed faces (compact patches)."""
    n_faces = len(sizes)
    target = max(1, int(round(rng.uniform(0.03, 0.10) * n_faces)))
    centroids = _face_centroids(vertices, sizes, corners)
    seeds = centroids[rng.choice(n_faces, size=int(rng.integers(1, 5)), replace=False)]
    nearest = np.min(np.linalg.norm(centroids[:, None, :] - seeds[None, :, :], axis=2), axis=1)
    delete = np.zeros(n_faces, dtype=bool)
    delete[np.argsort(nearest, kind="stable")[:target]] = True
    record.deleted_faces = target
    face, _ = _face_index(sizes)
    return sizes[~delete], corners[~delete[face]]


def _flip_faces(vertices, sizes, corners, rng, record):
    """Reverse the winding of a random share of faces, or of one whole patch (a mirrored part)."""
    n_faces = len(sizes)
    if rng.random() < 0.5:
        flip = rng.random(n_faces) < rng.uniform(0.03, 0.15)
    else:  # a patch around a seed face, up to a quarter of the faces
        centroids = _face_centroids(vertices, sizes, corners)
        seed = centroids[int(rng.integers(n_faces))]
        nearest = np.argsort(np.linalg.norm(centroids - seed, axis=1), kind="stable")
        flip = np.zeros(n_faces, dtype=bool)
        flip[nearest[:max(1, int(rng.uniform(0.05, 0.25) * n_faces))]] = True
    face, position = _face_index(sizes)
    starts = np.zeros(n_faces, dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    reversed_corners = corners[starts[face] + (sizes[face] - position) % sizes[face]]
    record.flipped_faces = int(flip.sum())
    return np.where(flip[face], reversed_corners, corners)


def _drop_unused(vertices, corners):
    used, local = np.unique(corners, return_inverse=True)
    return vertices[used], local.reshape(-1)
