"""Semantic attributes from pairwise comparisons (AttribIt, Chaudhuri et al. 2013).

People say "A is more X than B" (ordered pairs) or "A and B are about as X" (similar pairs). For
each attribute a linear ranking function r(x) = w·x over shape descriptors is learned with the
objective of the lecture's slide,

    ‖w‖² + μ Σ_ordered c_ij (1 − σ(w·(x_i − x_j))) + ν Σ_similar c_ij σ(|w·(x_i − x_j)|),

through the shared trainer (the ‖w‖² term is its L2 penalty). Descriptors are standardized first;
the weights are kept in the descriptors' own units so r applies to raw descriptors.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

RANKING_KIND = "semantic_attributes"
ANSWERS = ("A", "B", "SAME")  # A more, B more, about the same
MIN_COMPARISONS = 10


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
    """r(x) = (x − mean)/scale · w; strength in standard deviations of the training shapes' strengths."""

    attribute: str
    weights: np.ndarray  # (d,)
    mean: np.ndarray
    scale: np.ndarray

    def strength(self, features) -> np.ndarray:
        return ((np.atleast_2d(features) - self.mean) / self.scale) @ self.weights

    def raw_direction(self) -> np.ndarray:
        """Change of the raw features per unit of strength, smallest such change: w' / ‖w'‖²
        with w' = w / scale (the gradient of r in raw units)."""
        gradient = self.weights / self.scale
        return gradient / max(float(gradient @ gradient), 1e-300)


def _pair_arrays(features, comparisons, index):
    diffs, kinds = [], []
    for c in comparisons:
        i, j = index[c.shape_a], index[c.shape_b]
        if c.answer == "B":
            i, j = j, i
        diffs.append(features[i] - features[j])
        kinds.append(0.0 if c.answer == "SAME" else 1.0)
    return np.array(diffs, dtype=np.float32), np.array(kinds, dtype=np.float32)


def fit_ranking(features, names, comparisons, attribute: str, *, mu: float = 1.0, nu: float = 1.0, l2: float = 1e-3,
                use_similar: bool = True, epochs: int = 300, seed: int = 0, should_stop=None) -> RankingFunction:
    """Learn r for `attribute` from comparisons of shapes whose descriptors are rows of `features`."""
    from .trainer import TrainConfig, require_torch, train

    torch = require_torch("Learning an attribute from comparisons")
    features = np.asarray(features, dtype=np.float64)
    index = {name: i for i, name in enumerate(names)}
    usable = [c for c in comparisons if c.attribute == attribute and c.shape_a in index and c.shape_b in index
              and (use_similar or c.answer != "SAME")]
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
    if spread > 0:  # the order is all that was learned: scale it so one unit is one standard deviation
        weights = weights / spread
    return RankingFunction(attribute, weights, mean, scale)


def pair_accuracy(ranking: RankingFunction, features, names, comparisons, margin: float = 0.0) -> float:
    """Share of ordered comparisons whose order the ranking reproduces."""
    index = {name: i for i, name in enumerate(names)}
    ordered = [c for c in comparisons if c.answer != "SAME" and c.shape_a in index and c.shape_b in index]
    if not ordered:
        return float("nan")
    strength = ranking.strength(features)
    right = 0
    for c in ordered:
        difference = strength[index[c.shape_a]] - strength[index[c.shape_b]]
        right += (difference > margin) if c.answer == "A" else (difference < -margin)
    return right / len(ordered)


def _differences(ranking, features, names, comparisons):
    index = {name: i for i, name in enumerate(names)}
    strength = ranking.strength(features)
    kept = [c for c in comparisons if c.shape_a in index and c.shape_b in index]
    gaps = np.array([strength[index[c.shape_a]] - strength[index[c.shape_b]] for c in kept])
    return gaps, [c.answer for c in kept]


def similarity_threshold(ranking, features, names, comparisons) -> float:
    """The strength gap below which two shapes count as "about the same", chosen to agree best
    with the comparisons it was learned from."""
    gaps, answers = _differences(ranking, features, names, comparisons)
    candidates = np.concatenate([[0.0], np.sort(np.abs(gaps))])
    best, best_right = 0.0, -1
    for t in candidates:
        right = sum(_answer(g, t) == a for g, a in zip(gaps, answers))
        if right > best_right:
            best, best_right = float(t), right
    return best


def _answer(gap: float, threshold: float) -> str:
    return "SAME" if abs(gap) <= threshold else ("A" if gap > 0 else "B")


def answer_accuracy(ranking, features, names, comparisons, threshold: float) -> float:
    """Share of all comparisons (ordered and "about the same") whose answer the ranking gives."""
    gaps, answers = _differences(ranking, features, names, comparisons)
    if not len(answers):
        return float("nan")
    return float(np.mean([_answer(g, threshold) == a for g, a in zip(gaps, answers)]))


def cross_validated_accuracy(features, names, comparisons, attribute: str, folds: int = 5, seed: int = 0,
                             sizes=None, **options):
    """Held-out accuracy by k-fold cross-validation over the comparisons, and (with `sizes`: shares
    of the training folds to use) how it grows with the number of comparisons. Returns (ordered-pair
    accuracy, comparisons used, three-way answer accuracy) per size."""
    chosen = [c for c in comparisons if c.attribute == attribute]
    order = np.random.default_rng(seed).permutation(len(chosen))
    fold_of = np.empty(len(chosen), dtype=int)
    fold_of[order] = np.arange(len(chosen)) % folds
    sizes = list(sizes or [1.0])
    accuracy = np.zeros(len(sizes))
    answers = np.zeros(len(sizes))  # three-way: A more, B more, about the same
    counts = np.zeros(len(sizes))
    for fold in range(folds):
        held = [c for c, f in zip(chosen, fold_of) if f == fold]
        train_all = [c for c, f in zip(chosen, fold_of) if f != fold]
        for s, share in enumerate(sizes):
            subset = train_all[:max(2, int(round(share * len(train_all))))]
            counts[s] += len(subset) / folds
            try:
                ranking = fit_ranking(features, names, subset, attribute, seed=seed, **options)
            except ValueError:
                continue
            accuracy[s] += pair_accuracy(ranking, features, names, held) / folds
            threshold = similarity_threshold(ranking, features, names, subset)
            answers[s] += answer_accuracy(ranking, features, names, held, threshold) / folds
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


def save_rankings(path, rankings: list, *, collection: str, feature_source: str, shape_space_file: str = "",
                  metrics: dict | None = None, shape_names=()):
    from .model_files import save_model_file

    arrays = {}
    for i, r in enumerate(rankings):
        arrays |= {f"weights_{i}": r.weights, f"mean_{i}": r.mean, f"scale_{i}": r.scale}
    return save_model_file(path, RANKING_KIND, arrays, collection=collection,
                           attribute_names=[r.attribute for r in rankings], metrics=metrics or {},
                           info={"feature_source": feature_source, "shape_space": shape_space_file,
                                 "shapes": list(shape_names)})


def load_rankings(path):
    from .model_files import ModelFileError, load_model_file

    model = load_model_file(path, expected_kind=RANKING_KIND)
    try:
        rankings = [RankingFunction(name, model.arrays[f"weights_{i}"], model.arrays[f"mean_{i}"],
                                    model.arrays[f"scale_{i}"]) for i, name in enumerate(model.metadata["attribute_names"])]
    except KeyError as missing:
        raise ModelFileError(path, f"the attribute model in it lacks {missing}", "Learn the attributes again") from None
    return rankings, model.metadata
