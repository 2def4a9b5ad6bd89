"""The same `python -m learning train` on 2 processes: DistributedDataParallel over gloo on loopback.

Each rank takes every second sample of each global batch (DistributedSampler semantics over the
same seeded permutation) and DDP averages the two per-rank mean gradients, so a per-rank batch
of 8 on 2 ranks is the same step as one batch of 16 in one process. With 80 training samples
(a multiple of 16) every batch splits evenly, so both runs follow the same optimisation path and
must end at the same weights up to float rounding.

Two launchers: torchrun itself, and two plain processes given the environment torchrun gives its
workers (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). The second also runs where
torchrun cannot start its rendezvous (torch builds without libuv, such as Debian's).
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from learning.__main__ import main
from learning.datasets import save_dataset
from learning.model_files import load_model_file

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
REPO_ROOT = Path(__file__).resolve().parent.parent
ATOL = 2e-5


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torch_has_libuv() -> bool:
    try:
        store = dist.TCPStore("127.0.0.1", 0, 1, True, use_libuv=True, wait_for_workers=False)
    except (RuntimeError, TypeError) as exc:
        return "libuv" not in str(exc)
    del store
    return True


def common_args(data):
    return ["train", "--dataset", str(data), "--model-kind", "mlp", "--epochs", "12", "--optimizer", "sgd",
            "--lr", "0.05", "--momentum", "0.9", "--batch-size", "16", "--validation-fraction", "0.2",
            "--patience", "4", "--seed", "3", "--hidden", "16,16", "--threads", "1"]


def clean_env():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", USE_LIBUV="0")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_PORT"):
        env.pop(name, None)
    return env


def launch_torchrun(args, out_dir):
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_loopback_port()}", "-m", "learning", *args]
    result = subprocess.run(command, cwd=out_dir, env=clean_env(), capture_output=True, text=True, timeout=240)
    return result.returncode, result.stdout, result.stderr


def launch_with_worker_env(args, out_dir):
    port = str(free_loopback_port())
    workers = []
    for rank in range(2):
        env = clean_env() | {"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": "2",
                             "MASTER_PORT": port}
        workers.append(subprocess.Popen([sys.executable, "-m", "learning", *args], cwd=out_dir, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [worker.communicate(timeout=240) for worker in workers]
    code = max(worker.returncode for worker in workers)
    return code, "".join(out for out, _ in outputs), "".join(err for _, err in outputs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The dataset, the single-process model, and a single-process model with the per-rank batch."""
    folder = tmp_path_factory.mktemp("distributed")
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (100, 3))
    y = np.column_stack([np.sin(x[:, 0]) + x[:, 1] * x[:, 2], np.cos(x[:, 1])])
    data = save_dataset(folder / "data.npz", x, y, feature_names=["a", "b", "c"], target_names=["s", "t"])
    args = common_args(data)
    assert main([*args, "--out", str(folder / "single.npz"), "--quiet"]) in (0, 1)
    per_rank = [("8" if previous == "--batch-size" else a) for previous, a in zip([""] + args, args)]
    main([*per_rank, "--out", str(folder / "per_rank_batch.npz"), "--quiet"])
    return data, load_model_file(folder / "single.npz"), load_model_file(folder / "per_rank_batch.npz")


@pytest.mark.parametrize("launcher", ["torchrun", "worker_env"])
def test_two_gloo_processes_match_one_process(reference, tmp_path, launcher):
    if launcher == "torchrun" and not torch_has_libuv():
        pytest.skip("this torch build has no libuv, so torchrun's rendezvous store cannot start; "
                    "the worker_env launch covers DDP here")
    data, single, per_rank_batch = reference
    launch = launch_torchrun if launcher == "torchrun" else launch_with_worker_env
    code, stdout, stderr = launch([*common_args(data), "--out", str(tmp_path / "model.npz")], tmp_path)
    assert code == 0, stdout[-3000:] + stderr[-3000:]
    assert "trained with DistributedDataParallel on 2 processes" in stdout
    progress = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert 1 <= len(progress) <= 12 and len({line.split()[1] for line in progress}) == len(progress)  # rank 0 only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # one file, no leftovers from rank 1

    distributed = load_model_file(tmp_path / "model.npz")
    weights = [name for name in single.arrays if name.startswith("layers.")]
    assert len(weights) == 6
    for name in weights:
        np.testing.assert_allclose(distributed.arrays[name], single.arrays[name], rtol=0, atol=ATOL)
    for name in ("history.train_loss", "history.val_loss", "history.learning_rate"):
        np.testing.assert_allclose(distributed.arrays[name], single.arrays[name], rtol=1e-4)
    assert distributed.metrics["best_epoch"] == single.metrics["best_epoch"]
    val = distributed.arrays["history.val_loss"]
    assert val.min() < val[0]  # it learned
    # The tolerance discriminates: one process with batches of 8 (the per-rank batch) ends elsewhere.
    gap = np.abs(per_rank_batch.arrays["layers.0.weight"] - single.arrays["layers.0.weight"]).max()
    assert gap > 100 * ATOL
