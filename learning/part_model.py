"""A probabilistic model of part-labelled shape collections (Kalogerakis, Chaudhuri, Koller & Koltun
2012, "A probabilistic model for component-based shape synthesis").

Per shape, for each part label l:
    N_l  how many pieces of the label the shape has (0: the label is absent)       discrete
    D_l  how many other labels the part touches                                     discrete
    C_l  continuous features: log bounding-box size and the part's D2 descriptor,   Gaussian
         reduced by PCA (only when N_l > 0)
and the latent variables
    R    a shape style, with prior P(R)
    S_l  a component style of label l, with P(S_l | R)
The observed variables hang off their label's style: P(N_l | S_l, pa), P(D_l | S_l, pa),
N(C_l; μ_{l,S_l}, diag σ²_{l,S_l}); "pa" is at most one lateral parent, another observed discrete
variable, found by score-based (BIC) structure search on the expected counts of EM (structural EM).
The number of component styles per label and of shape styles is chosen by BIC.

Everything is vectorised over shapes; loops run over labels, styles and candidate edges only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

PART_MODEL_KIND = "part_model"
DESCRIPTOR_DIMENSIONS = 2
SMOOTHING = 0.5  # Dirichlet pseudo-count per table cell
VARIANCE_FLOOR = 1e-3  # in standardized feature units


def _logsumexp(a, axis):
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return np.squeeze(peak, axis=axis) + np.log(np.sum(np.exp(a - peak), axis=axis))


@dataclass
class PartTable:
    """What the model sees of N shapes: per label the counts, adjacency and raw features."""

    labels: list
    counts: np.ndarray  # (N, L) int: pieces per label (0: absent)
    adjacency: np.ndarray  # (N, L) int: labels touched
    features: np.ndarray  # (N, L, F) float (NaN where absent)
    names: list

    def subset(self, rows) -> "PartTable":
        rows = np.asarray(rows)
        return PartTable(self.labels, self.counts[rows], self.adjacency[rows], self.features[rows],
                         [self.names[i] for i in rows])


def part_features(part) -> np.ndarray:
    """Raw continuous features of one part: log size (3) and its D2 descriptor."""
    return np.concatenate([np.log(np.maximum(part.size, 1e-4)), part.descriptor])


def part_table(parts_per_shape, labels, names) -> PartTable:
    n, count = len(parts_per_shape), len(labels)
    sample = next(p for parts in parts_per_shape for p in parts.values())
    width = len(part_features(sample))
    counts = np.zeros((n, count), dtype=np.int64)
    adjacency = np.zeros((n, count), dtype=np.int64)
    features = np.full((n, count, width), np.nan)
    for i, parts in enumerate(parts_per_shape):
        for j, label in enumerate(labels):
            part = parts.get(label)
            if part is None:
                continue
            counts[i, j] = part.components
            adjacency[i, j] = len([b for b in part.contacts if b in parts])
            features[i, j] = part_features(part)
    return PartTable(list(labels), counts, adjacency, features, list(names))


@dataclass
class _Categorical:
    """P(X | S, parent) for one discrete observed variable: values seen in training plus 'other'."""

    values: np.ndarray  # (V,) the values seen; index V is "other"
    parent: int | None  # index of the lateral parent variable, or None
    parent_values: np.ndarray | None  # the parent's categories (its values + other)
    table: np.ndarray = None  # (K, P, V + 1) probabilities, P = 1 without a parent

    def index(self, x):
        found = np.searchsorted(self.values, x)
        found = np.minimum(found, len(self.values) - 1)
        return np.where(self.values[found] == x, found, len(self.values))

    def parent_index(self, parent_x):
        if self.parent is None:
            return np.zeros(len(parent_x), dtype=np.int64)
        found = np.minimum(np.searchsorted(self.parent_values, parent_x), len(self.parent_values) - 1)
        return np.where(self.parent_values[found] == parent_x, found, len(self.parent_values))

    @property
    def parent_count(self) -> int:
        return 1 if self.parent is None else len(self.parent_values) + 1

    def fit(self, weights, x, parent_x):
        """weights (N, K): responsibility of each style for each shape."""
        k = weights.shape[1]
        counts = np.full((k, self.parent_count, len(self.values) + 1), SMOOTHING)
        xi, pi = self.index(x), self.parent_index(parent_x)
        for p in range(self.parent_count):
            rows = pi == p
            for v in range(len(self.values) + 1):
                counts[:, p, v] += weights[rows & (xi == v)].sum(axis=0)
        self.table = counts / counts.sum(axis=2, keepdims=True)

    def log_prob(self, x, parent_x):
        """(N, K): log P(x_i | S = s, parent_i)."""
        return np.log(self.table[:, self.parent_index(parent_x), self.index(x)]).T

    def parameters(self) -> int:
        return self.table.shape[0] * self.parent_count * len(self.values)


@dataclass
class PartModel:
    labels: list
    shape_styles: int
    component_styles: list  # K_l per label
    prior: np.ndarray  # (K_R,)
    style_given_shape: list  # per label (K_R, K_l)
    discrete: list  # 2L _Categorical: N_0..N_{L-1}, D_0..D_{L-1}
    means: list  # per label (K_l, d)
    variances: list  # per label (K_l, d)
    feature_mean: list  # per label (F,) raw-feature standardization
    feature_scale: list
    descriptor_basis: list  # per label (descriptor bins, DESCRIPTOR_DIMENSIONS) PCA basis
    descriptor_mean: list
    edges: list = field(default_factory=list)  # (child variable, parent variable) lateral edges
    train_log_likelihood: float = 0.0

    # --- features ---------------------------------------------------------------------------------

    def reduce(self, label_index: int, raw: np.ndarray) -> np.ndarray:
        """Raw part features (n, F) → the model's standardized features (n, 3 + DESCRIPTOR_DIMENSIONS)."""
        raw = np.atleast_2d(raw)
        sizes = (raw[:, :3] - self.feature_mean[label_index][:3]) / self.feature_scale[label_index][:3]
        descriptor = (raw[:, 3:] - self.descriptor_mean[label_index]) @ self.descriptor_basis[label_index]
        return np.concatenate([sizes, descriptor], axis=1)

    # --- likelihood -------------------------------------------------------------------------------

    def _observed(self, table: PartTable):
        return np.concatenate([table.counts, table.adjacency], axis=1)  # (N, 2L)

    def _label_factors(self, table: PartTable):
        """Per label (N, K_l): log P(N_l, D_l, C_l | S_l = s, parents)."""
        observed = self._observed(table)
        count = len(self.labels)
        factors = []
        for j in range(count):
            f = np.zeros((len(observed), self.component_styles[j]))
            for variable in (j, count + j):
                cpt = self.discrete[variable]
                parent = observed[:, cpt.parent] if cpt.parent is not None else np.zeros(len(observed))
                f += cpt.log_prob(observed[:, variable], parent)
            present = table.counts[:, j] > 0
            if present.any():
                z = self.reduce(j, table.features[present, j])
                var = self.variances[j]
                gauss = -0.5 * (((z[:, None, :] - self.means[j][None]) ** 2) / var[None]
                                + np.log(2 * np.pi * var[None])).sum(axis=2)
                f[present] += gauss
            factors.append(f)
        return factors

    def _posteriors(self, table: PartTable):
        factors = self._label_factors(table)
        log_joint = np.log(self.prior)[None, :].repeat(len(table.counts), axis=0)  # (N, K_R)
        per_label = []
        for j, f in enumerate(factors):
            m = np.log(self.style_given_shape[j])[None, :, :] + f[:, None, :]  # (N, K_R, K_l)
            g = _logsumexp(m, axis=2)
            log_joint = log_joint + g
            per_label.append(np.exp(m - g[:, :, None]))  # q(s | r, i)
        return log_joint, per_label

    def log_likelihood(self, table: PartTable) -> np.ndarray:
        """(N,) log-likelihood of each shape (features in standardized units)."""
        log_joint, _ = self._posteriors(table)
        return _logsumexp(log_joint, axis=1)

    def style_posterior(self, table: PartTable, label_index: int) -> np.ndarray:
        """(N, K_l): P(S_l = s | shape i)."""
        log_joint, per_label = self._posteriors(table)
        gamma = np.exp(log_joint - _logsumexp(log_joint, axis=1)[:, None])
        return np.einsum("nr,nrs->ns", gamma, per_label[label_index])

    def parameter_count(self) -> int:
        total = self.shape_styles - 1
        for j in range(len(self.labels)):
            k = self.component_styles[j]
            total += self.shape_styles * (k - 1) + 2 * k * self.means[j].shape[1]
        return total + sum(c.parameters() for c in self.discrete)

    # --- sampling ---------------------------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> dict:
        """One draw: {label: (count, style, standardized features or None)} with adjacency values."""
        r = rng.choice(self.shape_styles, p=self.prior)
        count = len(self.labels)
        styles = [int(rng.choice(self.component_styles[j], p=self.style_given_shape[j][r])) for j in range(count)]
        observed = np.zeros(2 * count, dtype=np.int64)
        for variable in _topological_order(self.discrete):
            cpt = self.discrete[variable]
            j = variable % count
            parent = observed[cpt.parent] if cpt.parent is not None else 0
            p = cpt.table[styles[j], cpt.parent_index(np.array([parent]))[0], :len(cpt.values)]
            observed[variable] = cpt.values[rng.choice(len(cpt.values), p=p / p.sum())]
        out = {}
        for j, label in enumerate(self.labels):
            n = int(observed[j])
            features = None
            if n > 0:
                features = self.means[j][styles[j]] + np.sqrt(self.variances[j][styles[j]]) * rng.standard_normal(
                    self.means[j].shape[1])
            out[label] = (n, styles[j], features)
        return out

    # --- files ------------------------------------------------------------------------------------

    def to_arrays(self) -> dict:
        arrays = {"prior": self.prior}
        for j in range(len(self.labels)):
            arrays |= {f"style_{j}": self.style_given_shape[j], f"means_{j}": self.means[j],
                       f"variances_{j}": self.variances[j], f"feature_mean_{j}": self.feature_mean[j],
                       f"feature_scale_{j}": self.feature_scale[j], f"basis_{j}": self.descriptor_basis[j],
                       f"descriptor_mean_{j}": self.descriptor_mean[j]}
        for v, cpt in enumerate(self.discrete):
            arrays |= {f"values_{v}": cpt.values, f"table_{v}": cpt.table}
            if cpt.parent is not None:
                arrays[f"parent_values_{v}"] = cpt.parent_values
        return arrays

    def info(self) -> dict:
        return {"labels": list(self.labels), "shape_styles": int(self.shape_styles),
                "component_styles": [int(k) for k in self.component_styles],
                "parents": [c.parent for c in self.discrete], "edges": [list(e) for e in self.edges]}

    @classmethod
    def from_arrays(cls, info: dict, arrays: dict) -> "PartModel":
        count = len(info["labels"])
        discrete = []
        for v, parent in enumerate(info["parents"]):
            cpt = _Categorical(arrays[f"values_{v}"], parent, arrays.get(f"parent_values_{v}"))
            cpt.table = arrays[f"table_{v}"]
            discrete.append(cpt)
        pick = lambda key: [arrays[f"{key}_{j}"] for j in range(count)]  # noqa: E731
        return cls(list(info["labels"]), int(info["shape_styles"]), list(info["component_styles"]),
                   arrays["prior"], pick("style"), discrete, pick("means"), pick("variances"), pick("feature_mean"),
                   pick("feature_scale"), pick("basis"), pick("descriptor_mean"),
                   [tuple(e) for e in info["edges"]])


def _topological_order(discrete) -> list:
    order, placed = [], set()
    while len(order) < len(discrete):
        for v, cpt in enumerate(discrete):
            if v not in placed and (cpt.parent is None or cpt.parent in placed):
                order.append(v)
                placed.add(v)
    return order


# --- fitting --------------------------------------------------------------------------------------


def _standardization(table: PartTable):
    means, scales, bases, descriptor_means = [], [], [], []
    for j in range(len(table.labels)):
        present = table.counts[:, j] > 0
        raw = table.features[present, j]
        if len(raw) == 0:
            raw = np.zeros((1, table.features.shape[2]))
        mean = raw.mean(axis=0)
        scale = np.maximum(raw.std(axis=0), 1e-3)
        centred = raw[:, 3:] - mean[3:]
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        basis = np.zeros((centred.shape[1], DESCRIPTOR_DIMENSIONS))
        usable = min(DESCRIPTOR_DIMENSIONS, len(vt))
        spread = singular[:usable] / np.sqrt(max(len(raw) - 1, 1))
        basis[:, :usable] = vt[:usable].T / np.maximum(spread, 1e-6)  # whitened
        means.append(mean)
        scales.append(scale)
        bases.append(basis)
        descriptor_means.append(mean[3:])
    return means, scales, bases, descriptor_means


def _kmeans(z, k, rng, iterations=30):
    centres = z[rng.choice(len(z), size=k, replace=False)]
    for _ in range(iterations):
        assign = np.argmin(((z[:, None] - centres[None]) ** 2).sum(axis=2), axis=1)
        for c in range(k):
            if (assign == c).any():
                centres[c] = z[assign == c].mean(axis=0)
    return assign


def _gmm_bic(z, k, rng, iterations=60):
    """BIC of a diagonal Gaussian mixture with k components (lower is better)."""
    if len(z) < 2 * k:
        return np.inf
    assign = _kmeans(z, k, rng)
    resp = np.eye(k)[assign]
    for _ in range(iterations):
        weight = resp.sum(axis=0) + 1e-9
        mean = resp.T @ z / weight[:, None]
        var = np.maximum(resp.T @ (z ** 2) / weight[:, None] - mean ** 2, VARIANCE_FLOOR)
        log_p = (np.log(weight / weight.sum())[None]
                 - 0.5 * (((z[:, None] - mean[None]) ** 2) / var[None] + np.log(2 * np.pi * var[None])).sum(2))
        total = _logsumexp(log_p, axis=1)
        resp = np.exp(log_p - total[:, None])
    parameters = k - 1 + 2 * k * z.shape[1]
    return -2 * total.sum() + parameters * np.log(len(z))


def _initial_model(table, shape_styles, component_styles, edges, rng, standard):
    count = len(table.labels)
    observed = np.concatenate([table.counts, table.adjacency], axis=1)
    discrete = []
    parents = dict((child, parent) for child, parent in edges)
    for v in range(2 * count):
        parent = parents.get(v)
        discrete.append(_Categorical(np.unique(observed[:, v]), parent,
                                     None if parent is None else np.unique(observed[:, parent])))
    model = PartModel(list(table.labels), shape_styles, list(component_styles), np.full(shape_styles, 1 / shape_styles),
                      [np.full((shape_styles, k), 1 / k) for k in component_styles], discrete,
                      [None] * count, [None] * count, *standard, edges=list(edges))
    # responsibilities from k-means of each label's features, shape styles from the joint assignment
    style_onehots, weights = [], []
    for j in range(count):
        k = component_styles[j]
        present = table.counts[:, j] > 0
        w = np.full((len(table.counts), k), 1.0 / k)
        if present.sum() >= k and k > 1:
            z = model.reduce(j, table.features[present, j])
            w[present] = np.eye(k)[_kmeans(z, k, rng)] * 0.9 + 0.1 / k
        weights.append(w)
        style_onehots.append(w)
    joint = np.concatenate(style_onehots, axis=1)
    shape_assign = _kmeans(joint, shape_styles, rng) if shape_styles > 1 else np.zeros(len(joint), dtype=int)
    gamma = np.eye(shape_styles)[shape_assign] * 0.9 + 0.1 / shape_styles
    _m_step(model, table, gamma, [gamma[:, :, None] * w[:, None, :] for w in weights])
    return model


def _m_step(model, table, gamma, joint):
    """gamma (N, K_R); joint per label (N, K_R, K_l) = P(R = r, S_l = s | shape)."""
    observed = np.concatenate([table.counts, table.adjacency], axis=1)
    count = len(model.labels)
    model.prior = (gamma.sum(axis=0) + 1e-3) / (gamma.sum() + 1e-3 * model.shape_styles)
    for j in range(count):
        counts = joint[j].sum(axis=0) + SMOOTHING
        model.style_given_shape[j] = counts / counts.sum(axis=1, keepdims=True)
        weights = joint[j].sum(axis=1)  # (N, K_l)
        for variable in (j, count + j):
            cpt = model.discrete[variable]
            parent = observed[:, cpt.parent] if cpt.parent is not None else np.zeros(len(observed))
            cpt.fit(weights, observed[:, variable], parent)
        present = table.counts[:, j] > 0
        d = 3 + DESCRIPTOR_DIMENSIONS
        k = model.component_styles[j]
        if present.any():
            z = model.reduce(j, table.features[present, j])
            w = weights[present] + 1e-9
            total = w.sum(axis=0)
            mean = (w.T @ z) / total[:, None]
            var = (w.T @ (z ** 2)) / total[:, None] - mean ** 2
            # shrink towards the label's overall spread where a style has few parts
            prior_var = z.var(axis=0) + VARIANCE_FLOOR
            var = (total[:, None] * var + 1.0 * prior_var[None]) / (total[:, None] + 1.0)
            model.means[j], model.variances[j] = mean, np.maximum(var, VARIANCE_FLOOR)
        else:
            model.means[j], model.variances[j] = np.zeros((k, d)), np.ones((k, d))


def _run_em(model, table, iterations=100, tolerance=1e-6):
    previous = -np.inf
    for _ in range(iterations):
        log_joint, per_label = model._posteriors(table)
        total = _logsumexp(log_joint, axis=1)
        gamma = np.exp(log_joint - total[:, None])
        _m_step(model, table, gamma, [gamma[:, :, None] * q for q in per_label])
        likelihood = float(total.sum())
        if likelihood - previous < tolerance * abs(likelihood):
            break
        previous = likelihood
    model.train_log_likelihood = float(model.log_likelihood(table).sum())
    return model


def _bic(model, table):
    return -2 * model.train_log_likelihood + model.parameter_count() * np.log(len(table.counts))


def _edge_gains(model, table):
    """BIC gain of giving each discrete variable one lateral parent, from EM's expected counts."""
    observed = np.concatenate([table.counts, table.adjacency], axis=1)
    count = len(model.labels)
    log_joint, per_label = model._posteriors(table)
    gamma = np.exp(log_joint - _logsumexp(log_joint, axis=1)[:, None])
    log_n = np.log(len(observed))
    gains = []
    for child in range(2 * count):
        cpt = model.discrete[child]
        if cpt.parent is not None or len(cpt.values) < 2:
            continue
        weights = np.einsum("nr,nrs->ns", gamma, per_label[child % count])
        base = (weights * cpt.log_prob(observed[:, child], np.zeros(len(observed)))).sum()
        for parent in range(2 * count):
            if parent == child or parent % count == child % count:
                continue
            values = np.unique(observed[:, parent])
            if len(values) < 2 or _creates_cycle(model.discrete, child, parent):
                continue
            candidate = _Categorical(cpt.values, parent, values)
            candidate.fit(weights, observed[:, child], observed[:, parent])
            score = (weights * candidate.log_prob(observed[:, child], observed[:, parent])).sum()
            extra = candidate.parameters() - cpt.parameters()
            gain = score - base - 0.5 * extra * log_n
            if gain > 0:
                gains.append((gain, child, parent))
    return sorted(gains, reverse=True)


def _creates_cycle(discrete, child, parent) -> bool:
    node = parent
    while node is not None:
        if node == child:
            return True
        node = discrete[node].parent
    return False


def fit_part_model(table: PartTable, *, latent: bool = True, lateral: bool = True, seed: int = 0,
                   max_shape_styles: int = 4, max_component_styles: int = 3, time_budget: float = 20.0) -> PartModel:
    """Fit the model; `latent=False` or `lateral=False` give the ablations of the paper's table."""
    started = time.perf_counter()
    if len(table.counts) < 4:
        raise ValueError(f"{len(table.counts)} shapes are too few to learn from; give at least 4 (20 or more "
                         "for styles to be found)")
    rng = np.random.default_rng(seed)
    standard = _standardization(table)
    count = len(table.labels)
    component_styles = [1] * count
    if latent:
        probe = PartModel(list(table.labels), 1, [1] * count, np.ones(1), [], [], [], [], *standard)
        for j in range(count):
            present = table.counts[:, j] > 0
            if present.sum() < 6:
                continue
            z = probe.reduce(j, table.features[present, j])
            scores = [_gmm_bic(z, k, np.random.default_rng(seed)) for k in range(1, max_component_styles + 1)]
            component_styles[j] = int(np.argmin(scores)) + 1
    best = None
    for shape_styles in (range(1, max_shape_styles + 1) if latent else [1]):
        if shape_styles > 1 and len(table.counts) < 6 * shape_styles:
            break
        model = _run_em(_initial_model(table, shape_styles, component_styles, [], rng, standard), table)
        if best is None or _bic(model, table) < _bic(best, table):
            best = model
        if time.perf_counter() - started > time_budget / 2:
            break
    model = best
    if lateral:
        while time.perf_counter() - started < time_budget:  # greedy structure search, one edge at a time
            gains = _edge_gains(model, table)
            if not gains:
                break
            _, child, parent = gains[0]
            candidate = _initial_model(table, model.shape_styles, model.component_styles,
                                       model.edges + [(child, parent)], np.random.default_rng(seed), standard)
            candidate = _run_em(candidate, table)
            if _bic(candidate, table) >= _bic(model, table):
                break
            model = candidate
    return model


def save_part_model(path, model: PartModel, table: PartTable, *, collection: str, metrics: dict):
    """A safe model file: the model's parameters and the training table (shape names in metadata)."""
    from .model_files import save_model_file

    arrays = model.to_arrays() | {"table_counts": table.counts, "table_adjacency": table.adjacency,
                                  "table_features": table.features}
    return save_model_file(path, PART_MODEL_KIND, arrays, collection=collection, attribute_names=list(table.names),
                           metrics=metrics, info=model.info())


def load_part_model(path):
    """(PartModel, PartTable, metadata) from a part-model file."""
    from .model_files import ModelFileError, load_model_file

    loaded = load_model_file(path, expected_kind=PART_MODEL_KIND)
    try:
        model = PartModel.from_arrays(loaded.metadata["info"], loaded.arrays)
        table = PartTable(model.labels, loaded.arrays["table_counts"], loaded.arrays["table_adjacency"],
                          loaded.arrays["table_features"], list(loaded.metadata["attribute_names"]))
    except KeyError as missing:
        raise ModelFileError(path, f"the part model in it lacks {missing}", "Learn the part model again") from None
    return model, table, loaded.metadata


def held_out_comparison(table: PartTable, folds: int = 4, seed: int = 0, **options) -> dict:
    """Mean held-out log-likelihood per shape, by k-fold cross-validation, of the full model and its
    ablations (the paper's table): no latent variables, no lateral edges, plain tables."""
    order = np.random.default_rng(seed).permutation(len(table.names))
    fold_of = np.empty(len(order), dtype=int)
    fold_of[order] = np.arange(len(order)) % folds
    variants = {"full": {}, "no latent variables": {"latent": False}, "no lateral edges": {"lateral": False},
                "plain tables": {"latent": False, "lateral": False}}
    totals = dict.fromkeys(variants, 0.0)
    for fold in range(folds):
        test, train = table.subset(np.flatnonzero(fold_of == fold)), table.subset(np.flatnonzero(fold_of != fold))
        for name, extra in variants.items():
            model = fit_part_model(train, seed=seed, **(options | extra))
            totals[name] += float(model.log_likelihood(test).sum())
    return {name: total / len(order) for name, total in totals.items()}
