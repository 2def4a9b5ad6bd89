"""An implicit signed-distance decoder that generates and completes shapes of a class (DeepSDF-style).

`ImplicitSDF` is an auto-decoder (Park et al. 2019): every training shape owns a latent code, learnt
together with the decoder, and the decoder maps (code, condition, xyz) to the truncated signed
distance there, so grids come out at any resolution. With 10–50 shapes per class and two CPU
cores, a decoder learnt from random codes did not converge in minutes (its completions filled
nothing, its samples were empty), so the code space starts as a linear shape space: the decoder's
base is the PCA of the training grids (mean + code · basis, read trilinearly at xyz; codes start at
the shapes' whitened PCA coefficients), and a learnt part adds a residual — a small convolutional
decoder from (code, condition) to a 16³ feature grid, read trilinearly, and an MLP on (features,
base value, Fourier(xyz)) whose last layer starts at zero. An untrained model is exactly the linear
space; training moves codes and residual on points sampled near the surface and uniformly.

* Training: L1 on the clamped distance (in units of the truncation) plus a small Gaussian prior on
  the codes; class-balanced batches; augmentation by mirroring across a class's symmetry plane
  (when its training grids have one), small scalings and small rotations; early stopping on the
  completion IoU of held-out shapes when they are given. After training, one Gaussian per class is
  fitted to its codes (its own spread plus `isotropic_share` of room): `generate` draws from it.
* `generate(class, count, seed)` → SDF grids (codes near the class's training codes, or from its
  Gaussian); `complete(grid, known)` solves, per class, the linear
  part's code in closed form (ridge towards the class's Gaussian) on the known voxels, refines the two
  best classes' codes through the whole decoder, decodes the best, keeps the known voxels and fills
  unknown ones whose mirror image is known from the known field (the shape's own symmetry planes,
  fitted on its known part from the class's plane normals: learning.symmetry_fill). The prior there
  is stronger than for a whole shape (COMPLETION_PRIOR_WEIGHT). What limits completion is not this
  fit but generalisation: fitted to ALL of a held-out hard shape, the decoder says it at an inside
  IoU of about 0.31, no better than a per-class PCA of the training grids fitted by least squares
  (scripts/completion_gap.py, which also lists the training variants that changed nothing).
* `training_grids(classes)`: the training shapes as the model decodes them (for placing a partial
  shape among them, learning.partial_placement.place_partial).
* Files: `save`/`load_implicit`, the volumetric models' format (kind `implicit_sdf`), arrays only.

Geometry (canonical pose, signed distances, meshing, cleaning) is shapespace's business; this module
sees arrays only. Grids are indexed [x, y, z] in the model's cube frame (`frame`: low, size).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .symmetry_fill import class_symmetry_normals, fit_symmetry_maps, symmetric_fill
from .volumetric import IMPLICIT_KIND, Conditions
# Surfaces are extracted this many training voxels outside the decoded zero level: the decoder's
# distances lean outwards on thin parts (a decoded chair's deepest inside value was only 0.1-0.4
# voxels), so at level 0 lamps lost their stems and chairs their backs and legs; at +0.5 voxel the
# built-in lamps came out 2.5-2.8 canonical units tall instead of 0.4-1.0 (their training height),
# chairs 1.2-3.0 instead of 0.2-2.1.
SURFACE_OFFSET_VOXELS = 0.5
FORMAT_NOTE = "auto-decoder: PCA base + conv feature grid and MLP residual"
# Weight of the class's Gaussian when a code is fitted to a PART of a shape (`complete`): the known
# voxels say nothing about the cut-away region, so the code leans on the class there. Completion IoU
# on held-out hard shapes (scripts/completion_gap.py, 32³; tests/test_implicit_decoder.py, 24³) at
# weights 0.01 / 0.1 / 0.3 / 1 / 10: 0.692 / 0.694 / 0.697 / 0.700 / 0.691 and 0.703 / 0.716 / 0.716 /
# 0.709 / -; the same +0.005-0.008 at 32³ for three other trainings. Fitting a whole shape keeps 0.01
# (`fit_codes`' default): there a stronger prior only moves the code away from the shape (ceiling
# 0.31 -> 0.28 at 0.3).
COMPLETION_PRIOR_WEIGHT = 0.3
# Generation (`generate`): a training code is blended with one of its this many nearest codes of the
# class, and a decoded shape whose inside overlaps a training shape's this much or more is a copy.
GENERATION_NEIGHBOURS = 2
GENERATION_COPY_LIMIT = 0.95
GENERATION_SHARE = (0.15, 0.4)  # how far a code moves towards its partner (nearer ones came out as copies)
# decode_grid, coarse to fine: below this resolution a grid is decoded directly; above, the decoder
# runs only where the grid at half the resolution says the surface is within FINE_BAND truncations.
COARSE_MIN_RESOLUTION = 24
FINE_BAND = 0.5
# `fit`'s progress: the share of it the search for each class's mirror planes takes before the first epoch.
SYMMETRY_PROGRESS_SHARE = 0.1


def _torch():
    from .trainer import require_torch

    return require_torch("The implicit shape decoder")


def build_decoder(latent: int, condition_size: int, basis_resolution: int, features: int = 16, channels=(64, 32),
                  hidden: int = 64, frequencies: int = 4):
    """The decoder network. A code z (latent,) and a condition give two fields over the cube:
    the linear one, mean + zᵀ·basis (a PCA basis of the training grids, buffers set by `set_basis`), and
    a learnt feature grid (code ⊕ condition → 4³×channels[0] → 8³ → 16³×features). A point reads both
    trilinearly; an MLP on (features, linear value, Fourier(xyz)) adds a residual to the linear value.
    The MLP's last layer starts at zero, so an untrained decoder is exactly the linear shape space.
    Output: signed distance / truncation."""
    torch = _torch()
    nn = torch.nn
    c0, c1, r = int(channels[0]), int(channels[1]), int(basis_resolution)

    class ImplicitDecoderNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("basis_mean", torch.zeros(1, 1, r, r, r))
            self.register_buffer("basis", torch.zeros(latent, r ** 3))
            self.from_code = nn.Sequential(nn.Linear(latent + condition_size, c0 * 64), nn.LeakyReLU(0.2))
            self.up = nn.Sequential(nn.ConvTranspose3d(c0, c1, 4, 2, 1), nn.LeakyReLU(0.2),
                                    nn.ConvTranspose3d(c1, features, 4, 2, 1))
            width = features + 1 + 3 + 6 * frequencies
            self.head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                      nn.Linear(hidden, 1))
            with torch.no_grad():
                self.head[-1].weight.zero_()
                self.head[-1].bias.zero_()
            self.register_buffer("scales", (2.0 ** torch.arange(frequencies)) * math.pi, persistent=False)

        def set_basis(self, mean, basis):
            with torch.no_grad():
                self.basis_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(1, 1, r, r, r))
                self.basis.copy_(torch.as_tensor(basis, dtype=torch.float32).reshape(latent, r ** 3))

        def fields(self, code, condition):
            linear = self.basis_mean + (code @ self.basis).reshape(len(code), 1, r, r, r)
            h = self.from_code(torch.cat([code, condition], dim=1)).reshape(len(code), c0, 4, 4, 4)
            return linear, self.up(h)

        @staticmethod
        def read(volume, points):  # (B, C, R, R, R) at points (B, P, 3) in [-1, 1] -> (B, P, C)
            b, p = points.shape[:2]
            # grid_sample reads (x, y, z) as (W, H, D): our [x, y, z] grids want the coordinates reversed.
            sampled = torch.nn.functional.grid_sample(volume, points.flip(-1).reshape(b, 1, 1, p, 3),
                                                      mode="bilinear", padding_mode="border", align_corners=False)
            return sampled.reshape(b, -1, p).transpose(1, 2)

        def query(self, fields, points):  # -> (B, P) distance / truncation
            linear, features = fields
            base = self.read(linear, points)
            angles = points[..., None] * self.scales  # (B, P, 3, K)
            encoded = torch.cat([points, angles.sin().flatten(2), angles.cos().flatten(2)], dim=2)
            residual = self.head(torch.cat([self.read(features, points), base, encoded], dim=2))
            return (base + residual).squeeze(-1)

        def forward(self, code, condition, points):
            return self.query(self.fields(code, condition), points)

    return ImplicitDecoderNet()


def _rotation_matrices(rng, count: int, degrees: float) -> np.ndarray:
    """(count, 3, 3) rotations by up to `degrees` about random axes (Rodrigues)."""
    axis = rng.normal(size=(count, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.radians(rng.uniform(-degrees, degrees, count))
    k = np.zeros((count, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3)[None] + s * k + (1 - c) * k @ k


def symmetry_axes(grids, labels, classes: int, threshold: float = 0.8) -> np.ndarray:
    """Per class, the grid axis (0, 1, 2) across whose middle plane its shapes are most mirror-symmetric
    (mean IoU of the inside with its mirror image), or -1 when none reaches `threshold`."""
    inside = np.asarray(grids) < 0
    labels = np.asarray(labels)
    out = np.full(classes, -1, np.int64)
    for k in range(classes):
        members = inside[labels == k]
        if len(members) == 0:
            continue
        scores = []
        for axis in range(3):
            flipped = np.flip(members, axis=axis + 1)
            union = np.logical_or(members, flipped).sum(axis=(1, 2, 3))
            both = np.logical_and(members, flipped).sum(axis=(1, 2, 3))
            scores.append(float(np.mean(both / np.maximum(union, 1))))
        if max(scores) >= threshold:
            out[k] = int(np.argmax(scores))
    return out


def inside_iou(a, b) -> float:
    """IoU of the insides (negative values) of two signed-distance grids."""
    a, b = np.asarray(a) < 0, np.asarray(b) < 0
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@dataclass
class FitReport:
    epochs_run: int
    best_epoch: int
    seconds: float
    losses: list  # mean training loss per epoch
    validation: list  # (epoch, mean completion IoU) at each check
    stop_reason: str  # 'finished', 'early_stopping', 'cancelled'

    @property
    def message(self) -> str:
        best = max((v for _, v in self.validation), default=float("nan"))
        return (f"{self.epochs_run} epochs in {self.seconds:.1f} s ({self.stop_reason}); best epoch "
                f"{self.best_epoch}, held-out completion IoU {best:.3f}")


@dataclass
class ImplicitSDF:
    """Auto-decoder of truncated signed distance; see the module doc."""

    conditions: Conditions
    frame: list  # [low x, low y, low z, size, training resolution] of the cube the codes describe
    truncation: float  # in scene (canonical) units
    latent: int
    net: object
    codes: np.ndarray | None = None  # (N, latent) training shapes' codes
    code_labels: np.ndarray | None = None  # (N,) their classes
    prior_mean: np.ndarray | None = None  # (C, latent)
    prior_chol: np.ndarray | None = None  # (C, latent, latent)
    pieces: np.ndarray | None = None  # (C,) typical connected pieces of a class's training shapes
    symmetry: np.ndarray | None = None  # (C,) mirror axis per class, -1 none
    symmetry_normals: np.ndarray | None = None  # (C, M, 3) normals of each class's mirror planes, zero rows none
    references: np.ndarray | None = None  # (C, R, R, R) signed grid of each class's medoid, for aligning new shapes
    settings: dict = field(default_factory=dict)
    device: str = "cpu"
    isotropic_share: float = 0.02  # prior variance outside a class's codes, relative to its mean variance
    kind = IMPLICIT_KIND

    @classmethod
    def create(cls, conditions: Conditions, frame, truncation: float, latent: int = 32, seed: int = 0,
               device: str = "cpu", **network) -> "ImplicitSDF":
        """An untrained model over the cube `frame` (a GridFrame or its as_list(); its resolution is the
        training grids'). `latent` is the most PCA components the code keeps (fewer with few shapes:
        `fit` rebuilds the network then)."""
        torch = _torch()
        torch.manual_seed(seed)
        settings = {"features": 16, "channels": [64, 32], "hidden": 64, "frequencies": 4} | network
        frame = list(frame.as_list() if hasattr(frame, "as_list") else frame)
        net = build_decoder(int(latent), conditions.size, int(frame[4]), settings["features"], settings["channels"],
                            settings["hidden"], settings["frequencies"]).to(device)
        return cls(conditions, frame, float(truncation), int(latent), net, settings=settings, device=str(device))

    def _set_linear_space(self, grids, seed: int) -> np.ndarray:
        """PCA of the training grids (in truncation units) as the decoder's linear part; returns the
        shapes' whitened coefficients, the codes training starts from."""
        torch = _torch()
        x = np.clip(np.asarray(grids, np.float64).reshape(len(grids), -1) / self.truncation, -1, 1)
        mean = x.mean(axis=0)
        centred = x - mean
        gram = centred @ centred.T  # N × N: the Gram trick (few shapes, many voxels)
        values, vectors = np.linalg.eigh(gram)
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        keep = int(min(self.latent, max(1, len(x) - 1), np.sum(values > 1e-9 * max(values[0], 1e-30))))
        values, vectors = values[:keep], vectors[:, :keep]
        n = max(len(x) - 1, 1)
        sigma = np.sqrt(values / n)
        directions = (centred.T @ vectors) / np.sqrt(values)  # (V, K) unit principal directions
        if keep != self.latent:
            torch.manual_seed(seed)
            self.latent = keep
            s = self.settings
            self.net = build_decoder(keep, self.conditions.size, int(self.frame[4]), s["features"], s["channels"],
                                     s["hidden"], s["frequencies"]).to(self.device)
        self.net.set_basis(mean, (directions * sigma).T)
        return (vectors * np.sqrt(n)).astype(np.float32)  # whitened: unit variance per component

    # ---- coordinates ----

    @property
    def centre(self) -> np.ndarray:
        return np.asarray(self.frame[:3], np.float64) + self.frame[3] / 2

    def _normalised(self, points) -> np.ndarray:
        return ((np.asarray(points, np.float64) - self.centre) / (self.frame[3] / 2)).astype(np.float32)

    def grid_points(self, resolution: int) -> np.ndarray:
        """(R³, 3) voxel centres of the model's cube at `resolution`, [x, y, z] order."""
        low, size = np.asarray(self.frame[:3], np.float64), self.frame[3]
        axis = (np.arange(resolution) + 0.5) * size / resolution
        g = np.meshgrid(axis, axis, axis, indexing="ij")
        return low + np.stack([a.ravel() for a in g], axis=1)

    # ---- training ----

    def fit(self, points, distances, labels, condition_vectors, grids, *, epochs: int = 120,
            batch_shapes: int = 16, points_per_shape: int = 1024, learning_rate: float = 1e-3,
            code_learning_rate: float = 2e-3, code_weight: float = 1e-4, augment: bool = True,
            scale_range: float = 0.06, rotation_degrees: float = 4.0, validation=None, check_every: int = 20,
            check_steps: int = 20, patience: int = 3, seed: int = 0, progress=None, should_stop=None) -> FitReport:
        """Learn the decoder and one code per shape.

        points (N, S, 3), distances (N, S): each shape's training samples (canonical frame); labels (N,);
        condition_vectors (N, C+A); grids (N, R, R, R): the shapes' signed-distance grids at the
        training resolution (the PCA base and the symmetry planes; `pieces` and `references` are
        set by the caller, from shapespace). validation: (grids, known masks) of held-out shapes,
        completed every `check_every` epochs with `check_steps` refinement steps; the best state by
        mean IoU is kept and training stops after `patience` checks without improvement.
        progress(fraction, message) after each shape searched for the class's mirror planes (the first
        SYMMETRY_PROGRESS_SHARE of the fraction) and after every epoch; should_stop() after the planes
        and before every batch (the best state so far is kept)."""
        torch = _torch()
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        points = np.asarray(points, np.float32)
        distances = np.asarray(distances, np.float32)
        labels = np.asarray(labels, np.int64)
        n, s = distances.shape
        classes = len(self.conditions.classes)
        if len(np.unique(labels)) < 1 or n < 1:
            raise ValueError("The implicit decoder needs at least one training shape")
        self.symmetry = symmetry_axes(grids, labels, classes)
        # The mirror planes take the first tenth of the progress: seconds to a minute before the first epoch
        planes_progress = None if progress is None else (lambda fraction, message: progress(
            SYMMETRY_PROGRESS_SHARE * fraction, message))
        self.symmetry_normals = class_symmetry_normals(grids, labels, classes, self.frame[3] / self.frame[4],
                                                       progress=planes_progress, class_names=self.conditions.classes)
        if should_stop is not None and should_stop():
            return FitReport(0, 0, 0.0, [], [], "cancelled")
        self.code_labels = labels.copy()
        device = torch.device(self.device)
        initial = self._set_linear_space(grids, seed)
        codes = torch.nn.Parameter(torch.as_tensor(initial, device=device))
        conditions = torch.as_tensor(np.asarray(condition_vectors, np.float32), device=device)
        target_all = np.clip(distances / self.truncation, -1, 1)
        optimizer = torch.optim.Adam([{"params": self.net.parameters(), "lr": learning_rate},
                                      {"params": [codes], "lr": code_learning_rate}])
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, int(epochs * 0.7)), gamma=0.3)
        by_class = [np.flatnonzero(labels == k) for k in range(classes)]
        present = [k for k in range(classes) if len(by_class[k])]
        steps_per_epoch = max(1, math.ceil(n / batch_shapes))
        best = (-np.inf, None, None, 0)
        losses, checks, stale, stop_reason = [], [], 0, "finished"
        start = time.perf_counter()
        epoch = 0
        self.net.train()
        for epoch in range(1, epochs + 1):
            total = 0.0
            for _ in range(steps_per_epoch):
                if should_stop is not None and should_stop():
                    stop_reason = "cancelled"
                    break
                # Class-balanced: each slot picks a class uniformly, then one of its shapes.
                chosen_classes = rng.choice(present, size=min(batch_shapes, n))
                batch = np.array([rng.choice(by_class[k]) for k in chosen_classes])
                pick = rng.integers(0, s, size=(len(batch), points_per_shape))
                p = points[batch[:, None], pick].astype(np.float64)
                t = target_all[batch[:, None], pick]
                if augment:
                    p, t = self._augment(p, t, labels[batch], rng, scale_range, rotation_degrees)
                p_t = torch.as_tensor(self._normalised(p), device=device)
                t_t = torch.as_tensor(t.astype(np.float32), device=device)
                z = codes[torch.as_tensor(batch, device=device)]
                prediction = self.net(z, conditions[torch.as_tensor(batch, device=device)], p_t)
                data = (prediction.clamp(-1, 1) - t_t).abs().mean()
                loss = data + code_weight * z.square().sum(dim=1).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(data.detach())
            if stop_reason == "cancelled":
                break
            scheduler.step()
            losses.append(total / steps_per_epoch)
            if progress is not None:
                progress(SYMMETRY_PROGRESS_SHARE + (1 - SYMMETRY_PROGRESS_SHARE) * epoch / epochs,
                         f"epoch {epoch}/{epochs}, loss {losses[-1]:.4f}")
            last = epoch == epochs
            if validation is not None and (epoch % check_every == 0 or last):
                self.codes = codes.detach().cpu().numpy()
                self.fit_prior()
                self.net.eval()
                # Checked with the weak prior: with COMPLETION_PRIOR_WEIGHT the few check shapes picked
                # an earlier epoch (tests/test_implicit_decoder.py: training shapes decoded at inside IoU
                # 0.74 instead of 0.83, held-out completion 0.710 instead of 0.716).
                score = float(np.mean([
                    inside_iou(self.complete(g, m, steps=check_steps, prior_weight=0.01)[0], g)
                    for g, m in zip(validation[0], validation[1])]))
                self.net.train()
                checks.append((epoch, score))
                if score > best[0]:
                    best = (score, {k: v.detach().clone() for k, v in self.net.state_dict().items()},
                            codes.detach().clone(), epoch)
                    stale = 0
                else:
                    stale += 1
                    if stale >= patience:
                        stop_reason = "early_stopping"
                        break
        self.net.eval()
        if best[1] is not None:
            self.net.load_state_dict(best[1])
            codes = best[2]
        self.codes = codes.detach().cpu().numpy()
        self.fit_prior()
        return FitReport(epoch, best[3] if best[1] is not None else epoch, time.perf_counter() - start, losses,
                         checks, stop_reason)

    def _augment(self, p, t, batch_labels, rng, scale_range, rotation_degrees):
        """Mirror across the class's symmetry plane (half the shapes), scale by 1 ± scale_range and turn
        by up to rotation_degrees about the cube's centre; distances scale with the points."""
        centre = self.centre
        q = p - centre
        axes = self.symmetry[batch_labels] if self.symmetry is not None else np.full(len(p), -1)
        mirror = (axes >= 0) & (rng.random(len(p)) < 0.5)
        for axis in range(3):
            rows = mirror & (axes == axis)
            q[rows, :, axis] *= -1
        factor = 1 + rng.uniform(-scale_range, scale_range, len(p))
        rotation = _rotation_matrices(rng, len(p), rotation_degrees)
        q = np.einsum("bij,bpj->bpi", rotation, q) * factor[:, None, None]
        # Distances were clamped at the truncation: scaled ones stay clamped there.
        return q + centre, np.clip(t * factor[:, None], -1, 1)

    def fit_prior(self) -> None:
        """One Gaussian per class over its training codes."""
        self.__dict__.pop("_generation_references", None)  # generate's decoded training shapes: codes moved
        c, latent = len(self.conditions.classes), self.latent
        self.prior_mean = np.zeros((c, latent), np.float32)
        self.prior_chol = np.repeat(np.eye(latent, dtype=np.float32)[None] * 0.1, c, axis=0)
        for k in range(c):
            rows = self.codes[self.code_labels == k].astype(np.float64)
            if len(rows) == 0:
                continue
            self.prior_mean[k] = rows.mean(axis=0)
            if len(rows) > 1:
                # The class's own spread, with only a little isotropic room outside the span of its
                # codes: widening it (towards the diagonal) drew codes that decode to no class at all.
                covariance = np.cov(rows, rowvar=False).reshape(latent, latent)
                room = self.isotropic_share * max(float(np.trace(covariance)) / latent, 1e-8)
                self.prior_chol[k] = np.linalg.cholesky(covariance + room * np.eye(latent))

    # ---- decoding ----

    def decode_points(self, codes, condition_vectors, points, chunk: int = 65536, band: float | None = 0.95
                      ) -> np.ndarray:
        """Signed distance (truncated, scene units) of each code at the same points: (B, P). With
        `band`, the residual network runs only where the linear base is below `band` truncations
        (elsewhere — where every training shape is at the truncation — the clamped base is the
        answer): 64³ grids decode several times faster. `band=None`: everywhere."""
        torch = _torch()
        device = torch.device(self.device)
        self.net.eval()
        codes = torch.as_tensor(np.asarray(codes, np.float32), device=device).reshape(-1, self.latent)
        conditions = torch.as_tensor(np.asarray(condition_vectors, np.float32), device=device).reshape(len(codes), -1)
        normalised = torch.as_tensor(self._normalised(np.asarray(points).reshape(-1, 3)), device=device)
        rows = []
        with torch.no_grad():
            linear, features = self.net.fields(codes, conditions)
            for b in range(len(codes)):
                fields = (linear[b:b + 1], features[b:b + 1])
                if band is None:
                    where = torch.arange(len(normalised), device=device)
                    row = torch.empty(len(normalised), device=device)
                else:
                    base = self.net.read(fields[0], normalised[None])[0, :, 0]
                    row = base.clamp(-1, 1)
                    where = torch.nonzero(base.abs() < band).squeeze(1)
                for start in range(0, len(where), chunk):
                    index = where[start:start + chunk]
                    row[index] = self.net.query(fields, normalised[index][None])[0].clamp(-1, 1)
                rows.append(row)
        return (torch.stack(rows) * self.truncation).cpu().numpy()

    def surface_level(self) -> float:
        """The level (scene units of the canonical cube) at which surfaces are extracted from decoded
        grids: SURFACE_OFFSET_VOXELS training voxels outside zero."""
        return SURFACE_OFFSET_VOXELS * float(self.frame[3]) / float(self.frame[4])

    def decode_grid(self, codes, condition_vectors, resolution: int = 64, fine_band: float | None = FINE_BAND,
                    coarse=None) -> np.ndarray:
        """(B, R, R, R) float32 signed-distance grids of codes over the model's cube. Coarse to fine
        (when R is even and R/2 ≥ COARSE_MIN_RESOLUTION): the grid at R/2 first (itself so), upsampled
        trilinearly, and the whole decoder run only at the voxels where that estimate is within
        `fine_band` truncations of the surface — their values are the decoder's own (as
        `decode_points` says them); the rest, which no surface extraction reads, keep the estimate.
        At the coarsest level, as `decode_points`: the decoder where the linear base is within 0.95
        truncations, the clamped base elsewhere. fine_band=None: `decode_points` at every voxel centre.
        `coarse`: (B, R/2, R/2, R/2) grids these codes were already decoded to (by this method), to start from."""
        r = int(resolution)
        if fine_band is None:
            values = self.decode_points(codes, condition_vectors, self.grid_points(r))
            return values.reshape((-1,) + (r,) * 3).astype(np.float32)
        return self._grid_decoder(codes, condition_vectors, fine_band)(r, coarse)

    def _grid_decoder(self, codes, condition_vectors, fine_band: float = FINE_BAND):
        """decode_grid in two steps: the codes' fields (the network's code-only part: a linear layer
        and two transposed convolutions, about a third of a 32³ decode) once, then a function
        `decode(resolution, coarse=None, look=None)` giving decode_grid's grids from them as often as
        asked — generate's screening decodes a candidate at 32³ and, when that passes, at 64³ from it.
        `look` (one code only): a function of the coarse-to-fine estimate (the coarse grid upsampled,
        scene units, what the grid holds away from the surface) that says whether to go on; when it
        says no, decode returns None without running the decoder near the surface (most of a 64³
        decode)."""
        torch = _torch()
        device = torch.device(self.device)
        self.net.eval()
        codes = torch.as_tensor(np.asarray(codes, np.float32), device=device).reshape(-1, self.latent)
        conditions = torch.as_tensor(np.asarray(condition_vectors, np.float32), device=device).reshape(len(codes), -1)
        with torch.no_grad():
            linear, features = self.net.fields(codes, conditions)

        def decode(resolution: int, coarse=None, look=None) -> np.ndarray | None:
            r = int(resolution)
            if look is not None and len(codes) != 1:
                raise ValueError(f"A look at the estimate decodes one code at a time, not {len(codes)}")
            out = np.empty((len(codes), r, r, r), np.float32)
            with torch.no_grad():
                for b in range(len(codes)):
                    start = None if coarse is None else torch.as_tensor(
                        np.asarray(coarse[b], np.float32) / self.truncation, device=device)
                    grid = self._decoded_cube((linear[b:b + 1], features[b:b + 1]), r, float(fine_band), start, look)
                    if grid is None:
                        return None
                    out[b] = (grid * self.truncation).cpu().numpy()
            return out

        return decode

    def _decoded_cube(self, fields, resolution: int, fine_band: float, coarse=None, look=None, chunk: int = 65536):
        """(R, R, R) torch tensor of one code's decoded field / truncation at the voxel centres (see
        decode_grid); `coarse` the same at R/2 when known; `look` as in _grid_decoder (None back when
        it refuses the estimate)."""
        torch = _torch()
        interpolate = torch.nn.functional.interpolate
        r = int(resolution)
        if coarse is not None or (r % 2 == 0 and r // 2 >= COARSE_MIN_RESOLUTION):
            if coarse is None:
                coarse = self._decoded_cube(fields, r // 2, fine_band)
            estimate = interpolate(coarse[None, None], size=(r, r, r), mode="trilinear", align_corners=False)
            row = estimate.reshape(-1).clamp(-1, 1)
            if look is not None and not look((row * self.truncation).reshape(r, r, r).cpu().numpy()):
                return None
            where = torch.nonzero(row.abs() < fine_band).squeeze(1)
        else:  # the linear base at the voxel centres (what grid_sample reads there, border alike)
            base = (fields[0].reshape(-1) if tuple(fields[0].shape[2:]) == (r, r, r) else  # its own grid: as is
                    interpolate(fields[0], size=(r, r, r), mode="trilinear", align_corners=False).reshape(-1))
            row = base.clamp(-1, 1)
            where = torch.nonzero(base.abs() < 0.95).squeeze(1)
        axis = torch.as_tensor(((np.arange(r) + 0.5) / r * 2 - 1).astype(np.float32), device=row.device)
        for start in range(0, len(where), chunk):
            index = where[start:start + chunk]
            i, j, k = index // (r * r), (index // r) % r, index % r
            points = torch.stack([axis[i], axis[j], axis[k]], dim=1)
            row[index] = self.net.query(fields, points[None])[0].clamp(-1, 1)
        return row.reshape(r, r, r)

    def class_vector(self, class_name, values: dict | None = None) -> tuple[np.ndarray, int, list]:
        """(condition vector, class index, notes on clamped attributes) of a request; ValueError naming
        an unknown class or attribute."""
        row, notes = self.conditions.request(class_name, values)
        k = self.conditions.classes.index(class_name)
        return self.conditions.vectors([k], row[None])[0], k, notes

    def generate(self, class_name: str, count: int, seed: int = 0, resolution: int = 64, spread: float = 1.0,
                 values: dict | None = None, sampling: str = "neighbours", checked: bool = True,
                 neighbours: int | None = GENERATION_NEIGHBOURS) -> np.ndarray:
        """`count` signed-distance grids (count, R, R, R) of `class_name`. sampling 'neighbours': each
        code starts at one of the class's training codes, moves 15–40% of the way to one of its
        `neighbours` nearest codes of the class (None: any other of the class) and takes a little
        (0.2 · spread) of the class's Gaussian — codes near the middle of a class decode to its
        average distance field, where thin parts (legs, a chair's back) average out to nothing; at
        32³ on the built-in chairs the Gaussian drew seat-only blobs for a third of the samples, and
        a four-legged chair blended with a pedestal lost its legs. 'gaussian': the class's Gaussian
        (spread × its spread). `checked`: a shape is kept only if it ends where the class's shapes
        end, with its ends present and attached, in one piece (learning.generation_checks.check_grid
        against the class's training shapes as decoded) and copies none of them (inside IoU <
        GENERATION_COPY_LIMIT) — checked at the training resolution, then at `resolution`; failures
        are drawn again (a few rounds; the least bad fill in when none passes). The first checked
        call for a class decodes its training shapes at both resolutions (cached until the codes
        change)."""
        if self.prior_mean is None:
            raise RuntimeError("The implicit decoder has not been trained yet; train it before generating")
        if sampling not in ("neighbours", "gaussian"):
            raise ValueError(f"Unknown sampling {sampling!r}; use 'neighbours' or 'gaussian'")
        vector, k, _ = self.class_vector(class_name, values)
        if self.code_labels is not None and not (self.code_labels == k).any():
            raise ValueError(f"The model saw no training shape of '{class_name}'; train it on a collection "
                             f"with {class_name} shapes, or ask for one of the classes it saw")
        from .generation_checks import screened_grids

        rng = np.random.default_rng(seed)
        count = int(count)
        members = np.flatnonzero(self.code_labels == k) if self.code_labels is not None else np.zeros(0, np.int64)
        chol = self.prior_chol[k]
        if sampling == "neighbours" and self.codes is not None and len(members) >= 2:
            codes = self.codes[members].astype(np.float64)
            near = np.argsort(((codes[:, None] - codes[None]) ** 2).sum(-1), axis=1)[:, 1:]  # self first
            partners = near[:, :max(1, int(neighbours))] if neighbours else near

            def draw(n):
                first = rng.integers(0, len(members), n)
                second = partners[first, rng.integers(0, partners.shape[1], n)]
                share = rng.uniform(GENERATION_SHARE[0], GENERATION_SHARE[1], (n, 1))
                noise = rng.normal(size=(n, self.latent))
                return codes[first] * (1 - share) + codes[second] * share + 0.2 * spread * noise @ chol.T
        else:
            def draw(n):
                return self.prior_mean[k] + spread * rng.normal(size=(n, self.latent)) @ chol.T

        if checked and len(members) >= 2:
            return screened_grids(self, k, vector, draw, count, resolution)
        return self.decode_grid(draw(count), np.repeat(vector[None], count, axis=0), resolution)

    # ---- completion ----

    def _prior_precisions(self, candidates) -> np.ndarray:
        chol = np.asarray(self.prior_chol[candidates], np.float64)
        return np.linalg.inv(chol @ chol.transpose(0, 2, 1) + 1e-6 * np.eye(self.latent))

    def linear_codes(self, points, distances, candidates, prior_weight: float) -> np.ndarray:
        """Closed-form codes of the linear part alone, one per candidate class: ridge regression of the
        known distances on the basis read at the points, towards the class's Gaussian."""
        torch = _torch()
        device = torch.device(self.device)
        r = int(self.frame[4])
        p = torch.as_tensor(self._normalised(points), device=device)[None]
        with torch.no_grad():
            volume = torch.cat([self.net.basis_mean.reshape(1, -1), self.net.basis]).reshape(1, -1, r, r, r)
            read = self.net.read(volume, p)[0].double().cpu().numpy()  # (P, 1 + K)
        y = np.clip(np.asarray(distances, np.float64) / self.truncation, -1, 1) - read[:, 0]
        basis = read[:, 1:]
        gram, right = basis.T @ basis / len(y), basis.T @ y / len(y)
        precisions = self._prior_precisions(candidates)
        out = []
        for k, precision in zip(candidates, precisions):
            weight = prior_weight / self.latent
            out.append(np.linalg.solve(gram + weight * precision,
                                       right + weight * precision @ self.prior_mean[k].astype(np.float64)))
        return np.array(out, np.float32)

    def training_grids(self, classes=None, resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(grids (M, R, R, R), labels (M,)): the training shapes of `classes` (all when None) decoded
        from their codes at `resolution` (the training one by default): what the model knows a class's
        shapes to look like, for placing a partial shape among them."""
        if self.codes is None:
            raise RuntimeError("The implicit decoder has not been trained yet; train it first")
        rows = np.flatnonzero(np.isin(self.code_labels, classes) if classes is not None
                              else np.ones(len(self.code_labels), bool))
        a = len(self.conditions.attribute_names)
        vectors = self.conditions.vectors(self.code_labels[rows], np.full((len(rows), a), np.nan))
        grids = self.decode_grid(self.codes[rows], vectors, int(resolution or self.frame[4]))
        return grids, self.code_labels[rows].copy()

    def fit_codes(self, points, distances, condition_vector=None, steps: int = 40, learning_rate: float = 0.02,
                  prior_weight: float = 0.01, keep_classes: int = 2,
                  should_stop=None) -> tuple[np.ndarray, np.ndarray, int]:
        """Codes that explain known signed distances at points: per class (or only the class of
        `condition_vector`), the linear part's closed-form code, then Adam on the whole decoder's
        clamped L1 plus the class's Gaussian prior. Returns (best code, its condition vector, class)."""
        torch = _torch()
        device = torch.device(self.device)
        c = len(self.conditions.classes)
        a = len(self.conditions.attribute_names)
        if condition_vector is None:
            candidates = [k for k in range(c) if (self.code_labels == k).any()]
            vectors = self.conditions.vectors(candidates, np.full((len(candidates), a), np.nan))
        else:
            vectors = np.asarray(condition_vector, np.float32)[None]
            candidates = [int(np.argmax(vectors[0, :c]))]
        start = self.linear_codes(points, distances, candidates, prior_weight)
        normalised = torch.as_tensor(self._normalised(points), device=device)
        target = torch.as_tensor(np.clip(np.asarray(distances, np.float32) / self.truncation, -1, 1), device=device)
        self.net.eval()
        if len(candidates) > keep_classes:  # refine only the classes whose linear fit explains most
            with torch.no_grad():
                first = (self.net(torch.as_tensor(start, device=device), torch.as_tensor(vectors, device=device),
                                  normalised[None].expand(len(candidates), -1, -1)).clamp(-1, 1) - target).abs()
            order = np.argsort(first.mean(dim=1).cpu().numpy())[:keep_classes]
            candidates, vectors, start = [candidates[i] for i in order], vectors[order], start[order]
        mean = torch.as_tensor(self.prior_mean[candidates], device=device)
        precision = torch.as_tensor(self._prior_precisions(candidates).astype(np.float32), device=device)
        z = torch.as_tensor(start, device=device).requires_grad_(True)
        condition = torch.as_tensor(vectors, device=device)
        p = normalised[None].expand(len(candidates), -1, -1)
        optimizer = torch.optim.Adam([z], lr=learning_rate)

        def objective():
            data = (self.net(z, condition, p).clamp(-1, 1) - target).abs().mean(dim=1)
            d = z - mean
            return data, data + prior_weight * torch.einsum("bi,bij,bj->b", d, precision, d) / self.latent

        for _ in range(int(steps)):
            if should_stop is not None and should_stop():
                break
            _, loss = objective()
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
        with torch.no_grad():
            _, loss = objective()
        best = int(torch.argmin(loss))
        return z[best].detach().cpu().numpy(), vectors[best], candidates[best]

    def grid_samples(self, grid, known=None, samples: int = 2048, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(points (n, 3), signed distances (n,)) of `samples` voxels of a signed-distance grid over the
        model's cube (only `known` ones when given) to fit a code to: up to half near the surface
        (inside the truncation band, which decides the code), the rest from elsewhere."""
        grid = np.asarray(grid, np.float32)
        rng = np.random.default_rng(seed)
        flat = np.flatnonzero(np.ones(grid.size, bool) if known is None else np.asarray(known, bool).ravel())
        values = grid.ravel()[flat]
        near = flat[np.abs(values) < self.truncation * 0.999]
        far = flat[np.abs(values) >= self.truncation * 0.999]
        take_near = near if len(near) <= samples // 2 else rng.choice(near, samples // 2, replace=False)
        rest = samples - len(take_near)
        take_far = far if len(far) <= rest else rng.choice(far, rest, replace=False)
        chosen = np.concatenate([take_near, take_far])
        return self.grid_points(grid.shape[0])[chosen], grid.ravel()[chosen]

    def complete(self, grid, known, condition_vector=None, steps: int = 40, samples: int = 2048, seed: int = 0,
                 resolution: int | None = None, keep_known: bool = True, mirror: bool | str = True,
                 prior_weight: float = COMPLETION_PRIOR_WEIGHT, should_stop=None) -> tuple[np.ndarray, int]:
        """Fill the unknown voxels of a signed-distance grid (R, R, R) over the model's cube: fit a code
        to `samples` known voxels (all near the surface first, then others) with the class's Gaussian
        weighted `prior_weight` (COMPLETION_PRIOR_WEIGHT: what is cut away leans on the class), decode,
        keep the known voxels as given. With `mirror` (True or 'planes'), the shape's own symmetry planes
        — the class's plane normals (`symmetry_normals`) refitted on the known part, the class's middle
        grid plane (`symmetry`), their compositions, each kept only where it says the known part
        itself (learning.symmetry_fill) — fill every unknown voxel whose image is known from the known
        field there (trilinear), the decoded field only elsewhere: the decoder cannot say a thin part
        to the voxel, its mirror image can (scripts/completion_gap.py `symmetry`, 32³: 0.671 without,
        0.697 with the middle grid plane voxel by voxel — `mirror='axis'`, also what models saved
        without plane normals get — 0.725 with the fitted planes).
        Returns (the grid at its resolution — or the decoded field alone at another `resolution`, or
        with `keep_known=False` — and the class index)."""
        grid = np.asarray(grid, np.float32)
        known = np.asarray(known, bool)
        r = grid.shape[0]
        if grid.shape != (r, r, r) or known.shape != grid.shape:
            raise ValueError(f"Completion needs a cube grid and a known mask of the same shape, got {grid.shape} "
                             f"and {known.shape}")
        if not known.any():
            raise ValueError("Nothing of the shape is known (the known mask is empty); mark the part that is there")
        points, distances = self.grid_samples(grid, known, samples, seed)
        code, vector, k = self.fit_codes(points, distances, condition_vector, steps, prior_weight=prior_weight,
                                         should_stop=should_stop)
        if (resolution is not None and resolution != r) or not keep_known:
            return self.decode_grid(code[None], vector[None], resolution or r)[0], k
        decoded = self.decode_grid(code[None], vector[None], r)[0]
        normals = None if self.symmetry_normals is None else self.symmetry_normals[k]
        if mirror in (True, "planes") and normals is not None:
            middle = [int(self.symmetry[k])] if self.symmetry is not None else []
            maps = fit_symmetry_maps(grid, known, normals, self.frame[3] / r, middle)
            values, filled = symmetric_fill(grid, known, maps, self.truncation)
            decoded = np.where(filled, values, decoded)
        elif mirror:  # models saved before the planes: the class's middle grid plane, voxel by voxel
            axis = int(self.symmetry[k]) if self.symmetry is not None else -1
            if axis >= 0:
                decoded = np.where(np.flip(known, axis), np.flip(grid, axis), decoded)
        return np.where(known, grid, decoded).astype(np.float32), k

    # ---- files ----

    def to_arrays(self) -> dict:
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        for name in ("codes", "code_labels", "prior_mean", "prior_chol", "pieces", "symmetry", "symmetry_normals",
                     "references"):
            value = getattr(self, name)
            if value is not None:
                arrays[f"model.{name}"] = np.asarray(value)
        return arrays | self.conditions.arrays()

    def info(self) -> dict:
        return {"classes": self.conditions.classes, "frame": [float(x) for x in self.frame],
                "resolution": int(self.frame[4]), "truncation": self.truncation, "latent": self.latent,
                "network": self.settings, "isotropic_share": self.isotropic_share, "note": FORMAT_NOTE}

    @classmethod
    def from_arrays(cls, arrays: dict, info: dict, attribute_names, device: str = "cpu") -> "ImplicitSDF":
        torch = _torch()
        conditions = Conditions.from_arrays(arrays, info["classes"], attribute_names)
        model = cls.create(conditions, info["frame"], info["truncation"], int(info["latent"]), device=device,
                           **info["network"])
        state = {k[4:]: torch.as_tensor(np.asarray(v)) for k, v in arrays.items() if k.startswith("net.")}
        model.net.load_state_dict(state)
        model.net.eval()
        model.isotropic_share = float(info.get("isotropic_share", model.isotropic_share))
        for name in ("codes", "code_labels", "prior_mean", "prior_chol", "pieces", "symmetry", "symmetry_normals",
                     "references"):
            if f"model.{name}" in arrays:
                setattr(model, name, np.asarray(arrays[f"model.{name}"]))
        return model

    def save(self, path, *, collection: str = "", metrics: dict | None = None, info: dict | None = None):
        from .model_files import save_model_file

        return save_model_file(path, self.kind, self.to_arrays(), collection=collection,
                               attribute_names=self.conditions.attribute_names, metrics=metrics or {},
                               info=self.info() | (info or {}))


def load_implicit(path, device: str = "cpu"):
    """(ImplicitSDF, metadata) of a saved model file of kind 'implicit_sdf'."""
    from .model_files import load_model_file

    model = load_model_file(path, known_kinds={IMPLICIT_KIND})
    return (ImplicitSDF.from_arrays(model.arrays, model.metadata["info"], model.metadata["attribute_names"],
                                    device), model.metadata)
