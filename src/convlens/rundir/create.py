"""A run directory from a model that is already trained: ``convlens runs create``.

No training happens: the model is built from its spec, the weights file is loaded
into it (checked name by name), one real batch goes through it, and the run is
written with the weights as its one checkpoint (step 0). Every later verb then
works on the run as on a trained one, from any working directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.images import Crop
from ..data.load import check_fits, detect_format, load_dataset
from ..data.normalize import parse_normalization
from ..errors import ConvlensError, DataError, ModelError, RunError
from ..model.factory import build_model
from ..model.output import describe_output, select_output, trial_forward
from .checkpoints import save_checkpoint
from .manifest import MANIFEST
from .run import DataEntry, ModelEntry, Run
from .weights import fit_state, read_weights

__all__ = ["NewRun", "clear_run", "create_run", "ensure_new"]

RUN_PARTS = ("checkpoints", "state", "probe")
LOG_FILES = ("log.sqlite", "log.sqlite-wal", "log.sqlite-shm")


@dataclass(frozen=True)
class NewRun:
    """What ``convlens runs create`` needs.

    - ``model``: a zoo name, ``module:factory`` or ``path/to/file.py:factory``;
      ``options``: its factory's keyword arguments (JSON values).
    - ``weights``: a ``.safetensors`` file or a PyTorch state dict.
    - ``data``: a data spec (``digits``, MNIST, CIFAR-10, ``.npz``, a folder of class
      folders); its class names become the run's.
    - ``normalize``: ``"imagenet"``, ``"MEAN,STD"``, ``"fit"`` or ``"none"`` (None:
      "none", which the caller should say).
    - ``input_size``: (H, W) the model takes (required for an image folder; images
      are resized so the shorter side is ``resize``, default just enough, and
      centre-cropped).
    - ``output``: the output field of a model that returns a dataclass, dict or tuple.
    """

    model: str
    weights: str | Path
    data: str
    normalize: str | None = None
    input_size: tuple[int, int] | None = None
    resize: int | None = None
    output: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def ensure_new(path: Path, overwrite: bool) -> bool:
    """Whether ``path`` already holds a run; a :class:`RunError` if it does and
    ``overwrite`` is off."""
    held = (path / MANIFEST).exists() or (path / LOG_FILES[0]).exists()
    if held and not overwrite:
        raise RunError(
            f"{str(path)!r} already holds a run: expected a new or empty directory; "
            "resume it (--resume), start again (--overwrite), or choose another output"
        )
    return held


def clear_run(path: Path) -> None:
    """Remove what a run holds in ``path`` (and nothing else the folder holds)."""
    for name in (MANIFEST, *LOG_FILES):
        (path / name).unlink(missing_ok=True)
    for name in RUN_PARTS:
        if (path / name).is_dir():
            shutil.rmtree(path / name)


def _dataset(new: NewRun) -> tuple[Any, tuple[int, ...], Crop | None]:
    fmt = detect_format(new.data)
    channels = 3 if new.normalize == "imagenet" else None
    if fmt == "folder":
        if new.input_size is None:
            raise DataError(
                f"data {new.data!r} is a folder of images: give --input-size H,W (the "
                "model's input size, e.g. 224,224); images are resized and centre-cropped"
            )
        crop = Crop(new.resize)
        ds = load_dataset(new.data, size=new.input_size, channels=channels, crop=crop)
        return ds, ds.shape, crop
    if new.resize is not None:
        raise DataError(
            f"--resize {new.resize} applies to image folders only; data {new.data!r} is "
            f"{fmt} with images of one size"
        )
    ds = load_dataset(new.data, size=new.input_size, channels=channels)
    if new.input_size is not None:
        check_fits(ds, (ds.shape[0], *new.input_size))
    return ds, ds.shape, None


def _check_runs(model: torch.nn.Module, ds: Any, new: NewRun) -> tuple[str, int]:
    """One real batch through the model: (task, output width)."""
    x = ds.preprocess(ds.images[: min(2, len(ds))])
    out = trial_forward(
        model,
        x,
        lambda cause: (
            f"model {new.model!r} cannot run on the data's images of shape "
            f"{tuple(x.shape[1:])} ({cause}); give --input-size H,W (and --normalize with the "
            "model's channel count) that the model takes"
        ),
    )
    if not torch.is_tensor(out):
        raise ModelError(
            f"model {new.model!r} returns {describe_output(out)}; pass --output NAME to say "
            "which tensor convlens should use"
        )
    if out.ndim != 2:
        raise ModelError(
            f"model {new.model!r} returns {describe_output(out)}, expected a tensor (N, K): one "
            "row of scores or embedding values per image; end the model with a Flatten, or "
            "pass --output NAME"
        )
    if not torch.isfinite(out).all():
        raise ModelError(
            f"model {new.model!r} with weights {str(new.weights)!r} gives NaN or infinite "
            "outputs on the data; check the weights and --normalize"
        )
    width = int(out[0].numel())
    return ("classify" if width == len(ds.classes) else "embed"), width


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def create_run(out: str | Path, new: NewRun, overwrite: bool = False) -> Run:
    """Make the run directory ``out`` from ``new``; nothing is written unless all of it
    succeeds (the run is assembled beside ``out`` and moved into place).

    >>> # run = create_run("runs/r50", NewRun("nets.py:resnet50", "r50.pt", "val/",
    >>> #                  normalize="imagenet", input_size=(224, 224)))
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {str(out)!r} is a file, expected a new or empty directory")
    held = out.is_dir() and ensure_new(out, overwrite)
    weights = Path(new.weights)
    state = read_weights(weights)
    ds, shape, crop = _dataset(new)
    norm, kind = parse_normalization(new.normalize, shape[0], ds.fit_normalization)
    ds = ds.with_normalization(norm)
    model = select_output(build_model(new.model, **dict(new.options)), new.output).eval()
    fit_state(
        model,
        state,
        f"weights {str(weights)!r}",
        f"give the weights of model {new.model!r} with these options, or fix the spec",
    )
    task, _ = _check_runs(model, ds, new)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        Run.create(
            tmp,
            ModelEntry(new.model, shape, dict(new.options), task, new.output),
            DataEntry(new.data, ds.classes, norm, kind, crop=crop),
            training={
                "created_by": "convlens runs create",
                "weights": str(weights.resolve()),
                "weights_sha256": _sha256(weights),
            },
        )
        save_checkpoint(tmp, model, 0, source="runs create")
        if held:  # --overwrite: the old run goes only once the new one is complete
            clear_run(out)
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Run(out)


def _move_into_place(tmp: Path, out: Path) -> None:
    """``tmp`` becomes ``out`` (a new name, or an empty directory's contents)."""
    if not out.exists():
        os.replace(tmp, out)
        return
    try:
        for part in tmp.iterdir():
            os.replace(part, out / part.name)
    except OSError as exc:
        raise ConvlensError(
            f"cannot write the run into {str(out)!r} ({exc.strerror or exc}); check that the "
            "folder is writable and has room"
        ) from None
    tmp.rmdir()
