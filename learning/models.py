"""The first models on the training runtime.

* `MLPRegressor`: a multi-layer perceptron trained by `trainer.train` (torch), with feature and
  target standardization kept in the model file. Prediction runs in numpy, so a saved MLP can be
  used where torch is missing.
* `RidgeRegression`: closed-form ridge regression with an intercept (λ = 0: least squares). No
  gradient descent, no torch, but the same split, metrics, report and model-file path.

`load_model(path)` reads any model file whose kind is registered in `MODEL_KINDS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .model_files import ModelFileError, load_model_file, save_model_file
from .trainer import TrainConfig, TrainHistory, nonfinite_message, split_indices

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")


@dataclass
class ModelReport:
    """What fitting any model returns: the same metrics for every kind."""

    kind: str
    metrics: dict  # train_rmse, val_rmse, train_r2, val_r2, n_train, n_val (val_* None without a split)
    stop_reason: str  # trainer's reason, or 'closed_form'
    message: str
    history: TrainHistory | None = None
    best_epoch: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.stop_reason in ("finished", "early_stopping", "closed_form")


def _as_2d(values, what: str) -> tuple[np.ndarray, bool]:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        raise ValueError(f"The {what} must be a table (samples × columns), not an array of shape {a.shape}")
    return a, False


def _check_xy(x, y, feature_names, target_names):
    x, _ = _as_2d(x, "features")
    y, y_1d = _as_2d(y, "targets")
    if len(x) == 0:
        raise ValueError("The dataset is empty: there are no samples to train on; add shapes to the training "
                         "collection")
    if len(y) != len(x):
        raise ValueError(f"{len(x)} feature rows but {len(y)} target rows; give one target row per sample")
    feature_names = [str(n) for n in feature_names] if feature_names is not None else \
        [f"x{i}" for i in range(x.shape[1])]
    target_names = [str(n) for n in target_names] if target_names is not None else \
        [f"y{i}" for i in range(y.shape[1])]
    if len(feature_names) != x.shape[1] or len(target_names) != y.shape[1]:
        raise ValueError(f"{len(feature_names)} feature names for {x.shape[1]} columns or {len(target_names)} "
                         f"target names for {y.shape[1]} columns; give one name per column")
    for a, what, names in ((x, "features", feature_names), (y, "targets", target_names)):
        message = nonfinite_message(a, what, names)
        if message:
            raise ValueError(message)
    return x, y, y_1d, feature_names, target_names


def _standardization(a: np.ndarray):
    mean = a.mean(axis=0)
    scale = a.std(axis=0)
    scale[scale < 1e-12] = 1.0
    return mean, scale


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """(RMSE over all outputs, R² averaged over outputs with variance)."""
    if len(y_true) == 0:
        return math.nan, math.nan
    rmse = float(np.sqrt(np.mean((y_pred - y_true) ** 2)))
    variance = y_true.var(axis=0)
    residual = ((y_pred - y_true) ** 2).mean(axis=0)
    usable = variance > 1e-12
    r2 = float(np.mean(1.0 - residual[usable] / variance[usable])) if usable.any() else math.nan
    return rmse, r2


def _metrics(model, x, y, train_idx, val_idx) -> dict:
    train_rmse, train_r2 = regression_metrics(y[train_idx], model.predict(x[train_idx]).reshape(len(train_idx), -1))
    out = {"train_rmse": train_rmse, "train_r2": train_r2, "val_rmse": None, "val_r2": None,
           "n_train": int(len(train_idx)), "n_val": int(len(val_idx))}
    if len(val_idx):
        out["val_rmse"], out["val_r2"] = regression_metrics(y[val_idx],
                                                            model.predict(x[val_idx]).reshape(len(val_idx), -1))
    return out


class _Model:
    kind = ""

    def __init__(self):
        self.feature_names: list = []
        self.target_names: list = []
        self.targets_1d = False
        self.metrics: dict = {}
        self.history: TrainHistory | None = None
        self.feature_layout = None
        self.collection = ""
        self.metadata: dict = {}

    @property
    def fitted(self) -> bool:
        raise NotImplementedError

    def default_layout(self) -> dict:
        return {"inputs": list(self.feature_names), "outputs": list(self.target_names)}

    def _output(self, y: np.ndarray) -> np.ndarray:
        return y[:, 0] if self.targets_1d else y

    def _inputs(self, x) -> np.ndarray:
        if not self.fitted:
            raise ValueError(f"This {self.kind} model is not fitted yet; fit it or load a model file")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise ValueError(f"The model expects {len(self.feature_names)} features "
                             f"({', '.join(self.feature_names[:8])}), got an array of shape {x.shape}")
        return x

    def info(self) -> dict:
        """Model-specific metadata (architecture, names) stored in the model file."""
        return {"feature_names": self.feature_names, "target_names": self.target_names,
                "targets_1d": self.targets_1d}

    def _read_info(self, info: dict) -> None:
        self.feature_names = list(info.get("feature_names", []))
        self.target_names = list(info.get("target_names", []))
        self.targets_1d = bool(info.get("targets_1d", False))

    def save(self, path, *, collection: str | None = None, feature_layout=None, attribute_names=None):
        """Write the model file; the layout defaults to the feature and target names."""
        if not self.fitted:
            raise ValueError(f"This {self.kind} model is not fitted yet; there is nothing to save")
        layout = feature_layout if feature_layout is not None else (self.feature_layout or self.default_layout())
        arrays = self.to_arrays()
        if self.history is not None:
            arrays.update(self.history.to_arrays())
        collection = self.collection if collection is None else collection
        return save_model_file(path, self.kind, arrays, collection=collection,
                               attribute_names=attribute_names if attribute_names is not None else self.feature_names,
                               feature_layout=layout, metrics=self.metrics, info=self.info())

    @classmethod
    def from_file(cls, model_file) -> "_Model":
        model = cls.from_arrays(model_file.arrays, model_file.metadata)
        model.history = TrainHistory.from_arrays(model_file.arrays)
        model.metrics = dict(model_file.metadata.get("metrics", {}))
        model.feature_layout = model_file.metadata.get("feature_layout")
        model.collection = model_file.metadata.get("collection", "")
        model.metadata = model_file.metadata
        return model


# --------------------------------------------------------------------------------------------
# Ridge regression (closed form, numpy only)
# --------------------------------------------------------------------------------------------


class RidgeRegression(_Model):
    """min ‖y − Xw − b‖² + λ‖w‖² (the intercept b is not penalised), solved in closed form.

    With standardize=True the features are scaled to zero mean and unit variance first (the
    scaling is stored), so λ weighs every attribute alike.
    """

    kind = "ridge_regression"

    def __init__(self, lam: float = 1.0, standardize: bool = True):
        super().__init__()
        if not math.isfinite(lam) or lam < 0:
            raise ValueError(f"λ must be a number ≥ 0, not {lam!r}")
        self.lam = float(lam)
        self.standardize = bool(standardize)
        self.x_mean = self.x_scale = self.weights = self.bias = None

    @property
    def fitted(self) -> bool:
        return self.weights is not None

    def fit(self, x, y, *, feature_names=None, target_names=None, validation_fraction: float = 0.2,
            seed: int = 0, progress=None, should_stop=None) -> ModelReport:
        import time

        started = time.perf_counter()
        x, y, self.targets_1d, self.feature_names, self.target_names = _check_xy(x, y, feature_names, target_names)
        train_idx, val_idx = split_indices(len(x), validation_fraction, seed)
        xt, yt = x[train_idx], y[train_idx]
        if self.standardize:
            self.x_mean, self.x_scale = _standardization(xt)
        else:
            self.x_mean, self.x_scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        xs = (xt - self.x_mean) / self.x_scale
        x_center = xs.mean(axis=0)
        y_center = yt.mean(axis=0)
        xc, yc = xs - x_center, yt - y_center
        m = x.shape[1]
        # Ridge as one least-squares problem: [Xc; √λ I] w ≈ [yc; 0] (also fine for λ = 0, rank-deficient X).
        a = np.vstack([xc, math.sqrt(self.lam) * np.eye(m)]) if self.lam > 0 else xc
        b = np.vstack([yc, np.zeros((m, yc.shape[1]))]) if self.lam > 0 else yc
        self.weights = np.linalg.lstsq(a, b, rcond=None)[0]
        self.bias = y_center - x_center @ self.weights
        self.metrics = _metrics(self, x, y, train_idx, val_idx) | {"lambda": self.lam}
        self.history = None
        seconds = time.perf_counter() - started
        return ModelReport(self.kind, self.metrics, "closed_form",
                           f"Ridge regression (λ = {self.lam:g}) solved in closed form on {len(train_idx)} samples",
                           None, 0, seconds)

    def predict(self, x) -> np.ndarray:
        x = self._inputs(x)
        return self._output(((x - self.x_mean) / self.x_scale) @ self.weights + self.bias)

    def to_arrays(self) -> dict:
        return {"x_mean": self.x_mean, "x_scale": self.x_scale, "weights": self.weights, "bias": self.bias,
                "lambda": np.array([self.lam])}

    def info(self) -> dict:
        return super().info() | {"lambda": self.lam, "standardize": self.standardize}

    @classmethod
    def from_metadata(cls, metadata: dict) -> "RidgeRegression":
        info = metadata.get("info", {})
        model = cls(float(info.get("lambda", 1.0)), bool(info.get("standardize", True)))
        model._read_info(info)
        return model

    @classmethod
    def from_arrays(cls, arrays: dict, metadata: dict) -> "RidgeRegression":
        model = cls.from_metadata(metadata)
        model.x_mean, model.x_scale = arrays["x_mean"], arrays["x_scale"]
        model.weights, model.bias = arrays["weights"], arrays["bias"]
        model.lam = float(arrays["lambda"][0])
        return model


# --------------------------------------------------------------------------------------------
# MLP regression (trained by the trainer)
# --------------------------------------------------------------------------------------------


def build_mlp(layer_sizes, activation: str = "relu"):
    """torch nn.Sequential of Linear layers with `activation` between them (none after the last)."""
    import torch.nn as nn

    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {activation!r}; use one of {', '.join(ACTIVATIONS)}")
    if len(layer_sizes) < 2 or any(int(s) < 1 for s in layer_sizes):
        raise ValueError(f"An MLP needs at least an input and an output size, all ≥ 1; got {list(layer_sizes)}")
    make = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": lambda: nn.LeakyReLU(0.01)}
    layers = []
    for i, (a, b) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        layers.append(nn.Linear(int(a), int(b)))
        if i < len(layer_sizes) - 2:
            layers.append(make[activation]())
    return nn.Sequential(*layers)


def _activate(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    return np.where(z > 0, z, 0.01 * z)


class MLPRegressor(_Model):
    """Standardized features → Linear/activation layers → standardized targets."""

    kind = "mlp_regressor"

    def __init__(self, hidden=(64, 64), activation: str = "relu", config: TrainConfig | None = None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; use one of {', '.join(ACTIVATIONS)}")
        self.hidden = [int(h) for h in hidden]
        self.activation = activation
        self.config = config or TrainConfig()
        self.layers: list = []  # [(weight (out, in), bias (out,))] as float32 numpy arrays
        self.x_mean = self.x_scale = self.y_mean = self.y_scale = None
        self.result = None  # the TrainResult of the last fit

    @property
    def fitted(self) -> bool:
        return bool(self.layers)

    @property
    def layer_sizes(self) -> list:
        return [len(self.feature_names), *self.hidden, len(self.target_names)]

    def torch_module(self):
        """A torch module with the current weights (for training or GPU inference)."""
        from .trainer import require_torch

        torch = require_torch("A torch module of the MLP")

        net = build_mlp(self.layer_sizes, self.activation)
        if self.layers:
            linear = [m for m in net if isinstance(m, torch.nn.Linear)]
            with torch.no_grad():
                for module, (w, b) in zip(linear, self.layers):
                    module.weight.copy_(torch.as_tensor(w))
                    module.bias.copy_(torch.as_tensor(b))
        return net

    def fit(self, x, y, *, feature_names=None, target_names=None, config: TrainConfig | None = None,
            progress=None, should_stop=None) -> ModelReport:
        from .trainer import require_torch, train

        torch = require_torch("Training an MLP")

        config = (config or self.config).validate()
        self.config = config
        x, y, targets_1d, feature_names, target_names = _check_xy(x, y, feature_names, target_names)
        train_idx, val_idx = split_indices(len(x), config.validation_fraction, config.seed)
        x_mean, x_scale = _standardization(x[train_idx])
        y_mean, y_scale = _standardization(y[train_idx])
        xs = ((x - x_mean) / x_scale).astype(np.float32)
        ys = ((y - y_mean) / y_scale).astype(np.float32)
        net = build_mlp([x.shape[1], *self.hidden, y.shape[1]], self.activation)
        y_scale_t = torch.as_tensor(y_scale, dtype=torch.float32)

        def loss_fn(model, inputs, targets):
            return torch.nn.functional.mse_loss(model(inputs), targets)

        def rmse(model, inputs, targets):  # in the targets' own units
            return torch.sqrt((((model(inputs) - targets) * y_scale_t.to(inputs.device)) ** 2).mean())

        result = train(net, loss_fn, (xs, ys), config, progress=progress, should_stop=should_stop, metric_fn=rmse)
        self.result = result
        linear = [m for m in net if isinstance(m, torch.nn.Linear)]
        self.layers = [(m.weight.detach().cpu().numpy().copy(), m.bias.detach().cpu().numpy().copy()) for m in linear]
        self.x_mean, self.x_scale, self.y_mean, self.y_scale = x_mean, x_scale, y_mean, y_scale
        self.feature_names, self.target_names, self.targets_1d = feature_names, target_names, targets_1d
        self.history = result.history
        self.metrics = _metrics(self, x, y, train_idx, val_idx) | {
            "best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "stop_reason": result.stop_reason}
        return ModelReport(self.kind, self.metrics, result.stop_reason, result.message, result.history,
                           result.best_epoch, result.seconds)

    def predict(self, x) -> np.ndarray:
        """Numpy forward pass (float64 arithmetic on the stored float32 weights)."""
        h = (self._inputs(x) - self.x_mean) / self.x_scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.T.astype(np.float64) + b
            if i < len(self.layers) - 1:
                h = _activate(h, self.activation)
        return self._output(h * self.y_scale + self.y_mean)

    def to_arrays(self) -> dict:
        arrays = {"x_mean": self.x_mean, "x_scale": self.x_scale, "y_mean": self.y_mean, "y_scale": self.y_scale}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"layers.{i}.weight"] = w
            arrays[f"layers.{i}.bias"] = b
        return arrays

    def info(self) -> dict:
        return super().info() | {"hidden": self.hidden, "activation": self.activation,
                                 "layer_sizes": self.layer_sizes, "train_config": self.config.to_dict()}

    @classmethod
    def from_metadata(cls, metadata: dict) -> "MLPRegressor":
        info = metadata.get("info", {})
        model = cls(info.get("hidden", []), info.get("activation", "relu"),
                    TrainConfig.from_dict(info.get("train_config", {})))
        model._read_info(info)
        return model

    @classmethod
    def from_arrays(cls, arrays: dict, metadata: dict) -> "MLPRegressor":
        model = cls.from_metadata(metadata)
        sizes = model.layer_sizes
        model.layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            w, b = arrays.get(f"layers.{i}.weight"), arrays.get(f"layers.{i}.bias")
            if w is None or b is None or w.shape != (n_out, n_in) or b.shape != (n_out,):
                raise ValueError(f"layer {i} should be {n_out}×{n_in} but the file holds "
                                 f"{None if w is None else w.shape}")
            model.layers.append((w, b))
        model.x_mean, model.x_scale = arrays["x_mean"], arrays["x_scale"]
        model.y_mean, model.y_scale = arrays["y_mean"], arrays["y_scale"]
        return model


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------

MODEL_KINDS = {cls.kind: cls for cls in (MLPRegressor, RidgeRegression)}


def build_model(kind: str, metadata: dict | None = None):
    """An unfitted model of a registered kind, configured from a model file's metadata."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"Unknown model kind {kind!r}; Design Space knows {', '.join(sorted(MODEL_KINDS))}")
    return MODEL_KINDS[kind].from_metadata(metadata or {})


def load_model(path, *, expected_layout=None, expected_kind: str | None = None):
    """The model saved in `path`; ModelFileError for anything unusable (see model_files)."""
    model_file = load_model_file(path, expected_kind=expected_kind, expected_layout=expected_layout,
                                 known_kinds=MODEL_KINDS)
    try:
        return MODEL_KINDS[model_file.kind].from_file(model_file)
    except (KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(path, f"the {model_file.kind} model in it is incomplete ({exc})",
                             "Train and save the model again") from None
