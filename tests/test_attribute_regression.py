import numpy as np
import pytest

from learning.attribute_regression import cross_validate, fit_linear_map, fit_with_cross_validation


def _data(n=60, m=6, k=3, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, m)) * [1, 5, 0.1, 2, 1, 1] + [0, 10, 3, 0, 0, 0]
    true = np.zeros((m, k))
    true[0] = [2.0, -1.0, 0.5]
    true[1] = [0.0, 0.3, 0.0]
    y = x @ true + 4.0 + noise * rng.standard_normal((n, k))
    return x, y, true


def test_least_squares_recovers_a_linear_map():
    x, y, true = _data(noise=0.0)
    model = fit_linear_map(x, y, "least_squares")
    np.testing.assert_allclose(model.predict(x), y, atol=1e-8)
    np.testing.assert_allclose(model.output_change(0, 1.0), true[0], atol=1e-8)


def test_ridge_matches_the_closed_form_on_standardized_inputs():
    x, y, _ = _data()
    model = fit_linear_map(x, y, "ridge", lam=3.0)
    xs = (x - x.mean(0)) / x.std(0)
    expected = np.linalg.solve(xs.T @ xs + 3.0 * np.eye(x.shape[1]), xs.T @ (y - y.mean(0)))
    np.testing.assert_allclose(model.weights, expected, atol=1e-10)


def test_lasso_zeroes_irrelevant_attributes_where_ridge_does_not():
    x, y, _ = _data(noise=0.3)
    lasso = fit_linear_map(x, y, "lasso", lam=8.0)
    ridge = fit_linear_map(x, y, "ridge", lam=8.0)
    irrelevant = [2, 3, 4, 5]
    assert np.all(lasso.weights[irrelevant] == 0.0)
    assert np.all(np.abs(ridge.weights[irrelevant]) > 0.0)
    assert np.all(np.abs(lasso.weights[0]) > 0.1)


def test_cross_validation_shows_overfitting_and_picks_a_sensible_lambda():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((25, 20))  # many attributes, few shapes: easy to overfit
    y = x[:, :1] * 2 + 0.5 * rng.standard_normal((25, 1))
    record = cross_validate(x, y, "ridge", lambdas=np.logspace(-6, 4, 21), folds=5)
    assert record.train_error[0] < record.validation_error[0] / 3  # tiny λ: fits training, not held-out
    assert record.train_error[-1] > record.train_error[0]  # more regularization, worse training fit
    best = int(np.argmin(record.validation_error))
    assert 0 < best < 20 and record.validation_error[best] < record.validation_error[0]
    model, again = fit_with_cross_validation(x, y, "ridge", lambdas=np.logspace(-6, 4, 21))
    assert model.lam == again.best_lambda == record.best_lambda


def test_constant_attributes_get_no_weight_and_bad_methods_are_named():
    x, y, _ = _data()
    x[:, 3] = 7.0
    model = fit_linear_map(x, y, "ridge", 1.0)
    assert np.all(model.weights[3] == 0)
    assert np.isfinite(model.predict(x)).all()
    with pytest.raises(ValueError, match="Unknown regression method 'magic'"):
        fit_linear_map(x, y, "magic")
    with pytest.raises(ValueError, match="at least 3 shapes"):
        cross_validate(x[:2], y[:2])
