"""Attributes → shape (Allen et al. 2003) on MakeHuman bodies, and the attribute table (pure core)."""

import numpy as np
import pytest

from learning.attribute_space import (AttributeTable, encode_attributes, fit_attribute_space, load_attribute_space,
                                      save_attribute_space)
from learning.shape_space import fit_shape_space
from shapespace.correspondence import stack_same_topology
from shapespace.makehuman import MakeHumanData, body_weight_kg, make_bodies

ATTRIBUTES = ["height_m", "weight_kg", "age_years", "gender", "muscle", "proportions"]


@pytest.fixture(scope="module")
def bodies(makehuman_dir, tmp_path_factory):
    data = MakeHumanData.open(makehuman_dir, cache_path=tmp_path_factory.mktemp("cache") / "targets.npz")
    return make_bodies(data, 60, seed=3)


@pytest.fixture(scope="module")
def fitted(bodies):
    shapes = stack_same_topology(bodies)
    train = slice(0, 48)
    space = fit_shape_space(shapes[train], variance=0.9999)
    table, _ = encode_attributes([b.attributes for b in bodies], ATTRIBUTES, [b.name for b in bodies])
    coefficients = space.project(shapes)
    train_table = AttributeTable(table.columns, table.values[train], table.shape_names[train])
    return space, fit_attribute_space(train_table, coefficients[train], "ridge"), shapes, table, coefficients


def _height(vertices):
    vertices = vertices.reshape(-1, 3)
    return float(vertices[:, 2].max() - vertices[:, 2].min())


def test_height_is_estimated_within_a_centimetre_on_held_out_bodies(fitted):
    space, model, shapes, table, coefficients = fitted
    estimated = model.estimate(coefficients[48:])[:, 0]
    measured = table.values[48:, 0]
    rms = float(np.sqrt(np.mean((estimated - measured) ** 2)))
    assert rms < 0.01, rms
    assert model.estimate_rmse[0] < 0.01  # the cross-validated figure the panel shows agrees


def test_ten_more_centimetres_of_height_keep_the_weight(fitted, bodies):
    space, model, shapes, table, coefficients = fitted
    sizes, corners = bodies[0].face_sizes, bodies[0].corner_vertices
    for i in range(48, 60):
        start = coefficients[i]
        taller = start + model.coefficient_change(0, 0.10)
        before = space.reconstruct(start[None])[0]
        after = space.reconstruct(taller[None])[0]
        assert abs(_height(after) - _height(before) - 0.10) < 0.005
        weight_before, weight_after = model.estimate(np.stack([start, taller]))[:, 1]
        assert abs(weight_after - weight_before) < 0.02 * weight_before
        measured = body_weight_kg(after.reshape(-1, 3), sizes, corners)
        assert abs(measured / body_weight_kg(before.reshape(-1, 3), sizes, corners) - 1.0) < 0.02


def test_all_three_regressions_choose_lambda_by_cross_validation(fitted):
    space, _, shapes, table, coefficients = fitted
    train = AttributeTable(table.columns, table.values[:48], table.shape_names[:48])
    for method in ("least_squares", "ridge", "lasso"):
        model = fit_attribute_space(train, coefficients[:48], method)
        record = model.forward_cv
        assert len(record.validation_error) == (1 if method == "least_squares" else 15)
        assert model.forward.lam == record.lambdas[int(np.argmin(record.validation_error))]
        # the held-out error is never below the training error on average: overfitting is visible
        assert np.mean(record.validation_error) >= np.mean(record.train_error)


def test_attribute_model_file_round_trip(fitted, tmp_path):
    _, model, _, _, coefficients = fitted
    save_attribute_space(tmp_path / "attrs.npz", model, shape_space_file="space.npz", collection="Bodies",
                         method="ridge", metrics={"shapes": 48})
    loaded, metadata = load_attribute_space(tmp_path / "attrs.npz")
    assert loaded.columns == model.columns and metadata["info"]["shape_space"] == "space.npz"
    np.testing.assert_allclose(loaded.estimate(coefficients[:3]), model.estimate(coefficients[:3]))
    np.testing.assert_allclose(loaded.slider_directions(), model.slider_directions())


def test_encoding_numbers_booleans_and_text():
    records = [{"h": 1.0, "arms": True, "style": "modern"}, {"h": 2.0, "arms": False, "style": "classic"},
               {"h": 3.0, "arms": True, "style": "modern"}]
    table, kept = encode_attributes(records, ["h", "arms", "style"], ["a", "b", "c"])
    assert table.columns == ["h", "arms", "style=classic", "style=modern"]
    np.testing.assert_array_equal(table.values[:, 1], [1, 0, 1])
    np.testing.assert_array_equal(table.values[:, 2], [0, 1, 0])


def test_encoding_names_missing_nan_and_constant_attributes():
    records = [{"h": 1.0, "c": 5}, {"h": float("nan"), "c": 5}, {"c": 5}, {"h": 4.0, "c": 5}, {"h": 2.0, "c": 5}]
    names = ["a", "b", "c", "d", "e"]
    with pytest.raises(ValueError, match=r"2 shapes have no usable 'h' \(missing or NaN\): 'b', 'c'"):
        encode_attributes(records, ["h"], names)
    table, kept = encode_attributes(records, ["h"], names, skip_incomplete=True)
    assert list(kept) == [0, 3, 4] and table.shape_names == ["a", "d", "e"]
    with pytest.raises(ValueError, match="'c' is 5 on every shape"):
        encode_attributes(records, ["c"], names)


def test_lambda_at_the_edge_of_the_grid_widens_it_or_says_so():
    from learning.attribute_space import widening_cross_validation

    rng = np.random.default_rng(2)
    x = rng.standard_normal((400, 3))
    # a weak signal under much noise: the best ridge penalty lies beyond the first grid's 10³
    y = 0.005 * x @ rng.standard_normal((3, 2)) + rng.standard_normal((400, 2))
    _, record, note = widening_cross_validation(x, y, "ridge", folds=5)
    assert record.history["widenings"] == 1 and record.lambdas.max() == pytest.approx(1e6)
    best = int(np.argmin(record.validation_error))
    assert 0 < best < len(record.lambdas) - 1 and record.best_lambda > 1e3 and note == ""
    x = x[:30]
    # attributes that do not predict the shape at all: the largest λ wins, and the note says so
    _, record, note = widening_cross_validation(x, np.random.default_rng(0).standard_normal((30, 3)), "ridge",
                                                folds=5)
    assert record.history["widenings"] >= 1
    assert "λ is the largest value tried" in note and "barely predict" in note
    # a clean fit wants λ → 0: the flat end of the grid is the limit already, nothing to say
    _, record, note = widening_cross_validation(x, x @ rng.standard_normal((3, 3)), "ridge", folds=5)
    assert record.best_lambda <= 1e-4 and note == ""


def test_an_attribute_space_keeps_its_notes_in_the_model_file(tmp_path):
    rng = np.random.default_rng(1)  # an attribute that is pure noise (this seed: no lucky fit by chance)
    table = AttributeTable(["noise"], rng.standard_normal((30, 1)), [f"s{i}" for i in range(30)])
    model = fit_attribute_space(table, rng.standard_normal((30, 4)), "ridge")
    assert any("largest value tried" in n for n in model.notes), model.notes
    save_attribute_space(tmp_path / "a.npz", model, shape_space_file="s.npz", collection="C", method="ridge",
                         metrics={})
    loaded, _ = load_attribute_space(tmp_path / "a.npz")
    assert loaded.notes == model.notes
