"""Linear maps from attributes to shape-space coordinates (Allen et al. 2003), fitted by least
squares, ridge (L2) or lasso (L1), with λ chosen by k-fold cross-validation as in the lecture."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METHODS = ("least_squares", "ridge", "lasso")


@dataclass
class LinearMap:
    """y = ((x − x_mean) / x_scale) · weights + bias, for x of m attributes and y of k outputs."""

    method: str
    lam: float
    x_mean: np.ndarray  # (m,)
    x_scale: np.ndarray  # (m,)
    weights: np.ndarray  # (m, k)
    bias: np.ndarray  # (k,)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        return ((x - self.x_mean) / self.x_scale) @ self.weights + self.bias

    def output_change(self, attribute_index: int, delta: float) -> np.ndarray:
        """How the outputs move when one attribute moves by `delta` and the others are held."""
        return self.weights[attribute_index] * (delta / self.x_scale[attribute_index])

    def to_arrays(self) -> dict:
        return {"x_mean": self.x_mean, "x_scale": self.x_scale, "weights": self.weights, "bias": self.bias,
                "lam": np.array([self.lam])}

    @classmethod
    def from_arrays(cls, method: str, arrays: dict) -> "LinearMap":
        return cls(method, float(arrays["lam"][0]), arrays["x_mean"], arrays["x_scale"], arrays["weights"],
                   arrays["bias"])


@dataclass
class CrossValidation:
    lambdas: np.ndarray
    train_error: np.ndarray  # mean squared error on the training folds, per λ
    validation_error: np.ndarray  # mean squared error on the held-out folds, per λ
    best_lambda: float
    folds: int
    history: dict = field(default_factory=dict)


def _standardize(x: np.ndarray):
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    constant = scale < 1e-12
    scale[constant] = 1.0
    return (x - mean) / scale, mean, scale, constant


def _ridge(xs: np.ndarray, yc: np.ndarray, lam: float) -> np.ndarray:
    m = xs.shape[1]
    return np.linalg.solve(xs.T @ xs + lam * np.eye(m), xs.T @ yc)


def _lasso(xs: np.ndarray, yc: np.ndarray, lam: float, iterations: int = 500, tolerance: float = 1e-8) -> np.ndarray:
    """Coordinate descent on ½‖y − Xw‖² + λ‖w‖₁ for every output column at once."""
    n, m = xs.shape
    w = np.zeros((m, yc.shape[1]))
    column_norms = (xs ** 2).sum(axis=0)
    residual = yc.copy()
    for _ in range(iterations):
        largest_step = 0.0
        for j in range(m):  # per attribute (a handful), never per vertex
            if column_norms[j] == 0:
                continue
            old = w[j].copy()
            rho = xs[:, j] @ residual + column_norms[j] * old
            w[j] = np.sign(rho) * np.maximum(np.abs(rho) - lam, 0.0) / column_norms[j]
            change = w[j] - old
            if np.any(change):
                residual -= np.outer(xs[:, j], change)
                largest_step = max(largest_step, float(np.abs(change).max()))
        if largest_step < tolerance:
            break
    return w


def fit_linear_map(x: np.ndarray, y: np.ndarray, method: str = "ridge", lam: float = 1.0) -> LinearMap:
    if method not in METHODS:
        raise ValueError(f"Unknown regression method {method!r}; use one of {', '.join(METHODS)}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xs, mean, scale, constant = _standardize(x)
    y_mean = y.mean(axis=0)
    yc = y - y_mean
    if method == "least_squares":
        weights = np.linalg.lstsq(xs, yc, rcond=None)[0]
        lam = 0.0
    elif method == "ridge":
        weights = _ridge(xs, yc, lam)
    else:
        weights = _lasso(xs, yc, lam)
    weights[constant] = 0.0
    return LinearMap(method, float(lam), mean, scale, weights, y_mean)


def _mse(model: LinearMap, x, y) -> float:
    return float(np.mean((model.predict(x) - y) ** 2))


def cross_validate(x: np.ndarray, y: np.ndarray, method: str = "ridge", lambdas=None, folds: int = 5,
                   seed: int = 0) -> CrossValidation:
    """Training and held-out error for each λ over k folds (a seeded shuffle)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 3:
        raise ValueError(f"Cross-validation needs at least 3 shapes; {n} given")
    folds = max(2, min(folds, n))
    if lambdas is None:
        lambdas = np.logspace(-4, 3, 15) * (n if method == "lasso" else 1.0)
    lambdas = np.asarray([0.0] if method == "least_squares" else lambdas, dtype=np.float64)
    order = np.random.default_rng(seed).permutation(n)
    fold_of = np.empty(n, dtype=int)
    fold_of[order] = np.arange(n) % folds
    train_error = np.zeros(len(lambdas))
    validation_error = np.zeros(len(lambdas))
    for fold in range(folds):
        held = fold_of == fold
        for i, lam in enumerate(lambdas):
            model = fit_linear_map(x[~held], y[~held], method, lam)
            train_error[i] += _mse(model, x[~held], y[~held]) / folds
            validation_error[i] += _mse(model, x[held], y[held]) / folds
    best = float(lambdas[int(np.argmin(validation_error))])
    return CrossValidation(lambdas, train_error, validation_error, best, folds)


def fit_with_cross_validation(x, y, method: str = "ridge", lambdas=None, folds: int = 5, seed: int = 0):
    """The map fitted on all shapes with the λ that cross-validation prefers, and the CV record."""
    record = cross_validate(x, y, method, lambdas, folds, seed)
    return fit_linear_map(x, y, method, record.best_lambda), record
