"""Pictures from a probe: top-k patches beside their projections (Zeiler & Fergus
Fig. 2), evolution over snapshots (Fig. 3), and nearest neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..attribute import project_units
from ..errors import DataError, LayerError
from ..render import grid, upscale
from ..rundir import ProbeResult

RULES = ("deconvnet", "guided", "gradient")

__all__ = ["evolution_grid", "nearest", "neighbor_strip", "topk_montage"]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """A projection (C, H, W) scaled around zero to uint8 (H, W, C), like Zeiler & Fergus."""
    x = x - x.mean()
    scale = np.abs(x).max()
    x = 0.5 + (x / (2 * scale) if scale > 0 else x)
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)


def _patch(img: np.ndarray, box: Sequence[int], size: tuple[int, int]) -> np.ndarray:
    """Crop (H, W, C) to box (y0, x0, y1, x1) and pad it to ``size`` (centred)."""
    y0, x0, y1, x1 = (int(v) for v in box)
    crop = img[y0:y1, x0:x1]
    out = np.full((*size, img.shape[2]), 255, np.uint8)
    oy, ox = (size[0] - crop.shape[0]) // 2, (size[1] - crop.shape[1]) // 2
    out[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    return out


def ds_rows(ds: Any, dataset_indices: np.ndarray) -> np.ndarray:
    """Rows of ``ds`` holding the given dataset indices."""
    lookup = {int(v): r for r, v in enumerate(ds.indices)}
    return np.array([lookup[int(i)] for i in dataset_indices], np.int64)


def topk_montage(
    res: ProbeResult,
    layer: str,
    channels: Sequence[int] | None = None,
    rule: str = "deconvnet",
    scale: int = 3,
) -> np.ndarray:
    """One row per channel: the k input patches, then their k projections (uint8 (H, W, 3)).

    Patches are cropped to each pair's receptive-field box; projections are
    :func:`convlens.attribute.project_units` of that unit in its image, cropped alike.
    """
    values, image_index, position = res.topk(layer)
    boxes = res.topk_boxes(layer)
    c_all, k = values.shape
    chans = list(range(min(c_all, 8))) if channels is None else list(channels)
    for c in chans:
        if not 0 <= c < c_all:
            raise LayerError(f"channel {c!r} is not in layer {layer!r}: expected 0..{c_all - 1}")
    model = res.run.model(res.checkpoint)
    ds = res.dataset()
    size = (int((boxes[..., 2] - boxes[..., 0]).max()), int((boxes[..., 3] - boxes[..., 1]).max()))
    rows_out = []
    spatial = res.is_spatial(layer)
    for c in chans:
        r = ds_rows(ds, image_index[c])
        x = ds.normalization.apply(ds.images[r])
        proj = (
            project_units(model, x, layer, c, position[c] if spatial else None, rule=rule)
            .detach()
            .numpy()
        )
        imgs = ds.images[r].transpose(0, 2, 3, 1)
        patches = [_patch(imgs[j], boxes[c, j], size) for j in range(k)]
        projs = [_patch(_to_uint8(proj[j]), boxes[c, j], size) for j in range(k)]
        rows_out.append(np.stack(patches + projs))
    tiles = np.concatenate(rows_out)
    return upscale(grid(tiles, ncols=2 * k, pad=1), scale)


def evolution_grid(
    results: Sequence[ProbeResult],
    layer: str,
    channels: Sequence[int] | None = None,
    rule: str = "deconvnet",
    scale: int = 3,
) -> np.ndarray:
    """Rows = channels, columns = snapshots: each snapshot's strongest activation of the
    channel (top-1 over the probed data) projected to pixel space, cropped to its box."""
    first = results[0]
    c_all = first.topk(layer)[0].shape[0]
    chans = list(range(min(c_all, 8))) if channels is None else list(channels)
    for c in chans:
        if not 0 <= c < c_all:
            raise LayerError(f"channel {c!r} is not in layer {layer!r}: expected 0..{c_all - 1}")
    ds = first.dataset()
    columns = []
    size = None
    for res in results:
        _, image_index, position = res.topk(layer)
        boxes = res.topk_boxes(layer)
        size = size or (
            int((boxes[..., 2] - boxes[..., 0]).max()),
            int((boxes[..., 3] - boxes[..., 1]).max()),
        )
        model = res.run.model(res.checkpoint)
        r = ds_rows(ds, image_index[chans, 0])
        x = ds.normalization.apply(ds.images[r])
        pos = position[chans, 0] if res.is_spatial(layer) else None
        proj = project_units(model, x, layer, torch.as_tensor(chans), pos, rule=rule)
        proj = proj.detach().numpy()
        columns.append([_patch(_to_uint8(proj[j]), boxes[c, 0], size) for j, c in enumerate(chans)])
    tiles = np.stack([columns[s][j] for j in range(len(chans)) for s in range(len(results))])
    return upscale(grid(tiles, ncols=len(results), pad=1), scale)


def nearest(res: ProbeResult, index: int, layer: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` images nearest to dataset image ``index`` at ``layer`` (Euclidean on the
    whole flattened embedding; on each channel's mean over positions for a layer stored
    as a sample), itself excluded: (dataset indices (k,), distances (k,))."""
    row = int(res.rows_of(index))
    if row < 0:
        raise DataError(
            f"image index {index!r} was not probed: expected one of the {len(res)} probed "
            f"indices ({int(res.indices.min())}..{int(res.indices.max())})"
        )
    sampled = res.is_sampled(layer)
    means = res.image_means(layer) if sampled else None

    def block_of(rows: slice) -> np.ndarray:
        return means[rows] if means is not None else res.embeddings(layer, rows)

    query = block_of(slice(row, row + 1)).astype(np.float32).reshape(-1)
    dist = np.empty(len(res), np.float64)
    step = 1024
    for s in range(0, len(res), step):
        block = block_of(slice(s, s + step)).astype(np.float32).reshape(-1, query.size)
        dist[s : s + len(block)] = np.sqrt(((block - query) ** 2).sum(1))
    dist[row] = np.inf
    order = np.lexsort((res.indices, dist))[: min(k, len(res) - 1)]
    return res.indices[order], dist[order]


def neighbor_strip(
    res: ProbeResult, index: int, neighbours: np.ndarray, scale: int = 3
) -> np.ndarray:
    """The query image then its neighbours, as one uint8 (H, W, 3) strip."""
    ds = res.dataset()
    rows = ds_rows(ds, np.concatenate([[index], neighbours]))
    return upscale(grid(ds.images[rows].transpose(0, 2, 3, 1), ncols=len(rows), pad=2), scale)
