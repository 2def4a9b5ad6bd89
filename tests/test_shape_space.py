import numpy as np
import pytest

from learning.shape_space import fit_shape_space


def _shapes(count=30, vertices=200, rank=4, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, vertices * 3))
    scales = np.array([5.0, 3.0, 1.5, 0.5])[:rank]
    coefficients = rng.standard_normal((count, rank)) * scales
    return (coefficients @ basis + rng.standard_normal(vertices * 3)).astype(np.float32)


def test_components_are_orthonormal_and_match_numpy_svd():
    shapes = _shapes()
    space = fit_shape_space(shapes, k=4)
    np.testing.assert_allclose(space.components @ space.components.T, np.eye(4), atol=1e-4)
    centred = shapes - shapes.mean(axis=0)
    _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(space.variances, s[:4] ** 2 / (len(shapes) - 1), rtol=1e-5)
    np.testing.assert_allclose(np.abs(np.sum(space.components * vt[:4], axis=1)), 1, atol=1e-4)


def test_exact_low_rank_data_is_reconstructed_and_error_falls_with_k():
    shapes = _shapes()
    errors = []
    for k in (1, 2, 3, 4):
        space = fit_shape_space(shapes, k=k)
        errors.append(np.abs(space.reconstruct(space.project(shapes)) - shapes).max())
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-3


def test_k_by_explained_variance():
    space = fit_shape_space(_shapes(), variance=0.9)
    assert space.explained_ratio.sum() >= 0.9
    assert space.explained_ratio[:-1].sum() < 0.9


def test_sampling_is_seeded_and_truncated():
    space = fit_shape_space(_shapes(), k=3)
    a = space.sample(500, seed=4, truncate_sigma=1.5)
    np.testing.assert_array_equal(a, space.sample(500, seed=4, truncate_sigma=1.5))
    assert (np.abs(a / space.standard_deviations) <= 1.5 + 1e-6).all()
    assert not np.array_equal(a, space.sample(500, seed=5, truncate_sigma=1.5))


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="at least 2 shapes"):
        fit_shape_space(_shapes(count=1))
    with pytest.raises(ValueError, match="at most 4"):
        fit_shape_space(_shapes(count=5), k=5)
    shapes = _shapes(count=6)
    shapes[2, 7] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite coordinates: body_2"):
        fit_shape_space(shapes, names=[f"body_{i}" for i in range(6)])
    with pytest.raises(ValueError, match="identical"):
        fit_shape_space(np.ones((4, 30), np.float32))


def test_coordinates_too_large_to_compare_are_refused_by_name():
    import numpy as np
    import pytest

    from learning.shape_space import fit_shape_space

    shapes = np.random.default_rng(0).random((4, 10, 3))
    shapes[2] *= 1e30
    with pytest.raises(ValueError, match=r"'far' has coordinates as large as [0-9.]+e\+29.*scale it to a sensible size"):
        fit_shape_space(shapes, k=2, names=["a", "b", "far", "c"])
