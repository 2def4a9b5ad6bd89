"""Attributes of a shape space (Allen et al. 2003): a linear map from attributes (height, weight, …)
to component coordinates, learned by least squares, ridge or lasso with λ chosen by k-fold
cross-validation, and the reverse map that estimates a shape's attributes from its coordinates.

A slider moves one attribute while the others are held: Δcoefficients = M[a] · Δattribute (the
forward map's row for that attribute), so one slider step is one fixed direction in vertex space.

When cross-validation prefers the smallest or largest λ of its grid, the true best may lie beyond
it: the grid is widened on that side (three decades at a time, up to three times), and a λ still
at the edge is said in the model's notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .attribute_regression import LinearMap, cross_validate, fit_linear_map

ATTRIBUTE_SPACE_KIND = "shape_attributes"


@dataclass
class AttributeTable:
    """Attributes of N shapes as numeric columns: numbers and booleans as they are, strings one-hot
    ("category=chair"), in the order the attributes were asked for."""

    columns: list  # column names
    values: np.ndarray  # (N, m) float64
    shape_names: list


def _listing(names, limit=5) -> str:
    names = list(names)
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def encode_attributes(records, attributes, shape_names, skip_incomplete: bool = False):
    """(AttributeTable, kept row indices) from per-shape attribute dicts.

    Raises ValueError naming the shapes that lack an attribute (or hold NaN), unless
    skip_incomplete, and naming an attribute that is the same on every shape.
    """
    attributes = [a for a in attributes if a]
    if not attributes:
        raise ValueError("Name at least one attribute to learn")
    usable = np.ones(len(records), dtype=bool)
    for attribute in attributes:
        missing = [i for i, r in enumerate(records) if not _usable(r.get(attribute))]
        if missing and not skip_incomplete:
            raise ValueError(f"{len(missing)} {'shape has' if len(missing) == 1 else 'shapes have'} no usable '{attribute}' (missing or NaN): "
                             f"{_listing(shape_names[i] for i in missing)}; give them a value or skip incomplete shapes")
        usable[missing] = False
    kept = np.flatnonzero(usable)
    if len(kept) < 3:
        raise ValueError(f"Only {len(kept)} shapes have every attribute asked for; at least 3 are needed")
    columns, values = [], []
    for attribute in attributes:
        raw = [records[i][attribute] for i in kept]
        if all(isinstance(v, str) for v in raw):
            categories = sorted(set(raw))
            if len(categories) < 2:
                raise ValueError(f"'{attribute}' is '{categories[0]}' on every shape; there is nothing to learn")
            for category in categories:
                columns.append(f"{attribute}={category}")
                values.append([1.0 if v == category else 0.0 for v in raw])
            continue
        if any(isinstance(v, str) for v in raw):
            raise ValueError(f"'{attribute}' mixes text and numbers across shapes; make it one or the other")
        column = np.array([float(v) for v in raw])
        if np.ptp(column) <= 1e-12 * max(1.0, float(np.abs(column).max())):
            raise ValueError(f"'{attribute}' is {column[0]:g} on every shape; there is nothing to learn")
        columns.append(attribute)
        values.append(column)
    return AttributeTable(columns, np.array(values, dtype=np.float64).T, [shape_names[i] for i in kept]), kept


def _usable(value) -> bool:
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, (bool, int, float)):
        return math.isfinite(float(value))
    return False


@dataclass
class AttributeSpace:
    columns: list  # attribute columns (see AttributeTable)
    forward: LinearMap  # attributes → component coordinates
    reverse: LinearMap  # component coordinates → attributes
    forward_cv: object  # CrossValidation records, for the error-vs-λ picture
    reverse_cv: object
    estimate_rmse: np.ndarray  # (m,) held-out error of each estimated attribute (k-fold, at the chosen λ)
    notes: list = field(default_factory=list)  # what the user should know about the fit (λ at its grid's edge)

    def coefficient_change(self, column: int, delta: float, hold_estimates: bool = True) -> np.ndarray:
        """Δcoefficients (k,) for one attribute moved by delta with the others held.

        Allen et al.'s step is the forward map's row for the attribute. With hold_estimates, the
        smallest correction to it is added so that the estimated attributes (the reverse map, what
        the other sliders show) change by exactly delta in this attribute and not at all in the others.
        """
        step = self.forward.output_change(column, delta)
        if not hold_estimates:
            return step
        jacobian = (self.reverse.weights / self.reverse.x_scale[:, None]).T  # (m, k): ∂attribute / ∂coefficient
        wanted = np.zeros(len(self.columns))
        wanted[column] = delta
        return step + np.linalg.pinv(jacobian) @ (wanted - jacobian @ step)

    def slider_directions(self, hold_estimates: bool = True) -> np.ndarray:
        """(m, k): Δcoefficients per unit of each attribute."""
        return np.stack([self.coefficient_change(i, 1.0, hold_estimates) for i in range(len(self.columns))])

    def coefficients_for(self, values) -> np.ndarray:
        return self.forward.predict(values)

    def estimate(self, coefficients) -> np.ndarray:
        """Estimated attributes (N, m) of shapes given by their component coordinates (N, k)."""
        return self.reverse.predict(coefficients)

    def to_arrays(self) -> dict:
        out = {"estimate_rmse": np.asarray(self.estimate_rmse, dtype=np.float64)}
        for prefix, linear, record in (("forward", self.forward, self.forward_cv),
                                       ("reverse", self.reverse, self.reverse_cv)):
            out |= {f"{prefix}_{k}": np.asarray(v, dtype=np.float64) for k, v in linear.to_arrays().items()}
            out |= {f"{prefix}_cv_lambdas": record.lambdas, f"{prefix}_cv_train": record.train_error,
                    f"{prefix}_cv_validation": record.validation_error}
        return out

    @classmethod
    def from_arrays(cls, columns, method: str, arrays: dict) -> "AttributeSpace":
        from .attribute_regression import CrossValidation

        maps, records = [], []
        for prefix in ("forward", "reverse"):
            maps.append(LinearMap.from_arrays(method if prefix == "forward" else "ridge",
                                              {k: arrays[f"{prefix}_{k}"] for k in
                                               ("x_mean", "x_scale", "weights", "bias", "lam")}))
            lambdas = arrays[f"{prefix}_cv_lambdas"]
            validation = arrays[f"{prefix}_cv_validation"]
            records.append(CrossValidation(lambdas, arrays[f"{prefix}_cv_train"], validation,
                                           float(lambdas[int(np.argmin(validation))]), 0))
        return cls(list(columns), maps[0], maps[1], records[0], records[1], arrays["estimate_rmse"])


LAMBDA_GRID_DECADES = (-4.0, 3.0)  # the first grid, as cross_validate's default
LAMBDA_POINTS_PER_DECADE = 2
LAMBDA_WIDENINGS = 3  # at most this many widenings of 3 decades on the side where the best λ sits


def lambda_grid(low_decade: float, high_decade: float, method: str, count: int) -> np.ndarray:
    """λ values evenly spaced in log10 from 10^low to 10^high (× the shape count for lasso, whose
    penalty is on a sum over shapes)."""
    points = int(round((high_decade - low_decade) * LAMBDA_POINTS_PER_DECADE)) + 1
    return np.logspace(low_decade, high_decade, points) * (count if method == "lasso" else 1.0)


def _still_falling(record, best: int, output_variance: float) -> bool:
    """True when the held-out error at the grid's edge is clearly below its neighbour's (by more
    than 10⁻⁶ of the outputs' variance): the best λ may lie beyond the grid. A flatter end is the
    limit already (λ → 0 is least squares; λ → ∞ predicts the mean)."""
    neighbour = best + 1 if best == 0 else best - 1
    error = record.validation_error
    return bool(error[neighbour] - error[best] > 1e-6 * max(output_variance, 1e-300))


def widening_cross_validation(x, y, method: str, folds: int, seed: int = 0):
    """(map fitted on all rows, its CrossValidation record, a note or "").

    The grid starts at 10⁻⁴…10³ and grows by 3 decades on the side of the best λ while the best
    stays at the grid's edge with the error still falling there, at most LAMBDA_WIDENINGS times."""
    if method == "least_squares":
        record = cross_validate(x, y, method, folds=folds, seed=seed)
        return fit_linear_map(x, y, method, 0.0), record, ""
    output_variance = float(np.mean(np.var(np.asarray(y, dtype=np.float64), axis=0)))
    low, high = LAMBDA_GRID_DECADES
    record = cross_validate(x, y, method, lambda_grid(low, high, method, len(x)), folds=folds, seed=seed)
    widenings = 0
    last = len(record.lambdas) - 1
    best = int(np.argmin(record.validation_error))
    while widenings < LAMBDA_WIDENINGS and best in (0, last) and _still_falling(record, best, output_variance):
        widenings += 1
        if best == 0:
            low -= 3.0
        else:
            high += 3.0
        record = cross_validate(x, y, method, lambda_grid(low, high, method, len(x)), folds=folds, seed=seed)
        last = len(record.lambdas) - 1
        best = int(np.argmin(record.validation_error))
    record.history["widenings"] = widenings
    widened = f", after widening the grid {widenings} time{'' if widenings == 1 else 's'}" if widenings else ""
    note = ""
    if best == last:
        note = (f"λ is the largest value tried ({record.best_lambda:.3g}{widened}): the penalty outweighs the data, "
                "so these inputs barely predict their outputs; check the attribute values or add shapes")
    elif best == 0 and _still_falling(record, best, output_variance):
        note = (f"λ is the smallest value tried ({record.best_lambda:.3g}{widened}) and the held-out error still "
                "falls below it: the fit wants almost no penalty; try Least Squares")
    return fit_linear_map(x, y, method, record.best_lambda), record, note


def fit_attribute_space(table: AttributeTable, coefficients: np.ndarray, method: str = "ridge", folds: int = 5,
                        seed: int = 0) -> AttributeSpace:
    """Forward (attributes → coordinates, by `method`) and reverse (coordinates → attributes, ridge)
    maps, each with λ picked by k-fold cross-validation (on a grid widened while the best λ sits
    at its edge)."""
    coefficients = np.asarray(coefficients, dtype=np.float64)
    if len(coefficients) != len(table.values):
        raise ValueError(f"{len(table.values)} attribute rows for {len(coefficients)} shapes")
    forward, forward_cv, forward_note = widening_cross_validation(table.values, coefficients, method, folds, seed)
    reverse, reverse_cv, reverse_note = widening_cross_validation(coefficients, table.values, "ridge", folds, seed)
    rmse = held_out_rmse(coefficients, table.values, reverse_cv.best_lambda, reverse_cv.folds, seed)
    notes = [f"attributes → shape: {forward_note}"] * bool(forward_note) + \
        [f"shape → attribute estimates: {reverse_note}"] * bool(reverse_note)
    return AttributeSpace(list(table.columns), forward, reverse, forward_cv, reverse_cv, rmse, notes)


def held_out_rmse(x, y, lam: float, folds: int, seed: int = 0) -> np.ndarray:
    """Per-column RMSE of ridge predictions of y from x on held-out folds (the same folds as
    cross_validate's)."""
    from .attribute_regression import fit_linear_map

    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    fold_of = np.empty(n, dtype=int)
    fold_of[order] = np.arange(n) % folds
    squared = np.zeros(y.shape[1])
    for fold in range(folds):
        held = fold_of == fold
        model = fit_linear_map(x[~held], y[~held], "ridge", lam)
        squared += ((model.predict(x[held]) - y[held]) ** 2).sum(axis=0)
    return np.sqrt(squared / n)


def save_attribute_space(path, space: AttributeSpace, *, shape_space_file: str, collection: str, method: str,
                         metrics: dict):
    from .model_files import save_model_file

    return save_model_file(path, ATTRIBUTE_SPACE_KIND, space.to_arrays(), collection=collection,
                           attribute_names=list(space.columns), metrics=metrics,
                           info={"method": method, "shape_space": shape_space_file, "notes": list(space.notes)})


def load_attribute_space(path):
    """(AttributeSpace, metadata) from an attribute model file."""
    from .model_files import ModelFileError, load_model_file

    model = load_model_file(path, expected_kind=ATTRIBUTE_SPACE_KIND)
    try:
        space = AttributeSpace.from_arrays(model.metadata["attribute_names"], model.metadata["info"]["method"],
                                           model.arrays)
    except KeyError as missing:
        raise ModelFileError(path, f"the attribute model in it lacks {missing}", "Learn the attributes again") from None
    space.notes = [str(n) for n in model.metadata["info"].get("notes", [])]
    return space, model.metadata
