"""The :class:`Recorder`: add a few lines to any training loop and get a run directory."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.normalize import Normalization
from ..errors import InputShapeError, RunError
from ..rundir import Checkpoint, Run, list_checkpoints
from ..rundir.manifest import MANIFEST
from ..rundir.run import EXTERNAL
from .histograms import BINS, summarize
from .logdb import LogWriter
from .reader import LOG_NAME
from .schedule import log_schedule

_RUN_PARTS = ("checkpoints", "state", "probe")


class Recorder:
    """Records scalars, weight/gradient histograms and weight snapshots of a model.

    Four added lines in your own loop (call ``rec.step`` after ``backward()``,
    while the gradients are still there)::

        from convlens.record import Recorder                               # +1
        rec = Recorder(model, "runs/mine", input_shape=(1, 28, 28))        # +2
        for step, (x, y) in enumerate(loader, start=1):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(step, loss=loss)                                      # +3
        rec.close()                                                        # +4

    It writes ``runs/mine/run.json`` (the manifest), ``log.sqlite`` (scalars, and
    every ``hist_every`` steps and at step 1 a summary of each parameter and its
    gradient) and ``checkpoints/step-XXXXXXXX.safetensors`` at the ``snapshots``
    steps (``"log"``: 1, 2, 5, 10, 20, 50, ..., plus the last step at
    :meth:`close`; or an iterable of steps; or None).

    ``data`` is a convlens data spec (``"digits"``, a path) or None for your own
    data (the manifest then says ``"external"``); ``classes`` and
    ``normalization`` describe it. ``model_spec``/``model_options`` say how to
    rebuild the model (a zoo name or ``module:factory``); by default the model's
    class, ``module:Class``, called without arguments.
    """

    def __init__(
        self,
        model: nn.Module,
        out: str | Path,
        *,
        input_shape: tuple[int, ...] | None = None,
        data: str | None = None,
        classes: list[str] | None = None,
        normalization: Normalization | None = None,
        val: tuple[int, int] | None = None,
        model_spec: str | None = None,
        model_options: Mapping[str, Any] | None = None,
        task: str = "classify",
        training: Mapping[str, Any] | None = None,
        hist_every: int | None = 50,
        snapshots: str | Iterable[int] | None = "log",
        bins: int = BINS,
        overwrite: bool = False,
        resume: bool = False,
        flush_seconds: float = 0.5,
    ):
        self.model = model
        self.path = Path(out)
        self.hist_every = hist_every
        self.bins = bins
        self._log_snapshots = snapshots == "log"
        if snapshots is None or snapshots == "log":
            self._snapshot_steps: set[int] = set(log_schedule()) if snapshots else set()
        else:
            self._snapshot_steps = {int(s) for s in snapshots}  # type: ignore[union-attr]
        if resume:
            self.run = Run(self.path)
        else:
            spec = model_spec or _default_spec(model)
            self.run = _create_run(
                self.path,
                spec=spec,
                input_shape=_input_shape(spec, input_shape),
                data=data,
                classes=classes,
                normalization=normalization,
                val=val,
                model_options=model_options,
                task=task,
                training=training,
                overwrite=overwrite,
            )
        self.log = LogWriter(self.path / LOG_NAME, flush_seconds=flush_seconds)
        self.log.set_meta(hist_every=hist_every or 0, bins=bins)
        self.last_step: int | None = None
        self._saved: set[int] = {c.step for c in self.run.checkpoints}
        self._closed = False

    # ------------------------------------------------------------------ logging
    def step(self, step: int, scalars: Mapping[str, Any] | None = None, /, **named: Any) -> None:
        """Log this step: scalars (``rec.step(10, loss=loss)`` or a dict with tags
        like ``"train/loss"``), histograms when due, and a snapshot when due.

        Values may be Python numbers or 0-d tensors.
        """
        for tag, value in {**(scalars or {}), **named}.items():
            self.scalar(tag, value, step)
        if self.hist_every and (step == 1 or step % self.hist_every == 0):
            self.histograms(step)
        if step in self._snapshot_steps and step not in self._saved:
            self.snapshot(step)
        self.last_step = step

    def scalar(self, tag: str, value: Any, step: int) -> None:
        """Log one value of ``tag`` at ``step``."""
        if torch.is_tensor(value):
            value = value.detach().float().item()
        self.log.scalar(tag, step, float(value))

    def histograms(self, step: int) -> None:
        """Log a summary of every parameter and, where present, its gradient.

        Summaries are computed here, on the training thread: a worker thread would
        compete with PyTorch's own threads for the cores and slow training more.
        """
        wall = time.time()
        for name, p in self.model.named_parameters():
            self.log.histogram(name, "weight", step, summarize(p, self.bins), wall)
            if p.grad is not None:
                self.log.histogram(name, "grad", step, summarize(p.grad, self.bins), wall)

    def snapshot(self, step: int, **metadata: object) -> Checkpoint:
        """Save the weights now as the checkpoint of ``step`` (atomic)."""
        self.log.flush()
        cp = self.run.save_checkpoint(self.model, step, **metadata)
        self._saved.add(step)
        return cp

    def rewind(self, step: int) -> None:
        """Forget everything after ``step``: log rows and checkpoints (for resuming)."""
        self.log.truncate_after(step)
        for cp in list_checkpoints(self.path):
            if cp.step > step:
                cp.path.unlink(missing_ok=True)
                self._saved.discard(cp.step)
        self.last_step = step or None

    def flush(self) -> None:
        """Commit what is buffered now (it is committed within a second anyway)."""
        self.log.flush()

    # ------------------------------------------------------------------ closing
    def close(self, status: str = "finished") -> None:
        """Snapshot the last step (if snapshots are on and it has none) and close the log."""
        if self._closed:
            return
        self._closed = True
        if (
            status == "finished"
            and self.last_step is not None
            and (self._log_snapshots or self._snapshot_steps)
            and self.last_step not in self._saved
        ):
            self.snapshot(self.last_step)
        self.log.close(status)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close("finished" if exc_type is None else "failed")


def _default_spec(model: nn.Module) -> str:
    """The zoo name of a zoo model, else ``module:Class``."""
    from .. import zoo

    cls = type(model)
    for name in zoo.names():
        if zoo.entry(name).factory is cls:
            return name
    return f"{cls.__module__}:{cls.__qualname__}"


def _input_shape(spec: str, input_shape: tuple[int, ...] | None) -> tuple[int, ...]:
    if input_shape is not None:
        return tuple(int(d) for d in input_shape)
    from ..model.factory import default_input_shape

    if ":" not in spec:
        shape = default_input_shape(spec)
        if shape is not None:
            return tuple(shape)
    raise InputShapeError(
        f"Recorder needs input_shape for model {spec!r}: expected (C, H, W) of one input "
        "without the batch dimension; pass input_shape=(1, 28, 28) for example"
    )


def _clear(path: Path) -> None:
    """Remove the parts of an earlier run in ``path`` (only what a run holds)."""
    for name in (MANIFEST, LOG_NAME, LOG_NAME + "-wal", LOG_NAME + "-shm"):
        (path / name).unlink(missing_ok=True)
    for name in _RUN_PARTS:
        if (path / name).is_dir():
            shutil.rmtree(path / name)


def _create_run(
    path: Path,
    *,
    spec: str,
    input_shape: tuple[int, ...],
    data: str | None,
    classes: list[str] | None,
    normalization: Normalization | None,
    val: tuple[int, int] | None,
    model_options: Mapping[str, Any] | None,
    task: str,
    training: Mapping[str, Any] | None,
    overwrite: bool,
) -> Run:
    if (path / MANIFEST).exists() or (path / LOG_NAME).exists():
        if not overwrite:
            raise RunError(
                f"{str(path)!r} already holds a run: expected a new or empty directory; "
                "resume it (--resume), start again (--overwrite), or choose another output"
            )
        _clear(path)
    channels = input_shape[0] if input_shape else 1
    if data is None or data == EXTERNAL:
        return Run.create(
            path,
            model=spec,
            data=EXTERNAL,
            classes=list(classes or []),
            normalization=normalization or Normalization((0.0,) * channels, (1.0,) * channels),
            input_shape=tuple(input_shape),
            model_options=dict(model_options or {}),
            task=task,
            val=val,
            training=dict(training or {}),
        )
    if classes is None or normalization is None:
        from ..data import load_dataset

        ds = load_dataset(data, size=tuple(input_shape[1:]), channels=channels)  # type: ignore[arg-type]
        classes = classes if classes is not None else ds.classes
        if normalization is None:
            normalization = Normalization.fit(ds.images[: val[0]] if val else ds.images)
    return Run.create(
        path,
        model=spec,
        data=data,
        classes=list(classes),
        normalization=normalization,
        input_shape=input_shape,
        model_options=dict(model_options or {}),
        task=task,
        val=val,
        training=dict(training or {}),
    )
