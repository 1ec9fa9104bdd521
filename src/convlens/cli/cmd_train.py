"""``convlens train``: train a zoo model or a module:factory into a run directory."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..record.config import TrainConfig
from ._common import add_option_argument
from ._progress import add_progress_arguments, bars_wanted

_DEFAULTS = TrainConfig(model="", data="")


def _val_split(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a validation split: expected a fraction like 0.2 or a count like 2000"
        ) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model and record the run (log, checkpoints)",
        description="Train a zoo model or module:factory and record the run into --out. "
        "Validation: the last 2,000 images of the MNIST test set, otherwise the last 20%.",
    )
    p.add_argument(
        "--model",
        help="zoo name (lenet, siamese, ...) or module:factory (required unless --resume)",
    )
    p.add_argument(
        "--data",
        help="'digits' or a dataset path: MNIST, CIFAR-10, npz, folder (required unless --resume)",
    )
    p.add_argument("--epochs", type=int, help=f"epochs (default {_DEFAULTS.epochs})")
    p.add_argument("--lr", type=float, help=f"learning rate (default {_DEFAULTS.lr:g})")
    p.add_argument(
        "--batch-size", type=int, help=f"images per step (default {_DEFAULTS.batch_size})"
    )
    p.add_argument(
        "--seed", type=int, help=f"seed of the weights and batch order (default {_DEFAULTS.seed})"
    )
    p.add_argument(
        "--val-split",
        type=_val_split,
        help="validation rows at the end: a fraction (0.2), a count (2000) or 0 "
        "(default: see above)",
    )
    p.add_argument(
        "--optimizer",
        choices=("adam", "sgd"),
        help=f"optimiser (default {_DEFAULTS.optimizer}; sgd: momentum 0.9)",
    )
    p.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        help=f"learning rate: cosine decay to 0 over the run or constant "
        f"(default {_DEFAULTS.schedule})",
    )
    p.add_argument(
        "--hist-every", type=int, help=f"histograms every K steps (default {_DEFAULTS.hist_every})"
    )
    p.add_argument(
        "--device",
        help=f"where to train: cpu, cuda, cuda:N or auto (CUDA when available; default "
        f"{_DEFAULTS.device}); "
        "--resume keeps the run's device unless given",
    )
    add_option_argument(p, "relu=false")
    p.add_argument("--out", required=True, metavar="RUN", help="the run directory to write")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--resume", action="store_true", help="continue RUN from its last complete epoch"
    )
    group.add_argument("--overwrite", action="store_true", help="replace a run already in RUN")
    progress = add_progress_arguments(p)
    progress.add_argument(
        "--no-progress", dest="quiet", action="store_true", help="the same as --quiet"
    )
    p.set_defaults(func=run)


def _given(args: argparse.Namespace) -> dict[str, Any]:
    keys = (
        "model",
        "data",
        "epochs",
        "lr",
        "batch_size",
        "seed",
        "val_split",
        "optimizer",
        "schedule",
        "device",
    )
    given = {k: getattr(args, k) for k in keys}
    given["hist_every"] = args.hist_every
    given["model_options"] = dict(args.options) if args.options else None
    return given


def run(args: argparse.Namespace) -> int:
    from ..record import resume_config, train

    given = _given(args)
    if args.resume:
        cfg = resume_config(args.out, **given)
    else:
        if not args.model or not args.data:
            missing = " and ".join(f"--{k}" for k in ("model", "data") if not getattr(args, k))
            return _usage(f"{missing} required: give --model NAME|module:factory --data DATA")
        cfg = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    progress = bars_wanted(args)
    result = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite, progress=progress)
    m = result.metrics
    print(
        f"trained {cfg.model} on {cfg.data}: {result.epochs} epoch(s), {result.steps} steps, "
        f"{result.train_size} train / {result.val_size} val images, {result.seconds:.1f} s"
    )
    if "val/loss" in m:
        print(f"val: loss {m['val/loss']:.4f}  acc {m.get('val/acc', float('nan')):.4f}")
    print(f"run: {args.out} ({len(result.run.checkpoints)} checkpoints)")
    print(f"next: convlens runs show {args.out}")
    return 0


def _usage(message: str) -> int:
    sys.stderr.write(f"error: convlens train: {message}\n")
    return 2
