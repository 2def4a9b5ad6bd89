"""Train outside Blender: `python -m learning train ...` and `python -m learning info MODEL.npz`.

    python -m learning train --dataset D.npz --model-kind mlp --out M.npz [--epochs 200 --lr 0.001 ...]
    python -m learning info M.npz

The same train command runs under torchrun (DistributedDataParallel, gloo on CPU, nccl on GPU):

    torchrun --nproc_per_node=2 -m learning train --dataset D.npz --model-kind mlp --out M.npz

(or any launcher that sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for each
process; with a torch built without libuv, such as Debian's, also set USE_LIBUV=0 and launch the
processes that way, since torchrun's own rendezvous needs libuv there). Only rank 0 prints
progress and writes files. Exit status 2 means bad input (the message says
which file or setting and what to do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

KIND_ALIASES = {"mlp": "mlp_regressor", "ridge": "ridge_regression",
                "mlp_regressor": "mlp_regressor", "ridge_regression": "ridge_regression"}


def _parser() -> argparse.ArgumentParser:
    from .trainer import INITS, OPTIMIZERS, SCHEDULES, TrainConfig

    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m learning", description="Design Space training outside Blender")
    commands = parser.add_subparsers(dest="command", required=True)

    t = commands.add_parser("train", help="train a model from an exported dataset file and write a model file")
    t.add_argument("--dataset", required=True, help="dataset .npz exported by Design Space")
    t.add_argument("--model-kind", required=True, choices=sorted(KIND_ALIASES), help="mlp or ridge")
    t.add_argument("--out", required=True, help="model file to write (.npz)")
    t.add_argument("--epochs", type=int, default=200)
    t.add_argument("--lr", type=float, default=defaults.learning_rate, help="learning rate (step size)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=defaults.optimizer)
    t.add_argument("--momentum", type=float, default=defaults.momentum)
    t.add_argument("--schedule", choices=SCHEDULES, default=defaults.schedule)
    t.add_argument("--step-epochs", type=int, default=defaults.step_epochs, help="'step': decay every T epochs")
    t.add_argument("--step-factor", type=float, default=defaults.step_factor)
    t.add_argument("--plateau-patience", type=int, default=defaults.plateau_patience)
    t.add_argument("--l1", type=float, default=0.0)
    t.add_argument("--l2", type=float, default=0.0)
    t.add_argument("--init", choices=INITS, default=defaults.init)
    t.add_argument("--batch-size", type=int, default=defaults.batch_size, help="global batch; 0 = full batch")
    t.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction)
    t.add_argument("--patience", type=int, default=defaults.early_stopping_patience,
                   help="early-stopping patience in epochs; 0 = off")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", choices=("cpu", "cuda", "mps"), default="cpu")
    t.add_argument("--hidden", default="64,64", help="MLP hidden layer sizes, comma-separated")
    t.add_argument("--activation", default="relu", help="relu, tanh, sigmoid or leaky_relu")
    t.add_argument("--lam", type=float, default=1.0, help="ridge λ")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    t.add_argument("--plot", default="", help="also write the training curves to this PNG")
    t.add_argument("--log-plot", action="store_true", help="log-scale loss axis in --plot")
    t.add_argument("--quiet", action="store_true", help="no progress lines")

    i = commands.add_parser("info", help="check a model file and print its metadata")
    i.add_argument("model")
    i.add_argument("--json", action="store_true", help="print the metadata as JSON")
    return parser


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0) if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else 0


def _train(args) -> int:
    from .datasets import load_dataset
    from .models import MLPRegressor, RidgeRegression
    from .trainer import TrainConfig

    rank = _rank()
    say = (lambda *a: print(*a, flush=True)) if rank == 0 and not args.quiet else (lambda *a: None)
    dataset = load_dataset(args.dataset, require_targets=True)
    if dataset.features.ndim != 2:
        raise ValueError(f"'{args.dataset}': the {KIND_ALIASES[args.model_kind]} model needs a table of features "
                         f"(samples × columns), not features of shape {dataset.features.shape}")
    kind = KIND_ALIASES[args.model_kind]
    names = dict(feature_names=dataset.feature_names or None, target_names=dataset.target_names or None)
    say(f"dataset {args.dataset}: {len(dataset)} samples, {dataset.features.shape[1]} features, "
        f"{dataset.targets.reshape(len(dataset), -1).shape[1]} targets")
    if kind == "ridge_regression":
        if rank != 0:
            return 0  # closed form: nothing to share between processes
        model = RidgeRegression(args.lam)
        report = model.fit(dataset.features, dataset.targets, validation_fraction=args.validation_fraction,
                           seed=args.seed, **names)
    else:
        if args.threads > 0:
            import torch

            torch.set_num_threads(args.threads)
        hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
        config = TrainConfig(optimizer=args.optimizer, learning_rate=args.lr, momentum=args.momentum,
                             schedule=args.schedule, step_epochs=args.step_epochs, step_factor=args.step_factor,
                             plateau_patience=args.plateau_patience, l1=args.l1, l2=args.l2, init=args.init,
                             batch_size=args.batch_size, epochs=args.epochs,
                             validation_fraction=args.validation_fraction, early_stopping_patience=args.patience,
                             seed=args.seed, device=args.device)
        model = MLPRegressor(hidden, args.activation, config)
        report = model.fit(dataset.features, dataset.targets, progress=lambda p: say(p.line()), **names)
        if model.result is not None and model.result.world_size > 1:
            say(f"trained with DistributedDataParallel on {model.result.world_size} processes")
    say(report.message)
    if rank != 0:
        return 0
    model.collection = dataset.collection
    written = model.save(args.out)
    metrics = ", ".join(f"{k} {v:.6g}" for k, v in report.metrics.items()
                        if isinstance(v, float) and not isinstance(v, bool))
    say(f"wrote {args.out} ({written.kind}; {metrics})")
    if args.plot and report.history is not None:
        from .training_plot import plot_curves, write_png

        write_png(args.plot, plot_curves(report.history, log_scale=args.log_plot))
        say(f"wrote {args.plot}")
    return 0 if report.ok else 1


def _info(args) -> int:
    from .model_files import read_model_info

    info = read_model_info(args.model)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print(f"{args.model}: {info['kind']} model, format version {info['format_version']}, hash ok "
          f"({info['content_hash'][:16]}…)")
    print(f"  collection: {info.get('collection') or '-'}   created: {info.get('created', '?')}")
    layout = info.get("feature_layout") or {}
    if isinstance(layout, dict):
        for key, value in layout.items():
            print(f"  {key}: {', '.join(map(str, value)) if isinstance(value, list) else value}")
    for key, value in sorted((info.get("metrics") or {}).items()):
        print(f"  {key}: {value:.6g}" if isinstance(value, float) else f"  {key}: {value}")
    for name, spec in info["arrays"].items():
        print(f"  array {name}: {spec['dtype']} {tuple(spec['shape'])}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _train(args) if args.command == "train" else _info(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
