"""Procedural shape families and their closed-mesh primitives: geometry, topology, attributes, contacts."""

import time

import numpy as np
import pytest

from shapespace import primitives as prim
from shapespace.mesh_arrays import MeshArrays
from shapespace.procedural import (ATTRIBUTES, FAMILIES, PART_LABELS, make_family, make_shape,
                                   shape_seed)

VARIANTS = (True, False)
COUNT = 24  # shapes per family and variant for the checks that are cheap
_CACHE = {}


def _family(family, same_topology, count=COUNT, seed=7):
    key = (family, same_topology, count, seed)
    if key not in _CACHE:
        _CACHE[key] = make_family(family, count, seed=seed, same_topology=same_topology)
    return _CACHE[key]


def _variant_id(same):
    return "same" if same else "varied"


def _part(mesh, label):
    """Vertices (V, 3) float64 of the faces labelled `label`."""
    mask = mesh.face_parts == mesh.part_labels.index(label)
    corners = np.repeat(mask, mesh.face_sizes)
    return mesh.vertices[np.unique(mesh.corner_vertices[corners])].astype(np.float64)


def _components(mesh):
    """[(label, face mask, vertex indices)] for each connected primitive of the mesh."""
    labels, count = prim.vertex_components(mesh)
    face_comp = labels[mesh.corner_vertices[mesh.loop_starts]]
    out = []
    for c in range(count):
        faces = face_comp == c
        parts = np.unique(mesh.face_parts[faces])
        assert len(parts) == 1, f"{mesh.name}: a connected primitive carries several part labels"
        out.append((mesh.part_labels[parts[0]], faces, np.flatnonzero(labels == c)))
    return out


def _winding(points, vertices, tris):
    """Generalized winding number of each point w.r.t. a closed triangle mesh (1 inside, 0 outside)."""
    a = vertices[tris[:, 0]][None] - points[:, None]
    b = vertices[tris[:, 1]][None] - points[:, None]
    c = vertices[tris[:, 2]][None] - points[:, None]
    la, lb, lc = (np.linalg.norm(x, axis=2) for x in (a, b, c))
    det = np.einsum("ptk,ptk->pt", a, np.cross(b, c))
    den = (la * lb * lc + np.einsum("ptk,ptk->pt", a, b) * lc + np.einsum("ptk,ptk->pt", b, c) * la
           + np.einsum("ptk,ptk->pt", c, a) * lb)
    return np.arctan2(det, den).sum(axis=1) / (2 * np.pi)


# --------------------------------------------------------------------------------------------------
# Primitives


def _primitive_cases():
    t = np.linspace(0, 2 * np.pi, 9)[:-1]
    return {
        "box": prim.box((1, 2, 3), (1, 2, 3)),
        "box_subdivided": prim.box((0, 0, 0), (1, 2, 3), (3, 2, 4)),
        "mirrored_hexahedron": prim.hexahedron((prim._BITS - 0.5) * [-1, 1, 1]),
        "tapered_box": prim.tapered_box((0, 0, 0), (0.1, 0.1), (0.05, 0.1, 0.5), (0.05, 0.08), (1, 1, 4)),
        "cylinder": prim.cylinder((0, 0, 0), (0, 0, 2), 0.5, None, 12, 3),
        "frustum": prim.cylinder((0, 0, 0), (1, 1, 1), 0.5, 0.2, 16),
        "slanted_cylinder": prim.cylinder((0, 0, 0), (0.3, 0.2, 1), 0.05, None, 12, 2, section_normal=(0, 0, 1)),
        "revolve": prim.revolve([0.1, 0.3, 0.2, 0.25], [0, 0.2, 0.5, 0.6], 32),
        "revolve_pointed": prim.revolve([0.3, 0.3], [0, 1], 8, bottom_z=-0.2, top_z=1.5, axis=(0, 1, 0)),
        "torus": prim.revolve(0.5 + 0.1 * np.cos(t), 0.1 * np.sin(t), 32, closed=True),
        "ellipsoid": prim.ellipsoid((0, 0, 1), (1, 2, 3), 16, 8),
        "wing": prim.wing((0, 0, 0), 0.3, 0.1, 0.8, 30, 5, sections=3),
        "left_wing": prim.wing((0, 0, 0), 0.3, 0.1, 0.8, 30, 5, span_axis=(-1, 0, 0)),
        "wing_pair": prim.wing((0, 0, 0), 0.3, 0.1, 0.8, 30, 5, mirrored=True, sections=3),
        "fin": prim.wing((0, 0, 0), 0.3, 0.1, 0.4, 40, 0, span_axis=(0, 0, 1), up_axis=(1, 0, 0)),
    }


@pytest.mark.parametrize("name", list(_primitive_cases()))
def test_primitive_is_closed_outward_and_not_degenerate(name):
    mesh = _primitive_cases()[name]
    mesh.validate()
    assert mesh.vertices.dtype == np.float32
    assert prim.is_closed_manifold(mesh)
    assert prim.signed_volume(mesh) > 0
    assert prim.face_areas(mesh).min() > 1e-6
    assert prim.vertex_components(mesh)[1] == 1
    # Outward: every face normal points away from the solid (the centroid of a convex-ish solid).
    centre = mesh.vertices.mean(axis=0)
    if name in ("box", "box_subdivided", "cylinder", "ellipsoid", "revolve_pointed"):
        v = mesh.vertices.astype(np.float64)
        tris = mesh.triangles
        normal = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
        assert (np.einsum("ij,ij->i", normal, v[tris].mean(axis=1) - centre) > 0).all()


def test_primitive_volumes_and_sizes():
    assert prim.signed_volume(prim.box((1, 2, 3), (1, 2, 3), 4)) == pytest.approx(6.0, rel=1e-6)
    # A 12-gon prism: 0.5 n r^2 sin(2 pi / n) h.
    assert prim.signed_volume(_primitive_cases()["cylinder"]) == pytest.approx(0.5 * 12 * 0.25 * np.sin(np.pi / 6) * 2)
    assert len(prim.box((0, 0, 0), 1, 5).vertices) == 6 * 25 + 2
    cyl = prim.cylinder((0, 0, 0), (0, 0, 1), 0.25, None, 16)
    assert np.ptp(cyl.vertices[:, 0]) == pytest.approx(0.5) and np.ptp(cyl.vertices[:, 1]) == pytest.approx(0.5)
    tb = _primitive_cases()["tapered_box"]
    assert tb.vertices[:, 2].min() == 0 and tb.vertices[:, 2].max() == pytest.approx(0.5)
    slanted = _primitive_cases()["slanted_cylinder"]
    assert slanted.vertices[:, 2].min() == 0  # horizontal end rings keep a flat foot
    x, y = prim.airfoil_profile(16, 0.12)
    assert x.min() == 0 and x.max() == 1 and y.max() == pytest.approx(0.06, abs=3e-3)
    assert len(np.unique(np.round(np.column_stack([x, y]), 9), axis=0)) == 16


def test_same_arguments_give_same_topology():
    a = prim.revolve([0.1, 0.3, 0.2], [0, 0.2, 0.5], 24)
    b = prim.revolve([0.2, 0.1, 0.4], [0, 0.3, 0.9], 24)
    assert np.array_equal(a.corner_vertices, b.corner_vertices) and not np.allclose(a.vertices, b.vertices)
    a.corner_vertices[0] = 5  # results are copies: the cached topology is not shared
    assert prim.revolve([0.1, 0.3, 0.2], [0, 0.2, 0.5], 24).corner_vertices[0] != 5


def test_checks_catch_open_flipped_and_split_meshes():
    mesh = prim.box((0, 0, 0), (1, 1, 1), 2)
    assert prim.is_closed_manifold(mesh)
    keep = np.arange(mesh.face_count) != 3
    assert not prim.is_closed_manifold(mesh, keep)  # a hole
    flipped_one = MeshArrays(mesh.name, mesh.vertices, mesh.face_sizes, mesh.corner_vertices.copy())
    flipped_one.corner_vertices[:4] = flipped_one.corner_vertices[:4][::-1]
    assert not prim.is_closed_manifold(flipped_one)  # inconsistent winding
    reversed_all = MeshArrays(mesh.name, mesh.vertices, mesh.face_sizes, mesh.corner_vertices[::-1].copy())
    assert prim.is_closed_manifold(reversed_all) and prim.signed_volume(reversed_all) < 0
    from shapespace.mesh_arrays import concatenate_parts
    two = concatenate_parts("two", [("a", mesh), ("b", prim.box((3, 0, 0), 1))])
    labels, count = prim.vertex_components(two)
    assert count == 2 and labels[:len(mesh.vertices)].max() == 0 and (labels[len(mesh.vertices):] == 1).all()
    inside = _winding(np.array([[0.1, 0.2, 0.3], [0.0, 0.0, 0.9]]), mesh.vertices.astype(float), mesh.triangles)
    assert inside == pytest.approx([1.0, 0.0], abs=1e-9)


# --------------------------------------------------------------------------------------------------
# Families: meshes


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_shape_is_valid_closed_and_grounded(family, same):
    for mesh in _family(family, same):
        mesh.validate()
        assert mesh.vertices.dtype == np.float32 and np.isfinite(mesh.vertices).all()
        assert set(mesh.part_labels) <= set(PART_LABELS[family])
        assert list(mesh.part_labels) == [x for x in PART_LABELS[family] if x in mesh.part_labels]
        assert set(np.unique(mesh.face_parts)) == set(range(len(mesh.part_labels)))  # no empty label
        assert prim.face_areas(mesh).min() > 1e-8, mesh.name
        for k, label in enumerate(mesh.part_labels):
            assert prim.is_closed_manifold(mesh, mesh.face_parts == k), f"{mesh.name}: {label} is not closed"
        for label, faces, _ in _components(mesh):
            assert prim.signed_volume(mesh, faces) > 0, f"{mesh.name}: a {label} primitive is inside out"
        lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
        assert lo[2] == 0.0
        assert abs(lo[0] + hi[0]) < 1e-4  # mirror-symmetric in x
        assert abs(lo[1] + hi[1]) < 0.5 * (hi[1] - lo[1])  # roughly centred in y
        assert len(mesh.vertices) <= 4000


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
@pytest.mark.parametrize("family", FAMILIES)
def test_attributes_are_complete_and_plain(family, same):
    for mesh in _family(family, same):
        attrs = mesh.attributes
        assert list(attrs) == ["category", "family_variant", *ATTRIBUTES[family]]
        assert attrs["category"] == family
        assert attrs["family_variant"] == ("same_topology" if same else "varied_topology")
        for key, value in attrs.items():
            assert type(value) in (str, float, int, bool), (key, type(value))
            if type(value) is float:
                assert np.isfinite(value) and value >= 0, (key, value)


def test_same_seed_same_shape_and_family_seeds_are_derived():
    for family in FAMILIES:
        for same in VARIANTS:
            a, b = make_family(family, 3, seed=11, same_topology=same), make_family(family, 3, seed=11,
                                                                                   same_topology=same)
            for x, y in zip(a, b):
                assert x.name == y.name and x.attributes == y.attributes and x.part_labels == y.part_labels
                for field in ("vertices", "face_sizes", "corner_vertices", "face_parts"):
                    assert np.array_equal(getattr(x, field), getattr(y, field))
            single = make_shape(family, shape_seed(family, 11, 2), same)
            assert np.array_equal(single.vertices, a[2].vertices) and single.attributes == a[2].attributes
            assert [m.name for m in a] == [f"{family}_000", f"{family}_001", f"{family}_002"]
            other = make_family(family, 3, seed=12, same_topology=same)
            assert not any(np.array_equal(m.vertices, o.vertices) for m in a for o in other
                           if m.vertices.shape == o.vertices.shape)
    assert make_shape("vase", 7).name == "vase_007"
    with pytest.raises(ValueError, match="unknown family"):
        make_shape("sofa", 0)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_topology_family_shares_connectivity(family):
    shapes = _family(family, True)
    first = shapes[0]
    for mesh in shapes[1:]:
        assert np.array_equal(mesh.face_sizes, first.face_sizes)
        assert np.array_equal(mesh.corner_vertices, first.corner_vertices)
        assert np.array_equal(mesh.face_parts, first.face_parts)
        assert mesh.part_labels == first.part_labels
        assert first.part_labels == tuple(x for x in PART_LABELS[family] if not (family == "vase" and x == "handle"))
        assert mesh.vertices.shape == first.vertices.shape
        assert not np.allclose(mesh.vertices, first.vertices, atol=1e-3)


@pytest.mark.parametrize("family", FAMILIES)
def test_varied_family_varies_topology(family):
    shapes = _family(family, False)
    assert len({len(m.vertices) for m in shapes}) >= 3
    assert len({m.part_labels for m in shapes} | {len(m.face_sizes) for m in shapes}) >= 2
    assert set().union(*(m.part_labels for m in shapes)) == set(PART_LABELS[family])


def test_varied_families_cover_their_options():
    chairs = _family("chair", False, 60)
    assert {m.attributes["leg_count"] for m in chairs} == {1, 3, 4, 5}
    assert {m.attributes["has_arms"] for m in chairs} == {True, False}
    tables = _family("table", False, 60)
    assert {m.attributes["round_top"] for m in tables} == {True, False}
    assert {1, 3, 4, 6} <= {m.attributes["leg_count"] for m in tables}
    assert {m.attributes["engine_count"] for m in _family("airplane", False, 60)} == {0, 2, 4}
    assert {m.attributes["handle_count"] for m in _family("vase", False, 60)} == {0, 2}
    for family in FAMILIES:  # the same-topology variant keeps one structure
        shapes = _family(family, True)
        for key in ("leg_count", "has_arms", "round_top", "engine_count", "handle_count"):
            if key in ATTRIBUTES[family]:
                assert len({m.attributes[key] for m in shapes}) == 1


# --------------------------------------------------------------------------------------------------
# Families: attributes describe the geometry


def _extent(points, axis):
    return float(points[:, axis].max() - points[:, axis].min())


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
def test_chair_attributes_match_geometry(same):
    for mesh in _family("chair", same):
        a, v = mesh.attributes, mesh.vertices.astype(np.float64)
        assert a["height"] == pytest.approx(_extent(v, 2), abs=1e-4)
        assert 0.8 <= a["height"] <= 1.1
        seat = _part(mesh, "seat")
        assert a["seat_width"] == pytest.approx(_extent(seat, 0), abs=1e-4)
        assert a["seat_depth"] == pytest.approx(_extent(seat, 1), abs=1e-4)
        assert a["seat_height"] == pytest.approx(seat[:, 2].max(), abs=1e-4)
        assert a["back_height"] == pytest.approx(a["height"] - a["seat_height"], abs=1e-4)
        assert _part(mesh, "back")[:, 2].max() == pytest.approx(a["height"], abs=1e-4)
        assert 0 <= a["back_angle"] <= 20
        legs = [c for c in _components(mesh) if c[0] == "leg"]
        assert a["leg_count"] == len(legs)
        for _, _, idx in legs:  # every leg stands on the floor and reaches into the seat
            assert v[idx, 2].min() == pytest.approx(0.0, abs=1e-6)
            assert v[idx, 2].max() > a["seat_height"] - 0.07
            if a["leg_count"] > 1:  # square side or diameter, at the leg's top
                top = v[idx][v[idx, 2] > v[idx, 2].max() - 1e-5]
                assert _extent(top, 0) == pytest.approx(a["leg_thickness"], abs=1e-4)
        assert a["has_arms"] == ("arm" in mesh.part_labels)
        if a["has_arms"]:
            assert sum(c[0] == "arm" for c in _components(mesh)) == 4  # two armrests on two posts


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
def test_table_attributes_match_geometry(same):
    for mesh in _family("table", same):
        a, v = mesh.attributes, mesh.vertices.astype(np.float64)
        assert a["height"] == pytest.approx(_extent(v, 2), abs=1e-4)
        assert 0.7 <= a["height"] <= 0.8
        top = _part(mesh, "top")
        assert a["top_width"] == pytest.approx(_extent(top, 0), abs=1e-4)
        assert a["top_depth"] == pytest.approx(_extent(top, 1), abs=1e-4)
        assert a["top_thickness"] == pytest.approx(_extent(top, 2), abs=1e-4)
        assert top[:, 2].max() == pytest.approx(a["height"], abs=1e-4)
        legs = [c for c in _components(mesh) if c[0] == "leg"]
        assert a["leg_count"] == len(legs)
        if a["leg_count"] > 1:
            idx = legs[0][2]
            topmost = v[idx][v[idx, 2] > v[idx, 2].max() - 1e-5]
            assert _extent(topmost, 0) == pytest.approx(a["leg_thickness"], abs=1e-4)
        assert a["has_apron"] == ("apron" in mesh.part_labels)
        if a["round_top"]:
            assert a["top_width"] == a["top_depth"]


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
def test_lamp_attributes_match_geometry(same):
    for mesh in _family("lamp", same):
        a, v = mesh.attributes, mesh.vertices.astype(np.float64)
        assert a["height"] == pytest.approx(_extent(v, 2), abs=1e-4)
        shade, stem, base = _part(mesh, "shade"), _part(mesh, "stem"), _part(mesh, "base")
        assert a["shade_height"] == pytest.approx(_extent(shade, 2), abs=1e-4)
        assert a["shade_radius"] == pytest.approx(np.hypot(shade[:, 0], shade[:, 1]).max(), abs=1e-4)
        assert a["stem_thickness"] == pytest.approx(_extent(stem, 0), abs=1e-4)
        assert a["base_radius"] == pytest.approx(_extent(base, 0) / 2, abs=1e-4)
        assert shade[:, 2].max() == pytest.approx(a["height"], abs=1e-4)


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
def test_airplane_attributes_match_geometry(same):
    for mesh in _family("airplane", same):
        a, v = mesh.attributes, mesh.vertices.astype(np.float64)
        assert a["length"] == pytest.approx(_extent(v, 1), abs=1e-4)
        assert 1.0 <= a["length"] <= 1.8
        assert a["wingspan"] == pytest.approx(_extent(v, 0), abs=1e-4)
        assert a["wingspan"] == pytest.approx(_extent(_part(mesh, "wing"), 0), abs=1e-4)
        fuselage = _part(mesh, "fuselage")
        assert a["fuselage_radius"] == pytest.approx(_extent(fuselage, 0) / 2, abs=1e-4)
        assert _extent(fuselage, 1) == pytest.approx(a["length"], abs=1e-4)  # nothing sticks out behind
        assert a["engine_count"] == sum(c[0] == "engine" for c in _components(mesh))
        # Leading-edge sweep, from the wing's foremost points at the root and at the tip.
        wing = _part(mesh, "wing")
        tip = wing[wing[:, 0] > wing[:, 0].max() - 1e-5]
        root = wing[np.abs(wing[:, 0]) < 1e-5]
        sweep = np.degrees(np.arctan2(tip[:, 1].min() - root[:, 1].min(), tip[:, 0].max()))
        assert a["wing_sweep"] == pytest.approx(sweep, abs=0.05)


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
def test_vase_attributes_match_geometry(same):
    for mesh in _family("vase", same):
        a, v = mesh.attributes, mesh.vertices.astype(np.float64)
        assert a["height"] == pytest.approx(_extent(v, 2), abs=1e-4)
        body = _part(mesh, "body")
        radial = np.hypot(body[:, 0], body[:, 1])
        assert a["max_radius"] == pytest.approx(radial.max(), abs=1e-4)
        widest = body[radial > radial.max() - 1e-5]
        assert a["belly_height"] == pytest.approx(widest[:, 2].mean() / a["height"], abs=1e-4)
        assert 0.0 < a["neck_radius"] < a["max_radius"] and a["lip_flare"] >= 0
        assert a["handle_count"] == sum(c[0] == "handle" for c in _components(mesh))


# --------------------------------------------------------------------------------------------------
# Families: parts touch


def _touching(mesh, comps, i, j, tol=1e-3):
    """True if a vertex of primitive i lies inside primitive j (or within tol of its box and inside)."""
    v = mesh.vertices.astype(np.float64)
    tris_j = mesh.triangles[np.repeat(comps[j][1], np.maximum(mesh.face_sizes - 2, 0))]
    pts = v[comps[i][2]]
    lo, hi = v[comps[j][2]].min(axis=0) - tol, v[comps[j][2]].max(axis=0) + tol
    pts = pts[((pts >= lo) & (pts <= hi)).all(axis=1)]
    for start in range(0, len(pts), 48):
        if (_winding(pts[start:start + 48], v, tris_j) > 0.5).any():
            return True
    return False


@pytest.mark.parametrize("same", VARIANTS, ids=_variant_id)
@pytest.mark.parametrize("family", FAMILIES)
def test_parts_touch_and_form_one_assembly(family, same):
    """Every primitive pokes into another one, and contacts join all primitives into one piece."""
    for mesh in _family(family, same):
        comps = _components(mesh)
        v = mesh.vertices
        boxes = [(v[idx].min(axis=0) - 1e-3, v[idx].max(axis=0) + 1e-3) for _, _, idx in comps]
        n = len(comps)
        reached, frontier = {0}, [0]
        edges = set()
        while frontier:
            i = frontier.pop()
            for j in range(n):
                if j in reached:
                    continue
                overlap = (boxes[i][0] <= boxes[j][1]).all() and (boxes[j][0] <= boxes[i][1]).all()
                if overlap and (_touching(mesh, comps, i, j) or _touching(mesh, comps, j, i)):
                    reached.add(j)
                    frontier.append(j)
                    edges.add((comps[i][0], comps[j][0]))
        missing = sorted({comps[k][0] for k in range(n) if k not in reached})
        assert len(reached) == n, f"{mesh.name}: {missing} do not touch the rest"
        if len(mesh.part_labels) > 1:  # every label touches another label
            touching = {a for e in edges for a in e if e[0] != e[1]}
            assert touching == set(mesh.part_labels), mesh.name


# --------------------------------------------------------------------------------------------------
# Families: sizes, distinctness, speed


def test_families_look_different():
    """Bounding-box proportions alone tell the families apart on average."""
    means = {}
    for family in FAMILIES:
        ext = np.array([m.vertices.max(axis=0) - m.vertices.min(axis=0) for m in _family(family, False)])
        means[family] = np.array([ext[:, 2].mean(), (ext[:, 2] / ext[:, :2].max(axis=1)).mean()])
    for i, f in enumerate(FAMILIES):
        for g in FAMILIES[i + 1:]:
            assert np.abs(np.log(means[f] / means[g])).max() > 0.15, (f, g, means[f], means[g])


def test_generation_is_fast():
    start = time.perf_counter()
    for family in FAMILIES:
        make_family(family, 100, seed=3, same_topology=False)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0 * 2.5  # about 0.1 s per family of 100 here; generous for slow machines
