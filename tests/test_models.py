"""The first models on the runtime: an MLP trained by the trainer and closed-form ridge regression,
both saved and loaded through the same safe model files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from learning.model_files import ModelFileError, save_model_file
from learning.models import (MODEL_KINDS, MLPRegressor, ModelReport, RidgeRegression, build_model, load_model)
from learning.trainer import TrainConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
METRIC_KEYS = {"train_rmse", "val_rmse", "train_r2", "val_r2", "n_train", "n_val"}


def table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(-3, 3, n), rng.uniform(100, 300, n)])  # very different scales
    y = np.sin(x[:, 0]) + 0.01 * (x[:, 1] - 200)
    return x, y


@pytest.fixture(scope="module")
def fitted_mlp():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    x, y = table()
    model = MLPRegressor(hidden=(32, 32), activation="tanh",
                         config=TrainConfig(learning_rate=0.01, epochs=150, batch_size=32, early_stopping_patience=20))
    report = model.fit(x, y, feature_names=["angle", "height"], target_names=["score"])
    return model, report, x, y


def test_mlp_learns_through_the_trainer(fitted_mlp):
    model, report, x, y = fitted_mlp
    assert isinstance(report, ModelReport) and report.kind == "mlp_regressor" and report.ok
    assert METRIC_KEYS <= set(report.metrics)
    assert report.metrics["val_r2"] > 0.95 and report.metrics["n_val"] == 40
    assert report.history is not None and report.best_epoch == report.history.best_epoch >= 1
    assert model.predict(x[:5]).shape == (5,)  # 1-D targets in, 1-D predictions out
    assert np.sqrt(np.mean((model.predict(x) - y) ** 2)) < 0.2


def test_mlp_numpy_prediction_matches_the_torch_module(fitted_mlp):
    import torch

    model, _, x, _ = fitted_mlp
    with torch.no_grad():
        standardized = torch.as_tensor(((x - model.x_mean) / model.x_scale).astype(np.float32))
        torch_out = model.torch_module()(standardized).numpy()[:, 0] * model.y_scale + model.y_mean
    assert np.allclose(model.predict(x), torch_out, atol=1e-4)


def test_mlp_model_file_round_trip(fitted_mlp, tmp_path):
    model, report, x, _ = fitted_mlp
    path = tmp_path / "mlp.npz"
    model.collection = "Vases"
    written = model.save(path)
    assert {"x_mean", "x_scale", "y_mean", "y_scale", "layers.0.weight"} <= set(written.arrays)
    loaded = load_model(path, expected_layout={"inputs": ["angle", "height"], "outputs": ["score"]})
    assert isinstance(loaded, MLPRegressor) and loaded.hidden == [32, 32] and loaded.activation == "tanh"
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert np.array_equal(loaded.x_mean, model.x_mean) and np.array_equal(loaded.x_scale, model.x_scale)
    assert loaded.collection == "Vases" and loaded.feature_names == ["angle", "height"]
    assert loaded.metrics["val_rmse"] == pytest.approx(report.metrics["val_rmse"])
    assert loaded.history.train_loss == report.history.train_loss
    assert loaded.history.best_epoch == report.best_epoch
    assert loaded.config.learning_rate == 0.01
    with pytest.raises(ModelFileError, match="another feature layout"):
        load_model(path, expected_layout={"inputs": ["angle"], "outputs": ["score"]})


def test_ridge_matches_the_closed_form():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 4)) * [1, 10, 0.1, 5] + [0, 3, -1, 7]
    y = x @ rng.normal(size=(4, 2)) + 0.3 * rng.normal(size=(30, 2)) + [1.0, -2.0]
    lam = 2.5
    model = RidgeRegression(lam, standardize=False)
    report = model.fit(x, y, validation_fraction=0)
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    w = np.linalg.solve(xc.T @ xc + lam * np.eye(4), xc.T @ yc)  # intercept not penalised
    assert np.allclose(model.weights, w, atol=1e-10)
    assert np.allclose(model.bias, mean_y - mean_x @ w, atol=1e-10)
    assert report.stop_reason == "closed_form" and report.history is None
    # λ = 0 is ordinary least squares with an intercept column.
    ols = RidgeRegression(0.0, standardize=False)
    ols.fit(x, y, validation_fraction=0)
    coefficients = np.linalg.lstsq(np.column_stack([x, np.ones(len(x))]), y, rcond=None)[0]
    assert np.allclose(ols.weights, coefficients[:4], atol=1e-9)
    assert np.allclose(ols.bias, coefficients[4], atol=1e-9)


def test_ridge_standardized_predictions_match_the_closed_form():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(25, 3)) * [1, 100, 0.01]
    y = x @ np.array([1.0, 0.02, 50.0]) + 0.1 * rng.normal(size=25)
    model = RidgeRegression(1.0)
    model.fit(x, y, validation_fraction=0)
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    w = np.linalg.solve(xs.T @ xs + np.eye(3), xs.T @ (y - y.mean()))
    assert np.allclose(model.predict(x), xs @ w + y.mean(), atol=1e-10)


def test_ridge_shares_the_report_and_model_file_path(tmp_path, fitted_mlp):
    _, mlp_report, _, _ = fitted_mlp
    x, y = table()
    model = RidgeRegression(0.1)
    report = model.fit(x, y, feature_names=["angle", "height"], target_names=["score"])
    assert type(report) is type(mlp_report) and METRIC_KEYS <= set(report.metrics)
    assert report.metrics["n_val"] == mlp_report.metrics["n_val"]  # the same seeded split
    model.save(tmp_path / "ridge.npz", collection="Vases")
    loaded = load_model(tmp_path / "ridge.npz", expected_kind="ridge_regression")
    assert isinstance(loaded, RidgeRegression) and loaded.lam == 0.1
    assert np.array_equal(loaded.predict(x), model.predict(x))
    assert loaded.metrics["val_r2"] == pytest.approx(report.metrics["val_r2"])


def test_registry_knows_only_its_kinds(tmp_path):
    assert set(MODEL_KINDS) == {"mlp_regressor", "ridge_regression"}
    assert isinstance(build_model("ridge_regression", {"info": {"lambda": 3.0}}), RidgeRegression)
    with pytest.raises(ValueError, match="Unknown model kind 'forest'"):
        build_model("forest", {})
    save_model_file(tmp_path / "odd.npz", "forest", {"w": np.zeros(3)})
    with pytest.raises(ModelFileError, match="unknown to this Design Space"):
        load_model(tmp_path / "odd.npz")


def test_incomplete_model_file_is_refused(tmp_path):
    info = {"hidden": [4], "activation": "relu", "feature_names": ["a"], "target_names": ["b"]}
    arrays = {"x_mean": np.zeros(1), "x_scale": np.ones(1), "y_mean": np.zeros(1), "y_scale": np.ones(1),
              "layers.0.weight": np.zeros((4, 2), np.float32), "layers.0.bias": np.zeros(4, np.float32)}
    save_model_file(tmp_path / "broken.npz", "mlp_regressor", arrays, info=info)
    with pytest.raises(ModelFileError, match="incomplete.*layer 0 should be 4×1"):
        load_model(tmp_path / "broken.npz")


def test_bad_training_data_is_named():
    x, y = table(20)
    x[7, 1] = np.nan
    for model in (RidgeRegression(), MLPRegressor()):
        with pytest.raises(ValueError, match=r"features hold NaN values in rows \(samples\) 7, columns height"):
            model.fit(x, y, feature_names=["angle", "height"])
    with pytest.raises(ValueError, match="empty"):
        RidgeRegression().fit(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="at least 5 samples.*has 3"):
        RidgeRegression().fit(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="not fitted"):
        RidgeRegression().predict(np.ones((1, 2)))


_WITHOUT_TORCH = r"""
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("torch is not installed")
sys.meta_path.insert(0, NoTorch())
sys.path.insert(0, sys.argv[1])
import numpy as np
from learning import datasets, model_files, models, trainer, training_plot
from learning.models import RidgeRegression, load_model
x = np.random.default_rng(0).normal(size=(30, 2)); y = x @ [1.0, 2.0]
model = RidgeRegression(0.5); report = model.fit(x, y)
model.save(sys.argv[2] + "/ridge.npz")
assert np.allclose(load_model(sys.argv[2] + "/ridge.npz").predict(x), model.predict(x))
mlp = load_model(sys.argv[2] + "/mlp.npz")
print(float(mlp.predict(np.array([[0.5, 200.0]]))[0]))
try:
    models.MLPRegressor().fit(x, y)
except ImportError as exc:
    print("mlp training needs torch:", exc)
assert "torch" not in sys.modules
"""


def test_numpy_features_work_without_torch(tmp_path, fitted_mlp):
    model = fitted_mlp[0]
    model.save(tmp_path / "mlp.npz")
    result = subprocess.run([sys.executable, "-c", _WITHOUT_TORCH, str(REPO_ROOT), str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert float(lines[0]) == pytest.approx(float(model.predict(np.array([[0.5, 200.0]]))[0]), abs=1e-12)
    assert "mlp training needs torch" in lines[1] and "needs PyTorch" in lines[1]
