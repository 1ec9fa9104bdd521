"""The :class:`Recorder`: add a few lines to any training loop and get a run directory."""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.normalize import Normalization, parse_normalization
from ..errors import ConvlensWarning, DataError, InputShapeError, ModelError, first_line
from ..rundir import Checkpoint, DataEntry, ModelEntry, Run, list_checkpoints
from ..rundir.checkpoints import remove_orphans
from ..rundir.create import clear_run, ensure_new
from ..rundir.run import EXTERNAL
from .histograms import summarize
from .logdb import LogWriter
from .options import Cadence, RunInfo
from .reader import LOG_NAME
from .schedule import log_schedule


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
    :meth:`close`; or an iterable of steps; or None). Both are fields of
    ``cadence=Cadence(hist_every=50, snapshots="log")``
    (:class:`~convlens.record.Cadence`).

    ``data`` says what the model is trained on, so that ``probe`` and ``explore``
    can reload it: a convlens data spec (``"digits"``, a folder of class folders,
    MNIST, CIFAR-10, ``.npz``), a convlens ``ImageDataset``, or a torch dataset with
    a ``root`` folder (torchvision's ``ImageFolder``); None means your own data that
    convlens cannot reload (the manifest says ``"external"``; ``probe --data`` and
    ``explore --data`` then name it). ``info.classes`` default to the data's.

    ``normalization`` is what your loop does to pixels / 255 before the model:
    a :class:`~convlens.data.Normalization`, ``(mean, std)`` (numbers or per-channel
    lists), ``"imagenet"``, or ``"none"``. When it is not given, the run records
    ``"none"`` and a :class:`~convlens.errors.ConvlensWarning` says so once.

    ``info=RunInfo(...)`` (:class:`~convlens.record.RunInfo`) says the rest: the
    classes, the validation rows, the training settings, and how to rebuild the
    model: ``model_spec``/``model_options`` (a zoo name, ``module:factory`` or
    ``file.py:factory``); by default the model's class, ``module:Class``, called
    with ``model_options``. A class defined in the training script itself
    (``__main__``) cannot be imported later and is refused. ``output`` names the
    tensor of a model whose output is a dataclass, dict or tuple (``"logits"``).
    ``input_shape`` is checked by one dry forward pass.
    """

    def __init__(
        self,
        model: nn.Module,
        out: str | Path,
        *,
        input_shape: tuple[int, ...] | None = None,
        data: Any = None,
        normalization: Normalization | str | tuple[Any, Any] | None = None,
        info: RunInfo | None = None,
        cadence: Cadence | None = None,
        overwrite: bool = False,
        resume: bool = False,
    ):
        info = _checked(info, RunInfo, "info")
        cadence = _checked(cadence, Cadence, "cadence")
        self.model = model
        self.path = Path(out)
        self.hist_every = cadence.hist_every
        self.bins = cadence.bins
        snapshots = cadence.snapshots
        self._log_snapshots = snapshots == "log"
        if snapshots is None or snapshots == "log":
            self._snapshot_steps: set[int] = set(log_schedule()) if snapshots else set()
        else:
            self._snapshot_steps = {int(s) for s in snapshots}  # type: ignore[union-attr]
        if resume:
            self.run = Run(self.path)
            remove_orphans(self.path)  # what a kill left half-written
        else:
            spec = info.model_spec or _default_spec(model, info.model_options)
            shape = _input_shape(spec, input_shape)
            _check_fits(model, shape, info.output)
            self.run = _create_run(
                self.path,
                ModelEntry(spec, shape, dict(info.model_options or {}), info.task, info.output),
                _data_entry(data, info.classes, normalization, info.val, shape),
                training=info.training,
                overwrite=overwrite,
            )
        self.log = LogWriter(self.path / LOG_NAME, flush_seconds=cadence.flush_seconds)
        self.log.set_meta(hist_every=self.hist_every or 0, bins=self.bins)
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


def _checked(value: Any, kind: type, name: str) -> Any:
    """``value`` when it is a ``kind`` (None: the defaults); one line otherwise."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise TypeError(
            f"Recorder: {name}= got {type(value).__name__}, expected a "
            f"convlens.record.{kind.__name__}; e.g. {name}={kind.__name__}(...)"
        )
    return value


def _default_spec(model: nn.Module, options: Mapping[str, Any] | None) -> str:
    """The zoo name of a zoo model, else ``module:Class`` (refused for ``__main__``)."""
    from .. import zoo

    cls = type(model)
    for name in zoo.names():
        if zoo.entry(name).factory is cls:
            return name
    if cls.__module__ == "__main__":
        raise ModelError(
            f"Recorder: model class {cls.__qualname__} is defined in the training script "
            "(__main__), which later commands cannot import; move it into a module (say "
            f"nets.py, then `from nets import {cls.__qualname__}`), or pass "
            f"info=RunInfo(model_spec='path/to/file.py:{cls.__qualname__}')"
        )
    spec = f"{cls.__module__}:{cls.__qualname__}"
    missing = _required(cls, options)
    if missing:
        warnings.warn(
            f"Recorder: model class {spec} needs {', '.join(missing)} to be built again, "
            "so later commands cannot rebuild it; pass info=RunInfo(model_options={...}) with "
            "them, or RunInfo(model_spec='module:factory')",
            ConvlensWarning,
            stacklevel=4,
        )
    return spec


def _required(factory: Any, options: Mapping[str, Any] | None) -> list[str]:
    """Parameters ``factory`` requires that ``options`` does not give."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [
        p.name
        for p in params
        if p.kind in kinds
        and p.default is inspect.Parameter.empty
        and p.name not in (options or {})
    ]


def _check_fits(model: nn.Module, shape: tuple[int, ...], output: str | None) -> None:
    """One dry forward pass on zeros of ``shape``: the input shape must fit the model."""
    from ..model.device import device_of
    from ..model.output import describe_output, pick_output

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros((1, *shape), device=device_of(model)))
    except Exception as exc:  # the user's forward: its first line says what failed
        raise InputShapeError(
            f"Recorder: input_shape={tuple(shape)} does not fit {type(model).__name__} "
            f"({type(exc).__name__}: {first_line(exc)}); pass "
            "the (C, H, W) of one input the model takes"
        ) from None
    finally:
        model.train(was_training)
    if output is not None:
        pick_output(out, output)
    elif not torch.is_tensor(out):
        raise ModelError(
            f"Recorder: {type(model).__name__} returns {describe_output(out)}, not a tensor; "
            "pass output='logits' (the field convlens should use)"
        )


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


def _data_entry(
    data: Any,
    classes: list[str] | None,
    normalization: Any,
    val: tuple[int, int] | None,
    shape: tuple[int, ...],
) -> DataEntry:
    """What the run records about the data (see :class:`Recorder`)."""
    from ..data.dataset import ImageDataset

    spec, known_classes = EXTERNAL, None
    if isinstance(data, ImageDataset):
        spec, known_classes = data.source or EXTERNAL, data.classes
        if normalization is None:
            normalization = data.normalization
    elif data is not None and not isinstance(data, str):
        root = getattr(data, "root", None)  # torchvision's ImageFolder and friends
        if root is None:
            raise DataError(
                f"Recorder: data={type(data).__name__} has no 'root' folder convlens could "
                "reload it from; pass data='path/to/folder' (or a convlens data spec), or "
                "None for data convlens cannot reload"
            )
        spec, known_classes = str(root), getattr(data, "classes", None)
    elif isinstance(data, str) and data != EXTERNAL:
        spec = data
    if spec != EXTERNAL and classes is None and known_classes is None:
        from ..data import load_dataset

        known_classes = load_dataset(spec, size=tuple(shape[1:]), channels=shape[0]).classes
    channels = shape[0] if len(shape) == 3 else 1

    def fit() -> Normalization:
        if spec == EXTERNAL:
            raise DataError(
                "Recorder: normalization='fit' needs data convlens can read; pass data=..."
            )
        from ..data import load_dataset

        ds = load_dataset(spec, size=tuple(shape[1:]), channels=channels)
        return ds.fit_normalization(range(val[0]) if val else None)

    norm, kind = parse_normalization(normalization, channels, fit)
    if kind == "none" and normalization is None:
        warnings.warn(
            "Recorder: no normalization given, so the run records 'none' (the model is "
            "taken to see pixels / 255); pass normalization=(mean, std), 'imagenet' or "
            "'none' to say what your loop does",
            ConvlensWarning,
            stacklevel=4,
        )
    names = classes if classes is not None else known_classes
    return DataEntry(spec, list(names or []), norm, kind, val)


def _create_run(
    path: Path,
    model: ModelEntry,
    data: DataEntry,
    *,
    training: Mapping[str, Any] | None,
    overwrite: bool,
) -> Run:
    if ensure_new(path, overwrite):
        clear_run(path)
    return Run.create(path, model, data, training)
