"""Weight heatmaps over time: one parameter of a run at several checkpoints.

A parameter tensor becomes one 2-D picture (:func:`weight_image`):

- a convolution weight ``(O, I, kh, kw)``: one row of ``I`` kernels per output
  channel, or, for ``I == 1``, the ``O`` kernels in a near-square grid; a
  one-pixel NaN gap separates the kernels;
- a matrix ``(out, in)``: as it is;
- a vector ``(n,)``: wrapped into rows of ``ceil(sqrt(n))`` (NaN padding);
- anything else: ``(shape[0], -1)``.

A picture with a side over ``side`` pixels is averaged over ``f x f`` blocks, with
``f`` the smallest factor that fits (``factor`` in the reply says which).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from safetensors import SafetensorError, safe_open

from ...errors import ModelError, suggestion
from ...rundir import Checkpoint
from ...rundir.weights import native_path
from .errors import DashboardError, DashboardNotFound


def _tiles(kernels: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows * cols, kh, kw) -> a picture of the kernels with 1-pixel NaN gaps."""
    _, kh, kw = kernels.shape
    out = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan, np.float32)
    for n, k in enumerate(kernels):
        r, c = divmod(n, cols)
        out[r * (kh + 1) : r * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = k
    return out


def weight_image(w: np.ndarray) -> np.ndarray:
    """The 2-D float32 picture of one parameter tensor (see the module docstring).

    >>> weight_image(np.arange(4.0)).tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    w = np.asarray(w, np.float32)
    if w.ndim == 4:
        o, i, kh, kw = w.shape
        if i == 1:
            cols = math.ceil(math.sqrt(o))
            rows = math.ceil(o / cols)
            flat = np.full((rows * cols, kh, kw), np.nan, np.float32)
            flat[:o] = w[:, 0]
            return _tiles(flat, rows, cols)
        return _tiles(w.reshape(o * i, kh, kw), o, i)
    if w.ndim == 2:
        return w.copy()
    if w.ndim <= 1:
        flat = w.reshape(-1)
        cols = max(1, math.ceil(math.sqrt(flat.size)))
        rows = max(1, math.ceil(flat.size / cols))
        out = np.full(rows * cols, np.nan, np.float32)
        out[: flat.size] = flat
        return out.reshape(rows, cols)
    return w.reshape(w.shape[0], -1).copy()


def block_mean(img: np.ndarray, side: int) -> tuple[np.ndarray, int]:
    """Average ``img`` (H, W) over f x f blocks so both sides are at most ``side``
    (NaN cells are left out of each mean); returns (picture, f)."""
    f = max(1, math.ceil(max(img.shape) / side))
    if f == 1:
        return img, 1
    h, w = img.shape
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    padded = np.full((hp, wp), np.nan, np.float32)
    padded[:h, :w] = img
    blocks = padded.reshape(hp // f, f, wp // f, f)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(blocks)
        total = np.where(valid, blocks, 0).sum(axis=(1, 3))
        n = valid.sum(axis=(1, 3))
        return np.where(n > 0, total / np.maximum(n, 1), np.nan).astype(np.float32), f


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
