"""Volumetric learning on procedural families (32³): the conditional VAE generates shapes of the class
asked for that copy no training shape, completes held-out shapes with 30–50% removed better than the
per-voxel logistic regression, and classifies; model files round-trip without pickle."""

import numpy as np
import pytest

pytest.importorskip("torch")

from learning.volumetric import (Conditions, VoxelLogistic, VoxelVAE, completion_scores, half_space_mask, iou,
                                 load_volumetric)
from shapespace.isosurface import expected_volume_level
from shapespace.procedural import ATTRIBUTES, FAMILIES, make_family
from shapespace.voxels import frame_around, voxelize

RESOLUTION = 32
# 40 a class (60 measured 0.75 completion; 40 gives 0.73 in two thirds of the time: this is the fast option's
# test, the completion goal is measured on the implicit decoder in test_implicit_decoder.py)
TRAIN, HELD_OUT = 40, 4


@pytest.fixture(scope="module")
def trained():
    import torch

    torch.set_num_threads(1)  # two threads beside another busy process ran 5 epochs in 115 s, one in 23 s
    names = sorted({a for family in FAMILIES for a in ATTRIBUTES[family]})
    grids, labels, attributes = [], [], []
    for k, family in enumerate(FAMILIES):
        for shape in make_family(family, TRAIN + HELD_OUT, seed=1, same_topology=False):
            frame = frame_around(shape.vertices.min(axis=0), shape.vertices.max(axis=0), RESOLUTION)
            grids.append(voxelize(shape.vertices, shape.triangles, frame))
            labels.append(k)
            attributes.append([float(shape.attributes.get(a, np.nan)) for a in names])
    grids, labels, attributes = np.array(grids, np.float32), np.array(labels), np.array(attributes)
    held = np.zeros(len(grids), bool)
    for k in range(len(FAMILIES)):
        held[np.flatnonzero(labels == k)[-HELD_OUT:]] = True
    conditions = Conditions.fit(labels[~held], attributes[~held], list(FAMILIES), names)
    vectors = conditions.vectors(labels, attributes)
    vae = VoxelVAE.create(conditions, RESOLUTION, seed=0)
    # 40 epochs: 19/20 nearest their class, completion 0.723 against the logistic's 0.694 (60: 0.727, a
    # third longer)
    result = vae.fit(grids[~held], labels[~held], vectors[~held], epochs=40)
    assert result.ok, result.message
    logistic = VoxelLogistic.create(conditions, RESOLUTION)
    logistic.fit(grids[~held], vectors[~held], epochs=150)
    return {"vae": vae, "logistic": logistic, "grids": grids, "labels": labels, "held": held,
            "conditions": conditions}


def test_generated_shapes_are_of_the_class_asked_for_and_new(trained):
    vae, conditions = trained["vae"], trained["conditions"]
    train_grids = trained["grids"][~trained["held"]]
    train_labels = trained["labels"][~trained["held"]]
    right, closest = 0, []
    for k, family in enumerate(FAMILIES):
        row, notes = conditions.request(family)
        assert notes == []
        samples = vae.generate(conditions.vectors([k], row[None])[0], 4, seed=k)
        for p in samples:
            shape = p > expected_volume_level(p)
            scores = np.array([iou(shape, g) for g in train_grids])
            best_per_class = [scores[train_labels == c].max() for c in range(len(FAMILIES))]
            right += int(np.argmax(best_per_class) == k)
            closest.append(scores.max())
    print(f"VOLUMETRIC_GENERATION {right}/20 nearest their class; closest copy IoU {max(closest):.3f}")
    assert right >= 18, f"{right} of 20 generated shapes are nearest to a training shape of their class"
    assert max(closest) < 0.97  # no copy of a training shape


def test_completion_beats_the_logistic_baseline(trained):
    grids = trained["grids"][trained["held"]]
    rng = np.random.default_rng(0)
    vae_scores, logistic_scores = [], []
    for grid in grids:
        known = half_space_mask(RESOLUTION, grid, rng.uniform(0.3, 0.5), rng)
        removed = 1 - (grid * known).sum() / grid.sum()
        assert 0.28 <= removed <= 0.52
        vae_scores.append(iou(trained["vae"].complete(grid, known)[0], grid))
        logistic_scores.append(iou(trained["logistic"].complete(grid, known)[0], grid))
    print(f"VOLUMETRIC_COMPLETION vae {np.mean(vae_scores):.3f} logistic {np.mean(logistic_scores):.3f}")
    assert np.mean(vae_scores) >= 0.70, np.mean(vae_scores)  # measured 0.727 (logistic 0.694)
    assert np.mean(vae_scores) > np.mean(logistic_scores) + 0.02, (np.mean(vae_scores), np.mean(logistic_scores))


def test_the_encoder_classifies(trained):
    held = trained["held"]
    predicted = trained["vae"].classify(trained["grids"][held]).argmax(axis=1)
    assert (predicted == trained["labels"][held]).mean() >= 0.9


def test_interpolation_moves_from_one_shape_to_the_other(trained):
    vae, grids, labels = trained["vae"], trained["grids"], trained["labels"]
    a, b = np.flatnonzero(labels == 0)[0], np.flatnonzero(labels == 2)[0]  # a chair and a lamp
    va = trained["conditions"].vectors([0], np.full((1, len(trained["conditions"].attribute_names)), np.nan))[0]
    vb = trained["conditions"].vectors([2], np.full((1, len(trained["conditions"].attribute_names)), np.nan))[0]
    strip = vae.interpolate(grids[a], grids[b], va, vb, 5) > 0.5
    to_a = [iou(s, grids[a]) for s in strip]
    to_b = [iou(s, grids[b]) for s in strip]
    assert to_a[0] > to_a[-1] and to_b[-1] > to_b[0]  # it moves from A towards B
    assert to_a[0] > to_b[0] + 0.2 and to_b[-1] > to_a[-1] + 0.2  # and starts at A, ends at B


def test_model_files_round_trip(trained, tmp_path):
    for name in ("vae", "logistic"):
        model = trained[name]
        model.size_weights = np.arange(model.conditions.size + 1, dtype=np.float64)
        model.save(tmp_path / f"{name}.npz", collection="shapes", metrics={"completion_iou": 0.8})
        loaded, metadata = load_volumetric(tmp_path / f"{name}.npz")
        assert metadata["collection"] == "shapes" and loaded.conditions.classes == list(FAMILIES)
        assert np.array_equal(loaded.size_weights, model.size_weights)
        grid = trained["grids"][3]
        known = half_space_mask(RESOLUTION, grid, 0.4, np.random.default_rng(1))
        np.testing.assert_allclose(loaded.complete(grid, known)[0], model.complete(grid, known)[0], atol=1e-5)
    with np.load(tmp_path / "vae.npz", allow_pickle=False) as archive:
        assert all(archive[k].dtype != object for k in archive.files)


def test_requests_out_of_range_are_clamped_and_said(trained):
    conditions = trained["conditions"]
    row, notes = conditions.request("chair", {"height": 9.0})
    assert row[conditions.attribute_names.index("height")] == pytest.approx(conditions.high[0, conditions.attribute_names.index("height")])
    assert "height 9 is outside what 'chair' shapes showed" in notes[0]
    _, notes = conditions.request("chair", {"wingspan": 3.0})
    assert notes == ["'chair' shapes have no wingspan; ignored"]
    with pytest.raises(ValueError, match="Unknown class 'sofa'"):
        conditions.request("sofa")
    with pytest.raises(ValueError, match="Unknown attribute 'colour'"):
        conditions.request("chair", {"colour": 1.0})


def test_completion_scores_helper_uses_the_same_cut(trained):
    grid = trained["grids"][trained["held"]][:2]
    scores = completion_scores(trained["vae"], grid, 0.4, seed=3)
    assert len(scores) == 2 and all(0 < s <= 1 for s in scores)
