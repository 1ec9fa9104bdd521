"""Read-only analyses of a :class:`RunView` for the explorer's deepViz views.

- :func:`confusion`: the (K, K) confusion matrix of a snapshot (rows: true class,
  columns: predicted class);
- :func:`neighbours`: the ``k`` images nearest to one image at one layer (Euclidean
  over the whole layer response, every position of a structured layer; over each
  channel's mean for a layer the probe stored as a sample of its positions);
- :func:`image_values`: one value per image for chosen (layer, dimension) pairs, for
  the cross-layer and 3-D scatter plots;
- :func:`layer_weights`: one layer's weight tensor at one snapshot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import LayerError, suggestion
from ._http import ApiError
from .session import RunView

NEIGHBOUR_CHUNK = 2048  # images per block of the distance computation


def confusion(view: RunView, checkpoint: str | None = None) -> dict[str, Any]:
    """JSON: ``matrix`` (K, K) counts, true class by row, predicted class by column.

    >>> # confusion(view)["matrix"][8][3]   # 8s predicted as 3
    """
    probe = view.probe_at(checkpoint)
    matrix = probe.confusion()
    if matrix is None:
        raise ApiError(
            404,
            f"run {view.run.name!r} has no confusion matrix: its task is {view.run.task!r}, "
            "not a classifier with predictions",
        )
    return {
        "checkpoint": probe.checkpoint,
        "classes": view.run.classes,
        "matrix": np.asarray(matrix).astype(int).tolist(),
    }


def neighbours(
    view: RunView, layer: str, row: int, k: int = 9, checkpoint: str | None = None
) -> dict[str, Any]:
    """The ``k`` nearest images to image ``row`` at ``layer`` (itself excluded).

    Distances are Euclidean over the layer's whole response of each image, (D,) or
    (H * W * C,), computed in float32 from the stored values; for a layer stored as a
    sample of its positions, over each channel's mean (C,) (``"over"`` says which).

    >>> # neighbours(view, "fc1", 0, k=5)["rows"]
    """
    view.layer(layer)
    _row(view, row)
    flat, over = view.image_vectors(layer, checkpoint)
    query = flat[row].astype(np.float32)
    dist = np.empty(len(flat), np.float32)
    for start in range(0, len(flat), NEIGHBOUR_CHUNK):
        block = flat[start : start + NEIGHBOUR_CHUNK].astype(np.float32) - query
        dist[start : start + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
    dist[row] = np.inf
    k = min(k, len(flat) - 1)
    nearest = np.argpartition(dist, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
    nearest = nearest[np.lexsort((nearest, dist[nearest]))]
    return {
        "layer": layer,
        "row": row,
        "rows": nearest.astype(int).tolist(),
        "distances": dist[nearest].astype(float).tolist(),
        "over": over,
    }


def parse_axis(view: RunView, spec: str) -> tuple[str, int]:
    """``"layer:dim"`` -> (layer, dim), validated against the probed layers."""
    layer, sep, dim = spec.rpartition(":")
    if not sep or not dim.isdigit():
        raise ApiError(400, f"axis {spec!r} is not 'layer:dimension': expected for example 'fc1:3'")
    view.layer(layer)
    d = int(dim)
    dims = int(view.probe.layer_shape(layer)[-1])
    if d >= dims:
        raise ApiError(
            400, f"axis {spec!r}: layer {layer!r} has {dims} dimensions, expected 0..{dims - 1}"
        )
    return layer, d


def image_values(
    view: RunView, axes: list[tuple[str, int]], checkpoint: str | None = None
) -> np.ndarray:
    """(len(axes), N) float32: each image's value on every (layer, dimension) axis.

    A structured layer gives the mean of that channel over all positions (one point
    per image, so layers of different grids can share one plot), exact over every
    position whatever the probe stored.
    """
    probe = view.probe_at(checkpoint)
    out = np.empty((len(axes), view.n_images), np.float32)
    for a, (layer, dim) in enumerate(axes):
        out[a] = probe.image_means(layer)[:, dim]
    return out


def layer_weights(view: RunView, layer: str, checkpoint: str | None = None) -> np.ndarray:
    """The ``weight`` of module ``layer`` at ``checkpoint`` as float32, e.g. (C_out, C_in, kh, kw).

    >>> # layer_weights(view, "conv1", "step-00000010").shape
    """
    from ..rundir.checkpoints import read_state

    name = checkpoint if checkpoint is not None else view.probe.checkpoint
    names = [c.name for c in view.run.checkpoints]
    if name not in names:
        raise ApiError(
            404,
            f"checkpoint {name!r} does not exist in run {view.run.name!r}: expected one of "
            f"{', '.join(names)}",
        )

    def load() -> dict[str, np.ndarray]:
        state = read_state(view.run.checkpoint(name).path)
        return {k: v.float().numpy() for k, v in state.items()}

    tensors = view._cache.get(
        ("weights", name),
        load,
        lambda d: sum(v.nbytes for v in d.values()),
    )
    key = f"{layer}.weight"
    if key not in tensors:
        layers = sorted(k[: -len(".weight")] for k in tensors if k.endswith(".weight"))
        raise LayerError(
            f"layer {layer!r} has no weights in run {view.run.name!r}: expected a layer with "
            f"a weight ({suggestion(layer, layers, 'layers')})"
        )
    return np.asarray(tensors[key], dtype=np.float32)


def _row(view: RunView, row: int) -> int:
    if not 0 <= row < view.n_images:
        raise ApiError(404, f"image row {row} does not exist: expected 0..{view.n_images - 1}")
    return row
