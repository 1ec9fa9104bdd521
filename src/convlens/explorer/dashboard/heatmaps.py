"""Weight heatmaps over time: one parameter of a run at several checkpoints.

A parameter tensor becomes one 2-D picture (:func:`weight_image`: a conv weight
kernel by kernel with one-pixel NaN gaps, a matrix as it is; the layout is
described in :mod:`convlens.render.weights`, which the TensorBoard export shares).
A picture with a side over ``side`` pixels is averaged over ``f x f`` blocks, with
``f`` the smallest factor that fits (``factor`` in the reply says which).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors import SafetensorError, safe_open

from ...errors import ModelError, suggestion
from ...render.weights import block_mean, weight_image
from ...rundir import Checkpoint
from ...rundir.weights import native_path
from .errors import DashboardError, DashboardNotFound


def checkpoint_params(cp: Checkpoint) -> list[str]:
    """Tensor names stored in one checkpoint file."""
    with _open(cp.path) as f:
        return list(f.keys())


@contextmanager
def _open(path: Path) -> Iterator[Any]:  # safetensors' handle (its type is not exported)
    try:
        with native_path(path) as native, safe_open(native, framework="np") as f:
            yield f
    except (SafetensorError, OSError) as exc:
        raise ModelError(
            f"checkpoint file {str(path)!r} cannot be read ({exc}); move it out of "
            "checkpoints/ to fall back to an earlier one"
        ) from None


@lru_cache(maxsize=256)
def _picture(path: Path, mtime_ns: int, param: str, side: int) -> tuple[np.ndarray, int]:
    with _open(path) as f:
        names = list(f.keys())
        if param not in names:
            raise DashboardNotFound(
                f"parameter {param!r} is not in checkpoint {path.name!r}: expected a tensor "
                f"name; {suggestion(param, names, 'tensors')}"
            )
        tensor = f.get_tensor(param)
    return block_mean(weight_image(tensor), side)


class Heatmaps(NamedTuple):
    """``steps`` (S,) of the snapshots shown, ``images`` (S, H, W) float32 (NaN:
    gaps), ``factor`` of the block averaging, ``shape`` of the parameter,
    ``scale`` the largest absolute finite value over all pictures."""

    steps: np.ndarray
    images: np.ndarray
    factor: int
    shape: tuple[int, ...]
    scale: float


def pick_snapshots(checkpoints: list[Checkpoint], count: int) -> list[Checkpoint]:
    """At most ``count`` checkpoints evenly spread by index, first and last included."""
    if len(checkpoints) <= count:
        return list(checkpoints)
    at = np.unique(np.round(np.linspace(0, len(checkpoints) - 1, count)).astype(int))
    return [checkpoints[i] for i in at]


def weight_heatmaps(
    checkpoints: list[Checkpoint], param: str, snapshots: int = 8, side: int = 256
) -> Heatmaps:
    """Pictures of ``param`` at up to ``snapshots`` of ``checkpoints``.

    >>> # h = weight_heatmaps(run.checkpoints, "conv2.weight"); h.images.shape
    """
    if not 1 <= snapshots <= 64:
        raise DashboardError(f"snapshots {snapshots!r} is out of range: expected 1..64")
    if not 8 <= side <= 1024:
        raise DashboardError(f"side {side!r} is out of range: expected 8..1024 pixels")
    chosen = pick_snapshots(checkpoints, snapshots)
    if not chosen:
        raise DashboardNotFound(
            "this run has no checkpoints yet: expected weight snapshots in checkpoints/; "
            "the Recorder writes them at its snapshot steps"
        )
    pictures, factor, shape = [], 1, ()
    for cp in chosen:
        picture, factor = _picture(cp.path, cp.path.stat().st_mtime_ns, param, side)
        pictures.append(picture)
    with _open(chosen[-1].path) as f:
        shape = tuple(f.get_slice(param).get_shape())
    images = np.stack(pictures)
    finite = np.abs(images[np.isfinite(images)])
    scale = float(finite.max()) if finite.size else 1.0
    steps = np.array([cp.step for cp in chosen], np.int64)
    return Heatmaps(steps, images, factor, shape, scale)
