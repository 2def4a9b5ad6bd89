"""Training outside Blender: dataset files, `python -m learning train` and `info`."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from learning.__main__ import main
from learning.datasets import DatasetFileError, load_dataset, save_dataset
from learning.model_files import ModelFileError
from learning.models import MLPRegressor, RidgeRegression, load_model

REPO_ROOT = Path(__file__).resolve().parent.parent


def chairs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    height = rng.uniform(0.5, 1.5, n)
    box = rng.uniform(0.2, 1.0, (n, 3))
    comfort = np.sin(3 * height) + box[:, 0] - 0.5 * box[:, 2]
    names = [f"chair.{i:03d}" for i in range(n)]
    return {"height": height, "box": box}, {"comfort": comfort}, names


@pytest.fixture
def dataset_file(tmp_path):
    features, targets, names = chairs()
    return save_dataset(tmp_path / "chairs.npz", features, targets, sample_names=names, collection="Chairs",
                        metadata={"exported_by": "test"})


def run_module(*args, cwd, timeout=180):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "learning", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_dataset_round_trip(dataset_file):
    data = load_dataset(dataset_file, require_targets=True)
    features, targets, names = chairs()
    assert data.features.shape == (120, 4) and data.targets.shape == (120, 1)
    assert data.feature_names == ["height", "box[0]", "box[1]", "box[2]"] and data.target_names == ["comfort"]
    assert data.feature_blocks == {"height": [0, 1], "box": [1, 4]}
    assert np.array_equal(data.features[:, 1:4], features["box"]) and np.array_equal(data.features[:, 0],
                                                                                       features["height"])
    assert data.sample_names == names and data.collection == "Chairs" and data.metadata == {"exported_by": "test"}
    assert data.feature_layout["inputs"] == data.feature_names and data.feature_layout["outputs"] == ["comfort"]


def test_dataset_of_images_round_trip(tmp_path):
    images = np.random.default_rng(0).random((6, 1, 8, 8)).astype(np.float32)
    save_dataset(tmp_path / "images.npz", images, np.arange(6))
    data = load_dataset(tmp_path / "images.npz")
    assert data.features.dtype == np.float32 and np.array_equal(data.features, images)
    assert data.targets.shape == (6, 1) and data.feature_names == []


def test_bad_datasets_are_named(tmp_path, dataset_file):
    features, targets, names = chairs(10)
    features["box"][4, 1] = np.inf
    with pytest.raises(ValueError, match=r"infinite values in rows \(samples\) chair.004, columns box\[1\]"):
        save_dataset(tmp_path / "bad.npz", features, targets, sample_names=names)
    with pytest.raises(ValueError, match="empty"):
        save_dataset(tmp_path / "bad.npz", np.zeros((0, 2)))
    with pytest.raises(ValueError, match="12 samples but the targets 10"):
        save_dataset(tmp_path / "bad.npz", np.zeros((12, 2)), np.zeros(10))
    assert not (tmp_path / "bad.npz").exists()
    data = dataset_file.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatasetFileError, match="truncated or corrupt.*Export the dataset again"):
        load_dataset(truncated)
    model_path = tmp_path / "model.npz"
    ridge = RidgeRegression()
    ridge.fit(np.random.rand(10, 2), np.random.rand(10))
    ridge.save(model_path)
    with pytest.raises(DatasetFileError, match="looks like a model file"):
        load_dataset(model_path)
    save_dataset(tmp_path / "no_targets.npz", np.ones((5, 2)))
    with pytest.raises(DatasetFileError, match="no targets"):
        load_dataset(tmp_path / "no_targets.npz", require_targets=True)
    assert isinstance(DatasetFileError("x", "y"), ModelFileError)


def test_train_mlp_from_a_dataset_file(dataset_file, tmp_path, capsys):
    out, plot = tmp_path / "mlp.npz", tmp_path / "curves.png"
    code = main(["train", "--dataset", str(dataset_file), "--model-kind", "mlp", "--out", str(out), "--epochs", "40",
                 "--lr", "0.01", "--hidden", "32,32", "--activation", "tanh", "--threads", "1", "--plot", str(plot)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "epoch 1/40" in printed and "val " in printed and "s left" in printed
    assert f"wrote {out}" in printed and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = load_dataset(dataset_file)
    model = load_model(out, expected_layout={"inputs": data.feature_names, "outputs": data.target_names})
    assert isinstance(model, MLPRegressor) and model.collection == "Chairs"
    assert model.metrics["val_r2"] > 0.8
    assert np.sqrt(np.mean((model.predict(data.features) - data.targets) ** 2)) < 0.2


def test_train_ridge_and_info_as_a_module(dataset_file, tmp_path):
    out = tmp_path / "ridge.npz"
    result = run_module("train", "--dataset", str(dataset_file), "--model-kind", "ridge", "--out", str(out),
                        "--lam", "0.01", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "closed form" in result.stdout and isinstance(load_model(out), RidgeRegression)
    info = run_module("info", str(out), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "ridge_regression model" in info.stdout and "hash ok" in info.stdout and "collection: Chairs" in info.stdout
    assert "inputs: height, box[0], box[1], box[2]" in info.stdout


def test_mlp_under_python_dash_m(dataset_file, tmp_path):
    out = tmp_path / "mlp.npz"
    result = run_module("train", "--dataset", str(dataset_file), "--model-kind", "mlp", "--out", str(out),
                        "--epochs", "3", "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in progress] == ["1/3", "2/3", "3/3"]
    assert isinstance(load_model(out), MLPRegressor)


@pytest.mark.parametrize("change, words", [
    ({"--dataset": "missing.npz"}, "does not exist"),
    ({"--lr": "0"}, "learning rate must be a positive number"),
    ({"--validation-fraction": "0.999"}, "needs at least 1000 samples and the dataset has 120"),
    ({"--dataset": "no_targets"}, "no targets"),
    ({"--out": "no/such/folder/m.npz"}, "does not exist; create it first"),
])
def test_bad_input_exits_with_a_message(dataset_file, tmp_path, capsys, change, words):
    args = {"--dataset": str(dataset_file), "--model-kind": "mlp", "--out": str(tmp_path / "m.npz"),
            "--epochs": "2", "--threads": "1"}
    args.update(change)
    if args["--dataset"] == "no_targets":
        args["--dataset"] = str(save_dataset(tmp_path / "nt.npz", np.ones((20, 2))))
    elif args["--dataset"] == "missing.npz":
        args["--dataset"] = str(tmp_path / "missing.npz")
    if args["--out"].startswith("no/"):
        args["--out"] = str(tmp_path / args["--out"])
    code = main(["train", *[part for item in args.items() for part in item]])
    assert code == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_divergence_is_reported_and_the_last_good_model_kept(dataset_file, tmp_path, capsys):
    out = tmp_path / "m.npz"
    code = main(["train", "--dataset", str(dataset_file), "--model-kind", "mlp", "--out", str(out), "--epochs", "20",
                 "--optimizer", "sgd", "--lr", "1000", "--threads", "1"])
    printed = capsys.readouterr().out
    assert code == 1 and "Diverged" in printed and "learning rate 1000 is too large" in printed
    model = load_model(out)
    assert model.metrics["stop_reason"] == "diverged"
    assert all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in model.layers)
