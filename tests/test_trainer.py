"""The one trainer: convergence, regularization, schedules, early stopping, divergence, cancel,
determinism and input checks, each on a small problem with a known answer."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from learning.trainer import (TrainConfig, TrainProgress, initialize, minimum_samples,  # noqa: E402
                              split_indices, train)


def mse(model, x, y):
    return torch.nn.functional.mse_loss(model(x), y)


def sin_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 1)).astype(np.float32)
    return x, np.sin(x)


def mlp(width=32, dropout=0.0):
    layers = [torch.nn.Linear(1, width), torch.nn.Tanh()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))


def state_equal(model, state) -> bool:
    return all(torch.equal(v.cpu(), state[k]) for k, v in model.state_dict().items())


def val_loss_now(model, x, y, config):
    _, val = split_indices(len(x), config.validation_fraction, config.seed)
    with torch.no_grad():
        return float(mse(model, torch.as_tensor(x[val]), torch.as_tensor(y[val])))


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.01), ("sgd", 0.05)])
def test_both_optimizers_learn_sin(optimizer, lr):
    x, y = sin_data()
    config = TrainConfig(optimizer=optimizer, learning_rate=lr, momentum=0.9, epochs=60, batch_size=32,
                         early_stopping_patience=0)
    model = mlp()
    result = train(model, mse, (x, y), config)
    h = result.history
    assert result.stop_reason == "finished" and result.epochs_run == 60
    assert h.train_loss[-1] < h.train_loss[0] / 10
    assert result.best_value < 0.02  # sin has variance ≈ 0.5: R² > 0.96 on held-out samples
    assert result.best_value == min(h.val_loss)
    assert val_loss_now(model, x, y, config) == pytest.approx(result.best_value, rel=1e-5)


def test_momentum_accelerates_sgd():
    x, y = sin_data()
    final = {}
    for momentum in (0.0, 0.9):
        config = TrainConfig(optimizer="sgd", learning_rate=0.01, momentum=momentum, epochs=25, batch_size=32,
                             early_stopping_patience=0)
        final[momentum] = train(mlp(), mse, (x, y), config).best_value
    assert final[0.9] < final[0.0] / 3


def test_penalties_are_exact_in_one_sgd_step():
    """w ← w − η(∇L + l1·sign(w) + 2·l2·w); the bias gets no penalty."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    model = torch.nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -0.25, 0.75]]))
        model.bias.fill_(0.1)
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    probe = torch.nn.Linear(3, 1)
    probe.load_state_dict(model.state_dict())
    mse(probe, torch.as_tensor(x), torch.as_tensor(y)).backward()
    lr, l1, l2 = 0.1, 0.05, 0.2
    config = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=lr, l1=l1, l2=l2, init="keep", epochs=1,
                         batch_size=0, validation_fraction=0)
    train(model, mse, (x, y), config)
    expected_w = w0 - lr * (probe.weight.grad + l1 * torch.sign(w0) + 2 * l2 * w0)
    expected_b = b0 - lr * probe.bias.grad
    assert torch.allclose(model.weight, expected_w, atol=1e-7)
    assert torch.allclose(model.bias, expected_b, atol=1e-7)


def test_l1_zeroes_irrelevant_weights_and_l2_only_shrinks_them():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 10)).astype(np.float32)
    y = (3 * x[:, :1] - 2 * x[:, 1:2] + 0.5 * rng.normal(size=(40, 1))).astype(np.float32)
    weights = {}
    for name in ("l1", "l2"):
        # The step schedule shrinks η so L1's subgradient oscillation (±η·l1) dies out.
        config = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=0.05, schedule="step", step_epochs=100,
                             step_factor=0.1, epochs=400, batch_size=0, validation_fraction=0,
                             early_stopping_patience=0, **{name: 0.3})
        model = torch.nn.Linear(10, 1)
        train(model, mse, (x, y), config)
        weights[name] = model.weight.detach().numpy().ravel()
    assert np.abs(weights["l1"][2:]).max() < 1e-3  # the eight irrelevant inputs are dropped
    assert weights["l1"][0] > 2.5 and weights["l1"][1] < -1.5  # the two relevant ones stay
    assert np.abs(weights["l2"][2:]).mean() > 0.03  # ridge keeps small non-zero weights
    assert np.abs(weights["l2"][2:]).min() > 10 * np.abs(weights["l1"][2:]).max()


def test_step_schedule_decays_after_every_t_epochs():
    x, y = sin_data(64)
    config = TrainConfig(optimizer="sgd", learning_rate=0.01, schedule="step", step_epochs=3, step_factor=0.1,
                         epochs=7, early_stopping_patience=0)
    result = train(mlp(), mse, (x, y), config)
    assert result.history.learning_rate == pytest.approx([1e-2] * 3 + [1e-3] * 3 + [1e-4], rel=1e-12)


def test_plateau_halves_the_step_when_the_objective_stops_improving():
    x, y = sin_data(64)

    def flat(model, xb, yb):  # the objective never improves after the first epoch
        return (model(xb) * 0.0).mean() + 1.0

    config = TrainConfig(optimizer="sgd", learning_rate=1.0, schedule="plateau", plateau_patience=2, epochs=8,
                         early_stopping_patience=0)
    result = train(mlp(), flat, (x, y), config)
    assert result.history.learning_rate == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_plateau_keeps_the_step_while_improving():
    x, y = sin_data()
    config = TrainConfig(optimizer="adam", learning_rate=0.05, schedule="plateau", plateau_patience=2, epochs=40,
                         batch_size=32, early_stopping_patience=0)
    h = train(mlp(), mse, (x, y), config).history
    best, since, lr = math.inf, 0, 0.05  # the documented rule, replayed on the recorded losses
    for epoch, value in enumerate(h.val_loss):
        assert h.learning_rate[epoch] == pytest.approx(lr)
        if value < best:
            best, since = value, 0
        else:
            since += 1
            if since >= 2:
                lr, since = lr / 2, 0
    assert h.learning_rate[0] == 0.05 and min(h.learning_rate) < 0.05  # it did cut, and only when the rule says


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (40, 1)).astype(np.float32)
    y = rng.normal(size=(40, 1)).astype(np.float32)  # pure noise: the network can only overfit
    config = TrainConfig(optimizer="adam", learning_rate=0.02, epochs=400, batch_size=8,
                         early_stopping_patience=8)
    model = mlp(64)
    result = train(model, mse, (x, y), config)
    h = result.history
    assert result.stop_reason == "early_stopping"
    assert result.epochs_run == result.best_epoch + 8 < 400
    assert result.best_epoch == int(np.argmin(h.val_loss)) + 1 == h.best_epoch
    assert h.val_loss[-1] > result.best_value
    assert state_equal(model, result.best_state)
    assert val_loss_now(model, x, y, config) == pytest.approx(h.val_loss[result.best_epoch - 1], rel=1e-6)


def test_huge_learning_rate_diverges_and_keeps_a_finite_model():
    x, y = sin_data()
    model = mlp()
    result = train(model, mse, (x, y), TrainConfig(optimizer="sgd", learning_rate=1e3, epochs=20))
    assert result.stop_reason == "diverged"
    assert "learning rate" in result.message and "too large" in result.message
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert state_equal(model, result.best_state)


def test_nan_loss_stops_and_keeps_the_last_good_epoch():
    x, y = sin_data(100)
    calls = {"n": 0}

    def poisoned(model, xb, yb):
        calls["n"] += 1
        loss = mse(model, xb, yb)
        return loss * float("nan") if model.training and calls["n"] > 2 * 3 + 1 else loss  # 3 batches/epoch

    config = TrainConfig(optimizer="adam", learning_rate=0.01, epochs=10, batch_size=32)
    model = mlp()
    result = train(model, poisoned, (x, y), config)
    assert result.stop_reason == "diverged" and "NaN" in result.message
    assert result.epochs_run == 2 and 1 <= result.best_epoch <= 2
    assert state_equal(model, result.best_state)
    assert val_loss_now(model, x, y, config) == pytest.approx(result.history.val_loss[result.best_epoch - 1], rel=1e-6)


def test_cancel_stops_within_one_batch_with_the_initial_weights():
    x, y = sin_data(200)  # 160 training samples: 5 batches of 32 per epoch
    calls, polls = {"n": 0}, {"n": 0}

    def counting(model, xb, yb):
        if model.training:
            calls["n"] += 1
        return mse(model, xb, yb)

    def stop_on_fourth_poll():
        polls["n"] += 1
        return polls["n"] >= 4

    config = TrainConfig(epochs=50, batch_size=32, seed=7)
    model = mlp()
    result = train(model, counting, (x, y), config, should_stop=stop_on_fourth_poll)
    assert result.stop_reason == "cancelled" and calls["n"] == 3  # polled before every batch
    assert result.best_epoch == 0 and result.epochs_run == 0
    twin = mlp()
    initialize(twin, "xavier", seed=7)
    assert state_equal(model, {k: v for k, v in twin.state_dict().items()})  # not the half-updated weights


def test_cancel_mid_training_returns_the_best_epoch_so_far():
    x, y = sin_data(200)
    polls = {"n": 0}

    def stop_in_epoch_four():
        polls["n"] += 1
        return polls["n"] > 3 * 5 + 2

    config = TrainConfig(epochs=50, batch_size=32, learning_rate=0.01)
    model = mlp()
    result = train(model, mse, (x, y), config, should_stop=stop_in_epoch_four)
    assert result.stop_reason == "cancelled" and result.epochs_run == 3
    assert 1 <= result.best_epoch <= 3 and state_equal(model, result.best_state)
    assert val_loss_now(model, x, y, config) == pytest.approx(result.history.val_loss[result.best_epoch - 1], rel=1e-6)


def test_a_fixed_seed_repeats_bit_for_bit():
    x, y = sin_data(120)
    config = TrainConfig(optimizer="sgd", learning_rate=0.05, epochs=6, batch_size=16, seed=11)
    runs = []
    for global_seed in (1, 999):  # the caller's RNG state must not matter
        torch.manual_seed(global_seed)
        model = mlp(dropout=0.2)  # dropout draws from torch's RNG during training
        result = train(model, mse, (x, y), config)
        runs.append((model.state_dict(), result.history))
    (a, ha), (b, hb) = runs
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert ha.train_loss == hb.train_loss and ha.val_loss == hb.val_loss
    other = mlp(dropout=0.2)
    train(other, mse, (x, y), TrainConfig(optimizer="sgd", learning_rate=0.05, epochs=6, batch_size=16, seed=12))
    assert not torch.equal(other.state_dict()["0.weight"], a["0.weight"])


def test_training_leaves_the_callers_random_state_alone():
    x, y = sin_data(64)
    model = mlp(dropout=0.5)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    train(model, mse, (x, y), TrainConfig(epochs=2))
    assert torch.equal(torch.rand(3), expected)


def test_progress_reports_every_epoch_with_time_left():
    x, y = sin_data(64)
    seen: list[TrainProgress] = []
    result = train(mlp(), mse, (x, y), TrainConfig(epochs=5, early_stopping_patience=0), progress=seen.append,
                   metric_fn=lambda m, a, b: float(torch.sqrt(mse(m, a, b))))
    assert [p.epoch for p in seen] == [1, 2, 3, 4, 5] and all(p.epochs == 5 for p in seen)
    assert [p.train_loss for p in seen] == result.history.train_loss
    assert all(p.val_metric == pytest.approx(math.sqrt(p.val_loss), rel=1e-5) for p in seen)
    assert seen[-1].seconds_left == 0 and all(p.seconds_left >= 0 for p in seen)
    assert seen[-1].seconds_elapsed >= seen[0].seconds_elapsed
    assert "epoch 5/5" in seen[-1].line() and "left" in seen[-1].line()


def test_initializations():
    layer = torch.nn.Linear(100, 50)
    initialize(layer, "xavier", seed=0)
    r = math.sqrt(6 / 150)
    w = layer.weight.detach()
    assert w.abs().max() <= r and float(w.std()) == pytest.approx(r / math.sqrt(3), rel=0.05)
    assert torch.count_nonzero(layer.bias) == 0
    conv = torch.nn.Conv2d(3, 16, 3)
    initialize(conv, "xavier", seed=0)
    r_conv = math.sqrt(6 / (3 * 9 + 16 * 9))
    cw = conv.weight.detach()
    assert cw.abs().max() <= r_conv and cw.abs().max() > 0.9 * r_conv
    initialize(layer, "small_random", seed=0, scale=0.01)
    assert float(layer.weight.detach().std()) == pytest.approx(0.01, rel=0.05)


def test_split_is_seeded_and_disjoint():
    train_idx, val_idx = split_indices(50, 0.2, seed=4)
    assert len(val_idx) == 10 and len(train_idx) == 40
    assert sorted(np.concatenate([train_idx, val_idx])) == list(range(50))
    assert np.array_equal(split_indices(50, 0.2, seed=4)[1], val_idx)
    assert minimum_samples(0.2) == 5 and minimum_samples(0.5) == 2 and minimum_samples(0.0) == 1


@pytest.mark.parametrize("arrays, config, words", [
    ((np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32)), TrainConfig(), ["empty"]),
    ("nan_inputs", TrainConfig(), ["inputs", "NaN", "rows (samples) 3", "columns 1"]),
    ("inf_targets", TrainConfig(), ["targets", "infinite", "rows (samples) 5, 9"]),
    ((np.zeros((3, 1), np.float32), np.zeros((3, 1), np.float32)), TrainConfig(),
     ["at least 5 samples", "has 3", "validation fraction to 0"]),
    ((np.zeros((4, 1), np.float32), np.zeros((5, 1), np.float32)), TrainConfig(), ["inputs has 4", "targets has 5"]),
    ("ok", TrainConfig(learning_rate=0.0), ["learning rate", "positive"]),
    ("ok", TrainConfig(learning_rate=-1.0), ["learning rate"]),
    ("ok", TrainConfig(learning_rate=float("nan")), ["learning rate"]),
    ("ok", TrainConfig(optimizer="rmsprop"), ["optimizer", "sgd, adam"]),
    ("ok", TrainConfig(validation_fraction=1.0), ["validation_fraction"]),
])
def test_bad_input_is_refused_with_a_clear_message(arrays, config, words):
    x = np.zeros((10, 2), np.float32)
    y = np.zeros((10, 1), np.float32)
    if arrays == "nan_inputs":
        x[3, 1] = np.nan
        arrays = (x, y)
    elif arrays == "inf_targets":
        y[5, 0] = np.inf
        y[9, 0] = -np.inf
        arrays = (x, y)
    elif arrays == "ok":
        arrays = (x, y)
    model = torch.nn.Linear(arrays[0].shape[1], 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as error:
        train(model, mse, arrays, config)
    for word in words:
        assert word in str(error.value)
    assert state_equal(model, before)  # nothing happened to the model


def test_deferred_loss_checks_take_the_same_path_and_still_catch_divergence():
    """Accelerators read the loss every few batches; the optimisation must not change, and a
    divergence is still caught (within those few batches)."""
    x, y = sin_data(160)
    states, losses = [], []
    for every in (1, 4):
        model = mlp()
        config = TrainConfig(optimizer="sgd", learning_rate=0.05, epochs=4, batch_size=16,
                             divergence_check_every=every)
        result = train(model, mse, (x, y), config)
        states.append(model.state_dict())
        losses.append(result.history.train_loss)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert losses[0] == pytest.approx(losses[1], rel=1e-9)
    model = mlp()
    result = train(model, mse, (x, y), TrainConfig(optimizer="sgd", learning_rate=1e3, epochs=5, batch_size=16,
                                                   divergence_check_every=4))
    assert result.stop_reason == "diverged" and all(torch.isfinite(p).all() for p in model.parameters())


def test_integer_class_labels_from_a_dict_of_arrays():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 2)).astype(np.float32)
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)  # XOR-like quadrants
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))

    def cross_entropy(m, a, b):
        return torch.nn.functional.cross_entropy(m(a), b)

    def accuracy(m, a, b):
        return float((m(a).argmax(dim=1) == b).float().mean())

    result = train(model, cross_entropy, {"points": points, "labels": labels},
                   TrainConfig(learning_rate=0.02, epochs=80, batch_size=32, early_stopping_patience=0),
                   metric_fn=accuracy)
    assert max(result.history.val_metric) > 0.9
