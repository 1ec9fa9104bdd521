"""Pictures from a probe: top-k patches beside their projections (Zeiler & Fergus
Fig. 2), evolution over snapshots (Fig. 3), and nearest neighbours.

- :func:`topk_figure`: the labelled top-k figure (matplotlib): each row names its
  channel, the columns say which are patches and which projections, the title names
  the run, layer, checkpoint and projection method; with its JSON record;
- :func:`projection_rule`: which projection a figure uses. Deconvnet by default, but
  guided backpropagation when the model has no max-pool: without the switches of
  max-pooling, a deconvnet projection hardly depends on the image (on resnet8 every
  image and channel gave the same picture, cosine similarity 1.0000);
- :func:`save_figure`: a matplotlib figure as PNG plus its JSON sidecar.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import write_bytes
from ..attribute import project_units
from ..attribute._rule import RULE_NAMES, RULES, has_max_pool, projection_rule
from ..errors import DataError, LayerError, SpecError
from ..render import grid, upscale
from ..rundir import ProbeResult

__all__ = [
    "RULES",
    "evolution_grid",
    "has_max_pool",
    "nearest",
    "neighbor_strip",
    "projection_rule",
    "save_figure",
    "topk_figure",
    "topk_montage",
]


def fig_axes(fig: Any, box: tuple[float, float, float, float]) -> Any:
    """Axes placed at ``box`` = (left, bottom, width, height) in inches of ``fig``."""
    w, h = fig.get_size_inches()
    left, bottom, width, height = box
    return fig.add_axes((left / w, bottom / h, width / w, height / h))


def save_figure(figure: Any, path: str | Path, record: dict[str, Any], dpi: int = 110) -> Path:
    """Write a matplotlib ``figure`` as PNG (atomically) and ``record`` beside it as JSON
    (same name, ``.json``); returns the PNG path."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    FigureCanvasAgg(figure)
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi, facecolor="white")
    write_bytes(path, buf.getvalue())
    write_bytes(path.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())
    return path


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


def _channels(res: ProbeResult, layer: str, channels: Sequence[int] | None) -> list[int]:
    c_all = res.topk(layer)[0].shape[0]
    chans = list(range(min(c_all, 8))) if channels is None else list(channels)
    for c in chans:
        if not 0 <= c < c_all:
            raise LayerError(f"channel {c!r} is not in layer {layer!r}: expected 0..{c_all - 1}")
    return chans


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
    The unlabelled picture; :func:`topk_figure` labels it.
    """
    values, image_index, position = res.topk(layer)
    boxes = res.topk_boxes(layer)
    k = values.shape[1]
    chans = _channels(res, layer, channels)
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


def topk_figure(
    res: ProbeResult,
    layer: str,
    channels: Sequence[int] | None = None,
    method: str | None = None,
    scale: int = 3,
) -> tuple[Any, dict[str, Any]]:
    """The labelled top-k figure of ``layer`` and its JSON record.

    One row per channel (named on the left): the k strongest input patches (rank 1..k,
    each cropped to its receptive field), then their projections to the input by
    ``method`` (None: :func:`projection_rule` chooses, and the subtitle says why). The
    title names the run, layer and checkpoint. Returns (matplotlib Figure, record).

    >>> # fig, record = topk_figure(run.probe(), "conv2", [0, 3]); save_figure(fig, "t.png", record)
    """
    from matplotlib.figure import Figure

    chans = _channels(res, layer, channels)
    values, image_index, position = res.topk(layer)
    k = values.shape[1]
    ds = res.dataset()
    model = res.run.model(res.checkpoint)
    example = ds.normalization.apply(ds.images[:1])
    rule, why = projection_rule(model, example, method)
    picture = topk_montage(res, layer, chans, rule=rule, scale=scale)
    height, width = picture.shape[:2]
    inch = 110.0  # picture pixels per inch of the figure: the montage is shown 1:1 at 110 dpi
    fig_w, fig_h = max(6.0, width / inch + 1.6), height / inch + 1.1
    ax = fig_axes(Figure(figsize=(fig_w, fig_h)), (1.2, 0.45, width / inch, height / inch))
    fig = ax.figure
    ax.imshow(picture, interpolation="nearest")
    row = height / len(chans)
    ax.set_yticks([row * (i + 0.5) for i in range(len(chans))])
    ax.set_yticklabels([f"channel {c}" for c in chans])
    col = width / (2 * k)
    ax.set_xticks([col * (j + 0.5) for j in range(2 * k)])
    ax.set_xticklabels([str(j % k + 1) for j in range(2 * k)], fontsize=7)
    ax.tick_params(length=0)
    ax.axvline(width / 2, color="#d62728", linewidth=1.5)
    ax.set_xlabel(
        f"rank 1..{k}: input patches (left) · their {RULE_NAMES[rule]} projections (right)",
        fontsize=8,
    )
    run_name = res.run.name if res.run is not None else str(res.path)
    fig.suptitle(
        f"{run_name} · layer {layer} · top-{k} of each channel · checkpoint {res.checkpoint}",
        fontsize=10,
    )
    ax.set_title(why, fontsize=8, color="#444444")
    record = {
        "figure": "topk",
        "run": run_name,
        "checkpoint": res.checkpoint,
        "layer": layer,
        "channels": chans,
        "method": rule,
        "method_note": why,
        "k": k,
        "values": [[float(v) for v in values[c]] for c in chans],
        "images": [[int(i) for i in image_index[c]] for c in chans],
        "positions": [[[int(p) for p in pos] for pos in position[c]] for c in chans],
        "data": res.data_spec,
    }
    return fig, record


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
    chans = _channels(first, layer, channels)
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
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SpecError(
            f"k={k!r} is out of range: expected how many neighbours, a whole number >= 1"
        )
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
