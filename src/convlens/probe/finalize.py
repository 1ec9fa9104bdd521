"""After the pass: derived arrays (range, top-k with boxes, class means, confusion,
projections), each listed in the manifest once it is whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ._chunks import RowChunks
from .partial import FIXED_POINT, LayerSpec, Partial
from .project import NONLINEAR_SAMPLE, SAMPLE_POINTS, fit_projection, sample_points
from .store import Store, batch_chunk_rows, layer_key

if TYPE_CHECKING:
    from ._target import Target

__all__ = ["derived_arrays", "finalize", "prepare", "topk_boxes"]


def finalize(
    store: Store,
    target: Target,
    specs: list[LayerSpec],
    partial: Partial,
    manifest: dict[str, Any],
    projections: tuple[str, ...],
) -> None:
    """Write every derived array not yet complete, then mark the store finished."""
    config = manifest["config"]
    done: list[str] = manifest["complete"]

    def mark(*names: str) -> None:
        done.extend(n for n in names if n not in done)
        store.write_manifest(manifest)

    streamed = [f"embeddings/{layer_key(s.name)}" for s in specs]
    streamed += ["outputs/logits", "outputs/labels", "outputs/indices"]
    if config["classify"]:
        streamed.append("outputs/predictions")
    mark(*streamed)
    arrays = derived_arrays(specs, partial, config, _boxes_for(target, specs))
    pending = [name for name in arrays if name not in done]
    for name in pending:
        store.write(name, arrays[name])
    mark(*pending)
    for method in projections:
        for s in specs:
            name = f"projection/{layer_key(s.name)}/{method}"
            if name not in done:
                _write_projection(store, s, config["batch_size"], name, method)
                mark(name)
    manifest["finished"] = True
    store.write_manifest(manifest)


def derived_arrays(
    specs: list[LayerSpec], partial: Partial, config: dict[str, Any], boxes: Any
) -> dict[str, np.ndarray]:
    """Every array derived from the partial: ranges, top-k with boxes, class means,
    class counts and (for classifiers) the confusion matrix, by store name."""
    out: dict[str, np.ndarray] = {}
    for s in specs:
        key = layer_key(s.name)
        part = partial.layers[s.name]
        out[f"range/{key}/min"] = part.minimum.astype(np.float32)
        out[f"range/{key}/max"] = part.maximum.astype(np.float32)
        out[f"topk/{key}/values"] = part.values.astype(np.float32)
        out[f"topk/{key}/image_index"] = part.index.astype(np.int64)
        out[f"topk/{key}/position"] = part.position.astype(np.int64)
        out[f"topk/{key}/boxes"] = boxes(s, part.position)
        out[f"class_means/{key}"] = _means(part.sums, partial.counts, s.shape)
    pixels = _means(partial.input_sums * FIXED_POINT, partial.counts, tuple(config["input_shape"]))
    out["class_means/input"] = pixels / np.float32(255.0)
    out["class_counts"] = partial.counts.astype(np.int64)
    if config["classify"]:
        out["confusion"] = partial.confusion.astype(np.int64)
    return out


def prepare(store: Store, specs: list[LayerSpec], config: dict[str, Any]) -> None:
    """Lay out every derived array ahead of time, so that :func:`finalize` only
    rewrites files that exist (making files is what costs, not writing them).

    The arrays hold placeholders until then, and the manifest does not list them.
    """
    n_in = int(np.prod(config["input_shape"]))
    empty = Partial.empty(specs, len(config["classes"]), config["topk"], n_in)

    def no_boxes(spec: LayerSpec, position: np.ndarray) -> np.ndarray:
        return np.zeros((*position.shape[:2], 4), np.int64)

    for name, data in derived_arrays(specs, empty, config, no_boxes).items():
        store.write(name, data)


def _means(sums: np.ndarray, counts: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Fixed-point class sums (K, F) -> class means (K, *shape) float32 (0 for empty classes)."""
    total = sums.astype(np.float64) / FIXED_POINT
    mean = total / np.maximum(counts, 1)[:, None]
    return mean.reshape(len(counts), *shape).astype(np.float32)


def _boxes_for(target: Target, specs: list[LayerSpec]) -> Any:
    """A function (spec, position (C, k, 2)) -> boxes (C, k, 4) int64 (y0, x0, y1, x1)."""
    from ..model import layer_table

    c, h, w = target.dataset.shape
    table = {info.name: info for info in layer_table(target.model, (c, h, w))}

    def boxes(spec: LayerSpec, position: np.ndarray) -> np.ndarray:
        info = table.get(spec.name)
        return topk_boxes(info, position, (h, w), spec.spatial)

    return boxes


def topk_boxes(info: Any, position: np.ndarray, size: tuple[int, int], spatial: bool) -> np.ndarray:
    """Receptive-field boxes of positions (C, k, 2): (C, k, 4); the whole input for fc layers."""
    from ..model import rf_boxes

    h, w = size
    if not spatial or info is None or getattr(info, "rf_size", None) is None:
        out = np.zeros((*position.shape[:2], 4), np.int64)
        out[...] = (0, 0, h, w)
        return out
    boxes = rf_boxes(info, position.reshape(-1, 2), clip=(h, w))
    return boxes.reshape(*position.shape[:2], 4)


def _write_projection(
    store: Store, spec: LayerSpec, batch_size: int, name: str, method: str
) -> None:
    """Fit ``method`` on a sample of points of one layer, then project every point."""
    emb = RowChunks(store.open(f"embeddings/{layer_key(spec.name)}"))
    n = emb.array.shape[0]
    c = spec.channels
    positions = spec.features // c
    picked = sample_points(n, positions, SAMPLE_POINTS if method == "pca" else NONLINEAR_SAMPLE)
    step = max(batch_size, 1)
    sample = []
    for start in range(0, n, step):
        lo, hi = start * positions, min(start + step, n) * positions
        want = picked[(picked >= lo) & (picked < hi)]
        if len(want):
            block = emb.read(start, start + step).reshape(-1, c)
            sample.append(block[want - lo])
    projection = fit_projection(method, np.concatenate(sample))
    p = projection.axes
    shape = (n, *spec.shape[:-1], p)
    out = RowChunks(
        store.create(name, shape, "float16", batch_chunk_rows(step, shape[1:], "float16", n))
    )
    for start in range(0, n, step):
        block = emb.read(start, start + step)
        flat = projection.transform(block.reshape(-1, c))
        out.write(start, flat.reshape(*block.shape[:-1], p).astype(np.float16))
