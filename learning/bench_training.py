"""Trainer throughput against a plain hand-written torch loop doing the same work (no Blender).

`trainer_throughput()` times `trainer.train` and a minimal loop (shuffle, slice, forward, loss,
backward, Adam step) on the same data, model architecture, batch size and epoch count, in the
same process, after a warm-up of each, interleaving the repeats and reporting medians, for a
small MLP (regression) and a small CNN (2 conv layers on 32×32 RGB images, 10 classes).
"""

from __future__ import annotations

import statistics
import time


def _mlp(torch, features: int):
    return torch.nn.Sequential(torch.nn.Linear(features, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                               torch.nn.ReLU(), torch.nn.Linear(64, 1))


def _cnn(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 8 * 8, 10))


def _plain_loop(torch, model, loss_fn, x, y, epochs: int, batch_size: int, lr: float, seed: int, device):
    x, y = torch.as_tensor(x).to(device), torch.as_tensor(y).to(device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n = len(x)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, x[index], y[index])
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def _trainer_run(torch, model, loss_fn, x, y, epochs: int, batch_size: int, lr: float, seed: int, device):
    from .trainer import TrainConfig, train

    config = TrainConfig(optimizer="adam", learning_rate=lr, batch_size=batch_size, epochs=epochs,
                         validation_fraction=0.0, early_stopping_patience=0, init="keep", restore_best=False,
                         seed=seed, device=device.type, distributed="off")
    result = train(model, loss_fn, (x, y), config)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result


def _compare(torch, make_model, loss_fn, x, y, epochs, batch_size, repeats, lr, device) -> dict:
    def timed(run):
        model = make_model()
        started = time.perf_counter()
        run(torch, model, loss_fn, x, y, epochs, batch_size, lr, 0, device)
        return time.perf_counter() - started

    timed(_trainer_run)  # warm-up: first optimizer step, allocator, kernels
    timed(_plain_loop)
    trainer_seconds, plain_seconds = [], []
    for _ in range(repeats):
        trainer_seconds.append(timed(_trainer_run))
        plain_seconds.append(timed(_plain_loop))
    samples = len(x) * epochs
    trainer_rate = samples / statistics.median(trainer_seconds)
    plain_rate = samples / statistics.median(plain_seconds)
    return {"samples": len(x), "epochs": epochs, "batch_size": batch_size, "repeats": repeats,
            "trainer_samples_per_s": trainer_rate, "plain_samples_per_s": plain_rate,
            "ratio": trainer_rate / plain_rate,
            "trainer_seconds": trainer_seconds, "plain_seconds": plain_seconds}


def trainer_throughput(n_samples: int = 4096, *, cnn_samples: int | None = None, epochs: int = 2,
                       batch_size: int = 64, repeats: int = 3, threads: int | None = None, device: str = "cpu",
                       seed: int = 0, models=("mlp", "cnn")) -> dict:
    """Samples per second of `train` and of a plain loop for a small MLP and a small CNN.

    Returns {"mlp": {...}, "cnn": {...}, "threads", "device", "torch"}; each entry has
    trainer_samples_per_s, plain_samples_per_s and ratio (trainer / plain, 1.0 = no overhead).
    """
    import numpy as np
    import torch

    from .trainer import resolve_device

    target = resolve_device(device)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        rng = np.random.default_rng(seed)
        out = {"threads": torch.get_num_threads(), "device": str(target), "torch": torch.__version__}
        if "mlp" in models:
            x = rng.normal(size=(n_samples, 32)).astype(np.float32)
            y = (np.sin(x[:, :1]) + 0.1 * x[:, 1:2]).astype(np.float32)

            def mse(model, a, b):
                return torch.nn.functional.mse_loss(model(a), b)

            out["mlp"] = _compare(torch, lambda: _mlp(torch, 32), mse, x, y, epochs, batch_size, repeats, 1e-3,
                                  target)
        if "cnn" in models:
            count = cnn_samples or max(batch_size, n_samples // 8)
            images = rng.normal(size=(count, 3, 32, 32)).astype(np.float32)
            labels = rng.integers(0, 10, size=count).astype(np.int64)

            def cross_entropy(model, a, b):
                return torch.nn.functional.cross_entropy(model(a), b)

            out["cnn"] = _compare(torch, lambda: _cnn(torch), cross_entropy, images, labels, epochs, batch_size,
                                  repeats, 1e-3, target)
        return out
    finally:
        torch.set_num_threads(previous_threads)


if __name__ == "__main__":
    import json

    print(json.dumps(trainer_throughput(), indent=2))
