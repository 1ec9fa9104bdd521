"""Reducing many-channel maps to pictures (seed 000, "Adding some color").

A word-embedding grid has 100 channels per cell; an attribution of it too. It
reduces to grey by the L2 norm or the largest absolute value over channels, or
to RGB by projecting every cell on the first three principal components of the
cells' channel vectors.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConvlensError

REDUCTIONS = ("norm", "absmax", "sum", "pca")


def _as_numpy(maps: object) -> np.ndarray:
    if hasattr(maps, "detach"):
        maps = maps.detach().cpu().numpy()  # type: ignore[union-attr]
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim != 4:
        raise ConvlensError(f"maps of shape {a.shape}: expected (N, C, H, W)")
    return a


def reduce_channels(maps: object, how: str = "norm") -> np.ndarray:
    """(N, C, H, W) maps -> (N, H, W) float: "norm" (L2), "absmax", or "sum" (signed).

    >>> reduce_channels(np.array([[[[3.0]], [[-4.0]]]]), "norm").tolist()
    [[[5.0]]]
    """
    a = _as_numpy(maps)
    if how == "norm":
        return np.sqrt((a**2).sum(1))
    if how == "absmax":
        return np.abs(a).max(1)
    if how == "sum":
        return a.sum(1)
    raise ConvlensError(
        f"unknown channel reduction {how!r}: expected 'norm', 'absmax' or 'sum' (or 'pca' "
        "with pca_rgb)"
    )


def to_grey(values: np.ndarray) -> np.ndarray:
    """Non-negative (N, H, W) -> uint8 (N, H, W), each map scaled to its maximum."""
    v = np.asarray(values, dtype=np.float64)
    top = v.reshape(len(v), -1).max(1).reshape(-1, 1, 1)
    return (np.clip(v / np.where(top > 0, top, 1), 0, 1) * 255).round().astype(np.uint8)


def principal_components(maps: object, k: int = 3) -> np.ndarray:
    """The top-``k`` principal directions (k, C) of the cells' channel vectors.

    Uncentred (zero cells stay at the origin); signs fixed so each direction's
    largest coefficient is positive; padded with zeros when C < k.
    """
    a = _as_numpy(maps)
    cells = a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])
    _, _, vt = np.linalg.svd(cells, full_matrices=False)
    comps = vt[:k]
    flip = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])
    comps = comps * np.where(flip == 0, 1, flip)[:, None]
    if len(comps) < k:
        comps = np.concatenate([comps, np.zeros((k - len(comps), a.shape[1]))])
    return comps


def pca_rgb(maps: object, basis: np.ndarray | None = None) -> np.ndarray:
    """(N, C, H, W) maps -> uint8 (N, H, W, 3) by the first three principal components.

    Each cell's channel vector is projected on three directions (fitted on all
    cells of all maps, or given as ``basis`` (3, C), e.g. fitted on the inputs),
    so colours mean the same in every image. The hue comes from the direction of
    the projection, the brightness from its length relative to the largest one:
    cells with nothing in them are black.

    >>> pca_rgb(np.random.default_rng(0).normal(size=(2, 10, 4, 4))).shape
    (2, 4, 4, 3)
    """
    a = _as_numpy(maps)
    comps = principal_components(a) if basis is None else np.asarray(basis, dtype=np.float64)
    proj = np.einsum("nchw,kc->nhwk", a, comps)
    length = np.sqrt((proj**2).sum(-1, keepdims=True))
    top = length.max() if length.size and length.max() > 0 else 1.0
    hue = 0.5 + 0.5 * proj / np.where(length > 0, length, 1)
    rgb = hue * (length / top) ** 0.5
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
