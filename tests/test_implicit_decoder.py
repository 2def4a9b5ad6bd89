"""The implicit signed-distance decoder on the project's own shapes made hard (rotated anywhere,
rescaled, holes, overlapping parts, flipped faces; canonical pose — solid or surface, whichever fits
the class, then fine alignment — before sampling), trained tiny:
it reproduces its training shapes, generates shapes nearest (by Chamfer) to their own class that copy
none, cleans them into closed outward meshes, completes held-out shapes cut by a plane better than
keeping the known part alone, the logistic baseline and the 32³ VAE (the same cuts, in one test), and
round-trips through a model file without pickle.

The issue's full target (completion IoU ≥ 0.85) is not met; scripts/bench_implicit.py measures it at
the bench's size: see the module doc there for what it found."""

import numpy as np
import pytest

pytest.importorskip("torch")

from learning.implicit_decoder import IMPLICIT_KIND, ImplicitSDF, inside_iou, load_implicit
from learning.volumetric import Conditions, VoxelLogistic, VoxelVAE, half_space_mask, iou
from shapespace.mesh_cleanup import clean_surface, typical_piece_count
from shapespace.primitives import is_closed_manifold, signed_volume
from shapespace.procedural import make_shape
from shapespace.roughen import roughen
from shapespace.signed_distance import class_references, prepare_signed_distances, soft_iou, soft_occupancy

FAMILIES = ("chair", "table", "lamp", "airplane")
TRAIN, HELD_OUT, RESOLUTION = 6, 2, 24
# Bars below what was measured (solid/surface pose, fine alignment, size by reach): reconstruction inside
# IoU 0.83, soft 0.97; completion 0.716 vs known part only 0.574 and logistic 0.578 (soft 0.812 vs 0.562).
# The completion margin: 0.142 measured (0.129 with the old weak prior when fitting the code, prior weight
# 0.01; implicit_decoder.COMPLETION_PRIOR_WEIGHT); the bar leaves 0.02 for other CPUs' float rounding of
# the training, so it guards the completion, not that small step. With the surface pose, RMS size and
# rotations by inside IoU it was 0.646 vs 0.572 and 0.568.
MIN_RECONSTRUCTION_IOU, MIN_RECONSTRUCTION_SOFT_IOU = 0.75, 0.95
COMPLETION_MARGIN, SOFT_COMPLETION_MARGIN = 0.12, 0.22
# With each shape's own symmetry planes filling from the known field (learning.symmetry_fill): 0.728
# (0.716 with the class's middle grid plane voxel by voxel; at 32³ with vases, scripts/completion_gap.py
# `symmetry`, 0.725 vs 0.697); the 32³ VAE on the same grids padded with empty border voxels, 40
# epochs: 0.574 (no better than the known part, 0.574; logistic 0.578). The floor leaves 0.028 for
# other CPUs' rounding of the training; the VAE bar is the logistic's (measured gap 0.154).
MIN_COMPLETION_IOU, VAE_MARGIN = 0.70, COMPLETION_MARGIN
VAE_RESOLUTION, VAE_EPOCHS = 32, 40


def _hard_shapes(count, offset):
    meshes, labels = [], []
    for k, family in enumerate(FAMILIES):
        for i in range(count):
            clean = make_shape(family, 300 + offset + i, same_topology=False)
            meshes.append(roughen(clean, np.random.default_rng([k, offset + i]), (i % 2) == 0, stretch=False,
                                  clutter=False))
            labels.append(k)
    return meshes, np.array(labels)


@pytest.fixture(scope="module")
def trained():
    import torch

    torch.set_num_threads(1)
    meshes, labels = _hard_shapes(TRAIN, 0)
    data = prepare_signed_distances(meshes, labels, resolution=RESOLUTION, samples=1024, seed=0)
    held_meshes, held_labels = _hard_shapes(HELD_OUT, 100)
    references = class_references(data.grids, data.labels, len(FAMILIES))
    held = prepare_signed_distances(held_meshes, held_labels, resolution=RESOLUTION, samples=0, frame=data.frame,
                                    truncation=data.truncation, references=references)
    check_meshes, check_labels = _hard_shapes(1, 200)  # early stopping watches these, never tested on
    check = prepare_signed_distances(check_meshes, check_labels, resolution=RESOLUTION, samples=0, frame=data.frame,
                                     truncation=data.truncation, references=references)
    rng = np.random.default_rng(1)
    check_known = [half_space_mask(RESOLUTION, g < 0, 0.4, rng) for g in check.grids]
    conditions = Conditions.fit(labels, np.zeros((len(labels), 0)), list(FAMILIES), [])
    vectors = conditions.vectors(labels, np.zeros((len(labels), 0)))
    model = ImplicitSDF.create(conditions, data.frame, data.truncation, latent=32, seed=0)
    said = []
    report = model.fit(data.points, data.distances, data.labels, vectors, data.grids, epochs=30,
                       batch_shapes=12, points_per_shape=512, validation=(check.grids, check_known),
                       check_every=10, patience=2, progress=lambda f, m: said.append((f, m)))
    report.said = said
    model.references = references
    model.pieces = np.array([typical_piece_count(data.grids[data.labels == k], data.frame.low, data.frame.pitch)
                             for k in range(len(FAMILIES))])
    return {"model": model, "data": data, "held": held, "vectors": vectors, "report": report,
            "conditions": conditions}


def _surface_cloud(model, grid, count=400, seed=0):
    """Voxel centres within a voxel of the zero level: the surface as points, for Chamfer distances."""
    r = grid.shape[0]
    points = model.grid_points(r)[np.abs(grid.ravel()) < model.frame[3] / r]
    if len(points) == 0:
        points = model.grid_points(r)[np.argsort(grid.ravel())[:20]]
    rng = np.random.default_rng(seed)
    return points[rng.choice(len(points), min(count, len(points)), replace=False)]


def _soft(a, b, truncation):
    """soft_iou of two signed-distance grids on one truncation (signed_distance.soft_occupancy)."""
    return soft_iou(soft_occupancy(a, truncation), soft_occupancy(b, truncation))


def _chamfer(a, b):
    d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    return d.min(axis=1).mean() + d.min(axis=0).mean()


def test_training_converges_and_reproduces_the_training_shapes(trained):
    model, data, report = trained["model"], trained["data"], trained["report"]
    assert report.losses[-1] < report.losses[0]
    # progress: the mirror-plane search first (its own steps, the first tenth), then every epoch
    fractions = [f for f, _ in report.said]
    assert fractions == sorted(fractions) and report.said[0][1].startswith("finding the mirror planes of ")
    planes = [f for f, m in report.said if m.startswith("finding")]
    assert len(planes) >= 3 and planes[-1] == pytest.approx(0.1)
    assert report.said[len(planes)][1].startswith("epoch 1/30")
    assert [epoch for epoch, _ in report.validation][:2] == [10, 20]  # held-out completion watched
    assert report.best_epoch == max(report.validation, key=lambda check: check[1])[0]
    decoded = model.decode_grid(model.codes[::5], trained["vectors"][::5], RESOLUTION)
    scores = [inside_iou(d, g) for d, g in zip(decoded, data.grids[::5])]
    soft = [_soft(d, g, data.truncation) for d, g in zip(decoded, data.grids[::5])]
    print(f"IMPLICIT_RECONSTRUCTION mean IoU {np.mean(scores):.3f}, soft {np.mean(soft):.3f} (loss "
          f"{report.losses[0]:.4f} -> {report.losses[-1]:.4f})")
    # The untrained linear space gives 1.0. Thin shapes have few inside voxels at 24³ (tens), so the
    # inside IoU swings with sub-voxel placement; the soft IoU (signed_distance.soft_iou) measures the surface.
    assert np.mean(scores) > MIN_RECONSTRUCTION_IOU, scores
    assert np.mean(soft) > MIN_RECONSTRUCTION_SOFT_IOU, soft


def test_generated_shapes_are_of_their_class_new_and_clean(trained):
    model, data = trained["model"], trained["data"]
    clouds = [_surface_cloud(model, g) for g in data.grids]
    right, total, closest, single, grown, dropped = 0, 0, [], [], [], []
    for k, family in enumerate(FAMILIES):
        for grid in model.generate(family, 6, seed=k, resolution=RESOLUTION, spread=0.8):
            distances = [_chamfer(_surface_cloud(model, grid), c) for c in clouds]
            right += int(data.labels[int(np.argmin(distances))] == k)
            total += 1
            closest.append(max(inside_iou(grid, g) for g in data.grids))
            mesh, report = clean_surface(grid, data.frame.low, data.frame.pitch, int(model.pieces[k]), name=family)
            assert is_closed_manifold(mesh) and signed_volume(mesh) > 0  # watertight, outward
            assert report.pieces_after <= int(model.pieces[k])
            single.append(report.significant_after == 1)
            grown.append(report.grown)
            dropped.append(report.dropped_share)
    print(f"IMPLICIT_GENERATION {right}/{total} nearest (Chamfer) their class; closest copy IoU "
          f"{max(closest):.3f}; one significant piece {np.mean(single):.2f} after growing "
          f"{np.mean(grown):.2f} voxels on average; volume dropped at most {max(dropped):.3f} "
          f"({int(np.sum(np.array(dropped) > 0.1))} over 10%)")
    assert right >= 0.9 * total  # measured 24 of 24 (22 with the surface pose); the bench (12 per class) 40/40
    assert max(closest) < 0.97
    # measured one piece 0.96; one of 24 lost 31% of its volume to the cleanup (a piece split off; with the
    # surface pose none lost over 3.2%)
    assert np.mean(single) >= 0.9 and np.mean(np.array(dropped) > 0.1) <= 1 / 12


def test_completion_of_held_out_shapes_beats_the_known_part_and_the_logistic_baseline(trained):
    model, held, data = trained["model"], trained["held"], trained["data"]
    logistic = VoxelLogistic.create(trained["conditions"], RESOLUTION)
    logistic.fit((data.grids < 0).astype(np.float32), trained["vectors"], epochs=150)
    # The VAE needs 4·2ⁿ voxels: the same grids with an empty (known) border of 4 voxels, 32³
    border = (VAE_RESOLUTION - RESOLUTION) // 2
    vae = VoxelVAE.create(trained["conditions"], VAE_RESOLUTION, seed=0)
    vae.fit(np.pad((data.grids < 0).astype(np.float32), [(0, 0)] + [(border, border)] * 3), data.labels,
            trained["vectors"], epochs=VAE_EPOCHS, mirror=True)
    inner = (slice(border, border + RESOLUTION),) * 3
    rng = np.random.default_rng(0)
    scores, kept, logistic_scores, vae_scores, soft, soft_kept = [], [], [], [], [], []
    for grid in held.grids:
        occupied = (grid < 0).astype(np.float32)
        known = half_space_mask(RESOLUTION, occupied, rng.uniform(0.3, 0.5), rng)
        removed = 1 - (occupied * known).sum() / occupied.sum()
        assert 0.25 <= removed <= 0.55
        completed, _ = model.complete(grid, known, steps=20)
        scores.append(inside_iou(completed, grid))
        kept.append(iou(occupied * known, occupied))
        logistic_scores.append(iou(logistic.complete(occupied, known)[0], occupied))
        guess = vae.complete(np.pad(occupied, border), np.pad(known, border, constant_values=True))[0]
        vae_scores.append(iou(guess[inner], occupied))
        soft.append(_soft(completed, grid, data.truncation))
        soft_kept.append(_soft(np.where(known, grid, data.truncation), grid, data.truncation))
    print(f"IMPLICIT_COMPLETION implicit {np.mean(scores):.3f} known part only {np.mean(kept):.3f} "
          f"logistic {np.mean(logistic_scores):.3f} VAE {np.mean(vae_scores):.3f}; soft IoU implicit {np.mean(soft):.3f} "
          f"known part only "
          f"{np.mean(soft_kept):.3f}")
    assert np.mean(scores) > np.mean(kept) + COMPLETION_MARGIN
    assert np.mean(scores) > np.mean(logistic_scores) + COMPLETION_MARGIN
    assert np.mean(scores) > np.mean(vae_scores) + VAE_MARGIN
    assert np.mean(scores) > MIN_COMPLETION_IOU
    assert np.mean(soft) > np.mean(soft_kept) + SOFT_COMPLETION_MARGIN


def test_model_files_round_trip(trained, tmp_path):
    model = trained["model"]
    model.save(tmp_path / "implicit.npz", collection="hard", metrics={"completion_iou": 0.6})
    loaded, metadata = load_implicit(tmp_path / "implicit.npz")
    assert metadata["kind"] == IMPLICIT_KIND and metadata["collection"] == "hard"
    assert loaded.conditions.classes == list(FAMILIES) and np.array_equal(loaded.pieces, model.pieces)
    np.testing.assert_allclose(loaded.generate("lamp", 2, seed=3, resolution=16),
                               model.generate("lamp", 2, seed=3, resolution=16), atol=1e-5)
    with np.load(tmp_path / "implicit.npz", allow_pickle=False) as archive:
        assert all(archive[k].dtype != object for k in archive.files)


def test_bad_requests_name_the_problem(trained):
    model = trained["model"]
    with pytest.raises(ValueError, match="Unknown class 'sofa'"):
        model.generate("sofa", 1)
    grid = trained["held"].grids[0]
    with pytest.raises(ValueError, match="Nothing of the shape is known"):
        model.complete(grid, np.zeros(grid.shape, bool))
    with pytest.raises(ValueError, match="has no inside"):
        clean_surface(np.ones((8, 8, 8)), name="blank")


def test_complete_shape_poses_a_cut_roughened_mesh_as_the_model_was_trained(trained, addon):
    """The Complete Shape operator's core (volumetric_support.complete_implicit) on held-out roughened
    meshes with the last 40% along their longest side deleted, as a user marks a missing part: the cut
    mesh is posed like the training shapes (solid and surface poses, the class references' best axis
    turn), then placed as a part of a whole (place_partial: tilt, scale and shift by the soft IoU of
    the known voxels with the class's decoded training shapes), completed with what is there kept as
    it is, and turned back into the mesh's own frame; the result keeps the cut mesh's own faces and adds
    a patch where the model is sure. Measured here at 48³: IoU with the whole shape 0.612 (0.39-0.93),
    the cut mesh itself voxelised the same way 0.612 — this small unaligned model is sure of next to
    nothing at a 40% cut (its guesses in the box add about as much wrong volume as right), so the
    patch is mostly empty and the note says so; the whole's inside outside the box is 0.632. Remeshing
    what was there (the old result) scored 0.50-0.52: it lost thin parts."""
    from shapespace.mesh_arrays import MeshArrays
    from shapespace.signed_distance import robust_solid
    from shapespace.voxels import common_frame, voxelize

    complete = addon.operators.volumes.volumetric_support.complete_implicit
    model = trained["model"]
    meshes, labels = _hard_shapes(HELD_OUT, 100)
    made, alone, left = [], [], []
    for mesh, label in zip(meshes, labels):
        vertices, triangles = mesh.vertices.astype(np.float64), mesh.triangles
        low_corner, high_corner = vertices.min(axis=0), vertices.max(axis=0)
        extent = high_corner - low_corner
        share = np.where(np.arange(3) == np.argmax(extent), 0.4, 1.01)  # the last 40% along the longest side
        low, high = high_corner - share * extent, high_corner + 0.01 * extent
        kept = ~np.all((vertices[triangles].mean(axis=1) >= low) & (vertices[triangles].mean(axis=1) <= high), axis=1)
        cut = MeshArrays(mesh.name, vertices, np.full(int(kept.sum()), 3, np.int32),
                         triangles[kept].reshape(-1).astype(np.int32))
        try:
            done = complete(model, {"info": {"aligned": False}}, cut, mesh.name, low, high, "the box",
                            FAMILIES[label], lambda *a: None, lambda: False, resolution=2 * RESOLUTION, steps=20)
        except ValueError as refused:  # a thin part left that encloses nothing at this coarse grid: said by name
            assert mesh.name in str(refused)
            continue
        completed = done[0]
        frame = common_frame([vertices, completed.vertices], 32)
        truth = robust_solid(vertices, triangles, frame)  # a roughened mesh's inside (flipped faces, holes)
        guess = voxelize(completed.vertices, completed.triangles, frame)
        made.append((truth & guess).sum() / max((truth | guess).sum(), 1))
        as_cut = voxelize(cut.vertices, cut.triangles, frame)
        alone.append((truth & as_cut).sum() / max((truth | as_cut).sum(), 1))
        known = truth.copy()
        centres = np.stack(np.meshgrid(*[frame.centres(a) for a in range(3)], indexing="ij"), axis=-1)
        known[np.all((centres >= low) & (centres <= high), axis=-1)] = False
        left.append(known.sum() / max(truth.sum(), 1))
    print(f"COMPLETE_SHAPE cut roughened meshes: completed IoU {np.round(made, 2)} mean {np.mean(made):.3f}; "
          f"the cut mesh itself {np.mean(alone):.3f}; what was left {np.mean(left):.3f}")
    assert len(made) == len(meshes)  # the placement keeps thin parts: none refused (two were before)
    assert np.mean(made) > 0.58 and min(made) > 0.3  # 0.612, 0.39 measured (0.50, 0.17 when remeshed)
    assert np.all(np.array(made) >= np.array(alone) - 0.005), (made, alone)  # a patch never costs what is there
