"""One trainer for every gradient-trained model in Design Space.

`train(model, loss_fn, dataset_arrays, config)` runs mini-batch gradient descent (SGD with
momentum or Adam) with the step-size schedules of the lecture (fixed; decay after T epochs; halve
when the objective stops improving), explicit L1/L2 penalties on the weights, Glorot or
small-random initialization, a seeded validation split with early stopping, prompt cancellation,
divergence detection, and DistributedDataParallel when launched by `torchrun`.

This module imports torch only inside `train` (and the helpers it calls), so the configuration,
progress and result types, the split and the input checks work where torch is missing.

Conventions
-----------
* `dataset_arrays` is a sequence of arrays (numpy or torch) or a dict of them, all with the same
  first dimension (samples). Floating arrays are trained as float32; integer arrays (class
  labels) are kept as int64.
* `loss_fn(model, *batch)` returns the scalar data loss of one batch, **a mean over the batch's
  samples** (this is what makes a mini-batch of B samples on each of W processes the same step as
  one batch of W·B samples). In training `model` is what the trainer runs (the DDP wrapper under
  torchrun); in evaluation it is the plain module.
* The objective is `data loss + l1·Σ|w| + l2·Σw²` over the *weights* (parameters with two or
  more dimensions: linear and convolution kernels; biases and 1-D normalisation parameters are
  not penalised). The penalty is added to the loss explicitly, so one SGD step is exactly
  `w ← w − η(∇L + l1·sign(w) + 2·l2·w)`.
* With `config.batch_size` B (0 = full batch) the *global* batch is B samples per step whatever
  the number of processes; under torchrun each of W ranks takes ⌈B/W⌉ of them, the shards of
  one seeded permutation (`DistributedSampler` semantics), and DDP averages the gradients.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("fixed", "step", "plateau")
INITS = ("xavier", "small_random", "keep")
DEVICES = ("cpu", "cuda", "mps")
STOP_REASONS = ("finished", "early_stopping", "cancelled", "diverged")


# --------------------------------------------------------------------------------------------
# Configuration, progress and results (no torch needed)
# --------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    optimizer: str = "adam"  # 'sgd' (with momentum) | 'adam'
    learning_rate: float = 1e-3  # η
    momentum: float = 0.9  # μ for SGD: Δw = μΔw_prev + η∇L
    schedule: str = "fixed"  # 'fixed' | 'step' | 'plateau'
    step_epochs: int = 30  # 'step': multiply η by step_factor after every T epochs
    step_factor: float = 0.1
    plateau_patience: int = 5  # 'plateau': epochs without improvement before η is cut
    plateau_factor: float = 0.5  # 'plateau': "cut the step by half"
    min_learning_rate: float = 0.0  # η never drops below this
    l1: float = 0.0  # λ₁ Σ|w| over the weights
    l2: float = 0.0  # λ₂ Σw² over the weights
    init: str = "xavier"  # 'xavier' (Glorot uniform) | 'small_random' | 'keep' (the module's own)
    init_scale: float = 0.01  # standard deviation of 'small_random'
    batch_size: int = 32  # global samples per step; 0 = full batch
    epochs: int = 100
    validation_fraction: float = 0.2  # share of samples held out; 0 = no validation split
    early_stopping_patience: int = 10  # stop after this many epochs without improvement; 0 = off
    min_improvement: float = 0.0  # relative: an epoch improves when value < best·(1 − this)
    restore_best: bool = True  # load the best epoch's weights at the end (early stopping)
    seed: int = 0
    device: str = "cpu"  # 'cpu' | 'cuda' | 'mps'
    divergence_factor: float = 1e4  # a loss above this × the first loss counts as diverged
    divergence_check_every: int = 0  # batches between loss checks; 0 = every batch on CPU, 16 elsewhere
    distributed: str = "auto"  # 'auto': use torch.distributed when WORLD_SIZE > 1; 'off'

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the bad setting and what to use instead."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown step-size schedule {self.schedule!r}; use one of {', '.join(SCHEDULES)}")
        if self.init not in INITS:
            raise ValueError(f"Unknown initialization {self.init!r}; use one of {', '.join(INITS)}")
        if self.device not in DEVICES:
            raise ValueError(f"Unknown device {self.device!r}; use one of {', '.join(DEVICES)}")
        if self.distributed not in ("auto", "off"):
            raise ValueError(f"distributed must be 'auto' or 'off', not {self.distributed!r}")
        if not _finite_number(self.learning_rate) or self.learning_rate <= 0:
            raise ValueError(f"The learning rate must be a positive number, not {self.learning_rate!r}; "
                             "try 0.001 for Adam or 0.01 for SGD")
        if not _finite_number(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"Momentum must be in [0, 1), not {self.momentum!r}; 0.9 is usual")
        for name in ("l1", "l2", "init_scale", "min_learning_rate", "min_improvement"):
            value = getattr(self, name)
            if not _finite_number(value) or value < 0:
                raise ValueError(f"{name} must be a number ≥ 0, not {value!r}")
        if not 0 < self.step_factor <= 1 or not 0 < self.plateau_factor <= 1:
            raise ValueError("step_factor and plateau_factor must be in (0, 1]; 0.1 and 0.5 are usual")
        for name in ("step_epochs", "plateau_patience", "epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        for name in ("batch_size", "early_stopping_patience", "divergence_check_every"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be ≥ 0, not {getattr(self, name)!r}")
        if not _finite_number(self.validation_fraction) or not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), not {self.validation_fraction!r}; "
                             "0.2 holds out a fifth of the samples")
        if not _finite_number(self.divergence_factor) or self.divergence_factor <= 1:
            raise ValueError(f"divergence_factor must be > 1, not {self.divergence_factor!r}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(values).items() if k in known})


@dataclass
class TrainProgress:
    """What the progress callback receives after every epoch (epoch counts from 1)."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    val_metric: float | None
    learning_rate: float
    seconds_elapsed: float
    seconds_left: float  # estimate at the current pace; early stopping may end sooner

    @property
    def fraction(self) -> float:
        return self.epoch / self.epochs if self.epochs else 1.0

    def line(self) -> str:
        parts = [f"epoch {self.epoch}/{self.epochs}", f"loss {self.train_loss:.6g}"]
        if self.val_loss is not None:
            parts.append(f"val {self.val_loss:.6g}")
        if self.val_metric is not None:
            parts.append(f"metric {self.val_metric:.6g}")
        parts += [f"lr {self.learning_rate:.3g}", f"{self.seconds_elapsed:.1f} s", f"{self.seconds_left:.1f} s left"]
        return "  ".join(parts)


@dataclass
class TrainHistory:
    """Per-epoch records; `best_epoch` counts from 1 (0: the initial parameters were best)."""

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)  # mean data loss over the epoch's batches
    val_loss: list = field(default_factory=list)  # None entries when there is no validation split
    val_metric: list = field(default_factory=list)  # None when no metric_fn
    learning_rate: list = field(default_factory=list)  # η used during the epoch
    seconds: list = field(default_factory=list)  # seconds since training started, at epoch end
    best_epoch: int = 0

    def __len__(self) -> int:
        return len(self.epoch)

    ARRAY_FIELDS = ("epoch", "train_loss", "val_loss", "val_metric", "learning_rate", "seconds")

    def to_arrays(self, prefix: str = "history.") -> dict:
        """float64 arrays (None → NaN) for a model file, plus the best epoch."""
        out = {}
        for name in self.ARRAY_FIELDS:
            values = [np.nan if v is None else float(v) for v in getattr(self, name)]
            out[prefix + name] = np.asarray(values, dtype=np.float64)
        out[prefix + "best_epoch"] = np.asarray([self.best_epoch], dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str = "history.") -> "TrainHistory | None":
        if prefix + "epoch" not in arrays:
            return None
        history = cls()
        for name in cls.ARRAY_FIELDS:
            values = np.asarray(arrays[prefix + name], dtype=np.float64).tolist()
            if name == "epoch":
                values = [int(v) for v in values]
            elif name in ("val_loss", "val_metric"):
                values = [None if math.isnan(v) else v for v in values]
            setattr(history, name, values)
        history.best_epoch = int(np.asarray(arrays.get(prefix + "best_epoch", [0])).ravel()[0])
        return history

    def to_dict(self) -> dict:
        return {name: list(getattr(self, name)) for name in self.ARRAY_FIELDS} | {"best_epoch": self.best_epoch}


@dataclass
class TrainResult:
    history: TrainHistory
    best_state: dict  # parameter and buffer name → CPU tensor of the best epoch (now loaded in the model)
    best_epoch: int  # from 1; 0 = the initial parameters
    best_value: float  # the monitored value at the best epoch (inf if no epoch finished)
    monitored: str  # 'val_loss' or 'train_objective' (no validation split)
    stop_reason: str  # one of STOP_REASONS
    message: str  # one line for people
    epochs_run: int
    seconds: float
    n_train: int
    n_val: int
    device: str
    world_size: int = 1
    rank: int = 0
    config: TrainConfig | None = None

    @property
    def ok(self) -> bool:
        return self.stop_reason in ("finished", "early_stopping")


# --------------------------------------------------------------------------------------------
# Input checks and the split (no torch needed)
# --------------------------------------------------------------------------------------------


def _finite_number(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _short_list(values, limit: int = 8) -> str:
    values = [str(v) for v in values]
    text = ", ".join(values[:limit])
    return text + (f", … ({len(values)} in all)" if len(values) > limit else "")


def nonfinite_message(array, what: str = "inputs", column_names=None, row_names=None) -> str | None:
    """None if every value of a floating array is finite, else a sentence that names the columns
    (by name when given) and rows holding NaN or infinite values."""
    a = np.asarray(array)
    if a.dtype.kind not in "fc" or a.size == 0:
        return None
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    kinds = []
    if np.isnan(a).any():
        kinds.append("NaN")
    if np.isinf(a).any():
        kinds.append("infinite")
    flat = bad.reshape(len(a), -1) if a.ndim > 1 else bad.reshape(-1, 1)
    rows = np.flatnonzero(flat.any(axis=1))
    row_text = _short_list([row_names[r] for r in rows] if row_names is not None else rows.tolist())
    text = f"The {what} hold {' and '.join(kinds)} values in rows (samples) {row_text}"
    if a.ndim > 1:
        columns = np.flatnonzero(flat.any(axis=0))
        names = [column_names[c] for c in columns] if column_names is not None and len(column_names) == flat.shape[1] \
            else columns.tolist()
        text += f", columns {_short_list(names)}"
    return text + "; fix or drop those samples (or the attribute) before training"


def minimum_samples(validation_fraction: float) -> int:
    """The fewest samples for which a validation split keeps ≥ 1 sample on both sides."""
    f = float(validation_fraction)
    if f <= 0:
        return 1
    return max(2, math.ceil(1.0 / min(f, 1.0 - f) - 1e-9))


def split_indices(n: int, validation_fraction: float, seed: int = 0):
    """(train, validation) index arrays of a seeded shuffle: the same on every process and run."""
    if n <= 0:
        raise ValueError("The dataset is empty: there are no samples to train on; add shapes to the "
                         "training collection or export a dataset with samples")
    f = float(validation_fraction)
    if f <= 0:
        return np.arange(n), np.arange(0)
    needed = minimum_samples(f)
    if n < needed:
        raise ValueError(f"Too few samples for a validation split of {f:.0%}: it needs at least {needed} samples "
                         f"and the dataset has {n}; add samples or set the validation fraction to 0")
    n_val = min(n - 1, max(1, int(round(n * f))))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _named_arrays(dataset_arrays):
    if isinstance(dataset_arrays, dict):
        items = list(dataset_arrays.items())
    elif isinstance(dataset_arrays, (list, tuple)):
        default = ["inputs", "targets"] if len(dataset_arrays) <= 2 else []
        items = [(default[i] if i < len(default) else f"array {i}", a) for i, a in enumerate(dataset_arrays)]
    else:
        items = [("inputs", dataset_arrays)]
    if not items:
        raise ValueError("No dataset arrays given; pass (inputs, targets)")
    return items


def check_dataset_arrays(dataset_arrays) -> int:
    """The number of samples, after checking the arrays agree and hold only finite numbers."""
    items = _named_arrays(dataset_arrays)
    lengths = []
    for name, a in items:
        if getattr(a, "ndim", 1) == 0 or not hasattr(a, "__len__"):
            raise ValueError(f"The {name} must be an array with one row per sample, not a scalar")
        lengths.append(len(a))
    if any(n == 0 for n in lengths):
        raise ValueError("The dataset is empty: there are no samples to train on; add shapes to the "
                         "training collection or export a dataset with samples")
    if len(set(lengths)) > 1:
        raise ValueError("The dataset arrays disagree on the number of samples: "
                         + ", ".join(f"{name} has {n}" for (name, _), n in zip(items, lengths)))
    for name, a in items:
        if hasattr(a, "detach"):  # a torch tensor
            a = a.detach().cpu().numpy()
        message = nonfinite_message(a, name)
        if message:
            raise ValueError(message)
    return lengths[0]


# --------------------------------------------------------------------------------------------
# Torch parts
# --------------------------------------------------------------------------------------------


def require_torch(purpose: str = "Training"):
    """torch, or an ImportError that says what needs it and what still works without it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"{purpose} needs PyTorch (torch), which cannot be imported here ({exc}); install it "
                          "with Preferences ▸ Add-ons ▸ Design Space ▸ Install PyTorch, or use a closed-form model such as ridge "
                          "regression") from exc
    return torch


def resolve_device(name: str, local_rank: int = 0):
    torch = require_torch("Choosing a device")

    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("CUDA was chosen but this torch build sees no CUDA GPU "
                             f"(torch {torch.__version__}); choose CPU in the add-on preferences")
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("Apple MPS was chosen but it is not available here; choose CPU in the add-on preferences")
        return torch.device("mps")
    return torch.device("cpu")


def _fans(shape) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def initialize(model, init: str = "xavier", seed: int = 0, scale: float = 0.01) -> None:
    """Weights (≥ 2-D parameters) from Glorot uniform U[−r, r], r = √(6 / (fan_in + fan_out)), or
    small random N(0, scale²); biases to zero; other 1-D parameters keep the module's values.
    Drawn on the CPU from a generator of its own, so the same seed gives the same weights."""
    import torch

    if init == "keep":
        return
    if init not in INITS:
        raise ValueError(f"Unknown initialization {init!r}; use one of {', '.join(INITS)}")
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                values = torch.empty(p.shape, dtype=torch.float32)
                if init == "xavier":
                    fan_in, fan_out = _fans(tuple(p.shape))
                    r = math.sqrt(6.0 / (fan_in + fan_out))
                    values.uniform_(-r, r, generator=generator)
                else:
                    values.normal_(0.0, scale, generator=generator)
                p.copy_(values)
            elif name.split(".")[-1].startswith("bias"):
                p.zero_()


def weight_parameters(model) -> list:
    """The parameters the L1/L2 penalties apply to: kernels and weight matrices, not biases."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


def penalty(weights, l1: float, l2: float):
    """l1·Σ|w| + l2·Σw² over `weights` (a torch scalar)."""
    total = None
    if l1:
        total = l1 * sum(w.abs().sum() for w in weights)
    if l2:
        term = l2 * sum((w * w).sum() for w in weights)
        total = term if total is None else total + term
    return total


@dataclass
class _Distributed:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    created_group: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1


def _distributed_setup(config: TrainConfig) -> _Distributed:
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if config.distributed == "off" or world <= 1:
        return _Distributed()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    created = False
    if not dist.is_initialized():
        backend = "nccl" if config.device == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        created = True
    return _Distributed(dist.get_world_size(), dist.get_rank(), local_rank, created)


def _evaluate(model, loss_fn, tensors, chunk: int) -> float:
    import torch

    n = len(tensors[0])
    total = 0.0
    with torch.no_grad():
        for start in range(0, n, chunk):
            part = [t[start:start + chunk] for t in tensors]
            total += float(loss_fn(model, *part)) * len(part[0])
    return total / n


def _snapshot(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train(model, loss_fn, dataset_arrays, config: TrainConfig | None = None, progress=None, should_stop=None,
          metric_fn=None) -> TrainResult:
    """Train `model` in place and return the record; the model ends with the best weights.

    progress(TrainProgress) is called after every epoch (on rank 0 only); should_stop() is polled
    before every batch and ends the run at once, with the best weights so far (the initial ones
    if no epoch finished). metric_fn(model, *validation_arrays) -> float gives the validation
    metric recorded next to the validation loss (e.g. RMSE in the targets' units).
    """
    torch = require_torch("Training")
    config = (config or TrainConfig()).validate()
    items = _named_arrays(dataset_arrays)
    n = check_dataset_arrays(dataset_arrays)
    train_idx, val_idx = split_indices(n, config.validation_fraction, config.seed)

    dist_info = _distributed_setup(config)
    try:
        device = resolve_device(config.device, dist_info.local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        fork_devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(int(config.seed))  # for randomness inside the model (dropout)
            result = _train(torch, model, loss_fn, items, train_idx, val_idx, config, progress, should_stop,
                            metric_fn, device, dist_info)
        if dist_info.created_group:
            import torch.distributed as dist

            dist.barrier()  # no rank tears the group down while another still talks to it
        return result
    finally:
        if dist_info.created_group:
            import gc

            import torch.distributed as dist

            gc.collect()  # free the DDP reducer before its process group goes (else gloo may abort at exit)
            dist.destroy_process_group()


def _to_tensor(torch, array, device):
    t = array.detach() if hasattr(array, "detach") else torch.as_tensor(np.asarray(array))
    if t.is_floating_point():
        t = t.to(dtype=torch.float32)
    elif t.dtype != torch.bool:
        t = t.to(dtype=torch.int64)
    return t.to(device).contiguous()


def _train(torch, model, loss_fn, items, train_idx, val_idx, config, progress, should_stop, metric_fn, device,
           dist_info: _Distributed) -> TrainResult:
    started = time.perf_counter()
    world, rank = dist_info.world_size, dist_info.rank
    initialize(model, config.init, config.seed, config.init_scale)
    model.to(device)

    tensors = [_to_tensor(torch, a, device) for _, a in items]
    train_tensors = [t[torch.as_tensor(train_idx, device=device)] for t in tensors]
    val_tensors = [t[torch.as_tensor(val_idx, device=device)] for t in tensors] if len(val_idx) else None
    n_train, n_val = len(train_idx), len(val_idx)

    runner = model
    if dist_info.active:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no trainable parameters")
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum)
    else:
        optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    weights = weight_parameters(model)
    regularized = bool(config.l1 or config.l2)

    global_batch = config.batch_size if config.batch_size > 0 else n_train
    global_batch = min(global_batch, n_train)
    rank_batch = max(1, math.ceil(global_batch / world))
    samples_per_rank = math.ceil(n_train / world)
    eval_chunk = max(256, 4 * rank_batch)
    check_every = config.divergence_check_every or (1 if device.type == "cpu" else 16)
    order_generator = torch.Generator()
    accumulate = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64

    history = TrainHistory()
    best_state = _snapshot(model)
    best_value, best_epoch = math.inf, 0
    since_improvement = since_plateau = 0
    plateau_reference = math.inf
    learning_rate = config.learning_rate
    reference_loss = None  # the first batch's loss
    limit = math.inf  # a batch loss above this counts as diverged
    active = dist_info.active
    reference_value = None  # the monitored value after the first epoch
    stop_reason, detail = "finished", ""
    monitored = "val_loss" if val_tensors is not None else "train_objective"

    def set_lr(value):
        for group in optimizer.param_groups:
            group["lr"] = value

    def agree(flags):
        """Under DDP every rank must take the same branch: combine the flags with MAX."""
        if not dist_info.active:
            return flags
        import torch.distributed as dist

        t = torch.tensor(flags, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    epoch = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order_generator.manual_seed(int(config.seed) + epoch - 1)
        permutation = torch.randperm(n_train, generator=order_generator)
        if dist_info.active:  # DistributedSampler: pad to a multiple of the world size, take every W-th
            padding = samples_per_rank * world - n_train
            if padding:
                permutation = torch.cat([permutation, permutation.repeat(math.ceil(padding / n_train))[:padding]])
            permutation = permutation[rank::world]
        permutation = permutation.to(device)
        loss_sum = torch.zeros((), dtype=accumulate, device=device)
        loss_total = 0.0
        pending = []  # detached batch losses not yet checked for divergence
        count = 0
        batch_index = 0
        for start in range(0, len(permutation), rank_batch):
            if should_stop is not None:
                cancel = bool(should_stop())
                if active:
                    cancel = bool(agree([1.0 if cancel else 0.0])[0])
                if cancel:
                    stop_reason = "cancelled"
                    detail = f"cancelled in epoch {epoch} before batch {batch_index + 1}"
                    break
            index = permutation[start:start + rank_batch]
            size = len(index)
            batch = [t[index] for t in train_tensors]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(runner, *batch)
            batch_index += 1
            checked_now = True
            if check_every == 1:  # CPU: reading the loss costs nothing, check every batch
                worst = first = loss.item()
                loss_total += worst * size
            else:  # accelerators: keep the losses on the device and check every few batches
                batch_loss = loss.detach()
                pending.append(batch_loss)
                loss_sum += batch_loss.to(accumulate) * size
                checked_now = len(pending) >= check_every
                if checked_now:
                    checked = torch.stack(pending)
                    pending = []
                    worst = float(checked.max()) if bool(torch.isfinite(checked).all()) else math.nan
                    first = float(checked[0])
            if checked_now:
                if reference_loss is None and math.isfinite(worst):
                    reference_loss = first
                    limit = config.divergence_factor * max(abs(first), 1e-6)
                bad = not worst <= limit  # also true for NaN
                if active:
                    bad = bool(agree([1.0 if bad else 0.0])[0])
                if bad:
                    stop_reason = "diverged"
                    became = f"{worst:.3g}" if math.isfinite(worst) else "NaN or infinite"
                    start_text = f" (it started at {reference_loss:.3g})" if reference_loss is not None else ""
                    detail = f"the loss became {became} in epoch {epoch}, batch {batch_index}{start_text}"
                    break
            if regularized:
                loss = loss + penalty(weights, config.l1, config.l2)
            loss.backward()
            optimizer.step()
            count += size
        if stop_reason != "finished":
            break

        # Epoch end: the losses, the best weights, the schedule, early stopping.
        if dist_info.active:
            import torch.distributed as dist

            totals = torch.stack([loss_sum + loss_total, torch.tensor(float(count), dtype=accumulate, device=device)])
            dist.all_reduce(totals)
            train_loss = float(totals[0] / totals[1])
        else:
            train_loss = (float(loss_sum) + loss_total) / max(count, 1)
        model.eval()
        val_loss = val_metric = None
        if val_tensors is not None:
            val_loss = _evaluate(model, loss_fn, val_tensors, eval_chunk)
            if metric_fn is not None:
                with torch.no_grad():
                    val_metric = float(metric_fn(model, *val_tensors))
            value = val_loss
        else:
            value = train_loss
            if regularized:
                with torch.no_grad():
                    value += float(penalty(weights, config.l1, config.l2))
        if dist_info.active:  # every rank takes rank 0's numbers, so every decision below agrees
            import torch.distributed as dist

            shared = torch.tensor([value, train_loss, val_loss if val_loss is not None else math.nan,
                                   val_metric if val_metric is not None else math.nan],
                                  dtype=torch.float64, device=device)
            dist.broadcast(shared, src=0)
            value, train_loss = float(shared[0]), float(shared[1])
            if val_loss is not None:
                val_loss = float(shared[2])
            if val_metric is not None:
                val_metric = float(shared[3])
        elapsed = time.perf_counter() - started
        history.epoch.append(epoch)
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        history.val_metric.append(val_metric)
        history.learning_rate.append(learning_rate)
        history.seconds.append(elapsed)

        if reference_value is None:
            reference_value = value
        exploded = not math.isfinite(value) or not math.isfinite(train_loss) or (
            value > config.divergence_factor * max(abs(reference_value), 1e-6))
        if exploded:
            stop_reason = "diverged"
            detail = f"the {monitored.replace('_', ' ')} became {value:.3g} after epoch {epoch}"
            break
        threshold = best_value - config.min_improvement * abs(best_value) if math.isfinite(best_value) else math.inf
        if value < threshold:
            best_value, best_epoch = value, epoch
            best_state = _snapshot(model)
            since_improvement = 0
        else:
            since_improvement += 1
        history.best_epoch = best_epoch

        if progress is not None and rank == 0:
            per_epoch = elapsed / epoch
            progress(TrainProgress(epoch, config.epochs, train_loss, val_loss, val_metric, learning_rate, elapsed,
                                   per_epoch * (config.epochs - epoch)))

        if config.early_stopping_patience and since_improvement >= config.early_stopping_patience:
            stop_reason = "early_stopping"
            detail = (f"no improvement of the {monitored.replace('_', ' ')} for "
                      f"{config.early_stopping_patience} epochs")
            break
        # The step size for the next epoch.
        if config.schedule == "step":
            learning_rate = config.learning_rate * config.step_factor ** (epoch // config.step_epochs)
        elif config.schedule == "plateau":
            plateau_threshold = (plateau_reference - config.min_improvement * abs(plateau_reference)
                                 if math.isfinite(plateau_reference) else math.inf)
            if value < plateau_threshold:
                plateau_reference, since_plateau = value, 0
            else:
                since_plateau += 1
                if since_plateau >= config.plateau_patience:
                    learning_rate *= config.plateau_factor
                    since_plateau = 0
        learning_rate = max(learning_rate, config.min_learning_rate)
        set_lr(learning_rate)

    epochs_run = len(history)
    if stop_reason in ("cancelled", "diverged") or config.restore_best:
        model.load_state_dict(best_state)
    history.best_epoch = best_epoch
    kept = f"kept the weights of epoch {best_epoch}" if best_epoch else "kept the initial weights"
    watched = monitored.replace("_", " ")
    if stop_reason == "finished":
        message = f"Finished {epochs_run} epochs; best {watched} {best_value:.6g} at epoch {best_epoch}"
    elif stop_reason == "early_stopping":
        message = f"Stopped early after epoch {epochs_run}: {detail}; {kept} ({watched} {best_value:.6g})"
    elif stop_reason == "cancelled":
        message = f"Cancelled: {detail}; {kept}"
    else:
        message = (f"Diverged: {detail}; the learning rate {config.learning_rate:g} is too large for this problem, "
                   f"lower it (e.g. ÷10); {kept}")
    return TrainResult(history=history, best_state={k: v.detach().cpu().clone() for k, v in best_state.items()},
                       best_epoch=best_epoch, best_value=best_value, monitored=monitored, stop_reason=stop_reason,
                       message=message, epochs_run=epochs_run, seconds=time.perf_counter() - started,
                       n_train=n_train, n_val=n_val, device=str(device), world_size=world, rank=rank, config=config)
