"""The hard development benchmark: new procedural families, roughening and the benchmark itself,
with a D2 retrieval that must land well above chance and well below perfect."""

import numpy as np
import pytest

from learning.retrieval_scores import retrieval_scores
from shapespace import primitives as prim
from shapespace.benchmark_families import BENCHMARK_FAMILIES, make_benchmark_shape
from shapespace.descriptors import d2_histogram, sample_surface
from shapespace.hard_benchmark import ALL_CLASSES, hard_benchmark
from shapespace.procedural import make_shape
from shapespace.roughen import axis_rotations, roughen, roughen_with_record

SEEDS = range(6)


@pytest.mark.parametrize("family", BENCHMARK_FAMILIES)
def test_families_are_closed_varied_and_real_sized(family):
    meshes = [make_benchmark_shape(family, s) for s in SEEDS]
    for mesh in meshes:
        mesh.validate()
        assert prim.is_closed_manifold(mesh), mesh.name
        assert prim.signed_volume(mesh) > 0, mesh.name
        assert prim.face_areas(mesh).min() > 1e-12, f"{mesh.name}: a degenerate face"
        assert 200 <= len(mesh.vertices) <= 3000, (mesh.name, len(mesh.vertices))
        assert mesh.attributes["category"] == family
        assert mesh.vertices[:, 2].min() == 0.0
        assert 0.03 < np.ptp(mesh.vertices, axis=0).max() < 80.0  # metres: a cup .. a rocket
    extents = np.array([np.ptp(m.vertices, axis=0) for m in meshes])
    assert (extents.std(axis=0) / extents.mean(axis=0)).max() > 0.03, "shapes of a family must vary"
    styles = {make_benchmark_shape(family, s).attributes["style"] for s in range(16)}
    assert len(styles) >= 3, f"{family}: only sub-styles {styles}"
    again = make_benchmark_shape(family, 3)
    assert np.array_equal(again.vertices, meshes[3].vertices)


def test_enough_classes():
    assert len(BENCHMARK_FAMILIES) >= 15
    assert len(ALL_CLASSES) >= 21 and len(set(ALL_CLASSES)) == len(ALL_CLASSES)


def _clean():
    return make_shape("chair", 11, same_topology=False)


OFF = dict(pose=False, rescale=False, overlaps=False, internal=False, retessellate=False, holes=False, flips=False,
           stretch=False, clutter=False)


def test_roughen_stretches_proportions_and_adds_clutter():
    mesh = _clean()
    extent = np.ptp(mesh.vertices, axis=0)
    kinds = set()
    for seed in range(12):
        out, rec = roughen_with_record(mesh, seed, False, **{**OFF, "stretch": True})
        assert np.all((0.75 <= rec.stretch) & (rec.stretch <= 1.33))
        np.testing.assert_allclose(np.ptp(out.vertices, axis=0), extent * rec.stretch, rtol=1e-5)
        out, rec = roughen_with_record(mesh, seed, False, **{**OFF, "clutter": True})
        kinds.add(rec.clutter)
        added = out.face_count - mesh.face_count
        assert added == (6 if rec.clutter else 0)
        if rec.clutter == "plate":  # under the shape, wider than it
            plate = out.vertices[-8:]
            assert plate[:, 2].max() <= mesh.vertices[:, 2].min() + 1e-6
            assert np.ptp(plate[:, 0]) > extent[0]
    assert kinds == {"", "plate", "prop"}


def test_roughen_rotates_and_rescales():
    mesh = _clean()
    axis_set = axis_rotations()
    assert len(axis_set) == 24 and np.allclose(np.linalg.det(axis_set), 1.0)
    scales = []
    for seed in range(12):
        arbitrary = seed % 2 == 0
        out, rec = roughen_with_record(mesh, seed, arbitrary, **{**OFF, "pose": True, "rescale": True})
        expected = rec.scale * mesh.vertices.astype(np.float64) @ rec.rotation.T + rec.translation
        assert np.allclose(out.vertices, expected, atol=1e-4 * rec.scale)
        assert np.allclose(rec.rotation @ rec.rotation.T, np.eye(3)) and np.linalg.det(rec.rotation) > 0.999
        in_axis_set = np.isclose(np.abs(axis_set - rec.rotation).max(axis=(1, 2)), 0.0).any()
        assert in_axis_set != arbitrary
        assert 0.1 <= rec.scale <= 10.0
        scales.append(rec.scale)
    assert np.ptp(np.log10(scales)) > 0.8, "scales must spread over the 0.1-10x range"


def test_roughen_retessellates_opens_holes_flips_and_adds_parts():
    mesh = _clean()
    area = prim.face_areas(mesh).sum()
    pieces = prim.vertex_components(mesh)[1]

    out, rec = roughen_with_record(mesh, 1, False, **{**OFF, "retessellate": True})
    assert len(out.vertices) > len(mesh.vertices) and out.face_count > mesh.face_count
    assert rec.poked_faces > 0 and rec.triangulated_faces > 0
    assert prim.is_closed_manifold(out)  # poking and re-triangulating keep the surface closed
    assert prim.face_areas(out).sum() == pytest.approx(area, rel=0.02)

    out, rec = roughen_with_record(mesh, 2, False, **{**OFF, "holes": True})
    share = 1 - out.face_count / mesh.face_count
    assert 0.025 <= share <= 0.105 and rec.deleted_faces == mesh.face_count - out.face_count
    assert not prim.is_closed_manifold(out)
    a, b = prim._directed_edges(out)
    n = len(out.vertices)
    assert (~np.isin(b * n + a, a * n + b)).sum() > 0, "deleting faces must leave boundary edges"

    out, rec = roughen_with_record(mesh, 3, False, **{**OFF, "flips": True})
    assert rec.flipped_faces > 0 and out.face_count == mesh.face_count
    assert not prim.is_closed_manifold(out)
    starts = mesh.loop_starts
    same_first = out.corner_vertices[starts] == mesh.corner_vertices[starts]  # the first corner is kept
    changed = np.array([not np.array_equal(out.corner_vertices[s:s + k], mesh.corner_vertices[s:s + k])
                        for s, k in zip(starts, mesh.face_sizes)])
    assert same_first.all() and changed.sum() == rec.flipped_faces

    out, rec = roughen_with_record(mesh, 4, False, **{**OFF, "overlaps": True})
    assert rec.overlap in ("piece", "duplicate") and out.face_count == mesh.face_count + rec.overlap_faces
    assert prim.vertex_components(out)[1] == pieces + 1

    out, rec = roughen_with_record(mesh, 5, False, **{**OFF, "internal": True})
    assert out.face_count == mesh.face_count + rec.internal_faces >= mesh.face_count + 4
    new = out.vertices[len(mesh.vertices):]
    low, high = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    assert ((new > low) & (new < high)).all(), "internal faces must lie inside the shape's box"


def test_roughen_all_keeps_attributes_and_is_deterministic():
    mesh = make_benchmark_shape("mug", 0)
    one, two = roughen(mesh, 9, True), roughen(mesh, 9, True)
    one.validate()
    assert np.array_equal(one.vertices, two.vertices) and np.array_equal(one.corner_vertices, two.corner_vertices)
    assert one.attributes == mesh.attributes and one.attributes["category"] == "mug"
    assert len(one.vertices) != len(mesh.vertices) and not prim.is_closed_manifold(one)
    other = roughen(mesh, 10, True)
    assert other.vertices.shape != one.vertices.shape or not np.allclose(other.vertices, one.vertices)
    with pytest.raises(ValueError, match="has no faces"):
        roughen(type(mesh)("empty", np.zeros((0, 3)), np.zeros(0), np.zeros(0)), 0, False)


@pytest.fixture(scope="module")
def bench():
    return hard_benchmark(per_class=12, seed=3, makehuman=False)


def test_benchmark_layout(bench):
    classes = bench.classes
    assert len(classes) >= 20 and "human" not in classes and "turned off" in bench.human_note
    counts = np.bincount(bench.labels, minlength=len(classes))
    assert (counts == 12).all() and len(bench.shapes) == 12 * len(classes)
    assert all(bench.shapes[i].attributes["category"] == classes[bench.labels[i]] for i in range(len(bench.shapes)))
    for label in range(len(classes)):  # half of every class arbitrarily rotated
        assert bench.arbitrary_rotation[bench.labels == label].sum() == 6
    held = set(bench.held_out_classes)
    assert len(held) >= 5
    train_classes = {classes[c] for c in bench.labels[bench.train_index]}
    test_classes = {classes[c] for c in bench.labels[bench.test_index]}
    assert not held & train_classes and not held & test_classes and test_classes == train_classes
    assert not set(bench.train_index) & set(bench.test_index)
    assert len(bench.train_index) == 9 * len(train_classes)  # 75/25 within each seen class
    retrieval = bench.retrieval_index
    assert {classes[c] for c in bench.labels[retrieval]} == held and len(retrieval) == 12 * len(held)
    assert not set(retrieval) & (set(bench.train_index) | set(bench.test_index))
    assert not any(prim.is_closed_manifold(m) for m in bench.shapes[:40])


def test_benchmark_is_deterministic_and_seeded(bench):
    families = ["chair", "mug", "car"]
    one = hard_benchmark(per_class=4, seed=3, families=families, held_out_classes=["car"], makehuman=False)
    two = hard_benchmark(per_class=4, seed=3, families=families, held_out_classes=["car"], makehuman=False)
    other = hard_benchmark(per_class=4, seed=4, families=families, held_out_classes=["car"], makehuman=False)
    assert all(np.array_equal(a.vertices, b.vertices) for a, b in zip(one.shapes, two.shapes))
    assert np.array_equal(one.train_index, two.train_index)
    assert not np.array_equal(one.shapes[0].vertices[:5], other.shapes[0].vertices[:5])
    # A class's shapes do not depend on which other classes are in the benchmark.
    chair = bench.classes.index("chair")
    alone = hard_benchmark(per_class=12, seed=3, families=["chair", "mug"], held_out_classes=(), makehuman=False)
    assert np.array_equal(alone.shapes[0].vertices, bench.shapes[np.flatnonzero(bench.labels == chair)[0]].vertices)
    with pytest.raises(ValueError, match="unknown benchmark classes"):
        hard_benchmark(per_class=4, families=["chair", "spaceship"], makehuman=False)
    with pytest.raises(ValueError, match="held-out classes"):
        hard_benchmark(per_class=4, families=["chair", "mug"], held_out_classes=["car"], makehuman=False)
    with pytest.raises(ValueError, match="'human' was asked for"):
        hard_benchmark(per_class=4, families=["chair", "human"], held_out_classes=(), makehuman=False)


def test_benchmark_with_makehuman_bodies(makehuman_dir):
    small = hard_benchmark(per_class=2, seed=0, families=["chair", "human"], held_out_classes=(),
                           makehuman=makehuman_dir)
    assert small.has_human and small.classes == ["chair", "human"] and small.human_note == ""
    bodies = [s for s, label in zip(small.shapes, small.labels) if small.classes[label] == "human"]
    assert len(bodies) == 2 and all(len(b.vertices) > 10000 for b in bodies)


def _d2(meshes):
    return np.stack([d2_histogram(sample_surface(m, 1024, 0), 32, pairs=8000, seed=0) for m in meshes])


def test_d2_retrieval_is_above_chance_and_far_from_perfect(bench):
    """The data is hard but not noise. At per_class=40 (26 classes with humans) D2 + L1 scored on
    the 8 held-out classes NN 0.76 / DCG 0.76 (chance 0.12) and over all classes NN 0.72 / DCG 0.70.
    With clutter=True (stretched proportions, plates, props), at per_class=16: NN 0.48 / DCG 0.63."""
    index = bench.retrieval_index
    d2 = _d2(bench.subset(index))
    distances = np.abs(d2[:, None] - d2[None]).sum(axis=-1)
    labels = bench.labels[index]
    s = retrieval_scores(distances, labels, labels, np.arange(len(index)))
    chance = (12 - 1) / (len(index) - 1)
    assert s["nn"] > chance + 0.3 and s["dcg"] > 0.5, s
    assert s["nn"] < 0.92 and s["ft"] < 0.7 and s["dcg"] < 0.9, s
