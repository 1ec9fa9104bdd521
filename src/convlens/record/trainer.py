"""The built-in trainer behind ``convlens train``, built on :class:`Recorder`.

Validation split: by default the last 2,000 images of the MNIST test set (10,000
images, format ``mnist``), otherwise the last 20% of the rows (at least one).
``val_split`` overrides it: a fraction in (0, 1), a count >= 1, or 0 for none.
The normalisation is fitted on the training rows only.

The learning rate follows a cosine from ``lr`` down to 0 over all steps
(``schedule="cosine"``, computed from the step, so resuming needs no scheduler
state), or stays at ``lr`` (``"constant"``). With Adam, lr 2e-3, batch 64, lenet
reaches about 98% on the last 2,000 MNIST test images after 2 epochs.

Each epoch visits the training rows in an order drawn from ``seed`` and the epoch
number, so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import check_fits, detect_format, load_dataset
from ..data.normalize import Normalization
from ..errors import (
    DataError,
    ModelError,
    RunError,
    TrainingError,
)
from ..model.device import resolve_device
from ..model.factory import build_model
from ..model.output import describe_output, trial_forward
from ..model.spec import parse_spec
from ..rundir import Run
from ..rundir.manifest import MANIFEST
from .config import TrainConfig
from .objectives import Classify, Contrastive, Objective
from .options import Cadence, RunInfo
from .reader import open_log
from .recorder import Recorder
from .schedule import log_schedule
from .trainstate import TrainState, load_train_state, save_train_state

MNIST_TEST_SIZE = 10_000
MNIST_VAL = 2_000
DEFAULT_VAL_FRACTION = 0.2


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did: the run, steps and epochs done, seconds, last metrics."""

    run: Run
    steps: int
    epochs: int
    seconds: float
    metrics: dict[str, float]
    train_size: int
    val_size: int


def val_rows(fmt: str, n: int, val_split: float | None) -> tuple[int, int] | None:
    """The validation rows ``(start, stop)`` (the last rows), or None.

    >>> val_rows("mnist", 10000, None), val_rows("digits", 1797, None), val_rows("npz", 50, 10)
    ((8000, 10000), (1438, 1797), (40, 50))
    """
    if val_split is None:
        count = MNIST_VAL if fmt == "mnist" and n == MNIST_TEST_SIZE else max(1, round(n * 0.2))
    elif (
        not math.isfinite(val_split)
        or val_split < 0
        or (val_split >= 1 and val_split != int(val_split))
    ):
        raise DataError(
            f"--val-split {val_split!r} is not valid: expected a fraction in [0, 1) or a whole "
            "number of images; write 0.2 or 2000"
        )
    elif val_split < 1:
        count = round(n * val_split)
    else:
        count = int(val_split)
    if count == 0:
        return None
    if count >= n:
        raise DataError(
            f"--val-split {val_split!r} leaves no training images out of {n}: expected fewer "
            "validation images than the dataset holds; lower it"
        )
    return (n - count, n)


def resume_config(out: str | Path, **given: Any) -> TrainConfig:
    """The config of the run in ``out``, with ``epochs`` (and any option equal to the
    stored one) taken from ``given``; a different model or data is an error."""
    _check_resumable(Path(out))
    run = Run(out)
    stored = dict(run.manifest.training)
    known = TrainConfig.__dataclass_fields__
    if not {"model", "data"} <= stored.keys():
        raise RunError(
            f"run {str(out)!r} was not made by `convlens train` (its run.json has no training "
            "options); start a new run with another --out"
        )
    cfg = TrainConfig(**{k: v for k, v in stored.items() if k in known})
    spec, options, _ = run.check_code()  # the code it names must be trusted before it runs
    if parse_spec(cfg.model).canonical() != spec.canonical() or cfg.model_options != options:
        raise RunError(
            f"run {str(out)!r}: its training options name model {cfg.model!r} "
            f"{cfg.model_options!r} but its model is {spec.text!r} {options!r}; the run.json "
            "was edited by hand: train a new run with another --out"
        )
    cfg.model = run.manifest.model["spec"]
    for key, value in given.items():
        if value is None:
            continue
        if key == "epochs":
            cfg.epochs = int(value)
        elif key == "device":  # where it runs is not part of what is trained
            cfg.device = str(value)
        elif getattr(cfg, key) != value and not (key == "data" and _same_path(value, cfg.data)):
            raise RunError(
                f"--resume: run {str(out)!r} was trained with {key} {getattr(cfg, key)!r}, "
                f"not {value!r}; drop that option, or train a new run with another --out"
            )
    return cfg


def _check_resumable(out: Path) -> None:
    if not (out / MANIFEST).exists():
        raise RunError(
            f"--resume: {str(out)!r} holds no run to resume (no {MANIFEST}); drop --resume to "
            "start a new run there"
        )


def _same_path(a: str, b: str) -> bool:
    return a == b or (Path(a).exists() and Path(a).resolve() == Path(b).resolve())


def _check_finite(loss: torch.Tensor, step: int, epoch: int, cfg: TrainConfig, run: Run) -> None:
    if not bool(torch.isfinite(loss)):
        n = len(run.checkpoints)
        raise TrainingError(
            f"loss became {loss.item()} at step {step} (epoch {epoch}) with --lr {cfg.lr:g}: "
            f"expected a finite loss; training stopped, the {n} checkpoint(s) written so far "
            f"are kept in {str(run.path)!r}; try a lower --lr such as {cfg.lr / 10:g}"
        )


def _optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    raise TrainingError(f"optimizer {cfg.optimizer!r} is unknown: expected 'adam' or 'sgd'")


def lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """The learning rate of optimizer step ``step + 1`` of ``total``.

    >>> lr_at(TrainConfig("lenet", "digits", lr=1.0), 50, 100)
    0.5
    """
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    raise TrainingError(
        f"learning-rate schedule {cfg.schedule!r} is unknown: expected 'cosine' or 'constant'"
    )


def _prepare(
    cfg: TrainConfig,
) -> tuple[nn.Module, tuple[int, ...], str, Any, tuple[int, int] | None, Normalization]:
    """Model, input shape, task, dataset (run-normalised), val rows, normalisation.

    Everything that can fail on bad input fails here, before anything is written.
    The model is built on the CPU (the same initial weights for a seed on every
    device) and then moved to ``cfg.device``.
    """
    device = resolve_device(cfg.device)
    model = build_model(cfg.model, **cfg.model_options).to(device)
    fmt = detect_format(cfg.data)
    if ":" not in cfg.model:
        from .. import zoo

        entry = zoo.entry(cfg.model)
        shape, task = tuple(entry.input_shape), entry.task
        ds = check_fits(load_dataset(cfg.data, size=shape[1:], channels=shape[0]), shape)
    else:
        ds = load_dataset(cfg.data)
        shape, task = tuple(ds.shape), "classify"
    val = val_rows(fmt, len(ds), cfg.val_split)
    norm = ds.fit_normalization(np.arange(val[0]) if val else None)
    ds = ds.with_normalization(norm)
    _check_output(model, ds, cfg, task, device)
    return model, shape, task, ds, val, norm


def _check_output(model: nn.Module, ds: Any, cfg: TrainConfig, task: str, device: Any) -> None:
    """Two images through the model (eval mode, no gradients, no random numbers drawn):
    its output must be one row of scores per image, as many as the data has classes."""
    x = ds.preprocess(ds.images[:2]).to(device)
    out = trial_forward(
        model,
        x,
        lambda cause: (
            f"model {cfg.model!r} cannot run on the images of data {cfg.data!r}, of "
            f"shape {tuple(x.shape[1:])} ({cause}); use data the model takes, or a model built "
            "for this data"
        ),
    )
    if not torch.is_tensor(out) or out.ndim != 2:
        raise ModelError(
            f"model {cfg.model!r} returns {describe_output(out)}, expected a tensor (N, K): one "
            "row of scores per image; end the model with a Flatten and a Linear layer"
        )
    if task == "classify" and out.shape[1] < len(ds.classes):
        raise DataError(
            f"data {cfg.data!r} has {len(ds.classes)} classes but model {cfg.model!r} gives "
            f"{out.shape[1]} scores per image; give the model one output per class (a model "
            "option such as num_classes) or use data with fewer classes"
        )


def train(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data`` into the run directory ``out``.

    ``resume`` continues a run from its last complete epoch (after a crash or a
    ``kill -9``), dropping log rows and checkpoints written after it.
    ``progress``: a tqdm bar on stderr (None: only when stderr is a terminal).

    >>> # r = train(TrainConfig("lenet", "digits", epochs=1), "runs/lenet"); r.metrics
    """
    started = time.perf_counter()
    out = Path(out)
    cfg.check()
    cfg.model = parse_spec(cfg.model).canonical()
    if resume:
        _check_resumable(out)
    torch.manual_seed(cfg.seed)
    model, shape, task, ds, val, norm = _prepare(cfg)
    train_rows = np.arange(val[0]) if val else np.arange(len(ds))
    train_ds = ds.subset(train_rows)
    val_ds = ds.subset(np.arange(*val)) if val else None
    objective: Objective = (
        Contrastive(train_ds, cfg.margin, cfg.seed) if task == "embed" else Classify()
    )
    steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    optimizer = _optimizer(cfg, model)
    done = TrainState(0, 0)
    if resume:  # read (and check) the saved state before anything in the run is rewritten
        done = load_train_state(out, model, optimizer) or done
    rec = Recorder(
        model,
        out,
        input_shape=shape,
        data=cfg.data,
        normalization=norm,
        info=RunInfo(
            classes=ds.classes,
            val=val,
            model_spec=cfg.model,
            model_options=cfg.model_options,
            task=task,
            training=asdict(cfg),
        ),
        cadence=Cadence(hist_every=cfg.hist_every, snapshots=log_schedule(total)),
        overwrite=overwrite,
        resume=resume,
    )
    if resume:
        rec.run.manifest.training = asdict(cfg)
        rec.run.manifest.write(out)
    if resume:
        rec.rewind(done.step)
    step = done.step
    from tqdm import tqdm

    bar = tqdm(total=total, initial=step, unit="step", file=sys.stderr,
               disable=(not sys.stderr.isatty()) if progress is None else not progress,
               desc=f"{cfg.model} on {Path(cfg.data).name}")  # fmt: skip
    try:
        for epoch in range(done.epoch + 1, cfg.epochs + 1):
            model.train()
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            order = torch.randperm(len(train_ds), generator=gen).numpy()
            for batch in train_ds.batches(cfg.batch_size, order):
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(cfg, step, total)
                step += 1
                loss, extra = objective.loss(model, batch, gen)
                _check_finite(loss, step, epoch, cfg, rec.run)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                rec.step(step, {"train/loss": loss, **extra})
                bar.update(1)
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{loss.item():.4f}", epoch=epoch)
            model.eval()
            evaluated = objective.evaluate(model, val_ds) if val_ds is not None else {}
            for tag, value in {**evaluated, "epoch": epoch}.items():
                rec.scalar(tag, value, step)
            # The log first: a state saved for this epoch must never point past rows that a
            # kill could still lose, or --resume would leave a gap in the curves.
            rec.flush()
            save_train_state(out, model, optimizer, TrainState(epoch, step))
    except BaseException as exc:
        bar.close()
        rec.close("stopped" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    bar.close()
    rec.close("finished")
    model.eval()
    with open_log(out) as log:
        last = {tag: log.last(tag) for tag in ("train/loss", "train/acc", "val/loss", "val/acc")}
    return TrainResult(
        run=Run(out),
        steps=step,
        epochs=cfg.epochs,
        seconds=time.perf_counter() - started,
        metrics={tag: v[1] for tag, v in last.items() if v is not None},
        train_size=len(train_ds),
        val_size=len(val_ds) if val_ds is not None else 0,
    )
