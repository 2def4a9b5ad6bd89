"""The probabilistic part model (Kalogerakis et al. 2012), parts and contact slots (pure core)."""

import numpy as np
import pytest

from learning.part_model import (fit_part_model, held_out_comparison, load_part_model, part_table,
                                 save_part_model)
from shapespace.mesh_arrays import concatenate_parts
from shapespace.parts import describe_collection, split_parts
from shapespace.primitives import box
from shapespace.procedural import make_family


def _table(family, count, seed=2):
    shapes = make_family(family, count, seed=seed, same_topology=False)
    parts, labels = describe_collection(shapes)
    return part_table(parts, labels, [s.name for s in shapes]), parts, labels


@pytest.mark.parametrize("family", ["chair", "table"])
def test_the_full_model_beats_its_ablations_on_held_out_shapes(family):
    table, _, _ = _table(family, 100)
    scores = held_out_comparison(table, folds=4)
    full = scores.pop("full")
    for ablation, score in scores.items():
        assert full > score, (ablation, full, scores)


def test_styles_and_edges_are_learned_and_the_file_round_trips(tmp_path):
    table, _, labels = _table("chair", 60)
    model = fit_part_model(table)
    assert model.shape_styles >= 2 and max(model.component_styles) >= 2
    save_part_model(tmp_path / "parts.npz", model, table, collection="Chairs", metrics={"shapes": 60})
    loaded, loaded_table, metadata = load_part_model(tmp_path / "parts.npz")
    np.testing.assert_allclose(loaded.log_likelihood(table), model.log_likelihood(table))
    assert loaded.labels == labels and loaded_table.names == table.names and metadata["collection"] == "Chairs"
    draws = [loaded.sample(np.random.default_rng(5)) for _ in range(2)]
    assert str(draws[0]) == str(draws[1])  # the same seed draws the same


def test_contact_slots_are_shared_by_the_parts_that_meet():
    seat = box((0, 0, 0.45), (0.5, 0.5, 0.05), 2, "seat")
    leg = box((0, 0, 0.2), (0.05, 0.05, 0.46), 1, "leg")  # reaches 1 cm into the seat
    lamp = box((2, 0, 0.5), (0.1, 0.1, 0.1), 1, "lamp")  # touches nothing
    shape = concatenate_parts("stool", [("seat", seat), ("leg", leg), ("lamp", lamp)])
    parts = split_parts(shape)
    assert set(parts["seat"].contacts) == {"leg"} and parts["leg"].contacts["seat"] is parts["seat"].contacts["leg"]
    low, high = parts["leg"].contacts["seat"]
    assert abs(low[2] - 0.425) < 0.01 and high[2] < 0.45  # where the leg enters the seat
    assert parts["leg"].grounded and not parts["seat"].grounded and not parts["lamp"].contacts


def test_unlabelled_shapes_and_too_few_shapes_are_named():
    shapes = make_family("chair", 3, seed=1)
    shapes[1].face_parts = None
    with pytest.raises(ValueError, match="1 shape has no part labels: 'chair_001'"):
        describe_collection(shapes)
    table, _, _ = _table("chair", 3)
    with pytest.raises(ValueError, match="3 shapes are too few"):
        fit_part_model(table)
