"""Volumetric models of occupancy grids (R, R, R), conditioned on a class and attributes.

* `VoxelLogistic` — the lecture's baseline: per-voxel logistic regression from the condition vector
  (class one-hot + standardised attributes) to occupancy, with L1/L2 penalties, through the shared trainer.
* `VoxelVAE` — a 3D convolutional variational auto-encoder standing in for 3D ShapeNets' deep belief
  net: the encoder sees a grid and which voxels are known (so it learns to complete), and also names
  the class; the decoder takes a latent code plus the condition (Dosovitskiy et al. 2015: the
  condition goes in, geometry comes out). Generation draws latent codes, interpolation walks between
  two shapes' codes, completion encodes the known part and refines the code on it.

Both complete a partial grid the same way at the end: known voxels stay as given. Conditions are
built by `Conditions`, which also clamps out-of-range attribute values (and says so).
`load_volumetric` reads back every volumetric kind the extension writes (ALL_VOLUMETRIC_KINDS): these
two and learning.implicit_decoder's signed-distance decoder.
Geometry (voxelising, meshing) is shapespace's business; this module sees arrays only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LOGISTIC_KIND = "voxel_logistic"
VAE_KIND = "voxel_vae"
VOLUMETRIC_KINDS = (LOGISTIC_KIND, VAE_KIND)  # the occupancy-grid models of this module
# learning.implicit_decoder's kind, named here too because that module imports this one (a test checks
# that the two agree).
IMPLICIT_KIND = "implicit_sdf"
ALL_VOLUMETRIC_KINDS = VOLUMETRIC_KINDS + (IMPLICIT_KIND,)  # every volumetric kind the extension writes


# --------------------------------------------------------------------------------------------
# Conditions: class + attributes -> one vector (no torch needed)
# --------------------------------------------------------------------------------------------


@dataclass
class Conditions:
    classes: list
    attribute_names: list
    mean: np.ndarray  # (A,) over the shapes that have the attribute
    std: np.ndarray  # (A,)
    class_means: np.ndarray  # (C, A) standardised: an unset attribute takes its class's mean
    low: np.ndarray  # (C, A) raw range seen in training, per class (NaN: the class never has it)
    high: np.ndarray

    @property
    def size(self) -> int:
        return len(self.classes) + len(self.attribute_names)

    @classmethod
    def fit(cls, labels, attributes: np.ndarray, classes, attribute_names) -> "Conditions":
        """labels: class index per shape; attributes (N, A) raw values, NaN where a shape lacks one."""
        labels = np.asarray(labels, np.int64)
        values = np.asarray(attributes, np.float64).reshape(len(labels), len(attribute_names))
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(values, axis=0)) if len(attribute_names) else np.zeros(0)
            std = np.nan_to_num(np.nanstd(values, axis=0)) if len(attribute_names) else np.zeros(0)
        std = np.where(std > 1e-12, std, 1.0)
        standard = np.nan_to_num((values - mean) / std)
        c, a = len(classes), len(attribute_names)
        class_means, low, high = np.zeros((c, a)), np.full((c, a), np.nan), np.full((c, a), np.nan)
        for k in range(c):
            rows = values[labels == k]
            if len(rows) == 0:
                continue
            class_means[k] = standard[labels == k].mean(axis=0)
            with np.errstate(all="ignore"):
                present = ~np.isnan(rows).all(axis=0)
                low[k, present] = np.nanmin(rows[:, present], axis=0)
                high[k, present] = np.nanmax(rows[:, present], axis=0)
        return cls(list(classes), list(attribute_names), mean, std, class_means, low, high)

    def vectors(self, labels, attributes: np.ndarray) -> np.ndarray:
        """(N, C+A) float32: one-hot class (or class probabilities, rows of a (N, C) array) and
        standardised attributes (NaN: the class mean)."""
        labels = np.asarray(labels)
        n = len(labels)
        if labels.ndim == 2:
            onehot = labels.astype(np.float64)
            means = onehot @ self.class_means
        else:
            onehot = np.eye(len(self.classes))[labels.astype(np.int64)]
            means = self.class_means[labels.astype(np.int64)]
        values = np.asarray(attributes, np.float64).reshape(n, len(self.attribute_names))
        standard = np.where(np.isnan(values), means, (values - self.mean) / self.std)
        return np.concatenate([onehot, standard], axis=1).astype(np.float32)

    def request(self, class_name: str, values: dict | None = None) -> tuple[np.ndarray, list]:
        """The raw attribute row for a request of `class_name` with some attributes set, clamped to the
        range seen for that class; and one message per clamped or unknown attribute."""
        if class_name not in self.classes:
            raise ValueError(f"Unknown class {class_name!r}; the model knows {', '.join(self.classes)}")
        k = self.classes.index(class_name)
        row = np.full(len(self.attribute_names), np.nan)
        notes = []
        for name, value in (values or {}).items():
            if name not in self.attribute_names:
                raise ValueError(f"Unknown attribute {name!r}; the model knows "
                                 f"{', '.join(self.attribute_names) or 'none'}")
            i = self.attribute_names.index(name)
            low, high = self.low[k, i], self.high[k, i]
            if np.isnan(low):
                notes.append(f"'{class_name}' shapes have no {name}; ignored")
                continue
            clamped = float(np.clip(value, low, high))
            if not math.isclose(clamped, float(value), rel_tol=1e-9, abs_tol=1e-12):
                notes.append(f"{name} {value:g} is outside what '{class_name}' shapes showed "
                             f"({low:g}–{high:g}); used {clamped:g}")
            row[i] = clamped
        return row, notes

    def arrays(self) -> dict:
        return {"cond.mean": self.mean, "cond.std": self.std, "cond.class_means": self.class_means,
                "cond.low": self.low, "cond.high": self.high}

    @classmethod
    def from_arrays(cls, arrays: dict, classes, attribute_names) -> "Conditions":
        return cls(list(classes), list(attribute_names), arrays["cond.mean"], arrays["cond.std"],
                   arrays["cond.class_means"], arrays["cond.low"], arrays["cond.high"])


def half_space_mask(resolution: int, occupied: np.ndarray, removed_share: float, rng) -> np.ndarray:
    """Known-voxel mask (R, R, R) that hides a random half-space holding `removed_share` of the
    occupied voxels: what "half the chair is missing" looks like."""
    r = resolution
    axes = np.meshgrid(*(np.arange(r) - (r - 1) / 2,) * 3, indexing="ij")
    points = np.stack([a.ravel() for a in axes], axis=1)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    s = points @ direction
    s_occupied = s[np.asarray(occupied).ravel() > 0.5]
    if len(s_occupied) == 0:
        return np.ones((r, r, r), dtype=bool)
    cut = np.quantile(s_occupied, 1 - removed_share)
    return (s < cut).reshape(r, r, r)


def iou(a, b) -> float:
    a, b = np.asarray(a) > 0.5, np.asarray(b) > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def completion_scores(model, grids, removed_share: float, seed: int = 0) -> list:
    """IoU with the truth of each grid completed after hiding `removed_share` of it behind a random cut."""
    rng = np.random.default_rng(seed)
    scores = []
    for grid in grids:
        known = half_space_mask(len(grid), grid, removed_share, rng)
        scores.append(iou(model.complete(grid, known)[0], grid))
    return scores


def class_pieces(grids, labels, classes: int) -> np.ndarray:
    """(C,) how many connected pieces each class's training occupancy grids typically have
    (shapespace.mesh_cleanup.typical_piece_count of the grids taken at one half): the generated and
    completed meshes keep that many, so a class whose shapes are one piece comes out in one piece and
    one whose shapes are several (a lamp with a loose shade) keeps them. 1 for a class with no shape."""
    from . import shapespace

    typical = shapespace("mesh_cleanup").typical_piece_count
    grids, labels = np.asarray(grids, np.float32), np.asarray(labels)
    # signed as generation_checks.occupancy_signed_grid signs a model's output (4 voxels per unit of
    # probability), so the cleaner's growth by 3/4 voxel joins no pieces a binary grid keeps apart
    return np.array([typical(4.0 * (0.5 - grids[labels == k])) if (labels == k).any() else 1
                     for k in range(classes)], np.int64)


def fit_size_model(condition_vectors, sizes, lam: float = 1e-2) -> np.ndarray:
    """Ridge weights from condition vectors to log size (the grid's side in scene units): grids are
    normalised, so a generated shape takes its size from what it was asked to be."""
    x = np.concatenate([np.asarray(condition_vectors, np.float64), np.ones((len(sizes), 1))], axis=1)
    y = np.log(np.asarray(sizes, np.float64))
    return np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)


def predict_size(weights, condition_vectors) -> np.ndarray:
    x = np.asarray(condition_vectors, np.float64).reshape(-1, len(weights) - 1)
    return np.exp(x @ weights[:-1] + weights[-1])


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def _torch():
    from .trainer import require_torch

    return require_torch("Volumetric models")


def _keep_known(probabilities: np.ndarray, grid: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.where(known, np.asarray(grid, np.float32), probabilities).astype(np.float32)


def _weighted_bce(torch, logits, target, weight=None, positive_weight: float = 2.0):
    """Binary cross-entropy per voxel; occupied voxels count `positive_weight` times (grids are mostly empty)."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction="none", pos_weight=torch.tensor(positive_weight, dtype=logits.dtype))
    if weight is not None:
        return (loss * weight).sum(dim=1) / weight.sum(dim=1).clamp(min=1)
    return loss.mean(dim=1)


@dataclass
class VoxelLogistic:
    """Per-voxel logistic regression: logit(p_v) = w_v · c + b_v."""

    conditions: Conditions
    resolution: int
    net: object  # torch.nn.Linear(C+A, R³)
    size_weights: np.ndarray | None = None  # see fit_size_model
    pieces: np.ndarray | None = None  # (C,) typical connected pieces of a class's training shapes (class_pieces)
    kind = LOGISTIC_KIND

    @classmethod
    def create(cls, conditions: Conditions, resolution: int, seed: int = 0) -> "VoxelLogistic":
        torch = _torch()
        torch.manual_seed(seed)
        return cls(conditions, int(resolution), torch.nn.Linear(conditions.size, int(resolution) ** 3))

    def fit(self, grids, condition_vectors, *, epochs: int = 200, l1: float = 0.0, l2: float = 1e-4,
            learning_rate: float = 0.05, seed: int = 0, validation_fraction: float = 0.0, progress=None,
            should_stop=None):
        from .trainer import TrainConfig, train

        torch = _torch()
        flat = np.asarray(grids, np.float32).reshape(len(grids), -1)
        with torch.no_grad():  # start at the mean occupancy: training only has to learn the differences
            share = np.clip(flat.mean(axis=0), 1e-3, 1 - 1e-3)
            self.net.bias.copy_(torch.as_tensor(np.log(share / (1 - share)), dtype=torch.float32))
            self.net.weight.zero_()

        def loss_fn(net, c, y):
            return _weighted_bce(torch, net(c), y).mean()

        config = TrainConfig(optimizer="adam", learning_rate=learning_rate, epochs=epochs, batch_size=0, l1=l1,
                             l2=l2, init="keep", validation_fraction=validation_fraction, seed=seed,
                             early_stopping_patience=0)
        return train(self.net, loss_fn, (np.asarray(condition_vectors, np.float32), flat), config,
                     progress=progress, should_stop=should_stop)

    def probabilities(self, condition_vectors) -> np.ndarray:
        torch = _torch()
        with torch.no_grad():
            logits = self.net(torch.as_tensor(np.asarray(condition_vectors, np.float32)))
        return torch.sigmoid(logits).numpy().reshape((-1,) + (self.resolution,) * 3)

    def complete(self, grid, known, iterations: int = 8, positive_weight: float = 2.0, progress=None,
                 should_stop=None) -> tuple[np.ndarray, int]:
        """Fill the unknown voxels: for each class, fit the attributes to the known voxels — a convex
        weighted logistic fit in the attribute vector, solved by Newton's method — and keep the class
        that explains them best. progress(fraction, message) is called after each class; when
        should_stop() says so, the classes not tried yet are skipped."""
        conditions = self.conditions
        c, a = len(conditions.classes), len(conditions.attribute_names)
        weight = self.net.weight.detach().numpy().astype(np.float64)  # (V, C+A)
        bias = self.net.bias.detach().numpy().astype(np.float64)
        known = np.asarray(known, bool).ravel()
        y = np.asarray(grid, np.float64).ravel()[known]
        w_class, w_attr, b = weight[known, :c], weight[known, c:], bias[known]
        scale = positive_weight * y + (1 - y)  # per-voxel weight of the loss (occupied voxels count more)
        best = (math.inf, None, 0)
        for k in range(c):
            if k and should_stop is not None and should_stop():
                break
            x = conditions.vectors([k], np.full((1, a), np.nan))[0].astype(np.float64)
            attributes = x[c:].copy()
            for _ in range(iterations if a else 0):
                logits = w_class[:, k] + w_attr @ attributes + b
                p = 1 / (1 + np.exp(-logits))
                gradient = w_attr.T @ (scale * p - positive_weight * y) + 1e-3 * attributes
                hessian = (w_attr * (scale * p * (1 - p))[:, None]).T @ w_attr + 1e-3 * np.eye(a)
                attributes -= np.linalg.solve(hessian, gradient)
            logits = w_class[:, k] + w_attr @ attributes + b
            loss = float(np.sum(scale * np.logaddexp(0, logits) - positive_weight * y * logits)) / max(len(y), 1)
            if loss < best[0]:
                best = (loss, np.concatenate([x[:c], attributes]), k)
            if progress is not None:
                progress((k + 1) / c, f"fitted the known voxels as {conditions.classes[k]} ({k + 1}/{c})")
        p = 1 / (1 + np.exp(-(weight @ best[1] + bias)))
        return _keep_known(p.reshape((self.resolution,) * 3).astype(np.float32), grid, known.reshape(grid.shape)), best[2]

    def save(self, path, *, collection: str = "", metrics: dict | None = None, info: dict | None = None):
        return _save(self, path, {}, {}, collection, metrics, info)


# --------------------------------------------------------------------------------------------
# The conditional VAE
# --------------------------------------------------------------------------------------------


def build_vae(resolution: int, condition_size: int, classes: int, latent: int, channels=None):
    torch = _torch()
    nn = torch.nn
    levels = int(round(math.log2(resolution / 4)))
    if 4 * 2 ** levels != resolution:
        raise ValueError(f"The volumetric network needs a resolution of 4·2ⁿ (16, 32, 64), not {resolution}")
    channels = list(channels or [8 * 2 ** i for i in range(levels)])[:levels]
    bottom = channels[-1] * 4 ** 3

    class VoxelVAENet(nn.Module):
        def __init__(self):
            super().__init__()
            layers, previous = [], 2  # occupancy (zero where unknown) and the known mask
            for width in channels:
                layers += [nn.Conv3d(previous, width, 4, 2, 1), nn.BatchNorm3d(width), nn.LeakyReLU(0.2)]
                previous = width
            self.encoder = nn.Sequential(*layers, nn.Flatten())
            self.to_latent = nn.Linear(bottom, 2 * latent)
            self.to_class = nn.Sequential(nn.Linear(bottom, 64), nn.LeakyReLU(0.2), nn.Linear(64, classes))
            self.from_latent = nn.Sequential(nn.Linear(latent + condition_size, bottom), nn.LeakyReLU(0.2))
            layers = []
            widths = channels[::-1] + [1]
            for a, b in zip(widths, widths[1:]):
                layers += [nn.ConvTranspose3d(a, b, 4, 2, 1)]
                if b != 1:
                    layers += [nn.BatchNorm3d(b), nn.LeakyReLU(0.2)]
            self.decoder = nn.Sequential(*layers)
            self.channels, self.latent = channels, latent

        def encode(self, grid, known):  # (B, R, R, R) each -> mu, log variance, class logits
            h = self.encoder(torch.stack([grid * known, known], dim=1))
            mu, log_var = self.to_latent(h).chunk(2, dim=1)
            return mu, log_var.clamp(-8, 8), self.to_class(h)

        def decode(self, z, condition):  # -> logits (B, R³)
            h = self.from_latent(torch.cat([z, condition], dim=1)).reshape(-1, self.channels[-1], 4, 4, 4)
            return self.decoder(h).flatten(1)

    return VoxelVAENet()


@dataclass
class VoxelVAE:
    conditions: Conditions
    resolution: int
    latent: int
    net: object
    channels: list = field(default_factory=list)
    prior_mean: np.ndarray | None = None  # (C, L) per class: where the training shapes' codes lie
    prior_chol: np.ndarray | None = None  # (C, L, L) Cholesky factor of their covariance
    size_weights: np.ndarray | None = None  # see fit_size_model
    pieces: np.ndarray | None = None  # (C,) typical connected pieces of a class's training shapes (class_pieces)
    kind = VAE_KIND

    @classmethod
    def create(cls, conditions: Conditions, resolution: int, latent: int = 32, channels=None,
               seed: int = 0) -> "VoxelVAE":
        torch = _torch()
        torch.manual_seed(seed)
        net = build_vae(resolution, conditions.size, len(conditions.classes), latent, channels)
        return cls(conditions, int(resolution), int(latent), net, list(net.channels))

    def fit(self, grids, labels, condition_vectors, *, epochs: int = 80, learning_rate: float = 2e-3,
            batch_size: int = 16, beta: float = 0.3, class_weight: float = 0.2, masked_share: float = 0.5,
            mirror: bool = False, positive_weight: float = 4.0, seed: int = 0, validation_fraction: float = 0.0,
            progress=None, should_stop=None):
        """Reconstruct every grid from itself or (for `masked_share` of the samples) from a random
        half-space of it with 25–55% of the shape hidden; KL to the prior, weighted by beta per
        latent dimension relative to the per-voxel loss; cross-entropy of the class head. Occupied voxels
        weigh `positive_weight` times the empty ones, so that thin parts (legs) survive. With `mirror`,
        half the samples are flipped left to right (x), which man-made shapes mostly allow."""
        from .trainer import TrainConfig, train

        torch = _torch()
        r = self.resolution
        axes = np.meshgrid(*(np.arange(r) - (r - 1) / 2,) * 3, indexing="ij")
        points = torch.as_tensor(np.stack([a.ravel() for a in axes], axis=1), dtype=torch.float32)
        voxels = r ** 3

        def random_known(y):
            """Per sample: everything known, or a half-space cut hiding 25–55% of the occupied voxels."""
            b = len(y)
            direction = torch.nn.functional.normalize(torch.randn(b, 3), dim=1)
            s = direction @ points.T  # (B, V)
            occupied = y > 0.5
            share = 0.25 + 0.3 * torch.rand(b)
            cut = torch.stack([torch.quantile(s[i][occupied[i]], 1 - float(share[i])) if occupied[i].any()
                               else s[i].max() + 1 for i in range(b)])
            known = (s < cut[:, None]).float()
            whole = torch.rand(b) >= masked_share
            known[whole] = 1.0
            return known

        def loss_fn(net, y, label, condition):
            if mirror:
                flip = torch.rand(len(y)) < 0.5
                y = torch.where(flip[:, None], y.reshape(-1, r, r, r).flip(1).reshape(len(y), -1), y)
            known = random_known(y)
            mu, log_var, class_logits = net.encode(y.reshape(-1, r, r, r), known.reshape(-1, r, r, r))
            z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
            logits = net.decode(z, condition)
            reconstruction = _weighted_bce(torch, logits, y, positive_weight=positive_weight).mean()
            kl = -0.5 * (1 + log_var - mu.square() - log_var.exp()).sum(dim=1).mean() / voxels
            classification = torch.nn.functional.cross_entropy(class_logits, label)
            return reconstruction + beta * kl + class_weight * classification / 10

        config = TrainConfig(optimizer="adam", learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
                             validation_fraction=validation_fraction, seed=seed, init="keep",
                             early_stopping_patience=0, schedule="step", step_epochs=max(1, int(epochs * 0.7)),
                             step_factor=0.3)
        self.net.train()
        result = train(self.net, loss_fn, (np.asarray(grids, np.float32).reshape(len(grids), -1),
                                           np.asarray(labels, np.int64), np.asarray(condition_vectors, np.float32)),
                       config, progress=progress, should_stop=should_stop)
        self.net.eval()
        self.fit_prior(grids, labels)
        return result

    def fit_prior(self, grids, labels) -> None:
        """A Gaussian per class over the training shapes' codes (ex-post density estimation, Ghosh et al.
        2020): samples drawn there decode to shapes like the class's, where N(0, I) often does not."""
        codes = np.concatenate([self.encode(np.asarray(grids[i:i + 64], np.float32))[0]
                                for i in range(0, len(grids), 64)])
        labels = np.asarray(labels)
        c, latent = len(self.conditions.classes), self.latent
        self.prior_mean = np.zeros((c, latent), np.float32)
        self.prior_chol = np.repeat(np.eye(latent, dtype=np.float32)[None], c, axis=0)
        for k in range(c):
            rows = codes[labels == k]
            if len(rows) == 0:
                continue
            self.prior_mean[k] = rows.mean(axis=0)
            if len(rows) > 1:
                covariance = np.cov(rows, rowvar=False).reshape(latent, latent)
                shrink = min(1.0, latent / len(rows))  # few shapes: lean on the diagonal
                covariance = (1 - shrink / 2) * covariance + shrink / 2 * np.diag(np.diag(covariance))
                self.prior_chol[k] = np.linalg.cholesky(covariance + 1e-4 * np.eye(latent))

    # ---- inference (no gradients, eval mode) ----

    def _decode(self, z: np.ndarray, condition_vectors: np.ndarray) -> np.ndarray:
        torch = _torch()
        self.net.eval()
        with torch.no_grad():
            logits = self.net.decode(torch.as_tensor(np.asarray(z, np.float32)),
                                     torch.as_tensor(np.asarray(condition_vectors, np.float32)))
        return torch.sigmoid(logits).numpy().reshape((-1,) + (self.resolution,) * 3)

    def encode(self, grids, known=None) -> tuple[np.ndarray, np.ndarray]:
        """(latent means, class probabilities) of grids, seen where `known` (default: everywhere)."""
        torch = _torch()
        grids = torch.as_tensor(np.asarray(grids, np.float32))
        known = torch.ones_like(grids) if known is None else torch.as_tensor(np.asarray(known, np.float32))
        self.net.eval()
        with torch.no_grad():
            mu, _, class_logits = self.net.encode(grids, known)
        return mu.numpy(), torch.softmax(class_logits, dim=1).numpy()

    def generate(self, condition_vector: np.ndarray, count: int, seed: int = 0, spread: float = 1.0) -> np.ndarray:
        """`count` grids of probabilities for one condition; codes drawn from the condition's classes'
        Gaussians (a class mix for a soft class vector), `spread` scaling their width."""
        condition_vector = np.asarray(condition_vector, np.float32)
        weights = condition_vector[:len(self.conditions.classes)].astype(np.float64)
        noise = np.random.default_rng(seed).normal(size=(count, self.latent))
        if self.prior_mean is None:  # not fitted yet: the VAE's own prior
            return self._decode(spread * noise, np.repeat(condition_vector[None], count, axis=0))
        mean = weights @ self.prior_mean
        chol = np.tensordot(weights, self.prior_chol, axes=1)
        z = mean + spread * noise @ chol.T
        return self._decode(z, np.repeat(condition_vector[None], count, axis=0))

    def interpolate(self, grid_a, grid_b, condition_a, condition_b, steps: int) -> np.ndarray:
        """Grids along the straight line between two shapes' codes (and conditions), ends included."""
        mu, _ = self.encode(np.stack([grid_a, grid_b]))
        t = np.linspace(0.0, 1.0, steps)[:, None]
        z = (1 - t) * mu[0] + t * mu[1]
        condition = (1 - t) * np.asarray(condition_a)[None] + t * np.asarray(condition_b)[None]
        return self._decode(z, condition)

    def classify(self, grids) -> np.ndarray:
        return self.encode(grids)[1]

    def complete(self, grid, known, condition_vector=None, steps: int = 60, mirror: bool = True,
                 progress=None, should_stop=None) -> tuple[np.ndarray, int]:
        """Fill the unknown voxels of one grid: encode what is known (the class head names the class
        unless `condition_vector` is given), then refine the code on the known voxels. With `mirror`,
        the grid is also completed flipped left to right and the two answers averaged.
        progress(fraction, message) is called after each refinement step; when should_stop() says
        so, the refinement ends early (the answer is then rougher, for a caller that discards it)."""
        grid, known = np.asarray(grid, np.float32), np.asarray(known, bool)
        passes = 2 if mirror else 1

        def pass_progress(index):
            if progress is None:
                return None
            side = " (mirrored)" if index else ""
            return lambda step: progress((index * steps + step) / (passes * steps),
                                         f"refining the shape code{side}, step {step}/{steps}")

        p, probabilities = self._complete_once(grid, known, condition_vector, steps, pass_progress(0), should_stop)
        if mirror and not (should_stop is not None and should_stop()):
            flipped, flipped_probabilities = self._complete_once(grid[::-1].copy(), known[::-1].copy(),
                                                                 condition_vector, steps, pass_progress(1),
                                                                 should_stop)
            p = (p + flipped[::-1]) / 2
            probabilities = probabilities + flipped_probabilities
        return _keep_known(p, grid, known), int(probabilities.argmax())

    def _complete_once(self, grid, known, condition_vector, steps, step_done=None, should_stop=None):
        torch = _torch()
        mu, probabilities = self.encode(grid[None], known[None].astype(np.float32))
        if condition_vector is None:
            condition_vector = self.conditions.vectors([int(probabilities[0].argmax())],
                                                       np.full((1, len(self.conditions.attribute_names)), np.nan))[0]
        z = torch.as_tensor(mu).clone().requires_grad_(True)
        condition = torch.as_tensor(np.asarray(condition_vector, np.float32)[None])
        target = torch.as_tensor(grid.reshape(1, -1))
        mask = torch.as_tensor(known.reshape(1, -1).astype(np.float32))
        optimizer = torch.optim.Adam([z], lr=0.05)
        for step in range(steps):
            if should_stop is not None and should_stop():
                break
            loss = _weighted_bce(torch, self.net.decode(z, condition), target, mask).mean() \
                + 1e-3 * z.square().sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step_done is not None:
                step_done(step + 1)
        return self._decode(z.detach().numpy(), condition.numpy())[0], probabilities[0]

    # ---- files ----

    def save(self, path, *, collection: str = "", metrics: dict | None = None, info: dict | None = None):
        return _save(self, path, {"prior.mean": self.prior_mean, "prior.chol": self.prior_chol},
                     {"latent": self.latent, "channels": self.channels}, collection, metrics, info)


def _save(model, path, arrays: dict, info: dict, collection: str, metrics: dict | None, more_info: dict | None):
    from .model_files import save_model_file

    arrays = arrays | {f"net.{k}": v.detach().cpu().numpy() for k, v in model.net.state_dict().items()}
    if model.size_weights is not None:
        arrays["size.weights"] = np.asarray(model.size_weights, np.float64)
    if model.pieces is not None:
        arrays["class.pieces"] = np.asarray(model.pieces, np.int64)
    return save_model_file(path, model.kind, arrays | model.conditions.arrays(), collection=collection,
                           attribute_names=model.conditions.attribute_names, metrics=metrics or {},
                           info={"classes": model.conditions.classes, "resolution": model.resolution} | info
                           | (more_info or {}))


def load_volumetric(path, device: str = "cpu"):
    """(model, metadata) of a saved volumetric model of any kind in ALL_VOLUMETRIC_KINDS: a VoxelLogistic,
    a VoxelVAE or an implicit_decoder.ImplicitSDF (on `device`; the occupancy models load on the CPU)."""
    from .model_files import load_model_file

    torch = _torch()
    model = load_model_file(path, known_kinds=set(ALL_VOLUMETRIC_KINDS))
    if model.kind == IMPLICIT_KIND:
        from .implicit_decoder import ImplicitSDF

        return (ImplicitSDF.from_arrays(model.arrays, model.metadata["info"], model.metadata["attribute_names"],
                                        device), model.metadata)
    info = model.metadata["info"]
    conditions = Conditions.from_arrays(model.arrays, info["classes"], model.metadata["attribute_names"])
    state = {k[4:]: torch.as_tensor(np.asarray(v)) for k, v in model.arrays.items() if k.startswith("net.")}
    if model.kind == LOGISTIC_KIND:
        out = VoxelLogistic.create(conditions, int(info["resolution"]))
    else:
        out = VoxelVAE.create(conditions, int(info["resolution"]), int(info["latent"]), info["channels"])
        out.prior_mean, out.prior_chol = model.arrays["prior.mean"], model.arrays["prior.chol"]
    out.net.load_state_dict(state)
    out.net.eval()
    out.size_weights = model.arrays.get("size.weights")
    out.pieces = model.arrays.get("class.pieces")  # absent in files written before it was measured
    return out, model.metadata
