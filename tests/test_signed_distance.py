"""Truncated signed distance on meshes as people have them: exact distances (against brute force and
an analytic box), the sign through holes, overlapping parts and flipped faces, training samples
near the surface, exact axis rotations of grids, and the per-class alignment of rotated copies."""

import numpy as np
import pytest

from shapespace.canonical_pose import axis_rotations
from shapespace.mesh_arrays import MeshArrays
from shapespace.primitives import box
from shapespace.procedural import make_shape
from shapespace.roughen import random_rotation
from shapespace.signed_distance import (best_axis_rotation, cube_frame, point_triangle_distances,
                                        prepare_signed_distances, rotate_grid, sample_training_points,
                                        signed_distance_grid, unsigned_distance)


def _box_distance(points, half):
    """Exact signed distance to the axis-aligned box [-half, half]."""
    q = np.abs(points) - half
    outside = np.linalg.norm(np.maximum(q, 0), axis=1)
    inside = np.minimum(q.max(axis=1), 0)
    return outside + inside


def test_point_triangle_distances_match_dense_sampling():
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=(200, 3)) for _ in range(3))
    p = rng.normal(size=(200, 3)) * 2
    exact = point_triangle_distances(p, a, b, c)
    u, w = np.meshgrid(np.linspace(0, 1, 81), np.linspace(0, 1, 81))
    inside = u + w <= 1
    u, w = u[inside], w[inside]
    dense = a[:, None] + u[None, :, None] * (b - a)[:, None] + w[None, :, None] * (c - a)[:, None]
    sampled = np.linalg.norm(dense - p[:, None], axis=2).min(axis=1)
    assert np.all(exact <= sampled + 1e-9)  # never above a point of the triangle
    assert np.max(sampled - exact) < 0.03  # and as close as the samples' spacing allows
    flat = point_triangle_distances(p[:3], a[:3], a[:3], b[:3])  # degenerate: a segment
    assert np.all(np.isfinite(flat))


def test_unsigned_distance_equals_brute_force_on_a_procedural_chair():
    chair = make_shape("chair", 4, same_topology=False)
    v, t = chair.vertices.astype(np.float64), chair.triangles
    rng = np.random.default_rng(1)
    points = rng.uniform(v.min(axis=0) - 0.1, v.max(axis=0) + 0.1, size=(400, 3))
    truncation = 0.08
    fast = unsigned_distance(points, v, t, truncation)
    brute = np.array([point_triangle_distances(np.repeat(p[None], len(t), 0), v[t[:, 0]], v[t[:, 1]],
                                               v[t[:, 2]]).min() for p in points])
    np.testing.assert_allclose(fast, np.minimum(brute, truncation), atol=1e-9)
    assert (brute < truncation).sum() > 20  # the test does reach the band


def test_signed_grid_of_a_box_is_exact_in_the_band():
    mesh = box((0, 0, 0), (1.0, 0.6, 0.8))
    frame = cube_frame(0.8, 32)
    truncation = 3 * frame.pitch
    grid = signed_distance_grid(mesh.vertices, mesh.triangles, frame, truncation)
    truth = np.clip(_box_distance(frame.points(), np.array([0.5, 0.3, 0.4])), -truncation, truncation)
    assert grid.dtype == np.float32 and grid.shape == (32, 32, 32)
    np.testing.assert_allclose(grid.ravel(), truth, atol=1e-5)


def _holed_overlapping_flipped():
    """Two overlapping boxes, one with its faces wound inwards, the other with two faces deleted."""
    a = box((0, 0, 0), (1.0, 0.5, 0.5), subdivisions=4)
    b = box((0.4, 0.3, 0), (0.4, 0.6, 0.4), subdivisions=4)
    a_tris = a.triangles
    a_tris = np.delete(a_tris, [0, 5], axis=0)  # a hole
    b_tris = b.triangles[:, ::-1] + len(a.vertices)  # the whole piece flipped
    vertices = np.concatenate([a.vertices, b.vertices])
    return vertices, np.concatenate([a_tris, b_tris]), (a, b)


def test_sign_survives_holes_overlaps_and_flipped_pieces():
    vertices, triangles, (a, b) = _holed_overlapping_flipped()
    frame = cube_frame(0.9, 32)
    grid = signed_distance_grid(vertices, triangles, frame, 3 * frame.pitch)
    points = frame.points()
    truth = np.minimum(_box_distance(points, np.array([0.5, 0.25, 0.25])),
                       _box_distance(points - np.array([0.4, 0.3, 0]), np.array([0.2, 0.3, 0.2])))
    agree = ((grid.ravel() < 0) == (truth < 0)).mean()
    assert agree > 0.995, agree
    near = np.abs(truth) < 3 * frame.pitch
    assert np.median(np.abs(np.abs(grid.ravel()[near]) - np.abs(truth[near]))) < 1e-6


def test_training_points_are_near_the_surface_and_signed_like_the_truth():
    mesh = box((0, 0, 0), (1.0, 0.6, 0.8), subdivisions=3)
    frame = cube_frame(0.8, 32)
    points, sdf = sample_training_points(mesh, frame, 3000, near_share=0.8, rng=0)
    assert points.shape == (3000, 3) and sdf.shape == (3000,)
    truth = np.clip(_box_distance(points.astype(np.float64), np.array([0.5, 0.3, 0.4])), -3 * frame.pitch,
                    3 * frame.pitch)
    assert np.mean(np.abs(sdf - truth) < 1e-4) > 0.97  # exact magnitude, sign wrong only a hair from the surface
    assert np.mean(np.abs(truth[:2400]) < 2 * frame.pitch) > 0.85  # the near share is near
    with pytest.raises(ValueError, match="'empty' has no faces"):
        sample_training_points(MeshArrays("empty", np.zeros((3, 3)), [], []), frame, 10)


def test_axis_rotations_of_grids_are_exact():
    chair = make_shape("chair", 2, same_topology=False)
    v = chair.vertices.astype(np.float64) - (chair.vertices.max(0) + chair.vertices.min(0)) / 2
    frame = cube_frame(1.1 * np.abs(v).max(), 24)
    grid = signed_distance_grid(v, chair.triangles, frame)
    for rotation in axis_rotations()[[5, 11, 17]]:
        turned = signed_distance_grid(v @ rotation.T, chair.triangles, frame)
        np.testing.assert_allclose(rotate_grid(grid, rotation), turned, atol=1e-5)
        back, _, score = best_axis_rotation(turned, [grid])
        assert score == pytest.approx(1.0) and np.allclose(back @ rotation, np.eye(3))


def test_prepared_set_aligns_rotated_copies_and_maps_back():
    """Copies of one chair turned anywhere and rescaled land on one grid (canonical pose + the axis
    rotation search); unaligned, the copies' grids would hardly overlap."""
    rng = np.random.default_rng(3)
    chair = make_shape("chair", 2, same_topology=False)
    moved = [MeshArrays(f"copy_{i}", chair.vertices @ random_rotation(rng).T * (i + 1) + i, chair.face_sizes,
                        chair.corner_vertices) for i in range(3)]
    data = prepare_signed_distances(moved, [0, 0, 0], resolution=24, samples=500)
    assert data.grids.shape == (3, 24, 24, 24) and data.points.shape == (3, 500, 3)
    inside = data.grids < 0
    pair = [np.logical_and(inside[i], inside[j]).sum() / np.logical_or(inside[i], inside[j]).sum()
            for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(pair) > 0.9, pair
    back = data.to_mesh_frame(1, data.meshes[1].vertices)
    np.testing.assert_allclose(back, moved[1].vertices, atol=1e-4)


def _balls(centres_radii, resolution=32, half=1.0):
    frame = cube_frame(half, resolution)
    points = frame.points()
    distance = np.min([np.linalg.norm(points - np.asarray(c), axis=1) - r for c, r in centres_radii], axis=0)
    return distance.reshape((resolution,) * 3), frame


def test_clean_surface_drops_specks_keeps_the_largest_and_joins_near_touching_pieces():
    from shapespace.mesh_cleanup import clean_surface, surface_pieces, typical_piece_count
    from shapespace.primitives import is_closed_manifold, signed_volume

    grid, frame = _balls([((-0.4, 0, 0), 0.35), ((0.5, 0, 0), 0.25), ((0, 0.7, 0.6), 0.07)])
    mesh, report = clean_surface(grid, frame.low, frame.pitch, pieces=1, max_grow=0.0)
    assert report.pieces_before == 3 and report.significant_before == 2 and report.pieces_after == 1
    assert 0.2 < report.dropped_share < 0.35  # the smaller ball (0.25³ / (0.35³ + 0.25³) ≈ 0.27) and the speck
    assert is_closed_manifold(mesh) and signed_volume(mesh) > 0
    assert abs(signed_volume(mesh) - 4 / 3 * np.pi * 0.35 ** 3) < 0.1 * 4 / 3 * np.pi * 0.35 ** 3
    both, report = clean_surface(grid, frame.low, frame.pitch, pieces=2)
    assert report.pieces_after == 2 and report.dropped_share < 0.01  # only the speck goes
    # Two balls 1.2 voxels apart join when each surface may grow by up to 3/4 voxel.
    gap = 1.2 * frame.pitch
    grid, frame = _balls([((-0.3 - gap / 2, 0, 0), 0.3), ((0.3 + gap / 2, 0, 0), 0.3)])
    joined, report = clean_surface(grid, frame.low, frame.pitch, pieces=1)
    assert report.significant_before == 2 and report.significant_after == 1
    assert 0 < report.grown <= 0.75 and report.dropped_share < 0.01
    _, volumes = surface_pieces(joined)
    assert len(volumes) == 1
    assert typical_piece_count([grid, _balls([((0, 0, 0), 0.4)])[0]], frame.low, frame.pitch) in (1, 2)


def _far_flipped_box():
    """A box far from the origin with a third of its faces wound the wrong way, and a second,
    separate box whose every face is wound inwards."""
    a = box((40.0, -25.0, 10.0), (1.0, 0.6, 0.8), subdivisions=4)
    b = box((41.2, -25.0, 10.0), (0.5, 0.5, 0.5), subdivisions=2)
    rng = np.random.default_rng(5)
    a_tris = a.triangles.copy()
    flip = rng.random(len(a_tris)) < 0.33
    a_tris[flip] = a_tris[flip][:, ::-1]
    vertices = np.concatenate([a.vertices, b.vertices]).astype(np.float64)
    return vertices, np.concatenate([a_tris, b.triangles[:, ::-1] + len(a.vertices)]), a


def test_consistent_winding_turns_flipped_faces_back():
    from shapespace.primitives import signed_volume
    from shapespace.signed_distance import consistently_wound, outward_pieces

    vertices, triangles, a = _far_flipped_box()
    wound = consistently_wound(triangles)
    count = len(a.triangles)
    # Each piece agrees with itself again: the box's faces all one way, as the original or all reversed.
    same = np.all(wound[:count] == a.triangles, axis=1)
    assert same.all() or (~same).all()
    outward = outward_pieces(vertices, triangles)
    first = MeshArrays.from_faces("a", vertices, outward[:count])
    second = MeshArrays.from_faces("b", vertices, outward[count:])
    assert signed_volume(first) == pytest.approx(1.0 * 0.6 * 0.8, rel=1e-5)
    assert signed_volume(second) == pytest.approx(0.5 ** 3, rel=1e-5)


def test_robust_solid_survives_flipped_patches_and_holes_far_from_the_origin():
    from shapespace.signed_distance import robust_solid

    vertices, triangles, _ = _far_flipped_box()
    # a hole: the faces of one side of the big box gone (its piece is open; its volume measured about
    # the world origin, 40 units away, says nothing about which way it faces)
    centroids = vertices[triangles].mean(axis=1)
    triangles = triangles[~(centroids[:, 2] > 10.39)]
    frame = cube_frame(1.2, 32)
    frame = type(frame)((40.3 - 1.2, -25.0 - 1.2, 10.0 - 1.2), 2.4, 32)
    points = frame.points() - np.array([40.0, -25.0, 10.0])
    truth = (np.minimum(_box_distance(points, np.array([0.5, 0.3, 0.4])),
                        _box_distance(points - np.array([1.2, 0, 0]), np.array([0.25] * 3))) < 0)
    inside = robust_solid(vertices, triangles, frame).ravel()
    agree = (inside == truth).mean()
    print(f"ROBUST_SOLID agreement {agree:.4f}, inside IoU {(inside & truth).sum() / (inside | truth).sum():.3f}")
    assert agree > 0.995 and (inside & truth).sum() / (inside | truth).sum() > 0.95


def test_refine_similarity_takes_out_a_small_tilt_and_shift():
    from shapespace.signed_distance import refine_similarity

    chair = make_shape("chair", 3, same_topology=False)
    v = chair.vertices.astype(np.float64) - (chair.vertices.max(0) + chair.vertices.min(0)) / 2
    frame = cube_frame(1.1 * np.abs(v).max(), 24)
    angle = np.radians(7.0)
    tilt = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    shift = np.array([0.6, -0.4, 0.3]) * frame.pitch
    reference = signed_distance_grid(v, chair.triangles, frame)
    moved = signed_distance_grid(v @ tilt.T + shift, chair.triangles, frame)
    q, t, s, score = refine_similarity(moved, reference, frame)
    undone = (v @ tilt.T + shift) * s @ q.T + t  # the refined transform applied to the moved shape
    error = np.sqrt(((undone - v) ** 2).sum(1).mean()) / frame.pitch
    print(f"REFINE residual {error:.3f} voxels, soft IoU {score:.3f}")
    assert error < 0.35 and score > 0.9


def _roughened_copies(families, copies, seed):
    from shapespace.roughen import roughen

    meshes, labels = [], []
    for k, family in enumerate(families):
        clean = make_shape(family, 500, same_topology=False)
        for c in range(copies):
            meshes.append(roughen(clean, np.random.default_rng([k, c, seed]), c % 2 == 0, stretch=False,
                                  clutter=False))
            labels.append(k)
    return meshes, np.array(labels)


def test_roughened_copies_of_one_shape_share_one_canonical_grid():
    """Pose quality on the hard shapes: copies of one chair and one table, each rotated anywhere,
    rescaled, holed, with overlapping parts, internal and flipped faces, agree in their canonical
    grids (solid or surface pose, whichever fits the class reference, then fine alignment), far
    better than with the surface pose and axis rotations alone."""
    from shapespace.signed_distance import soft_iou, soft_occupancy

    meshes, labels = _roughened_copies(("chair", "table"), 3, 9)
    scores = {}
    for name, options in (("new", {}), ("surface only", {"pose": "SURFACE", "refine": False})):
        data = prepare_signed_distances(meshes, labels, resolution=24, samples=0, **options)
        soft = [soft_occupancy(g) for g in data.grids]
        scores[name] = np.mean([soft_iou(soft[i], soft[j]) for i in range(len(soft)) for j in range(i + 1, len(soft))
                                if labels[i] == labels[j]])
    print(f"POSE_COPIES soft IoU of copies: {scores['new']:.3f} (surface pose, axis rotations only: "
          f"{scores['surface only']:.3f})")
    assert scores["new"] > 0.85 and scores["new"] > scores["surface only"] + 0.15  # measured 0.915 vs 0.672


def test_a_new_shape_aligns_to_a_trained_sets_references():
    """align_to_references (the path for one new shape, e.g. one to complete): a fourth roughened copy
    of a chair lands on the first three's grids and finds their class among two."""
    from shapespace.signed_distance import align_to_references, class_references, soft_iou, soft_occupancy

    meshes, labels = _roughened_copies(("chair", "table"), 4, 11)
    train = np.flatnonzero(np.arange(len(meshes)) % 4 != 3)
    data = prepare_signed_distances([meshes[i] for i in train], labels[train], resolution=24, samples=0)
    references = class_references(data.grids, data.labels, 2)
    new = meshes[3]  # the chair's fourth copy
    grid, turned, pose, rotation, k, score = align_to_references(new, data.frame, data.truncation, references)
    np.testing.assert_allclose(turned.vertices, pose.apply(new.vertices) @ rotation.T, atol=1e-9)
    own = [soft_iou(soft_occupancy(grid), soft_occupancy(g)) for g in data.grids[data.labels == 0]]
    print(f"ALIGN_NEW class {k}, soft IoU to the reference {score:.3f}, to the other copies {np.round(own, 3)}")
    assert k == 0 and score > 0.85 and min(own) > 0.8
