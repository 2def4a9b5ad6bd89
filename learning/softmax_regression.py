"""Multinomial logistic regression in numpy: the simple baseline every learned classifier is measured
against (on the same features, in the same test or bench run), and a classifier that needs no PyTorch.

Features are standardised; the weights minimise the mean cross-entropy + λ‖W‖² by full-batch
gradient descent with Nesterov momentum and a step from the loss's Lipschitz bound, so no step
size needs tuning. λ is chosen by k-fold cross-validation when several are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


@dataclass
class SoftmaxRegression:
    lams: tuple = (1e-4, 1e-3, 1e-2, 1e-1)
    iterations: int = 400
    folds: int = 4
    seed: int = 0
    lam: float = 0.0
    mean: np.ndarray = field(default=None, repr=False)
    scale: np.ndarray = field(default=None, repr=False)
    weights: np.ndarray = field(default=None, repr=False)  # (F + 1, C), the last row the bias
    classes: int = 0

    def _fit_weights(self, x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
        n, f = x.shape
        xb = np.hstack([x, np.ones((n, 1))])
        onehot = np.eye(self.classes)[y]
        # The cross-entropy's gradient is Lipschitz with constant ≤ ‖X‖²/(2n) (+ 2λ for the penalty).
        lipschitz = 0.5 * np.linalg.norm(xb, 2) ** 2 / n + 2 * lam
        step = 1.0 / lipschitz
        w = np.zeros((f + 1, self.classes))
        previous = w.copy()
        penalty_mask = np.ones((f + 1, 1))
        penalty_mask[-1] = 0.0  # the bias is not penalised
        for t in range(1, self.iterations + 1):
            look = w + (t - 1) / (t + 2) * (w - previous)
            gradient = xb.T @ (_softmax(xb @ look) - onehot) / n + 2 * lam * penalty_mask * look
            previous, w = w, look - step * gradient
        return w

    def fit(self, x, y, classes: int | None = None) -> "SoftmaxRegression":
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        y = np.asarray(y, np.int64)
        self.classes = int(classes or y.max() + 1)
        self.mean = x.mean(axis=0)
        self.scale = np.where(x.std(axis=0) > 1e-12, x.std(axis=0), 1.0)
        z = (x - self.mean) / self.scale
        lams = tuple(self.lams)
        if len(lams) > 1 and len(x) >= 2 * self.folds:
            folds = np.random.default_rng(self.seed).permutation(len(x)) % self.folds
            scores = []
            for lam in lams:
                right = 0
                for k in range(self.folds):
                    w = self._fit_weights(z[folds != k], y[folds != k], lam)
                    zb = np.hstack([z[folds == k], np.ones(((folds == k).sum(), 1))])
                    right += int(((zb @ w).argmax(axis=1) == y[folds == k]).sum())
                scores.append(right)
            self.lam = float(lams[int(np.argmax(scores))])
        else:
            self.lam = float(lams[0])
        self.weights = self._fit_weights(z, y, self.lam)
        return self

    def probabilities(self, x) -> np.ndarray:
        z = (np.asarray(x, np.float64).reshape(len(x), -1) - self.mean) / self.scale
        return _softmax(np.hstack([z, np.ones((len(z), 1))]) @ self.weights)

    def predict(self, x) -> np.ndarray:
        return self.probabilities(x).argmax(axis=1)
