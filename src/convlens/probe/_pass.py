"""The streamed pass of a probe: fitting projections, the batches, the writes, the saves.

:func:`stream` runs the model batch by batch with the taps on (every probed layer's
work happens in its hook, :mod:`convlens.probe._taps`), folds each batch into the
partial, and hands the batch's rows to a writer thread. :func:`fit_apart` fits the
projections on a plan's fit rows first when a shard does not start with them.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..data.dataset import ImageDataset
from ..model import device_of
from ..rundir.probe_layout import array_path
from ._projector import Projector
from ._taps import Taps
from ._target import Target
from ._writer import Stream, Writer
from .partial import Partial
from .plan import FIT_IMAGES, ProbePlan
from .store import StoreWriter

SAVE_EVERY_S = 2.0  # the shortest time between two saves of the partial
SAVE_SHARE = 0.02  # and saving may take at most this share of the pass (a large state)
QUEUE_BYTES = 256 << 20  # the most batch data waiting for the writer thread

__all__ = ["Progress", "fit_apart", "fit_projections", "model_input", "projectors", "stream"]

Progress = bool | Callable[[int, int], None]
"""True: a bar on stderr; a callable: called with (rows done, rows) after every batch."""


def projectors(target: Target, plan: ProbePlan, partial: Partial) -> dict[str, Projector]:
    """One in-pass PCA per layer when the plan has ``"pca"`` (fitted, holding points, or
    new, as the saved partial says)."""
    if "pca" not in plan.projections:
        return {}
    fit_rows = len(plan.fit_rows) if plan.fit_rows is not None else FIT_IMAGES
    fit_rows = min(fit_rows, plan.n)
    return {
        p.name: Projector(
            p.points_per_image,
            p.channels,
            fit_rows,
            basis=partial.bases.get(p.name, (plan.bases or {}).get(p.name)),
            float16=p.dtype == "float16",
            held=(partial.held[p.name], plan.batch_size) if p.name in partial.held else None,
        )
        for p in plan.layers
    }


def fit_apart(
    target: Target, plan: ProbePlan, partial: Partial, projectors: dict[str, Projector]
) -> None:
    """Fit the projections on the plan's fit rows first, when this probe's rows do not
    start with them (a shard): a pass over those rows that stores nothing."""
    if not projectors or all(p.fitted for p in projectors.values()) or plan.fit_rows is None:
        return
    fit = np.asarray(plan.fit_rows)
    if np.array_equal(target.rows[: len(fit)], fit):
        return  # this probe starts with them: the pass fits as it goes
    fit_projections(target, plan, partial, projectors)


def fit_projections(
    target: Target, plan: ProbePlan, partial: Partial, projectors: dict[str, Projector]
) -> None:
    """A pass over the plan's fit rows that fits ``projectors`` and stores nothing; the
    bases go into ``partial`` (the fit rows' batches are the one-pass batches, so the
    bases equal those a one-pass probe fits as it goes)."""
    fit = np.asarray(plan.fit_rows)
    scratch = Partial.empty([p.spec for p in plan.layers], len(partial.counts), partial.k, 0)
    model, ds = target.model, target.dataset
    taps = Taps(model, plan.layers, scratch, projectors, plan.seed)
    with torch.no_grad(), taps:
        for start, images in zip(
            range(0, len(fit), plan.batch_size), ds.image_batches(fit, plan.batch_size), strict=True
        ):
            taps.start_batch(start, ds.indices[fit[start : start + len(images)]])
            model(model_input(ds, images, device_of(model)))
    for p in projectors.values():
        p.finish()
    _keep_bases(partial, projectors)


def _keep_bases(partial: Partial, projectors: dict[str, Projector]) -> None:
    """The projections' state into the partial: fitted bases, and the points still held
    for a fit (so that a resumed probe fits on the same points)."""
    partial.bases = {n: p.basis for n, p in projectors.items() if p.basis is not None}
    held = {n: p.held() for n, p in projectors.items()}
    partial.held = {n: h for n, h in held.items() if h is not None}


def stream(
    target: Target,
    store: StoreWriter,
    plan: ProbePlan,
    partial: Partial,
    projectors: dict[str, Projector],
    progress: Progress,
) -> None:
    """The pass itself: this thread computes, a writer thread writes.

    - The forward pass runs with the taps on: as each probed layer's output is
      produced, its hook summarises it, folds its peaks into the top-k, takes the
      points the plan stores and projects them (:mod:`convlens.probe._taps`).
    - Then the batch's counts, confusion and class sums are folded into the partial.
    - ``io`` stages the batch's rows into whole chunks and writes each chunk once.

    Every couple of seconds (less often when the partial is large: 1,000 classes make
    their class sums a few hundred megabytes) the partial is saved, with the points
    still held for a projection's fit, queued on ``io`` behind the rows it covers, so a
    saved partial never counts rows whose points are not on disk yet. At most
    ``QUEUE_BYTES`` of batch data wait for ``io`` (and at most eight batches). Python's
    cyclic garbage collector is paused for the pass: its full scans of torch's many
    objects cost more than the pass makes garbage.
    """
    ds, model, n, b = target.dataset, target.model, len(target.rows), plan.batch_size
    specs = store.specs
    unfitted = {array_path(n, "pca") for n, p in projectors.items() if not p.fitted}
    streams = {  # an unfitted layer's projections start at row 0: all its rows are held
        name: Stream(store.open_rw(name), 0 if name in unfitted else partial.rows * spec.per_image)
        for name, spec in specs.items()
        if spec.per_image
    }
    batch_bytes = b * sum(
        np.dtype(spec.dtype).itemsize * int(np.prod(spec.shape[1:])) * spec.per_image
        for spec in specs.values()
        if spec.per_image
    )
    io = Writer(streams, depth=int(max(1, min(8, QUEUE_BYTES // max(batch_bytes, 1)))))
    taps = Taps(model, plan.layers, partial, projectors, plan.seed)
    bar = tqdm(
        total=n,
        initial=partial.rows,
        unit="img",
        desc=f"probe {target.checkpoint}",
        disable=progress is not True,
        file=sys.stderr,
    )
    report = progress if callable(progress) else None
    classify = "outputs/prediction" in specs
    last_save, save_cost = time.monotonic(), 0.0

    sampled = {p.name for p in plan.layers if p.sampled}

    def put_projections(layer: str, ready: list[tuple[int, np.ndarray]]) -> None:
        """(B, P, m) blocks: (B, P, H, W) for a layer stored whole, (B * m, P) sampled."""
        if not ready:
            return
        name = array_path(layer, "pca")
        spec = specs[name]
        for row, block in ready:
            if layer in sampled:
                block = block.transpose(0, 2, 1).reshape(-1, block.shape[1])
            io.put({name: (row * spec.per_image, block.reshape(-1, *spec.shape[1:]))})

    collecting = gc.isenabled()
    gc.disable()
    try:
        with torch.no_grad(), taps:
            rest = target.rows[partial.rows :]
            starts = range(partial.rows, n, b)
            for start, images in zip(starts, ds.image_batches(rest, b), strict=True):
                r = target.rows[start : start + len(images)]
                labels = partial.checked_labels(ds.labels[r])
                indices = ds.indices[r].astype(np.int64)
                taps.start_batch(start, indices)
                out = _as_matrix(model(model_input(ds, images, device_of(model))))
                blocks: dict[str, tuple[int, np.ndarray]] = {
                    "outputs/image": (start, indices),
                    "outputs/label": (start, labels),
                    "outputs/logits": (start, out.numpy()),
                }
                preds = out.argmax(1) if classify else None
                if preds is not None:
                    blocks["outputs/prediction"] = (start, preds.numpy())
                for got in taps.outputs.values():
                    for name, block in got.blocks.items():
                        blocks[name] = (start * specs[name].per_image, block)
                io.put(blocks)
                for layer, got in taps.outputs.items():
                    put_projections(layer, got.pca)
                partial.fold({k: v.summary for k, v in taps.outputs.items()}, images, labels, preds)
                bar.update(len(images))
                if report is not None:
                    report(start + len(images), n)
                since = time.monotonic() - last_save
                if since > max(SAVE_EVERY_S, save_cost / SAVE_SHARE):
                    began = time.monotonic()
                    _keep_bases(partial, projectors)
                    snapshot = partial.to_bytes()
                    io.call(io.flush)
                    io.call(lambda data=snapshot: store.write_partial(data))
                    last_save = time.monotonic()
                    save_cost = last_save - began
        for layer, projector in projectors.items():
            put_projections(layer, projector.finish())
        _keep_bases(partial, projectors)
        final = partial.to_bytes()
        io.call(io.flush)
        io.call(lambda: store.write_partial(final))
        io.close()
    finally:
        if collecting:
            gc.enable()
        bar.close()
        io.abort()


def model_input(ds: ImageDataset, images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalised float32 on ``device`` (uint8 travels, not float)."""
    if device.type == "cpu":
        return ds.normalization.apply(images)
    return ds.normalization.apply(torch.from_numpy(np.ascontiguousarray(images)).to(device))


def _as_matrix(output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.detach().float().reshape(len(output), -1).cpu()
