"""Semantic attributes from pairwise comparisons (AttribIt, Chaudhuri et al. 2013).

People say "A is more X than B" (ordered pairs) or "A and B are about as X" (similar pairs). For
each attribute a linear ranking function r(x) = w·x over shape descriptors is learned. The default
learner is exact and needs only numpy: a primal Rank-SVM with squared hinge (Chapelle 2007;
Parikh & Grauman 2011 for the similar pairs),

    λ‖w‖² + μ Σ_ordered max(0, 1 − w·(x_more − x_less))² + ν Σ_similar (w·(x_i − x_j))²,

a convex piecewise quadratic solved by Newton's method (a handful of linear solves), with λ chosen
by cross-validation over the shapes (`shape_folds`). The descriptors are standardized and, because every pair
difference lies in the span of the centred shapes, the solve runs in that span (≤ shapes − 1
numbers) whatever the descriptor's length: the answer is the same, 200 answers take milliseconds.
The Laplace approximation of the objective (its inverse Hessian) gives each strength an
uncertainty; active learning (`next_pairs`) asks where the model is least sure and where shapes
have been compared least.

`fit_ranking_torch` keeps the earlier learner (the lecture slide's sigmoid objective through the
shared trainer, needs PyTorch) for comparison only. Weights are kept in the descriptors' own units
so r applies to raw descriptors; one unit of strength is one standard deviation over the shapes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

RANKING_KIND = "semantic_attributes"
ANSWERS = ("A", "B", "SAME")  # A more, B more, about the same
MIN_COMPARISONS = 10
REWEIGHT_ROUNDS = 0  # fit_ranking's default; choose_reweighting picks 0 or 2 by cross-validation


@dataclass
class Comparison:
    shape_a: str
    shape_b: str
    attribute: str
    answer: str  # one of ANSWERS


@dataclass
class CsvReport:
    comparisons: list
    skipped: list = field(default_factory=list)  # (line number, why)


def read_comparisons_csv(text: str) -> CsvReport:
    """Rows `shape_a,shape_b,attribute,answer` (a header row is optional). Answers: A, B or SAME
    (also "a more", "b more", "same", "similar", ">" "<" "="). Malformed rows are skipped and
    reported with their line number."""
    report = CsvReport([])
    aliases = {"a": "A", "a more": "A", ">": "A", "b": "B", "b more": "B", "<": "B", "same": "SAME",
               "similar": "SAME", "about the same": "SAME", "=": "SAME"}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if number == 1 and [c.lower() for c in cells[:4]] == ["shape_a", "shape_b", "attribute", "answer"]:
            continue
        if len(cells) != 4:
            report.skipped.append((number, f"{len(cells)} fields instead of 4"))
            continue
        a, b, attribute, answer = cells
        if not a or not b or not attribute:
            report.skipped.append((number, "an empty shape or attribute name"))
            continue
        if a == b:
            report.skipped.append((number, f"'{a}' compared with itself"))
            continue
        answer = aliases.get(answer.lower())
        if answer is None:
            report.skipped.append((number, f"answer '{cells[3]}' is not A, B or SAME"))
            continue
        report.comparisons.append(Comparison(a, b, attribute, answer))
    return report


def write_comparisons_csv(comparisons) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["shape_a", "shape_b", "attribute", "answer"])
    for c in comparisons:
        writer.writerow([c.shape_a, c.shape_b, c.attribute, c.answer])
    return out.getvalue()


def find_cycles(comparisons, limit: int = 5) -> list:
    """Cycles among the ordered answers ("a > b > c > a"), each as a list of shape names."""
    edges: dict = {}
    for c in comparisons:
        if c.answer == "SAME":
            continue
        more, less = (c.shape_a, c.shape_b) if c.answer == "A" else (c.shape_b, c.shape_a)
        edges.setdefault(more, set()).add(less)
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if len(cycles) >= limit:
                break
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state and len(cycles) < limit:
            visit(node)
    return cycles


@dataclass
class RankingFunction:
    """r(x) = (x − mean)/scale · w; strength in standard deviations of the training shapes' strengths.
    `covariance` (d × d, in the standardized units of w; may be None) is the Laplace approximation
    of the uncertainty of w, from which each strength gets its uncertainty."""

    attribute: str
    weights: np.ndarray  # (d,)
    mean: np.ndarray
    scale: np.ndarray
    covariance: np.ndarray | None = None
    regularization: float = float("nan")  # the λ cross-validation chose

    def standardized(self, features) -> np.ndarray:
        return (np.atleast_2d(np.asarray(features, dtype=np.float64)) - self.mean) / self.scale

    def strength(self, features) -> np.ndarray:
        return self.standardized(features) @ self.weights

    def uncertainty(self, features) -> np.ndarray:
        """Standard deviation of each shape's strength (in strength units) under the Laplace
        approximation; zeros where the model has no covariance."""
        x = self.standardized(features)
        if self.covariance is None:
            return np.zeros(len(x))
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", x, self.covariance, x), 0.0))

    def pair_uncertainty(self, features, i, j) -> np.ndarray:
        """Standard deviation of the strength gap of shapes i and j (index arrays)."""
        x = self.standardized(features)
        d = x[np.asarray(i)] - x[np.asarray(j)]
        if self.covariance is None:
            return np.ones(len(d))
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, self.covariance, d), 1e-18))

    def raw_direction(self) -> np.ndarray:
        """Change of the raw features per unit of strength, smallest such change: w' / ‖w'‖²
        with w' = w / scale (the gradient of r in raw units)."""
        gradient = self.weights / self.scale
        return gradient / max(float(gradient @ gradient), 1e-300)


def _usable(comparisons, index, attribute, use_similar=True):
    return [c for c in comparisons if c.attribute == attribute and c.shape_a in index and c.shape_b in index
            and c.shape_a != c.shape_b and (use_similar or c.answer != "SAME")]


def _pair_indices(comparisons, index):
    """(more, less, ordered?) index arrays: for SAME answers the order is a's then b's."""
    more = np.array([index[c.shape_b if c.answer == "B" else c.shape_a] for c in comparisons], dtype=np.int64)
    less = np.array([index[c.shape_a if c.answer == "B" else c.shape_b] for c in comparisons], dtype=np.int64)
    ordered = np.array([c.answer != "SAME" for c in comparisons], dtype=bool)
    return more, less, ordered


def _pair_arrays(features, comparisons, index):
    more, less, ordered = _pair_indices(comparisons, index)
    return (features[more] - features[less]).astype(np.float32), ordered.astype(np.float32)


def _reduced_standardized(features, feature_weights=None):
    """(mean, scale, coordinates (N, k), basis (d, k)): the standardized shapes in the orthonormal
    basis of their centred span, k ≤ N − 1. Pair differences live in that span, so a ranking
    solved there with ‖z‖² is the ranking solved in all d numbers with ‖w‖² (w = basis @ z).
    `feature_weights` (d,) multiply the standardized numbers (reweighted fits: fit_ranking)."""
    features = np.asarray(features, dtype=np.float64)
    if not np.all(np.isfinite(features)):
        raise ValueError("Some shape features are not finite numbers (NaN or infinite); check the shapes for "
                         "broken geometry")
    mean = features.mean(axis=0)
    scale = np.std(features, axis=0)
    scale = np.where(scale > 1e-12 * max(float(np.abs(features).max()), 1.0), scale, np.inf)  # constant: ignored
    standardized = (features - mean) / scale
    if feature_weights is not None:
        standardized = standardized * feature_weights
    _, singular, vt = np.linalg.svd(standardized, full_matrices=False)
    keep = singular > 1e-9 * max(float(singular[0]) if len(singular) else 0.0, 1e-300)
    basis = vt[keep].T
    return mean, np.where(np.isfinite(scale), scale, 1.0), standardized @ basis, basis, np.isfinite(scale)


def _lower_inverse(lower: np.ndarray) -> np.ndarray:
    """Inverse of a lower-triangular matrix by 2 × 2 blocks, [[A, 0], [C, D]]⁻¹ = [[A⁻¹, 0],
    [−D⁻¹CA⁻¹, D⁻¹]], small blocks row by row. Why not np.linalg.solve/inv: on a busy machine
    OpenBLAS's threaded LU takes ~8 ms from 48 unknowns up (measured here), against ~0.1 ms this way."""
    k = len(lower)
    if k <= 16:  # row by row: X[i, :i] = −L[i, :i] X[:i, :i] / L[i, i] (LAPACK's inv is threaded too)
        out = np.zeros_like(lower)
        for i in range(k):
            out[i, i] = 1.0 / lower[i, i]
            out[i, :i] = -(lower[i, :i] @ out[:i, :i]) * out[i, i]
        return out
    half = k // 2
    top, bottom = _lower_inverse(lower[:half, :half]), _lower_inverse(lower[half:, half:])
    out = np.zeros_like(lower)
    out[:half, :half], out[half:, half:] = top, bottom
    out[half:, :half] = -bottom @ lower[half:, :half] @ top
    return out


def spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix through its Cholesky factor."""
    inverse_factor = _lower_inverse(np.linalg.cholesky(matrix))
    return inverse_factor.T @ inverse_factor


def _solve_rank_svm(ordered_diffs, similar_diffs, lam, mu, nu, start=None, iterations: int = 50):
    """argmin λ‖z‖² + μ Σ max(0, 1 − z·d)² + ν Σ (z·s)²: Newton's method with a backtracking line
    search (the objective is convex, piecewise quadratic; it converges in a few steps). Returns
    (z, Hessian at z)."""
    k = ordered_diffs.shape[1] if len(ordered_diffs) else similar_diffs.shape[1]
    z = np.zeros(k) if start is None else start.copy()
    similar_gram = 2.0 * nu * (similar_diffs.T @ similar_diffs) if len(similar_diffs) else np.zeros((k, k))
    identity = 2.0 * lam * np.eye(k)

    def objective(z):
        violation = np.maximum(1.0 - ordered_diffs @ z, 0.0)
        return lam * z @ z + mu * violation @ violation + nu * float(np.sum((similar_diffs @ z) ** 2))

    value = objective(z)
    hessian = identity + similar_gram
    for _ in range(iterations):
        violation = 1.0 - ordered_diffs @ z
        active = violation > 0
        act = ordered_diffs[active]
        gradient = 2.0 * lam * z - 2.0 * mu * act.T @ violation[active] + similar_gram @ z
        hessian = identity + 2.0 * mu * act.T @ act + similar_gram
        step = spd_inverse(hessian) @ gradient
        decrease = float(gradient @ step)
        if decrease <= 1e-12 * (1.0 + value):
            break
        t = 1.0
        while True:
            trial = z - t * step
            trial_value = objective(trial)
            if trial_value <= value - 1e-4 * t * decrease or t < 1e-6:
                break
            t *= 0.5
        z, value = trial, trial_value
    return z, hessian


REGULARIZATION_GRID = tuple(10.0 ** np.arange(-2.5, 1.01, 0.5))  # λ per answer (chosen: 0.01–1 on the test sets)


def shape_folds(more, less, shape_count: int, folds: int, seed: int):
    """(train mask, held mask) per fold over answers, folds drawn over *shapes*: an answer is held out
    when it names a held-out shape and trains when it names none. Folds over answers would let every
    shape's other answers teach the model about it, rewarding a model that memorises the shapes
    (measured: the chosen λ shrank with more answers and held-out-shape τ fell from 0.63 to 0.33)."""
    fold_of_shape = np.empty(shape_count, dtype=int)
    fold_of_shape[np.random.default_rng(seed).permutation(shape_count)] = np.arange(shape_count) % folds
    out = []
    for fold in range(folds):
        held = (fold_of_shape[more] == fold) | (fold_of_shape[less] == fold)
        out.append((~held, held))
    return out


def _cross_validate(coordinates, more, less, ordered, mu, nu, folds, seed, grid):
    """(held-out ordered-pair accuracy, held-out loss) per λ of `grid`, by k-fold CV over the shapes."""
    diffs = coordinates[more] - coordinates[less]
    accuracy = np.zeros(len(grid))
    loss = np.zeros(len(grid))
    used = 0
    for train, held in shape_folds(more, less, len(coordinates), folds, seed):
        if not np.any(train & ordered) or not np.any(held & ordered):
            continue
        used += 1
        train_ordered, train_similar = diffs[train & ordered], diffs[train & ~ordered]
        held_ordered, held_similar = diffs[held & ordered], diffs[held & ~ordered]
        z = None
        for g, per_answer in enumerate(sorted(grid, reverse=True)):  # strong to weak, warm started
            z, _ = _solve_rank_svm(train_ordered, train_similar, per_answer * int(train.sum()), mu, nu, z)
            gaps = held_ordered @ z
            slot = len(grid) - 1 - g
            accuracy[slot] += float(np.mean(gaps > 0))
            loss[slot] += float(np.sum(np.maximum(1.0 - gaps, 0.0) ** 2) + np.sum((held_similar @ z) ** 2))
    return accuracy / max(used, 1), loss


def fit_ranking(features, names, comparisons, attribute: str, *, mu: float = 1.0, nu: float = 1.0,
                l2: float | None = None, use_similar: bool = True, folds: int = 5, seed: int = 0,
                reweight: int = REWEIGHT_ROUNDS, should_stop=None, **_ignored) -> RankingFunction:
    """Learn r for `attribute` from comparisons of shapes whose descriptors are rows of `features`:
    the Rank-SVM of the module doc, numpy only. `l2` is λ per answer; None chooses it by `folds`-fold
    cross-validation over the shapes (best held-out ordered-pair accuracy, then held-out loss, then
    the stronger λ). `reweight` rounds: each refit scales every standardized number by the size of
    its weight in the fit before (an iteratively reweighted ‖w‖², which lets the few numbers that
    carry the attribute outweigh the many that do not; λ chosen again each round)."""
    ranking = _fit_ranking(features, names, comparisons, attribute, mu, nu, l2, use_similar, folds, seed, None)
    for _ in range(reweight):
        size = np.abs(ranking.weights)
        if not size.any():
            break
        ranking = _fit_ranking(features, names, comparisons, attribute, mu, nu, l2, use_similar, folds, seed,
                               size / np.sqrt(np.mean(size ** 2)))
    return ranking


def _fit_ranking(features, names, comparisons, attribute, mu, nu, l2, use_similar, folds, seed, feature_weights):
    index = {name: i for i, name in enumerate(names)}
    usable = _usable(comparisons, index, attribute, use_similar)
    if len(usable) < 2 or not any(c.answer != "SAME" for c in usable):
        raise ValueError(f"'{attribute}' has {len(usable)} usable comparisons ({sum(c.answer != 'SAME' for c in usable)}"
                         f" with an order); give at least {MIN_COMPARISONS}")
    mean, scale, coordinates, basis, varies = _reduced_standardized(features, feature_weights)
    more, less, ordered = _pair_indices(usable, index)
    if l2 is None:
        if len(usable) >= 4 * folds and ordered.sum() >= 2 * folds:
            accuracy, loss = _cross_validate(coordinates, more, less, ordered, mu, nu, folds, seed,
                                             REGULARIZATION_GRID)
            best = max(range(len(REGULARIZATION_GRID)), key=lambda g: (round(accuracy[g], 6), -loss[g], g))
            l2 = REGULARIZATION_GRID[best]
        else:
            l2 = 1.0
    diffs = coordinates[more] - coordinates[less]
    z, hessian = _solve_rank_svm(diffs[ordered], diffs[~ordered], l2 * len(usable), mu, nu)
    weights = basis @ z
    spread = float(np.std(coordinates @ z))
    if spread <= 0:
        raise ValueError(f"'{attribute}': the answers give no order the shapes' features can follow; check them "
                         "for contradictions")
    # the order is all that was learned: one unit of strength is one standard deviation
    weights = np.where(varies, weights, 0.0) / spread
    covariance = basis @ spd_inverse(hessian) @ basis.T / spread ** 2
    if feature_weights is not None:  # back to plainly standardized numbers: x·diag(f)·w = x·(f∘w)
        weights = weights * feature_weights
        covariance = feature_weights[:, None] * covariance * feature_weights[None, :]
    return RankingFunction(attribute, weights, mean, scale, covariance, float(l2))


def fit_ranking_torch(features, names, comparisons, attribute: str, *, mu: float = 1.0, nu: float = 1.0,
                      l2: float = 1e-3, use_similar: bool = True, epochs: int = 300, seed: int = 0,
                      should_stop=None) -> RankingFunction:
    """The earlier learner, kept to compare against: the lecture slide's objective
    ‖w‖² + μ Σ_ordered (1 − σ(w·d)) + ν Σ_similar σ(|w·d|) by Adam through the shared trainer."""
    from .trainer import TrainConfig, require_torch, train

    torch = require_torch("Learning an attribute from comparisons with the PyTorch learner")
    features = np.asarray(features, dtype=np.float64)
    index = {name: i for i, name in enumerate(names)}
    usable = _usable(comparisons, index, attribute, use_similar)
    if len(usable) < 2:
        raise ValueError(f"'{attribute}' has {len(usable)} usable comparisons; give at least {MIN_COMPARISONS}")
    mean = features.mean(axis=0)
    scale = np.maximum(features.std(axis=0), 1e-9)
    standardized = (features - mean) / scale
    diffs, kinds = _pair_arrays(standardized, usable, index)

    model = torch.nn.Linear(features.shape[1], 1, bias=False)

    def loss_fn(net, d, ordered):
        score = net(d).squeeze(1)
        ordered_loss = mu * (1.0 - torch.sigmoid(score))
        similar_loss = nu * torch.sigmoid(score.abs())
        return torch.where(ordered > 0.5, ordered_loss, similar_loss).mean()

    config = TrainConfig(optimizer="adam", learning_rate=0.05, epochs=epochs, batch_size=0, l2=l2,
                         validation_fraction=0.0, seed=seed, init="small_random", init_scale=0.01)
    train(model, loss_fn, (diffs, kinds), config, should_stop=should_stop)
    weights = model.weight.detach().cpu().numpy().astype(np.float64).reshape(-1)
    spread = float(np.std(standardized @ weights))
    if spread > 0:
        weights = weights / spread
    return RankingFunction(attribute, weights, mean, scale)


def choose_features(candidates: dict, names, comparisons, attribute: str, *, folds: int = 5, seed: int = 0,
                    prefer: str | None = None, margin: float = 0.0, **options):
    """(chosen name, {name: held-out ordered-pair accuracy}) among feature sets `candidates`
    ({name: (N, d) features of the shapes `names`}) by `folds`-fold cross-validation over the
    answers, λ chosen inside each training fold. `prefer` wins unless another set beats it by more
    than `margin` (a shape space is preferred: its attributes become sliders)."""
    scores = {}
    for name, features in candidates.items():
        accuracy, _, _ = cross_validated_accuracy(features, names, comparisons, attribute, folds, seed, **options)
        scores[name] = float(accuracy[-1])
    best = max(scores, key=lambda n: (scores[n], n == prefer))
    if prefer in scores and scores[best] <= scores[prefer] + margin:
        best = prefer
    return best, scores


REWEIGHT_MARGIN = 0.005  # held-out pair accuracy reweighting must gain to be chosen: the plainer fit otherwise


def choose_reweighting(features, names, comparisons, attribute: str, *, rounds=(0, 2), folds: int = 5,
                       seed: int = 0, margin: float = REWEIGHT_MARGIN, **options):
    """(reweighting rounds, {rounds: held-out ordered-pair accuracy}, the ranking fitted on all the
    answers with those rounds): `folds`-fold cross-validation over the shapes at the λ each fit on
    all the answers chose (one Newton solve per fold and round: 0.1 s for 200 answers, not 0.5 s);
    more rounds only when they beat fewer by more than `margin`. Reweighting helps where a few of
    many numbers carry the attribute (hard chairs' cross-section profiles: held-out τ 0.80 → 0.83
    over 8 splits) and can cost a point where all of them do."""
    options.pop("l2", None)
    scores, fits = {}, {}
    for count in rounds:
        fits[count] = fit_ranking(features, names, comparisons, attribute, folds=folds, seed=seed, reweight=count,
                                  **options)
        accuracy, _, _ = cross_validated_accuracy(features, names, comparisons, attribute, folds, seed,
                                                  reweight=count, l2=fits[count].regularization, **options)
        scores[count] = float(accuracy[-1])
    chosen = min(rounds)
    for count in sorted(rounds):
        if scores[count] > scores[chosen] + margin:
            chosen = count
    return chosen, scores, fits[chosen]


def pair_accuracy(ranking: RankingFunction, features, names, comparisons, margin: float = 0.0) -> float:
    """Share of ordered comparisons whose order the ranking reproduces."""
    index = {name: i for i, name in enumerate(names)}
    ordered = [c for c in comparisons if c.answer != "SAME" and c.shape_a in index and c.shape_b in index]
    if not ordered:
        return float("nan")
    strength = ranking.strength(features)
    more = np.array([index[c.shape_a if c.answer == "A" else c.shape_b] for c in ordered], dtype=np.int64)
    less = np.array([index[c.shape_b if c.answer == "A" else c.shape_a] for c in ordered], dtype=np.int64)
    return float(np.mean(strength[more] - strength[less] > margin))


def _differences(ranking, features, names, comparisons):
    index = {name: i for i, name in enumerate(names)}
    strength = ranking.strength(features)
    kept = [c for c in comparisons if c.shape_a in index and c.shape_b in index]
    a = np.array([index[c.shape_a] for c in kept], dtype=np.int64)
    b = np.array([index[c.shape_b] for c in kept], dtype=np.int64)
    return strength[a] - strength[b], [c.answer for c in kept]


def similarity_threshold(ranking, features, names, comparisons) -> float:
    """The strength gap below which two shapes count as "about the same", chosen to agree best
    with the comparisons it was learned from."""
    gaps, answers = _differences(ranking, features, names, comparisons)
    if not len(gaps):
        return 0.0
    answers = np.array(answers)
    candidates = np.concatenate([[0.0], np.sort(np.abs(gaps))])
    # right(t) = #SAME with |g| ≤ t + #A with g > t + #B with g < −t, for all t at once
    same = np.sort(np.abs(gaps[answers == "SAME"]))
    a_more = np.sort(gaps[answers == "A"])
    b_more = np.sort(-gaps[answers == "B"])
    right = (np.searchsorted(same, candidates, side="right") + len(a_more) - np.searchsorted(a_more, candidates, side="right")
             + len(b_more) - np.searchsorted(b_more, candidates, side="right"))
    return float(candidates[int(np.argmax(right))])


def _answer(gap: float, threshold: float) -> str:
    return "SAME" if abs(gap) <= threshold else ("A" if gap > 0 else "B")


def answer_accuracy(ranking, features, names, comparisons, threshold: float) -> float:
    """Share of all comparisons (ordered and "about the same") whose answer the ranking gives."""
    gaps, answers = _differences(ranking, features, names, comparisons)
    if not len(answers):
        return float("nan")
    given = np.where(np.abs(gaps) <= threshold, "SAME", np.where(gaps > 0, "A", "B"))
    return float(np.mean(given == np.array(answers)))


def cross_validated_accuracy(features, names, comparisons, attribute: str, folds: int = 5, seed: int = 0,
                             sizes=None, **options):
    """Held-out accuracy by k-fold cross-validation over the *shapes* (shape_folds: the answers about
    held-out shapes are the test), and (with `sizes`: shares of the training answers to use) how it
    grows with the number of comparisons. Returns (ordered-pair accuracy, comparisons used, three-way
    answer accuracy) per size."""
    index = {name: i for i, name in enumerate(names)}
    chosen = _usable(comparisons, index, attribute)
    more, less, _ = _pair_indices(chosen, index)
    sizes = list(sizes or [1.0])
    accuracy = np.zeros(len(sizes))
    answers = np.zeros(len(sizes))  # three-way: A more, B more, about the same
    counts = np.zeros(len(sizes))
    for train, held in shape_folds(more, less, len(names), folds, seed):
        held_answers = [c for c, h in zip(chosen, held) if h]
        train_all = [c for c, t in zip(chosen, train) if t]
        for s, share in enumerate(sizes):
            subset = train_all[:max(2, int(round(share * len(train_all))))]
            counts[s] += len(subset) / folds
            try:
                ranking = fit_ranking(features, names, subset, attribute, seed=seed, **options)
            except ValueError:
                continue
            if any(c.answer != "SAME" for c in held_answers):
                accuracy[s] += pair_accuracy(ranking, features, names, held_answers) / folds
            threshold = similarity_threshold(ranking, features, names, subset)
            answers[s] += answer_accuracy(ranking, features, names, held_answers, threshold) / folds
    return accuracy, counts, answers


def kendall_tau(a, b) -> float:
    """Kendall's τ-a between two score vectors (O(n²); collections are small)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    upper = np.triu_indices(len(a), 1)
    sa = np.sign(a[:, None] - a[None, :])[upper]
    sb = np.sign(b[:, None] - b[None, :])[upper]
    return float((sa * sb).sum() / len(sa))


def informative_pairs(strengths, names, asked, rng, count: int = 1, uncertainty: float = 1.0):
    """Pairs not asked before, the ones the ranking is least sure of first (strengths close
    together); without strengths, random pairs."""
    asked = {frozenset(p) for p in asked}
    n = len(names)
    i, j = np.triu_indices(n, 1)
    fresh = np.array([frozenset((names[a], names[b])) not in asked for a, b in zip(i, j)], dtype=bool)
    i, j = i[fresh], j[fresh]
    if not len(i):
        return []
    if strengths is None:
        order = rng.permutation(len(i))
    else:
        gap = np.abs(np.asarray(strengths)[i] - np.asarray(strengths)[j])
        order = np.argsort(gap / uncertainty + 0.1 * rng.random(len(i)))
    return [(names[i[k]], names[j[k]]) for k in order[:count]]


def normal_tail(z: np.ndarray) -> np.ndarray:
    """P(Z > z) for a standard normal Z, z ≥ 0 (Abramowitz & Stegun 7.1.26 on erfc: error < 1.5e-7)."""
    x = np.asarray(z, dtype=np.float64) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return 0.5 * poly * np.exp(-x * x)


def next_pairs(ranking, features, names, asked, rng, count: int = 1, coverage: float = 0.0):
    """Pairs not asked before that teach the ranking most: the largest expected mistake, σ · P(the
    model orders the pair wrongly) = σ · Φ(−|gap| / σ), with gap the two strengths' difference and σ
    its Laplace standard deviation. It prefers pairs the model is unsure of (small |gap| / σ) but,
    unlike uncertainty alone, not near-ties it is sure are near-ties (σ small: "about the same"
    teaches little). Measured with simulated answers (tests/test_ranking.py): 31% fewer answers than
    random pairs to τ 0.8 on shape-space chairs, 58% fewer to τ 0.6 on the hard chairs; ranking by
    |gap| / σ alone saved 25% and 43%. `coverage` > 0 also favours shapes seldom compared (× (1 +
    coverage (1/√(1 + answers about a) + 1/√(1 + answers about b)))). Each shape appears at most once
    in a batch. Without a ranking, random pairs."""
    if ranking is None:
        return informative_pairs(None, names, asked, rng, count)
    index = {name: i for i, name in enumerate(names)}
    asked = [tuple(p) for p in asked]
    seen = np.zeros(len(names))
    for a, b in asked:
        for n in (a, b):
            if n in index:
                seen[index[n]] += 1
    asked_set = {frozenset(p) for p in asked}
    i, j = np.triu_indices(len(names), 1)
    fresh = np.array([frozenset((names[a], names[b])) not in asked_set for a, b in zip(i, j)], dtype=bool)
    i, j = i[fresh], j[fresh]
    if not len(i):
        return []
    strength = ranking.strength(features)
    sigma = ranking.pair_uncertainty(features, i, j)
    expected_mistake = sigma * normal_tail(np.abs(strength[i] - strength[j]) / sigma)
    rarely_seen = 1.0 / np.sqrt(1.0 + seen[i]) + 1.0 / np.sqrt(1.0 + seen[j])
    score = -expected_mistake * (1.0 + coverage * rarely_seen) + 1e-9 * rng.random(len(i))
    chosen, used = [], set()
    for k in np.argsort(score):
        if i[k] in used or j[k] in used:
            continue
        chosen.append((names[i[k]], names[j[k]]))
        used.update((i[k], j[k]))
        if len(chosen) == count:
            break
    return chosen


def simulated_answer(scores, i: int, j: int, rng, *, noise: float = 0.05, similar_within: float = 0.1,
                     spread: float | None = None) -> str:
    """What a person answers about shapes i and j from a hidden score (see simulate_comparisons)."""
    spread = spread or float(np.ptp(scores)) or 1.0
    gap = scores[i] - scores[j]
    if abs(gap) < similar_within * spread:
        return "SAME"
    answer = "A" if gap > 0 else "B"
    if rng.random() < noise:
        answer = "B" if answer == "A" else "A"
    return answer


def simulate_comparisons(scores, names, attribute: str, count: int, *, seed: int = 0, noise: float = 0.05,
                         similar_within: float = 0.1):
    """Answers a person would give from a hidden score: "about the same" when the scores differ by less
    than `similar_within` of their spread, else the larger one, flipped with probability `noise`."""
    rng = np.random.default_rng(seed)
    scores = np.asarray(scores, dtype=np.float64)
    spread = float(np.ptp(scores)) or 1.0
    out = []
    for _ in range(count):
        i, j = rng.choice(len(names), size=2, replace=False)
        gap = scores[i] - scores[j]
        if abs(gap) < similar_within * spread:
            answer = "SAME"
        else:
            answer = "A" if gap > 0 else "B"
            if rng.random() < noise:
                answer = "B" if answer == "A" else "A"
        out.append(Comparison(names[i], names[j], attribute, answer))
    return out


def answers_to_reach(features, names, scores, attribute: str, target_tau: float, *, active: bool, seed: int = 0,
                     batch: int = 10, budget: int = 200, noise: float = 0.05, similar_within: float = 0.1,
                     coverage: float = 0.0) -> int | None:
    """How many simulated answers a session needs before the learned ranking orders the shapes with
    Kendall's τ ≥ `target_tau` against the hidden `scores` (None: not within `budget`). Answers come
    in batches of `batch` pairs: random pairs, or (`active`) the pairs `next_pairs` picks from the
    ranking learned so far; the first batch is random either way. The person's answers come from the
    same stream of noise for both, so two sessions with one seed differ only in the pairs asked."""
    pair_rng, answer_rng = np.random.default_rng(seed), np.random.default_rng(seed + 1_000_003)
    scores = np.asarray(scores, dtype=np.float64)
    spread = float(np.ptp(scores)) or 1.0
    answers, ranking = [], None
    while len(answers) < budget:
        if active and ranking is not None:
            pairs = next_pairs(ranking, features, names, [(c.shape_a, c.shape_b) for c in answers], pair_rng,
                               count=batch, coverage=coverage)
        else:
            pairs = [tuple(names[k] for k in pair_rng.choice(len(names), size=2, replace=False)) for _ in range(batch)]
        index = {name: k for k, name in enumerate(names)}
        answers += [Comparison(a, b, attribute, simulated_answer(scores, index[a], index[b], answer_rng, noise=noise,
                                                                 similar_within=similar_within, spread=spread))
                    for a, b in pairs]
        ranking = fit_ranking(features, names, answers, attribute)
        if kendall_tau(ranking.strength(features), scores) >= target_tau:
            return len(answers)
    return None


def save_rankings(path, rankings: list, *, collection: str, feature_source: str, shape_space_file: str = "",
                  metrics: dict | None = None, shape_names=()):
    from .model_files import save_model_file

    arrays = {}
    for i, r in enumerate(rankings):
        arrays |= {f"weights_{i}": r.weights, f"mean_{i}": r.mean, f"scale_{i}": r.scale,
                   f"regularization_{i}": np.array([r.regularization])}
        if r.covariance is not None:
            arrays[f"covariance_{i}"] = r.covariance
    return save_model_file(path, RANKING_KIND, arrays, collection=collection,
                           attribute_names=[r.attribute for r in rankings], metrics=metrics or {},
                           info={"feature_source": feature_source, "shape_space": shape_space_file,
                                 "shapes": list(shape_names)})


def load_rankings(path):
    from .model_files import ModelFileError, load_model_file

    model = load_model_file(path, expected_kind=RANKING_KIND)
    try:
        rankings = [RankingFunction(name, model.arrays[f"weights_{i}"], model.arrays[f"mean_{i}"],
                                    model.arrays[f"scale_{i}"], model.arrays.get(f"covariance_{i}"),
                                    float(model.arrays.get(f"regularization_{i}", [np.nan])[0]))
                    for i, name in enumerate(model.metadata["attribute_names"])]
    except KeyError as missing:
        raise ModelFileError(path, f"the attribute model in it lacks {missing}", "Learn the attributes again") from None
    return rankings, model.metadata
