"""After the pass: derived arrays (ranges, top-k with boxes, class means, confusion, PCA
bases) and the projections asked for beyond PCA, each listed in the manifest once whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..rundir.probe_layout import CLASSES, array_path, summary_path
from ._writer import Stream
from .partial import Partial
from .plan import LayerPlan, ProbePlan
from .project import NONLINEAR_SAMPLE, fit_projection, sample_points
from .store import StoreWriter

if TYPE_CHECKING:
    from ._target import Target

__all__ = ["derived_arrays", "finalize", "topk_boxes"]

READ_ROWS = 1 << 16  # points read back at a time for UMAP and t-SNE


def finalize(
    store: StoreWriter,
    target: Target,
    plan: ProbePlan,
    partial: Partial,
    manifest: dict[str, Any],
) -> None:
    """Write every derived array not yet complete, then mark the store finished."""
    done: list[str] = manifest["complete"]

    def mark(names: list[str]) -> None:
        done.extend(n for n in names if n not in done)
        store.write_manifest(manifest)

    streamed = [name for name, spec in store.specs.items() if spec.per_image]
    arrays = derived_arrays(plan, partial, manifest["config"], _boxes_for(target, plan))
    pending = [name for name in arrays if name not in done and name in store.specs]
    for name in pending:
        store.write(name, arrays[name])
    mark(streamed + pending)
    for method in plan.projections:
        if method == "pca":
            continue
        for layer in plan.layers:
            name = array_path(layer.name, method)
            if name not in done:
                _write_nonlinear(store, layer, method)
                mark([name])
    manifest["finished"] = True
    store.write_manifest(manifest)


def derived_arrays(
    plan: ProbePlan, partial: Partial, config: dict[str, Any], boxes: Any
) -> dict[str, np.ndarray]:
    """Every array derived from the partial, by store path: ranges, top-k with boxes,
    class means, PCA bases, class counts, the confusion matrix and input class means."""
    out: dict[str, np.ndarray] = {}
    counts = partial.counts.astype(np.float64)
    for p in plan.layers:
        part = partial.layers[p.name]
        out[summary_path(p.name, "range")] = np.stack([part.minimum, part.maximum], 1)
        out[summary_path(p.name, "topk_value")] = part.values.astype(np.float32)
        out[summary_path(p.name, "topk_image")] = part.index.astype(np.int64)
        out[summary_path(p.name, "topk_position")] = part.position.astype(np.int64)
        out[summary_path(p.name, "topk_box")] = boxes(p, part.position)
        seen = np.maximum(counts * p.positions, 1)[:, None]
        out[summary_path(p.name, "class_mean")] = (part.class_sums() / seen).astype(np.float32)
        if p.name in partial.bases:
            mean, components = partial.bases[p.name]
            out[array_path(p.name, "pca_mean")] = mean
            out[array_path(p.name, "pca_components")] = components
    out[f"{CLASSES}/count"] = partial.counts.astype(np.int64)
    if config["classify"]:
        out[f"{CLASSES}/confusion"] = partial.confusion.astype(np.int64)
    if partial.input_sums.shape[1]:
        pixels = partial.input_sums / np.maximum(counts, 1)[:, None] / 255.0
        shape = (len(counts), *config["input_shape"])
        out[f"{CLASSES}/input_mean"] = pixels.reshape(shape).astype(np.float32)
    return out


def _boxes_for(target: Target, plan: ProbePlan) -> Any:
    """A function (layer plan, position (C, k, 2)) -> boxes (C, k, 4) int64 (y0, x0, y1, x1)."""
    from ..model import layer_table

    c, h, w = target.dataset.shape
    table = {info.name: info for info in layer_table(target.model, (c, h, w), defaults=False)}

    def boxes(layer: LayerPlan, position: np.ndarray) -> np.ndarray:
        return topk_boxes(table.get(layer.name), position, (h, w), layer.spatial)

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


def _write_nonlinear(store: StoreWriter, layer: LayerPlan, method: str) -> None:
    """Fit UMAP or t-SNE on a seeded sample of the stored points of one layer, then place
    every stored point (read back block by block)."""
    source = array_path(layer.name, "activation")
    total = store.open(source).shape[0]
    whole_map = layer.spatial and not layer.sampled  # rows (C, H, W), channels first
    per_row = layer.positions if whole_map else 1
    c = layer.channels

    def points(block: np.ndarray) -> np.ndarray:
        return (np.moveaxis(block, 1, -1) if whole_map else block).reshape(-1, c)

    picked = sample_points(total, per_row, NONLINEAR_SAMPLE)
    step = max(1, READ_ROWS // per_row)
    sample = []
    for start in range(0, total, step):
        lo, hi = start * per_row, min(start + step, total) * per_row
        want = picked[(picked >= lo) & (picked < hi)]
        if len(want):
            sample.append(points(store.read(source, slice(start, start + step)))[want - lo])
    projection = fit_projection(method, np.concatenate(sample))
    target = store.open_rw(array_path(layer.name, method))
    out = Stream(target, 0)
    for start in range(0, total, step):
        block = store.read(source, slice(start, start + step))
        flat = projection.transform(points(block).astype(np.float32))
        if whole_map:
            flat = np.moveaxis(flat.reshape(len(block), *layer.shape[:2], -1), -1, 1)
        out.put(start, flat.reshape(len(block), *target.shape[1:]).astype(target.dtype))
    out.flush()
