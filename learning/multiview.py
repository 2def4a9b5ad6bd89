"""Multi-view CNN (Su, Maji, Kalogerakis & Learned-Miller 2015): one CNN shared by every view of a
shape, element-wise max over the views, a classifier on top; the pooled feature is the shape's
descriptor for retrieval. Trained from scratch through the shared trainer (no downloaded weights).

Images come from shapespace.views (e.g. shaded 12-view rings); arrays are (N, V, H, W) float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MVCNN_KIND = "mvcnn_classifier"


def build_mvcnn(classes: int, resolution: int, channels=(16, 32, 64), feature: int = 128, pool_views: bool = True):
    """The network; with pool_views=False it sees one view (the single-view baseline)."""
    from .trainer import require_torch

    torch = require_torch("The multi-view CNN")
    nn = torch.nn

    class MVCNN(nn.Module):
        def __init__(self):
            super().__init__()
            layers, previous, size = [], 1, resolution
            for width in channels:
                layers += [nn.Conv2d(previous, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                previous, size = width, size // 2
            self.cnn1 = nn.Sequential(*layers, nn.Flatten(), nn.Linear(previous * size * size, feature), nn.ReLU())
            self.classifier = nn.Linear(feature, classes)
            self.pool_views = pool_views

        def features(self, views):  # (B, V, H, W) -> (B, feature)
            b, v, h, w = views.shape
            if not self.pool_views:
                views, v = views[:, :1], 1
            per_view = self.cnn1(views.reshape(b * v, 1, h, w)).reshape(b, v, -1)
            return per_view.max(dim=1).values  # view pooling

        def forward(self, views):
            return self.classifier(self.features(views))

    return MVCNN()


@dataclass
class MultiViewClassifier:
    classes: list
    resolution: int
    views: int
    net: object  # the torch module
    pool_views: bool = True

    def fit(self, images, labels, *, epochs: int = 30, learning_rate: float = 2e-3, seed: int = 0,
            validation_fraction: float = 0.0, device: str = "cpu", progress=None, should_stop=None):
        from .trainer import TrainConfig, require_torch, train

        torch = require_torch("Training the multi-view CNN")

        def loss_fn(net, x, y):
            return torch.nn.functional.cross_entropy(net(x), y)

        config = TrainConfig(optimizer="adam", learning_rate=learning_rate, epochs=epochs, batch_size=16,
                             validation_fraction=validation_fraction, seed=seed, l2=1e-4, device=device)
        result = train(self.net, loss_fn, (np.asarray(images, np.float32), np.asarray(labels, np.int64)), config,
                       progress=progress, should_stop=should_stop)
        self.net.to("cpu")  # predictions run on the CPU, beside Blender
        return result

    def _run(self, images, method):
        from .trainer import require_torch

        torch = require_torch("The multi-view CNN")
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(images), 64):
                batch = torch.as_tensor(np.asarray(images[start:start + 64], np.float32))
                out.append(getattr(self.net, method)(batch).numpy())
        return np.concatenate(out)

    def probabilities(self, images) -> np.ndarray:
        logits = self._run(images, "forward")
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def descriptors(self, images) -> np.ndarray:
        """The view-pooled features, L2-normalised (cosine distance for retrieval)."""
        f = self._run(images, "features")
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    @classmethod
    def create(cls, classes, resolution: int, views: int, pool_views: bool = True, seed: int = 0):
        from .trainer import require_torch

        require_torch("The multi-view CNN").manual_seed(seed)
        return cls(list(classes), resolution, views, build_mvcnn(len(classes), resolution, pool_views=pool_views),
                   pool_views)

    def save(self, path, *, collection: str = "", metrics: dict | None = None, extra: dict | None = None,
             library_names=()):
        """The weights (and `extra` arrays such as the retrieval library, prefixed "extra.")."""
        from .model_files import save_model_file

        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        arrays |= {f"extra.{k}": np.asarray(v) for k, v in (extra or {}).items()}
        return save_model_file(path, MVCNN_KIND, arrays, collection=collection, attribute_names=self.classes,
                               metrics=metrics or {}, info={"resolution": self.resolution, "views": self.views,
                                                            "pool_views": self.pool_views,
                                                            "library_names": list(library_names)})

    @classmethod
    def load(cls, path):
        from .model_files import load_model_file
        from .trainer import require_torch

        torch = require_torch("The multi-view CNN")
        model = load_model_file(path, expected_kind=MVCNN_KIND)
        info = model.metadata["info"]
        classifier = cls.create(model.metadata["attribute_names"], int(info["resolution"]), int(info["views"]),
                                bool(info["pool_views"]))
        classifier.net.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in model.arrays.items()
                                        if k.startswith("net.")})
        extra = {k[6:]: v for k, v in model.arrays.items() if k.startswith("extra.")}
        return classifier, model.metadata, extra


def confusion_matrix(truth, predicted, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth), np.asarray(predicted)), 1)
    return matrix


def retrieval_map(descriptors, labels, queries=None) -> float:
    """Mean average precision of ranking the other shapes by cosine similarity, relevant = same label."""
    d = np.asarray(descriptors, dtype=np.float64)
    labels = np.asarray(labels)
    similarity = d @ d.T
    precisions = []
    for q in (range(len(d)) if queries is None else queries):
        order = np.argsort(-similarity[q])
        order = order[order != q]
        relevant = labels[order] == labels[q]
        if not relevant.any():
            continue
        hits = np.cumsum(relevant)
        precisions.append(float((hits[relevant] / (np.flatnonzero(relevant) + 1)).mean()))
    return float(np.mean(precisions))
