"""Sketch-based retrieval (Wang, Kang & Li 2015): a two-branch network, one branch for sketches and
one for line-drawing views of shapes, trained with a contrastive loss so that a sketch lands near
the views of shapes of its class; a query ranks the library's shapes by their best view.

Training sketches are the library's own line drawings made to look hand-drawn (`hand_drawn`:
wobbly, slightly turned and scaled, with gaps and uneven pen width), so no sketch data is needed.
Images are (H, W) float32 in 0..1, 1 on the lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKETCH_KIND = "sketch_retrieval"


def hand_drawn(lines: np.ndarray, rng: np.random.Generator, wobble: float = 1.5, gap: float = 0.15) -> np.ndarray:
    """A line image redrawn as by hand: a small random turn, scale and shift, a smooth wobble of
    `wobble` pixels, short gaps (about `gap` of the ink dropped) and a thicker or thinner pen."""
    size = lines.shape[0]
    ys, xs = np.nonzero(lines > 0.5)
    out = np.zeros_like(lines, dtype=np.float32)
    if not len(xs):
        return out
    centre = (size - 1) / 2.0
    angle, scale = rng.normal(0, 0.08), rng.uniform(0.88, 1.08)
    shift = rng.normal(0, 0.03 * size, 2)
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    x, y = xs - centre, ys - centre
    x, y = c * x - s * y + centre + shift[0], s * x + c * y + centre + shift[1]
    for _ in range(3):  # a smooth wobble: a few low-frequency waves
        k = rng.uniform(0.5, 2.5, 2) * 2 * np.pi / size
        phase = rng.uniform(0, 2 * np.pi, 2)
        x = x + wobble / 3 * np.sin(k[0] * y + phase[0])
        y = y + wobble / 3 * np.sin(k[1] * x + phase[1])
    holes = rng.uniform(0, size, (max(1, int(gap * 12)), 2))
    keep = np.ones(len(x), dtype=bool)
    for hx, hy in holes:  # pen lifted here and there
        keep &= (x - hx) ** 2 + (y - hy) ** 2 > (0.06 * size) ** 2
    xi, yi = np.round(x[keep]).astype(int), np.round(y[keep]).astype(int)
    inside = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
    out[yi[inside], xi[inside]] = 1.0
    if rng.random() < 0.5:  # a broader pen
        padded = np.pad(out, 1)
        out = np.maximum.reduce([padded[1 + dy:1 + dy + size, 1 + dx:1 + dx + size]
                                 for dy in (-1, 0, 1) for dx in (-1, 0, 1) if abs(dx) + abs(dy) <= 1])
    return out


def contour(mask: np.ndarray) -> np.ndarray:
    """The outline of a silhouette: mask pixels with a background neighbour."""
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return (mask & ~interior).astype(np.float32)


def rasterize_strokes(strokes, size: int) -> np.ndarray:
    """Polylines [(n, 2) points, …] in any 2D units, fitted into the image with a margin, drawn 1 px."""
    strokes = [np.asarray(s, dtype=np.float64) for s in strokes if len(s)]
    if not strokes:
        raise ValueError("The sketch has no strokes; draw in the viewport (annotation tool) or load an image")
    points = np.concatenate(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    span = max(float((high - low).max()), 1e-9)
    scale = 0.8 * (size - 1) / span
    centre = (low + high) / 2.0
    image = np.zeros((size, size), np.float32)
    for stroke in strokes:
        p = (stroke - centre) * scale + (size - 1) / 2.0
        if len(p) == 1:
            p = np.repeat(p, 2, axis=0)
        steps = np.maximum(np.ceil(np.linalg.norm(np.diff(p, axis=0), axis=1) * 2).astype(int), 1)
        t = np.concatenate([np.linspace(0, 1, n, endpoint=False) for n in steps] + [[1.0]])
        segment = np.concatenate([np.full(n, i) for i, n in enumerate(steps)] + [[len(steps) - 1]])
        xy = p[segment] + t[:, None] * (p[segment + 1] - p[segment])
        xi, yi = np.round(xy[:, 0]).astype(int), np.round(size - 1 - xy[:, 1]).astype(int)  # y up in the sketch
        inside = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        image[yi[inside], xi[inside]] = 1.0
    return image


def _branch(nn, resolution, embedding):
    layers, previous, size = [], 1, resolution
    for width in (16, 32, 64):
        layers += [nn.Conv2d(previous, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        previous, size = width, size // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(previous * size * size, embedding))


def build_two_branch(resolution: int, embedding: int = 64):
    from .trainer import require_torch

    torch = require_torch("Sketch retrieval")
    nn = torch.nn

    class TwoBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.sketch = _branch(nn, resolution, embedding)
            self.view = _branch(nn, resolution, embedding)

        def embed(self, images, branch):
            out = getattr(self, branch)(images[:, None])
            return out / out.norm(dim=1, keepdim=True).clamp_min(1e-8)

        def forward(self, sketches, views):
            return self.embed(sketches, "sketch"), self.embed(views, "view")

    return TwoBranch()


@dataclass
class SketchRetrieval:
    resolution: int
    net: object
    margin: float = 1.0

    @classmethod
    def create(cls, resolution: int, seed: int = 0):
        from .trainer import require_torch

        require_torch("Sketch retrieval").manual_seed(seed)
        return cls(resolution, build_two_branch(resolution))

    def fit(self, line_views, labels, *, pairs: int = 4000, epochs: int = 10, seed: int = 0, progress=None,
            should_stop=None):
        """line_views (N, V, H, W) of the library, labels (N,): pairs of a hand-drawn view and a view of a
        shape of the same class (positive) or of another class (negative), half and half."""
        from .trainer import TrainConfig, require_torch, train

        torch = require_torch("Sketch retrieval")
        rng = np.random.default_rng(seed)
        labels = np.asarray(labels)
        n, v = line_views.shape[:2]
        by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
        sketches = np.empty((pairs,) + line_views.shape[2:], np.float32)
        views = np.empty_like(sketches)
        same = (rng.random(pairs) < 0.5).astype(np.float32)
        for k in range(pairs):
            i = rng.integers(n)
            sketches[k] = hand_drawn(line_views[i, rng.integers(v)], rng)
            pool = by_class[labels[i]] if same[k] else np.flatnonzero(labels != labels[i])
            views[k] = line_views[rng.choice(pool), rng.integers(v)]
        margin = self.margin

        def loss_fn(net, s, w, y):
            a, b = net(s, w)
            d = (a - b).norm(dim=1)
            return (y * d ** 2 + (1 - y) * torch.clamp(margin - d, min=0) ** 2).mean()

        config = TrainConfig(optimizer="adam", learning_rate=1e-3, epochs=epochs, batch_size=64, seed=seed,
                             validation_fraction=0.0)
        return train(self.net, loss_fn, (sketches, views, same), config, progress=progress, should_stop=should_stop)

    def _embed(self, images, branch):
        from .trainer import require_torch

        torch = require_torch("Sketch retrieval")
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(images), 256):
                batch = torch.as_tensor(np.asarray(images[start:start + 256], np.float32))
                out.append(self.net.embed(batch, branch).numpy())
        return np.concatenate(out)

    def library(self, line_views) -> np.ndarray:
        """(N, V, E) view embeddings of the library's shapes."""
        n, v = line_views.shape[:2]
        return self._embed(line_views.reshape((n * v,) + line_views.shape[2:]), "view").reshape(n, v, -1)

    def search(self, sketch, library_embeddings) -> np.ndarray:
        """Similarity of a sketch to each library shape (its best view), (N,)."""
        query = self._embed(np.asarray(sketch, np.float32)[None], "sketch")[0]
        return (library_embeddings @ query).max(axis=1)

    def save(self, path, library_embeddings, names, labels, classes, *, collection="", metrics=None):
        from .model_files import save_model_file

        arrays = {f"net.{k}": t.detach().cpu().numpy() for k, t in self.net.state_dict().items()}
        arrays |= {"library": np.asarray(library_embeddings, np.float32), "labels": np.asarray(labels, np.int64)}
        return save_model_file(path, SKETCH_KIND, arrays, collection=collection, attribute_names=list(classes),
                               metrics=metrics or {}, info={"resolution": self.resolution, "names": list(names)})

    @classmethod
    def load(cls, path):
        from .model_files import load_model_file
        from .trainer import require_torch

        torch = require_torch("Sketch retrieval")
        model = load_model_file(path, expected_kind=SKETCH_KIND)
        retrieval = cls.create(int(model.metadata["info"]["resolution"]))
        retrieval.net.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in model.arrays.items()
                                       if k.startswith("net.")})
        return retrieval, model.arrays["library"], model.metadata
