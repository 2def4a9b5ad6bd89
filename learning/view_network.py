"""A multi-view network on light-field views (after Su et al. 2015, MVCNN): one encoder shared by the
20 views of a shape in canonical pose, trained with a class head and by metric learning (batch-hard
triplets, Hermans et al. 2017) on a distance that fuses the training-free light field with what it
learns.

Each view enters as its rotation-invariant light-field numbers (shapespace.light_field: Zernike
moments of silhouette and depth), not as pixels: on 2 CPU cores a pixel CNN learns from a few hundred
shapes too slowly, and the hand-made per-view numbers already carry what a small CNN would find.

Two heads share nothing but the input:
- classification: a per-view MLP, max and mean pooling over the views (invariant to the 60 rotations
  that permute them), a scaled cosine classifier; trained with cross-entropy.
- retrieval: each view's descriptor becomes [x / rms, RESIDUAL_SCALE · g(x)] — the light field itself
  and a learned residual g — compared like the light field (the best of the 60 view rotations).
  Trained by batch-hard triplets on that very distance, so the residual learns what the light field
  gets wrong (clutter, proportions) while the shapes of classes never seen still rank by the part that
  needs no training. Triplet distances take the rotation the light field alone picks (a no-grad
  argmax), which makes a batch 60× cheaper than searching with gradients.

Rotated copies of the training shapes (computed by the caller) teach what canonical pose misses.
A class is chosen by one of VOTES — the class head, the nearest library shapes under the learned
distance, or both — whichever did best on held-out shapes in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VIEW_NETWORK_KIND = "view_network"
VOTES = ("network", "neighbours", "both")
NEIGHBOURS = 5
RESIDUAL = 32  # learned numbers per view
# The residual's weight against the light field's (unit-RMS) numbers: on the hard benchmark's unseen classes
# 0.3 lifted first-tier 0.386 → 0.415 and DCG 0.719 → 0.734 over the light field alone.
RESIDUAL_SCALE = 0.3


def build_view_network(classes: int, features: int, hidden: int = 192, embedding: int = 96, dropout: float = 0.2,
                       residual: int = RESIDUAL):
    from .trainer import require_torch

    torch = require_torch("The multi-view network")
    nn = torch.nn

    class ViewNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.zeros(features))
            self.register_buffer("scale", torch.ones(features))
            self.register_buffer("rms", torch.ones(()))  # RMS norm of a view's light field
            self.per_view = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                          nn.Linear(hidden, hidden), nn.ReLU())
            self.embed = nn.Linear(2 * hidden, embedding)
            self.classifier = nn.Linear(embedding, classes)
            self.residual = nn.Sequential(nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, residual))

        def embedding(self, views):  # (B, V, F) -> (B, E), unit length
            b, v, f = views.shape
            h = self.per_view(((views - self.mean) / self.scale).reshape(b * v, f)).reshape(b, v, -1)
            pooled = torch.cat([h.max(dim=1).values, h.mean(dim=1)], dim=1)
            e = self.embed(pooled)
            return e / e.norm(dim=1, keepdim=True).clamp_min(1e-8)

        def view_descriptors(self, views):  # (B, V, F) -> (B, V, F + R): compared like light fields
            learned = self.residual((views - self.mean) / self.scale)
            return torch.cat([views / self.rms, RESIDUAL_SCALE * learned], dim=2)

        def forward(self, views):
            return self.classifier(self.embedding(views) * 8.0)  # a scaled cosine classifier

    return ViewNetwork()


def batch_hard_triplet(torch, distance, labels, margin: float):
    """Mean over anchors with a positive of max(0, hardest positive − hardest negative + margin)."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = torch.where(same & ~eye, distance, torch.zeros_like(distance)).max(dim=1).values
    negative = torch.where(same, torch.full_like(distance, 1e9), distance).min(dim=1).values
    has = (same & ~eye).any(dim=1) & (~same).any(dim=1)
    if not bool(has.any()):
        return distance.sum() * 0.0
    return torch.clamp(positive - negative + margin, min=0)[has].mean()


ROTATION_FEATURES = 12  # per view, the light-field numbers the rotation of a training pair is chosen by


def rotation_search_distances(torch, views, descriptors, permutations):
    """(B, B) mean squared view distance between all pairs of `descriptors` (B, V, D), each pair under the
    view rotation that suits their light fields `views` (B, V, F) best. The rotation is chosen on the first
    ROTATION_FEATURES numbers of each view's silhouette (its lowest Zernike orders, which carry the
    pose): the search over 60 rotations was most of a training step, and 12 of 72 numbers make it 6×
    cheaper."""
    b, v = views.shape[:2]
    with torch.no_grad():
        views = views[..., :ROTATION_FEATURES].contiguous()
        flat = views.reshape(b, -1)
        cross = torch.einsum("ik,jpk->ijp", flat, views[:, permutations].reshape(b, len(permutations), -1))
        turn = permutations[cross.argmax(dim=2)]  # (B, B, V): view w of j that faces view v of i
    # Σ_v D_i[v]·D_j[turn[i, j, v]] from one Gram matrix of all views: a gather of (B, B, V) numbers, where
    # gathering the turned descriptors themselves cost 25× more (most of it in the backward pass).
    gram = (descriptors.reshape(b * v, -1) @ descriptors.reshape(b * v, -1).T).reshape(b, v, b, v).permute(0, 2, 1, 3)
    matched = gram.gather(3, turn.unsqueeze(-1)).squeeze(-1).sum(dim=2)
    norms = (descriptors ** 2).sum(dim=(1, 2))
    return (norms[:, None] + norms[None, :] - 2.0 * matched).clamp_min(0.0) / v


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

    def fit(self, descriptors, labels, *, epochs: int = 40, learning_rate: float = 2e-3, triplet_weight: float = 1.0,
            margin: float = 0.1, seed: int = 0, device: str = "cpu", progress=None, should_stop=None):
        """descriptors (N, V, F) float32, labels (N,) in range(len(classes))."""
        from . import shapespace
        from .trainer import TrainConfig, require_torch, train

        icosahedral_view_permutations = shapespace("canonical_pose").icosahedral_view_permutations

        torch = require_torch("Training the multi-view network")
        x = np.asarray(descriptors, np.float32)
        y = np.asarray(labels, np.int64)
        flat = x.reshape(-1, x.shape[-1])
        self.net.mean.copy_(torch.as_tensor(flat.mean(axis=0)))
        self.net.scale.copy_(torch.as_tensor(np.maximum(flat.std(axis=0), 1e-6)))
        self.net.rms.fill_(float(np.sqrt((flat.astype(np.float64) ** 2).sum(axis=1).mean())) or 1.0)
        permutations = torch.as_tensor(icosahedral_view_permutations())

        def loss_fn(net, views, targets):
            noisy = views + 0.05 * torch.randn_like(views) * net.scale if net.training else views
            loss = torch.nn.functional.cross_entropy(net(noisy), targets)
            distances = rotation_search_distances(torch, views, net.view_descriptors(views),
                                                  permutations.to(views.device))
            return loss + triplet_weight * batch_hard_triplet(torch, distances, targets, margin)

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
        """(…, V, F + R) light fields (…, V, F) with the learned residual: compare them with
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
        network.net.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in model.arrays.items()
                                     if k.startswith("net.")})
        extra = {k[6:]: v for k, v in model.arrays.items() if k.startswith("extra.")}
        return network, model.metadata, extra


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
                             should_stop=should_stop)
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
