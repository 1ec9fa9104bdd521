"""What a probe runs on: the model, the rows of data, the layers, the store path."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.dataset import ImageDataset
from ..data.load import check_fits
from ..errors import DataError, InputShapeError, LayerError, ModelError, RunError
from ..model import capture, default_layers, device_of, get_layer, resolve_device
from ..rundir import Run, open_run
from ..rundir.probe_layout import PROBE_DIR
from .partial import LayerSpec
from .plan import human_bytes

__all__ = ["Target", "check_disk", "first_images", "resolve", "resolve_layers"]


@dataclass
class Target:
    """A resolved probe job."""

    model: nn.Module
    dataset: ImageDataset
    rows: np.ndarray  # positions in ``dataset`` to probe, in order
    checkpoint: str
    path: Path  # the store directory
    run: Run | None
    task: str
    classes: list[str]
    data_spec: str


def resolve(
    run_or_model: Run | str | Path | nn.Module,
    data: str | ImageDataset | None,
    checkpoint: str | int | None,
    limit: int | None,
    rows: Sequence[int] | np.ndarray | slice | None,
    out: str | Path | None,
    task: str | None,
    device: str | torch.device | None = None,
) -> Target:
    """Turn the user's arguments into a :class:`Target` (one-line errors).

    ``device``: where a run's model is loaded (CPU by default); a bare model is
    probed where its parameters are, and a different ``device`` is an error.
    """
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, ImageDataset):
        from ..data import from_torch

        data = from_torch(data)
    if isinstance(run_or_model, nn.Module):
        if not isinstance(data, ImageDataset):
            raise DataError(
                f"probing a bare model needs data=ImageDataset (got {type(data).__name__}); "
                "load one with convlens.data.load_dataset, or probe a run directory"
            )
        if out is None:
            raise RunError("probing a bare model needs out=DIR for the store; or probe a run")
        ds, run, name, model = data, None, "model", run_or_model
        if device is not None and resolve_device(device) != device_of(model):
            raise ModelError(
                f"device={str(device)!r} but the model's parameters are on "
                f"{str(device_of(model))!r}: move the model (model.to(device)) or leave "
                "device=None to probe where it is"
            )
        path = Path(out)
        spec = ds.source or "<arrays>"
        classes = list(ds.classes)
        task = task or "classify"
    else:
        run = run_or_model if isinstance(run_or_model, Run) else open_run(run_or_model)
        name = run.checkpoint(checkpoint).name
        model = run.model(name)
        if device is not None:
            model = model.to(resolve_device(device))
        if isinstance(data, ImageDataset):
            ds = check_fits(data, run.input_shape).with_normalization(run.normalization)
            spec = data.source or "<arrays>"
        else:
            ds = run.dataset(data=data)
            spec = data or run.manifest.data["spec"]
        path = Path(out) / name if out is not None else run.path / PROBE_DIR / name
        classes = run.classes or list(ds.classes)  # a run recorded without class names
        task = task or run.task
    if len(ds) == 0:
        raise DataError(f"data {spec!r} is empty: expected at least one image to probe")
    picked = _pick_rows(len(ds), rows, limit, spec)
    return Target(model, ds, picked, name, path, run, task, classes, str(spec))


def _pick_rows(n: int, rows: object, limit: int | None, spec: str) -> np.ndarray:
    picked = np.arange(n) if rows is None else np.arange(n)[rows]  # type: ignore[index]
    if limit is not None:
        if limit < 1:
            raise DataError(f"limit={limit!r}: expected a positive number of images")
        picked = picked[:limit]
    if len(picked) == 0:
        raise DataError(
            f"no images to probe in data {spec!r} (rows={rows!r}, limit={limit!r}); "
            "choose a non-empty selection"
        )
    return picked


def resolve_layers(
    model: nn.Module, sample: torch.Tensor, layers: Sequence[str] | None
) -> tuple[list[LayerSpec], torch.Tensor]:
    """The probed layers (model order) and the model output for ``sample`` (1, C, H, W).

    By default the model's default layers (:func:`convlens.model.default_layers`: its
    block and stage outputs). A named layer whose output is not (N, D) or
    (N, C, H, W) floats is a :class:`LayerError`. A sample the model cannot take is
    an :class:`InputShapeError`.
    """
    names = [n for n, _ in model.named_modules() if n]
    if layers is not None:
        if isinstance(layers, str):
            layers = [layers]
        for n in layers:
            get_layer(model, n)
        wanted = list(dict.fromkeys(layers))
    try:
        if layers is None:
            wanted = default_layers(model, tuple(sample.shape[1:]))
        with torch.inference_mode(), capture(model, wanted) as seen:
            output = model(sample)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputShapeError(
            f"images of shape {tuple(sample.shape[1:])} (C, H, W) do not fit the model: the "
            f"forward pass failed ({first}); give data at the model's input size and channels"
        ) from None
    specs = []
    order = {n: i for i, n in enumerate(names)}
    for n in sorted(wanted, key=lambda n: order[n]):
        t = seen.get(n)
        ok = isinstance(t, torch.Tensor) and t.ndim in (2, 4) and t.is_floating_point()
        if not ok:
            if layers is not None:
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise LayerError(
                    f"layer {n!r} gives {got}, not (N, D) or (N, C, H, W) floats; "
                    "probe a layer with a vector or feature-map output"
                )
            continue
        shape = (t.shape[2], t.shape[3], t.shape[1]) if t.ndim == 4 else (t.shape[1],)
        specs.append(LayerSpec(n, tuple(int(s) for s in shape)))
    if not specs:
        raise LayerError("the model has no layer with an (N, D) or (N, C, H, W) output to probe")
    return specs, output


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def check_disk(path: Path, needed: int) -> None:
    """Refuse (one line) when the file system of ``path`` has less than ``needed`` bytes."""
    free = free_bytes(path)
    if free < needed:
        raise DataError(
            f"not enough disk space for the probe in {str(path)!r}: it needs about "
            f"{human_bytes(needed)} but {human_bytes(free)} is free; free some space, give a "
            "smaller --budget, or write elsewhere (--out)"
        )


def first_images(ds: ImageDataset, rows: np.ndarray, count: int = 1) -> np.ndarray:
    """uint8 (count, C, H, W) pixels of the first ``count`` of ``rows``, read as a pass
    reads them (:meth:`~convlens.data.ImageDataset.image_batches`)."""
    return next(iter(ds.image_batches(rows[:count], count)))
