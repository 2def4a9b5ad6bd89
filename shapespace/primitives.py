"""Closed-mesh primitives as MeshArrays, built with numpy grids (no per-vertex Python loops).

Every primitive is a closed 2-manifold surface: each edge is shared by exactly two faces that run
along it in opposite directions, and faces are counter-clockwise seen from outside, so the signed
volume is positive. Side walls are quads; caps are triangle fans around a centre vertex (never an
n-gon), so no face is degenerate as long as the inputs are (positive radii, sizes and lengths).
Each primitive checks its own winding with the signed volume and flips it when the geometry is
mirrored (a left wing, a negative size), so callers never have to think about orientation.

Geometry is computed in float64 and stored as MeshArrays' float32. Units are the caller's (Design
Space uses metres, Z up). Topologies are cached per grid shape, so meshes built with the same
arguments except positions share identical `face_sizes` and `corner_vertices` (copies, not views).

Also here: small mesh checks that work on any MeshArrays (`signed_volume`, `face_areas`,
`is_closed_manifold`, `vertex_components`), used by the tests and useful for voxelisation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .mesh_arrays import MeshArrays

__all__ = [
    "hexahedron", "box", "tapered_box", "loft", "circular_sections", "cylinder", "revolve", "ellipsoid",
    "airfoil_profile", "wing", "signed_volume", "face_areas", "is_closed_manifold", "vertex_components",
]


# --------------------------------------------------------------------------------------------------
# Topology helpers (cached; positions are filled in per call)


def _triangles(sizes: np.ndarray, corners: np.ndarray) -> np.ndarray:
    return MeshArrays("", np.zeros((0, 3)), sizes, corners).triangles


def _reversed_corners(sizes: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Each face's corners in the opposite order, keeping its first corner: [c0, ck-1, ..., c1]."""
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    face = np.repeat(np.arange(len(sizes)), sizes)
    j = np.arange(len(corners)) - starts[face]
    return corners[starts[face] + (sizes[face] - j) % sizes[face]]


def _topology(sizes, corners):
    sizes = np.asarray(sizes, dtype=np.int32)
    corners = np.asarray(corners, dtype=np.int32)
    topo = (sizes, corners, _triangles(sizes, corners), _reversed_corners(sizes, corners).astype(np.int32))
    for array in topo:
        array.setflags(write=False)
    return topo


def _tri_volume(vertices: np.ndarray, tris: np.ndarray) -> float:
    a, b, c = vertices[tris[:, 0]], vertices[tris[:, 1]], vertices[tris[:, 2]]
    return float(np.einsum("ij,ij->", a, np.cross(b, c))) / 6.0


def _mesh(name: str, vertices: np.ndarray, topo) -> MeshArrays:
    """MeshArrays with outward winding: the cached winding, or its reverse if the volume is negative."""
    sizes, corners, tris, flipped = topo
    vertices = np.asarray(vertices, dtype=np.float64)
    if not np.isfinite(vertices).all():
        raise ValueError(f"{name}: non-finite vertex positions")
    # Volume relative to the centroid: exact for a closed surface and better conditioned far from 0.
    volume = _tri_volume(vertices - vertices.mean(axis=0), tris)
    return MeshArrays(name, vertices, sizes.copy(), (flipped if volume < 0 else corners).copy())


@lru_cache(maxsize=128)
def _hexahedron_topology(nx: int, ny: int, nz: int):
    """Surface lattice of an (nx, ny, nz)-subdivided cube: unit coordinates (V, 3) and quads."""
    n = (nx, ny, nz)
    lookup = -np.ones((nx + 1, ny + 1, nz + 1), dtype=np.int64)
    surface = np.zeros(lookup.shape, dtype=bool)
    surface[[0, -1], :, :] = True
    surface[:, [0, -1], :] = True
    surface[:, :, [0, -1]] = True
    lattice = np.argwhere(surface)
    lookup[tuple(lattice.T)] = np.arange(len(lattice))
    quads = []
    for axis in range(3):
        b, c = (axis + 1) % 3, (axis + 2) % 3  # e_b x e_c = e_axis
        for side, (u, v) in ((0, (c, b)), (n[axis], (b, c))):
            iu, iv = np.meshgrid(np.arange(n[u]), np.arange(n[v]), indexing="ij")
            iu, iv = iu.ravel(), iv.ravel()
            corners = []
            for du, dv in ((0, 0), (1, 0), (1, 1), (0, 1)):
                idx = [None, None, None]
                idx[axis] = np.full(iu.shape, side)
                idx[u] = iu + du
                idx[v] = iv + dv
                corners.append(lookup[idx[0], idx[1], idx[2]])
            quads.append(np.stack(corners, axis=1))
    quads = np.concatenate(quads)
    unit = lattice / np.array(n, dtype=np.float64)
    unit.setflags(write=False)
    return unit, _topology(np.full(len(quads), 4), quads.ravel())


@lru_cache(maxsize=256)
def _loft_topology(sections: int, points: int, closed: bool):
    """Quads between consecutive rings (and ring S-1 -> 0 when closed), else fans to two centres."""
    idx = np.arange(sections * points).reshape(sections, points)
    nxt = np.roll(idx, -1, axis=1)
    s1 = np.arange(sections) + 1
    if not closed:
        s1 = s1[:-1]
    s0 = s1 - 1
    s1 = s1 % sections
    quads = np.stack([idx[s0], nxt[s0], nxt[s1], idx[s1]], axis=-1).reshape(-1, 4)
    if closed:
        return _topology(np.full(len(quads), 4), quads.ravel())
    start, end = sections * points, sections * points + 1
    start_fan = np.stack([np.full(points, start), nxt[0], idx[0]], axis=1)
    end_fan = np.stack([np.full(points, end), idx[-1], nxt[-1]], axis=1)
    sizes = np.concatenate([np.full(len(quads), 4), np.full(2 * points, 3)])
    return _topology(sizes, np.concatenate([quads.ravel(), start_fan.ravel(), end_fan.ravel()]))


def _subdivisions(subdivisions) -> tuple[int, int, int]:
    n = np.broadcast_to(np.asarray(subdivisions, dtype=np.int64), (3,))
    if (n < 1).any():
        raise ValueError(f"subdivisions must be >= 1, got {subdivisions}")
    return int(n[0]), int(n[1]), int(n[2])


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    length = np.linalg.norm(vector)
    if not length > 0:
        raise ValueError("zero-length direction")
    return vector / length


def _frame(axis):
    """Two unit vectors (u, v) with (u, v, axis) right-handed; u is +Z for a horizontal axis,
    +X for the Z axis, so ring angle 0 is the top of a horizontal tube and +X of a vertical one."""
    w = _unit(axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(w[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = _unit(helper - helper.dot(w) * w)
    return u, np.cross(w, u)


# --------------------------------------------------------------------------------------------------
# Boxes


def hexahedron(corners, subdivisions=1, name: str = "hexahedron") -> MeshArrays:
    """A closed six-sided solid from 8 corners, its faces subdivided into a grid.

    `corners[i + 2 j + 4 k]` is the corner at unit coordinates (i, j, k) in {0, 1}^3 (x fastest);
    inner points are trilinear. `subdivisions` is an int or (nx, ny, nz); the mesh has
    2 (nx ny + ny nz + nz nx) quads. The solid must not fold over itself.
    """
    corners = np.asarray(corners, dtype=np.float64).reshape(8, 3)
    unit, topo = _hexahedron_topology(*_subdivisions(subdivisions))
    x, y, z = unit[:, 0:1], unit[:, 1:2], unit[:, 2:3]
    weights = np.concatenate([(1 - x) * (1 - y) * (1 - z), x * (1 - y) * (1 - z), (1 - x) * y * (1 - z),
                              x * y * (1 - z), (1 - x) * (1 - y) * z, x * (1 - y) * z, (1 - x) * y * z,
                              x * y * z], axis=1)
    return _mesh(name, weights @ corners, topo)


_BITS = np.array([[i, j, k] for k in (0, 1) for j in (0, 1) for i in (0, 1)], dtype=np.float64)


def box(center, size, subdivisions=1, name: str = "box") -> MeshArrays:
    """Axis-aligned box; `subdivisions` (int or per axis) splits each face into a grid
    (6 n^2 + 2 vertices for n per axis)."""
    size = np.broadcast_to(np.asarray(size, dtype=np.float64), (3,))
    if not (size > 0).all():
        raise ValueError(f"box size must be positive, got {size}")
    corners = np.asarray(center, dtype=np.float64) + (_BITS - 0.5) * size
    return hexahedron(corners, subdivisions, name)


def tapered_box(bottom_center, bottom_size, top_center, top_size, subdivisions=1,
                name: str = "tapered_box") -> MeshArrays:
    """A solid between two horizontal rectangles: bottom (sx, sy) at bottom_center, top at top_center.

    Moving the top sideways shears it (a splayed leg, a reclined backrest); different sizes taper it.
    Both caps stay horizontal, so the lowest and highest z are exactly the two centres' z.
    """
    b, t = np.asarray(bottom_center, dtype=np.float64), np.asarray(top_center, dtype=np.float64)
    bs, ts = np.asarray(bottom_size, dtype=np.float64), np.asarray(top_size, dtype=np.float64)
    if not ((bs > 0).all() and (ts > 0).all() and t[2] > b[2]):
        raise ValueError("tapered_box needs positive sizes and a top above its bottom")
    half = _BITS[:4, :2] - 0.5
    bottom = np.column_stack([b[:2] + half * bs, np.full(4, b[2])])
    top = np.column_stack([t[:2] + half * ts, np.full(4, t[2])])
    return hexahedron(np.concatenate([bottom, top]), subdivisions, name)


# --------------------------------------------------------------------------------------------------
# Lofts: rings of points joined by quads, closed by fans or wrapped into a torus


def loft(sections, start_apex=None, end_apex=None, closed: bool = False, name: str = "loft") -> MeshArrays:
    """A closed surface through rings of points `sections` (S, P, 3), S >= 2 (S >= 3 when closed).

    Consecutive rings are joined by quads. Open lofts are closed at both ends by a triangle fan
    around a centre vertex: `start_apex` / `end_apex`, by default the ring's centroid (a flat cap).
    `closed=True` also joins the last ring to the first (a torus-like surface, no caps).
    Rings must run the same way round; the winding is made outward whatever that way is.
    Vertex order: ring by ring, then the start and end centres.
    """
    sections = np.asarray(sections, dtype=np.float64)
    s, p = sections.shape[:2]
    if s < (3 if closed else 2) or p < 3:
        raise ValueError(f"loft needs at least {3 if closed else 2} rings of 3 points, got {sections.shape}")
    vertices = sections.reshape(-1, 3)
    if not closed:
        start = sections[0].mean(axis=0) if start_apex is None else np.asarray(start_apex, dtype=np.float64)
        end = sections[-1].mean(axis=0) if end_apex is None else np.asarray(end_apex, dtype=np.float64)
        vertices = np.concatenate([vertices, start[None], end[None]])
    return _mesh(name, vertices, _loft_topology(s, p, bool(closed)))


def circular_sections(centers, radii, u, v, segments: int, phase: float = 0.0) -> np.ndarray:
    """Rings (S, segments, 3): centre + r_u cos(a) u + r_v sin(a) v, a = phase + 2 pi k / segments.

    `radii` is (S,) for circles or (S, 2) for ellipses; `u`, `v` are (3,) or per ring (S, 3).
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
    radii = np.asarray(radii, dtype=np.float64)
    radii = np.broadcast_to(radii[:, None] if radii.ndim == 1 else radii, (len(centers), 2))
    if not (radii > 0).all():
        raise ValueError("ring radii must be positive")
    u = np.broadcast_to(np.asarray(u, dtype=np.float64), centers.shape)
    v = np.broadcast_to(np.asarray(v, dtype=np.float64), centers.shape)
    angle = phase + 2.0 * np.pi * np.arange(segments) / segments
    cos, sin = np.cos(angle), np.sin(angle)
    return (centers[:, None, :] + (radii[:, 0:1] * cos)[:, :, None] * u[:, None, :]
            + (radii[:, 1:2] * sin)[:, :, None] * v[:, None, :])


def cylinder(p0, p1, radius0, radius1=None, segments: int = 16, rings: int = 1, section_normal=None,
             name: str = "cylinder") -> MeshArrays:
    """A capped cylinder or frustum from p0 (radius0) to p1 (radius1), `rings` bands along its axis.

    Rings are perpendicular to the axis, unless `section_normal` is given (e.g. (0, 0, 1): horizontal
    rings, so a slanted leg keeps a flat foot at p0's z). Ring angle 0 points along +X for a vertical
    axis (+Z for a horizontal one), so with `segments` a multiple of 4 the x and y extents of a
    vertical cylinder are exactly 2 radius.
    """
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    radius1 = radius0 if radius1 is None else radius1
    if segments < 3 or rings < 1:
        raise ValueError("cylinder needs segments >= 3 and rings >= 1")
    axis = _unit(p1 - p0)
    if section_normal is None:
        u, v = _frame(axis)
    else:
        normal = _unit(section_normal)
        if abs(normal.dot(axis)) < 1e-6:
            raise ValueError("section_normal must not be perpendicular to the cylinder axis")
        u, v = _frame(normal)
    t = np.linspace(0.0, 1.0, rings + 1)
    centers = p0 + t[:, None] * (p1 - p0)
    radii = radius0 + t * (radius1 - radius0)
    return loft(circular_sections(centers, radii, u, v, segments), name=name)


def revolve(profile_r, profile_z, segments: int = 32, closed: bool = False, center=(0.0, 0.0, 0.0),
            axis=(0.0, 0.0, 1.0), bottom_z=None, top_z=None, phase: float = 0.0,
            name: str = "revolve") -> MeshArrays:
    """A surface of revolution of the profile (r_k, z_k) (r > 0) about `axis` through `center`.

    Open profiles are closed at both ends by fans around a vertex on the axis, at the profile's end
    heights (flat caps) or at `bottom_z` / `top_z` (pointed or domed ends). `closed=True` revolves a
    closed profile loop (a torus-like ring, no caps). z is measured along `axis` from `center`.
    Ring angle 0 is +X for the Z axis (+Z for a horizontal axis); with segments a multiple of 4 the
    extents across the axis are exactly 2 max(r).
    """
    r = np.asarray(profile_r, dtype=np.float64)
    z = np.asarray(profile_z, dtype=np.float64)
    if r.shape != z.shape or r.ndim != 1:
        raise ValueError("profile_r and profile_z must be 1-D arrays of the same length")
    w = _unit(axis)
    u, v = _frame(w)
    c = np.asarray(center, dtype=np.float64)
    sections = circular_sections(c + z[:, None] * w, r, u, v, segments, phase)
    start = c + (z[0] if bottom_z is None else bottom_z) * w
    end = c + (z[-1] if top_z is None else top_z) * w
    return loft(sections, None if closed else start, None if closed else end, closed=closed, name=name)


def ellipsoid(center, radii, segments: int = 16, rings: int = 8, name: str = "ellipsoid") -> MeshArrays:
    """An axis-aligned ellipsoid: `rings - 1` latitude rings of `segments` points plus two poles."""
    if rings < 3 or segments < 3:
        raise ValueError("ellipsoid needs rings >= 3 and segments >= 3")
    c = np.asarray(center, dtype=np.float64)
    rx, ry, rz = np.broadcast_to(np.asarray(radii, dtype=np.float64), (3,))
    lat = np.pi * np.arange(1, rings) / rings
    centers = c + np.outer(-rz * np.cos(lat), [0.0, 0.0, 1.0])
    ring_r = np.column_stack([rx * np.sin(lat), ry * np.sin(lat)])
    sections = circular_sections(centers, ring_r, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), segments)
    return loft(sections, c - (0.0, 0.0, rz), c + (0.0, 0.0, rz), name=name)


# --------------------------------------------------------------------------------------------------
# Wings


def airfoil_profile(points: int = 16, thickness: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """A closed symmetric NACA 00xx section of unit chord: (x along the chord, y across it).

    `points` (even, >= 4) run from the trailing edge (x = 1) over the upper side to the leading edge
    (x = 0) and back under; the section is convex and no two points coincide.
    """
    if points < 4 or points % 2:
        raise ValueError("airfoil_profile needs an even number of points >= 4")
    phi = 2.0 * np.pi * np.arange(points) / points
    x = 0.5 * (1.0 + np.cos(phi))
    yt = 5.0 * thickness * (0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3 - 0.1036 * x**4)
    y = np.where(np.abs(np.sin(phi)) < 1e-12, 0.0, np.sign(np.sin(phi)) * np.maximum(yt, 0.0))
    return x, y


def wing(root_le, root_chord: float, tip_chord: float, semispan: float, sweep_deg: float = 0.0,
         dihedral_deg: float = 0.0, thickness: float = 0.12, span_axis=(1.0, 0.0, 0.0),
         chord_axis=(0.0, 1.0, 0.0), up_axis=(0.0, 0.0, 1.0), sections: int = 2, profile_points: int = 16,
         mirrored: bool = False, name: str = "wing") -> MeshArrays:
    """A tapered, swept wing: airfoil sections lofted from the root to the tip, capped by fans.

    The root section's leading edge is at `root_le`; the tip lies `semispan` along `span_axis`,
    its leading edge moved `semispan tan(sweep)` along `chord_axis` (back) and
    `semispan tan(dihedral)` along `up_axis`. Chord and thickness (a fraction of the chord) taper
    linearly. `sections` >= 2 spanwise rings from root to tip. `mirrored=True` makes both halves in
    one closed piece (tip to tip through the root, 2 sections - 1 rings). For a fin use
    span_axis=(0, 0, 1), up_axis=(1, 0, 0).
    """
    if sections < 2 or not (semispan > 0 and root_chord > 0 and tip_chord > 0):
        raise ValueError("wing needs sections >= 2 and positive semispan and chords")
    le = np.asarray(root_le, dtype=np.float64)
    span, chord, up = _unit(span_axis), _unit(chord_axis), _unit(up_axis)
    t = np.linspace(0.0, 1.0, sections)
    if mirrored:
        t = np.concatenate([-t[:0:-1], t])
    s = np.abs(t) * semispan
    lead = (le + np.outer(t * semispan, span) + np.outer(s * np.tan(np.radians(sweep_deg)), chord)
            + np.outer(s * np.tan(np.radians(dihedral_deg)), up))
    c = root_chord + np.abs(t) * (tip_chord - root_chord)
    x, y = airfoil_profile(profile_points, thickness)
    rings = (lead[:, None, :] + (c[:, None] * x)[:, :, None] * chord
             + (c[:, None] * y)[:, :, None] * up)
    return loft(rings, name=name)


# --------------------------------------------------------------------------------------------------
# Checks for any MeshArrays


def signed_volume(mesh: MeshArrays, face_mask=None) -> float:
    """Volume enclosed by the (masked) faces; positive for a closed, outward-wound surface."""
    tris = _masked_triangles(mesh, face_mask)
    vertices = mesh.vertices.astype(np.float64)
    if len(tris) == 0:
        return 0.0
    return _tri_volume(vertices - vertices[np.unique(tris)].mean(axis=0), tris)


def face_areas(mesh: MeshArrays) -> np.ndarray:
    """(F,) area of each face (norm of its vector area, from the fan triangles)."""
    v = mesh.vertices.astype(np.float64)
    tris = mesh.triangles
    cross = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    face = np.repeat(np.arange(mesh.face_count), np.maximum(mesh.face_sizes - 2, 0))
    vector_area = np.stack([np.bincount(face, cross[:, k], minlength=mesh.face_count) for k in range(3)], 1)
    return 0.5 * np.linalg.norm(vector_area, axis=1)


def _masked_triangles(mesh: MeshArrays, face_mask):
    tris = mesh.triangles
    if face_mask is None:
        return tris
    face = np.repeat(np.arange(mesh.face_count), np.maximum(mesh.face_sizes - 2, 0))
    return tris[np.asarray(face_mask, dtype=bool)[face]]


def _directed_edges(mesh: MeshArrays, face_mask=None) -> tuple[np.ndarray, np.ndarray]:
    sizes = mesh.face_sizes.astype(np.int64)
    starts = mesh.loop_starts.astype(np.int64)
    face = np.repeat(np.arange(len(sizes)), sizes)
    j = np.arange(len(mesh.corner_vertices)) - starts[face]
    nxt = starts[face] + (j + 1) % sizes[face]
    a = mesh.corner_vertices.astype(np.int64)
    b = a[nxt]
    if face_mask is not None:
        keep = np.asarray(face_mask, dtype=bool)[face]
        a, b = a[keep], b[keep]
    return a, b


def is_closed_manifold(mesh: MeshArrays, face_mask=None) -> bool:
    """True if every edge of the (masked) faces is used by exactly two of them, in opposite
    directions: a closed, consistently oriented 2-manifold surface (no boundary, no T-junction)."""
    a, b = _directed_edges(mesh, face_mask)
    if len(a) == 0 or (a == b).any():
        return False
    n = int(max(a.max(), b.max())) + 1
    forward = a * n + b
    if len(np.unique(forward)) != len(forward):
        return False  # an edge used twice the same way: inconsistent orientation or non-manifold
    return bool(np.isin(b * n + a, forward).all())


def edge_component_roots(a: np.ndarray, b: np.ndarray, count: int) -> np.ndarray:
    """(count,) for every node of the graph with edges (a[i], b[i]) the smallest node of its
    connected component (label propagation with pointer jumping, vectorised)."""
    labels = np.arange(count)
    while True:
        low = np.minimum(labels[a], labels[b])
        new = labels.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]  # pointer jumping
        if np.array_equal(new, labels):
            return labels
        labels = new


def vertex_components(mesh: MeshArrays, face_mask=None) -> tuple[np.ndarray, int]:
    """Connected components over the (masked) faces' edges: (per-vertex label, count).

    Vertices not used by a masked face get label -1. Labels are 0..count-1 in vertex order.
    """
    a, b = _directed_edges(mesh, face_mask)
    n = len(mesh.vertices)
    used = np.zeros(n, dtype=bool)
    used[a] = True
    labels = edge_component_roots(a, b, n)
    roots, dense = np.unique(labels[used], return_inverse=True)
    out = -np.ones(n, dtype=np.int64)
    out[used] = dense.reshape(-1)
    return out, len(roots)
