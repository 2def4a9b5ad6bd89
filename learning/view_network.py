"""A multi-view network on light-field views (after Su et al. 2015, MVCNN): one encoder shared by the
20 views of a shape in canonical pose, trained with a class head, and a learned metric on the
training-free light field for retrieval.

Each view enters as its rotation-invariant light-field numbers (shapespace.light_field: Zernike
moments of silhouette and depth), not as pixels: on 2 CPU cores a pixel CNN learns from a few hundred
shapes too slowly, and the hand-made per-view numbers already carry what a small CNN would find.

Two heads share nothing but the input:
- classification: a per-view MLP, max and mean pooling over the views (invariant to the 60 rotations
  that permute them), a scaled cosine classifier; trained with cross-entropy.
- retrieval: each view's light field x becomes (x / rms) · L, compared like the light field (the best
  of the 60 view rotations), so find_similar's pruned search works unchanged. L is a Mahalanobis
  metric learnt in closed form from matched pairs (KISSME, Köstinger et al. 2012): the per-view
  differences of each training shape with its METRIC_NEIGHBOURS nearest shapes of the same class
  (Σ_S) and of other classes (Σ_D), both under the rotation the light field picks, give
  M = Σ_S⁻¹ − Σ_D⁻¹ (clipped to positive semi-definite, L = M^½). It learns which light-field numbers
  vary within a class and which tell look-alike classes apart — nuisance that roughening (holes,
  re-tessellation, overlapping parts, pose) adds to every class alike, which is why it carries to
  classes never seen. A linear metric trained by batch-hard triplets or NCA did not: on class folds
  held out within the training classes it lost as often as it won; the learned MLP residual this
  replaces ranked the unseen classes below the light field alone (NN 93.4 vs 95.6 in the bench).

Chosen by validation within the training classes, never on the test classes: on the hard benchmark
(40 shapes a class, and 16 at the test's scale) 6 folds of 6 of its 18 training classes were held out
in turn, the metric learnt on the other 12. Nearest pairs, not random ones (random dissimilar pairs,
as in KISSME's paper, lost 3 NN points and 1.5 DCG); METRIC_NEIGHBOURS = 3 of each kind (mean gain
over both scales' folds NN +1.0, DCG +1.4; 5: +0.8/+1.2, 8: +0.7/+1.2); shrinkage METRIC_SHRINKAGE =
0.03 towards the identity (with 5 neighbours, 0.02 and 0.05 scored within 0.3 of it); neither the
turned copies as extra shapes nor fusing with the plain light field ([x, s·xL], s = 0.5-2) did
better. Then, on the 8 classes never trained on: NN 95.6 → 96.6, first tier 60.6 → 65.0, DCG 89.4 →
91.1 (40 a class, 320 queries) and NN 96.1 → 97.7, DCG 86.8 → 88.7 (16 a class), against the light
field alone.

Rotated copies of the training shapes (computed by the caller) teach the class head what canonical
pose misses. A class is chosen by one of VOTES — the class head, the nearest library shapes under the
learned metric, or both — whichever did best on held-out shapes in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VIEW_NETWORK_KIND = "view_network"
VOTES = ("network", "neighbours", "both")
NEIGHBOURS = 5
METRIC_NEIGHBOURS = 3  # same-class and other-class neighbours of each shape that the metric learns from
METRIC_SHRINKAGE = 0.03  # share of the identity in each normalised pair covariance (chosen by inner validation)
METRIC_CANDIDATES = 24  # per shape and kind, the nearest by mean view searched exactly for its neighbours


def build_view_network(classes: int, features: int, hidden: int = 192, embedding: int = 96, dropout: float = 0.2):
    from .trainer import require_torch

    torch = require_torch("The multi-view network")
    nn = torch.nn

    class ViewNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.zeros(features))
            self.register_buffer("scale", torch.ones(features))
            self.register_buffer("rms", torch.ones(()))  # RMS norm of a view's light field
            self.register_buffer("metric", torch.eye(features))  # L: view descriptors are (x / rms) · L
            self.per_view = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                          nn.Linear(hidden, hidden), nn.ReLU())
            self.embed = nn.Linear(2 * hidden, embedding)
            self.classifier = nn.Linear(embedding, classes)

        def embedding(self, views):  # (B, V, F) -> (B, E), unit length
            b, v, f = views.shape
            h = self.per_view(((views - self.mean) / self.scale).reshape(b * v, f)).reshape(b, v, -1)
            pooled = torch.cat([h.max(dim=1).values, h.mean(dim=1)], dim=1)
            e = self.embed(pooled)
            return e / e.norm(dim=1, keepdim=True).clamp_min(1e-8)

        def view_descriptors(self, views):  # (B, V, F) -> (B, V, F): compared like light fields
            return (views / self.rms) @ self.metric

        def forward(self, views):
            return self.classifier(self.embedding(views) * 8.0)  # a scaled cosine classifier

    return ViewNetwork()


def matched_view_differences(views: np.ndarray, first, second, block: int = 2048):
    """(differences (P, V, F), distances (P,)) of the pairs (first[p], second[p]) of light fields
    `views` (N, V, F), each pair under the view rotation that brings them closest (the light field's
    search over the 60 icosahedral rotations): differences[p, v] = views[first][P_g(v)] − views[second][v]."""
    from . import shapespace

    permutations = shapespace("canonical_pose").icosahedral_view_permutations()
    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)
    v = views.shape[1]
    differences = np.empty((len(first),) + views.shape[1:], np.float32)
    distances = np.empty(len(first), np.float64)
    flat_rows = np.arange(v)
    for start in range(0, len(first), block):
        a, b = views[first[start:start + block]], views[second[start:start + block]]
        gram = np.einsum("pvf,pwf->pvw", a, b)  # view v of a against view w of b
        # score of rotation g: Σ_w a[P[g, w]] · b[w], from one Gram matrix per pair
        scores = gram[:, permutations, flat_rows[None, :]].sum(axis=2)  # (pairs, 60)
        best = permutations[scores.argmax(axis=1)]  # (pairs, V)
        turned = np.take_along_axis(a, best[:, :, None], axis=1)
        differences[start:start + block] = turned - b
        distances[start:start + block] = (differences[start:start + block].astype(np.float64) ** 2).sum(axis=(1, 2))
    return differences, distances


def nearest_pairs(views: np.ndarray, labels: np.ndarray, same_class: bool, neighbours: int = METRIC_NEIGHBOURS,
                  candidates: int = METRIC_CANDIDATES) -> np.ndarray:
    """(P, 2) pairs (i, j): for every shape i its `neighbours` nearest shapes j of the same class (or of
    other classes) under the rotation-searched light-field distance, searched exactly among its
    `candidates` nearest by mean view (V × the squared gap of the view means is a lower bound of that
    distance, see light_field_nearest), so the cost grows as N² · F, not N² · 60 · V · F."""
    n = len(views)
    k = min(candidates, n - 1)
    if k < 1:
        return np.zeros((0, 2), np.int64)
    means = views.mean(axis=1).astype(np.float64)
    squared = (means ** 2).sum(axis=1)
    near = np.empty((n, k), np.int64)
    usable = np.empty((n, k), bool)
    for start in range(0, n, 1024):  # rows in blocks: memory N × 1024, not N²
        rows = np.arange(start, min(start + 1024, n))
        gaps = squared[rows, None] + squared[None, :] - 2.0 * means[rows] @ means.T
        allowed = (labels[rows, None] == labels[None, :]) == same_class
        allowed[np.arange(len(rows)), rows] = False
        gaps = np.where(allowed, gaps, np.inf)
        near[rows] = np.argpartition(gaps, k - 1, axis=1)[:, :k]
        usable[rows] = np.isfinite(np.take_along_axis(gaps, near[rows], axis=1))
    first = np.repeat(np.arange(n), k)[usable.reshape(-1)]
    second = near.reshape(-1)[usable.reshape(-1)]
    _, distances = matched_view_differences(views, first, second)
    # the `neighbours` nearest of each shape's candidates (sorted by shape, then distance)
    order = np.lexsort((distances, first))
    first, second = first[order], second[order]
    rank = np.arange(len(first)) - np.searchsorted(first, first, side="left")
    keep = rank < neighbours
    return np.stack([first[keep], second[keep]], axis=1)


def fit_view_metric(views, labels, *, neighbours: int = METRIC_NEIGHBOURS, shrinkage: float = METRIC_SHRINKAGE,
                    candidates: int = METRIC_CANDIDATES) -> np.ndarray:
    """(F, F) float32 L of the KISSME metric (see the module doc) on light fields `views` (N, V, F) with
    class `labels` (N,): distances between (views · L) are Σ_v d_vᵀ M d_v with M = Σ_S⁻¹ − Σ_D⁻¹ of
    the matched per-view differences of near same-class (S) and other-class (D) pairs, each covariance
    normalised to trace F and shrunk towards the identity by `shrinkage`. L is scaled so that M's
    eigenvalues average 1. The identity when there are no same-class or no other-class pairs."""
    views = np.asarray(views, np.float32)
    labels = np.asarray(labels)
    features = views.shape[-1]
    identity = np.eye(features)
    covariances = []
    for same_class in (True, False):
        pairs = nearest_pairs(views, labels, same_class, neighbours, candidates)
        if len(pairs) == 0:
            return identity.astype(np.float32)
        differences, _ = matched_view_differences(views, pairs[:, 0], pairs[:, 1])
        flat = differences.reshape(-1, features).astype(np.float64)
        covariance = flat.T @ flat / len(flat)
        trace = float(np.trace(covariance))
        if not trace > 0:
            return identity.astype(np.float32)
        covariances.append((1.0 - shrinkage) * covariance * (features / trace) + shrinkage * identity)
    metric = np.linalg.inv(covariances[0]) - np.linalg.inv(covariances[1])
    values, vectors = np.linalg.eigh((metric + metric.T) / 2)
    values = np.maximum(values, 0.0)
    if not values.mean() > 0:
        return identity.astype(np.float32)
    return (vectors * np.sqrt(values / values.mean())).astype(np.float32)


@dataclass
class ViewNetwork:
    """The trained network with its class names and the vote chosen in training."""

    classes: list
    features: int
    views: int
    net: object
    info: dict = field(default_factory=dict)

    @classmethod
    def create(cls, classes, views: int, features: int, seed: int = 0):
        from .trainer import require_torch

        require_torch("The multi-view network").manual_seed(seed)
        return cls(list(classes), features, views, build_view_network(len(classes), features))

    def fit(self, descriptors, labels, *, epochs: int = 40, learning_rate: float = 2e-3, seed: int = 0,
            device: str = "cpu", progress=None, should_stop=None, metric_views=None, metric_labels=None):
        """descriptors (N, V, F) float32, labels (N,) in range(len(classes)). The retrieval metric is learnt
        (in closed form, before the class head) from `metric_views`/`metric_labels` when given — the
        shapes without their turned copies, which did not help it (see the module doc) — else from the
        descriptors."""
        from .trainer import TrainConfig, require_torch, train

        torch = require_torch("Training the multi-view network")
        x = np.asarray(descriptors, np.float32)
        y = np.asarray(labels, np.int64)
        flat = x.reshape(-1, x.shape[-1])
        self.net.mean.copy_(torch.as_tensor(flat.mean(axis=0)))
        self.net.scale.copy_(torch.as_tensor(np.maximum(flat.std(axis=0), 1e-6)))
        rms = float(np.sqrt((flat.astype(np.float64) ** 2).sum(axis=1).mean())) or 1.0
        self.net.rms.fill_(rms)
        metric_x, metric_y = (x, y) if metric_views is None else \
            (np.asarray(metric_views, np.float32), np.asarray(metric_labels, np.int64))
        self.net.metric.copy_(torch.as_tensor(fit_view_metric(metric_x / rms, metric_y)))

        def loss_fn(net, views, targets):
            noisy = views + 0.05 * torch.randn_like(views) * net.scale if net.training else views
            return torch.nn.functional.cross_entropy(net(noisy), targets)

        config = TrainConfig(optimizer="adam", learning_rate=learning_rate, epochs=epochs, batch_size=48,
                             validation_fraction=0.0, seed=seed, l2=1e-4, device=device, schedule="step",
                             step_epochs=max(1, int(epochs * 0.7)), step_factor=0.2, early_stopping_patience=0)
        result = train(self.net, loss_fn, (x, y), config, progress=progress, should_stop=should_stop)
        self.net.to("cpu")
        return result

    def _run(self, descriptors, method: str) -> np.ndarray:
        from .trainer import require_torch

        torch = require_torch("The multi-view network")
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(descriptors), 256):
                batch = torch.as_tensor(np.asarray(descriptors[start:start + 256], np.float32))
                out.append(getattr(self.net, method)(batch).numpy())
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    def probabilities(self, descriptors) -> np.ndarray:
        logits = self._run(descriptors, "forward").astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def view_descriptors(self, descriptors) -> np.ndarray:
        """(…, V, F) light fields (…, V, F) under the learned metric, (x / rms) · L: compare them with
        light_field_distances (queries with both quarter turns, (…, 2, V, F), keep that shape)."""
        d = np.asarray(descriptors, np.float32)
        out = self._run(d.reshape((-1,) + d.shape[-2:]), "view_descriptors").astype(np.float32)
        return out.reshape(d.shape[:-1] + out.shape[-1:])

    def class_probabilities(self, descriptors, library=None, vote: str | None = None) -> np.ndarray:
        """(Q, C) class probabilities by the vote chosen in training (VOTES): the class head, the nearest
        library shapes under the learned distance, or both averaged. `descriptors` (Q, V, F), or queries
        with both quarter turns (Q, 2, V, F); `library` is (view descriptors from `view_descriptors`,
        labels) of the shapes the network was trained on."""
        from . import shapespace

        light_field_distances = shapespace("light_field").light_field_distances
        vote = vote or self.info.get("vote", "network")
        if vote not in VOTES:
            raise ValueError(f"Unknown vote {vote!r}; use one of {', '.join(VOTES)}")
        descriptors = np.asarray(descriptors, np.float32)
        network = self.probabilities(descriptors[:, 0] if descriptors.ndim == 4 else descriptors)
        if vote == "network" or library is None:
            return network
        library_views, labels = library
        queries = self.view_descriptors(descriptors)
        distances = np.stack([light_field_distances(q, library_views) for q in queries])
        neighbours = neighbour_probabilities(distances, labels, len(self.classes))
        return neighbours if vote == "neighbours" else 0.5 * (network + neighbours)

    def save(self, path, *, collection: str = "", metrics: dict | None = None, extra: dict | None = None,
             library_names=(), info: dict | None = None):
        from .model_files import save_model_file

        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        arrays |= {f"extra.{k}": np.asarray(v) for k, v in (extra or {}).items()}
        return save_model_file(path, VIEW_NETWORK_KIND, arrays, collection=collection, attribute_names=self.classes,
                               metrics=metrics or {}, info={"views": self.views, "features": self.features,
                                                            "vote": self.info.get("vote", "network"),
                                                            "library_names": list(library_names)} | (info or {}))

    @classmethod
    def load(cls, path):
        from .model_files import load_model_file
        from .trainer import require_torch

        torch = require_torch("The multi-view network")
        model = load_model_file(path, expected_kind=VIEW_NETWORK_KIND)
        info = model.metadata["info"]
        network = cls.create(model.metadata["attribute_names"], int(info["views"]), int(info["features"]))
        network.info = dict(info)
        if "net.metric" not in model.arrays:
            raise ValueError(f"'{path}' holds a multi-view network from an older version (a learned residual, "
                             "no retrieval metric); train the classifier again to use it")
        network.net.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in model.arrays.items()
                                     if k.startswith("net.")})
        extra = {k[6:]: v for k, v in model.arrays.items() if k.startswith("extra.")}
        return network, model.metadata, extra


@dataclass
class ViewMetric:
    """A trained network's retrieval metric alone, read without PyTorch: view descriptors are
    (x / rms) · L, numpy only (Find Similar on a machine without PyTorch, or before it is loaded)."""

    rms: float
    metric: np.ndarray  # (F, F′) L

    def view_descriptors(self, descriptors) -> np.ndarray:
        d = np.asarray(descriptors, np.float32)
        return ((d / self.rms) @ self.metric).astype(np.float32)


def load_view_metric(path) -> tuple[ViewMetric, dict]:
    """(the retrieval metric of a multi-view network's model file, its metadata), without PyTorch."""
    from .model_files import load_model_file

    model = load_model_file(path, expected_kind=VIEW_NETWORK_KIND)
    if "net.metric" not in model.arrays:
        raise ValueError(f"'{path}' holds a multi-view network from an older version (a learned residual, "
                         "no retrieval metric); train the classifier again to use it")
    metric = np.asarray(model.arrays["net.metric"], np.float32)
    rms = float(np.asarray(model.arrays["net.rms"], np.float64).reshape(-1)[0])
    return ViewMetric(rms, metric), model.metadata


def normalized_distances(distances: np.ndarray) -> np.ndarray:
    """Distances divided by their median (per query row)."""
    d = np.asarray(distances, np.float64)
    median = np.median(d, axis=-1, keepdims=True)
    return d / np.where(median > 1e-12, median, 1.0)


def neighbour_probabilities(distances: np.ndarray, labels, classes: int, k: int = NEIGHBOURS) -> np.ndarray:
    """(Q, C) soft votes of each query's k nearest library shapes, weighted by exp(−4 d/median d)."""
    d = normalized_distances(distances)
    k = min(k, d.shape[1])
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(d))[:, None]
    votes = np.zeros((len(d), classes))
    np.add.at(votes, (np.repeat(rows, k, axis=1), np.asarray(labels)[nearest]), np.exp(-4.0 * d[rows, nearest]))
    votes += 1e-6
    return votes / votes.sum(axis=1, keepdims=True)


def stratified_split(labels: np.ndarray, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices with the same share held out of every class (at least one shape of a
    class with two or more stays in training)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(held_out * len(members))) if len(members) > 1 else 0
        k = min(k, len(members) - 1)
        held += list(members[:k])
        train += list(members[k:])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(held, np.int64))


def fit_view_network(descriptors, labels, classes, *, copies=None, held_out: float = 0.25, epochs: int = 40,
                     seed: int = 0, device: str = "cpu", progress=None, should_stop=None, stage=None):
    """Train the network on shapes `descriptors` (N, V, F) with labels (N,), measure it, refit on all.

    `copies` = (descriptors (M, V, F), copy_of (M,)) of rotated copies of the shapes: each joins the
    training set of its shape's split. (1) A stratified held-out split measures accuracy (each vote)
    against softmax regression on pooled light fields, and picks the vote; (2) the final network learns
    from every shape. Returns (network, metrics, stopped): stopped is True when should_stop() ended it."""
    from . import shapespace
    from .softmax_regression import SoftmaxRegression

    pooled_light_field = shapespace("light_field").pooled_light_field

    x = np.asarray(descriptors, np.float32)
    y = np.asarray(labels, np.int64)
    extra_x, extra_of = (np.zeros((0,) + x.shape[1:], np.float32), np.zeros(0, np.int64)) if copies is None else \
        (np.asarray(copies[0], np.float32), np.asarray(copies[1], np.int64))
    stage = stage or (lambda name, fraction: None)
    metrics: dict = {"n_shapes": int(len(x)), "n_copies": int(len(extra_x))}

    def with_copies(index):
        chosen = np.isin(extra_of, index)
        return np.concatenate([x[index], extra_x[chosen]]), np.concatenate([y[index], y[extra_of[chosen]]])

    def trained(index, part):
        tx, ty = with_copies(index)
        network = ViewNetwork.create(classes, x.shape[1], x.shape[2], seed=seed)

        def on_epoch(p):
            if progress is not None:
                progress(part[0] + (part[1] - part[0]) * p.fraction, p)

        result = network.fit(tx, ty, epochs=epochs, seed=seed, device=device, progress=on_epoch,
                             should_stop=should_stop, metric_views=x[index], metric_labels=y[index])
        return network, result.stop_reason == "cancelled"

    train_idx, held_idx = stratified_split(y, held_out, seed)
    metrics["n_train"], metrics["n_held_out"] = int(len(train_idx)), int(len(held_idx))
    vote = "both"
    if len(held_idx):
        stage("measuring on held-out shapes", 0.0)
        network, stopped = trained(train_idx, (0.0, 0.45))
        if stopped:
            return None, metrics, True
        train_x, train_y = with_copies(train_idx)
        library = (network.view_descriptors(train_x), train_y)
        votes = {v: network.class_probabilities(x[held_idx], library, v).argmax(axis=1) for v in VOTES}
        right = {v: float((votes[v] == y[held_idx]).mean()) for v in VOTES}
        vote = next(v for v in ("both", "neighbours", "network") if right[v] >= max(right.values()))
        metrics["vote_accuracy"] = right
        metrics["accuracy"] = right[vote]
        baseline = SoftmaxRegression(seed=seed).fit(pooled_light_field(train_x), train_y, len(classes))
        metrics["baseline_accuracy"] = float((baseline.predict(pooled_light_field(x[held_idx])) == y[held_idx]).mean())
        metrics["confusion"] = np.zeros((len(classes),) * 2, np.int64)
        np.add.at(metrics["confusion"], (y[held_idx], votes[vote]), 1)
    metrics["vote"] = vote

    stage("training on every shape", 0.45)
    network, stopped = trained(np.arange(len(x)), (0.45 if len(held_idx) else 0.0, 1.0))
    if stopped:
        return None, metrics, True
    network.info["vote"] = vote
    return network, metrics, False
