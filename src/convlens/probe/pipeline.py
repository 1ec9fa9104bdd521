"""``convlens.probe.run``: one streamed pass of a model over a dataset.

The pass maps each batch to a :class:`~convlens.probe.partial.Partial` and merges
it into the running one, while a writer thread puts the batch's points and outputs
on disk. Every couple of seconds (and at the end) the running partial is saved
after the writes before it, so a killed probe resumes from the last saved batch.
Derived arrays (top-k, class means, ranges) are written at the end from the
partial, each one listed in the manifest once whole.
"""

from __future__ import annotations

import gc
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..data.dataset import ImageDataset
from ..errors import DataError
from ..model import device_of
from ..rundir import ProbeResult, Run, open_probe_dir
from ..rundir.probe_layout import FORMAT, array_path
from ._projector import Projector
from ._taps import Taps, Widen
from ._target import Target, check_disk, first_images, resolve, resolve_layers
from ._writer import Stream, Writer
from .finalize import finalize
from .partial import LayerSpec, Partial
from .plan import FIT_IMAGES, ProbeOptions, ProbePlan, StoreSize, make_plan, store_bytes
from .project import require_method
from .store import INPUT_MEAN_LIMIT, StoreWriter, create_store, layout

SAVE_EVERY_S = 2.0  # the shortest time between two saves of the partial
SAVE_SHARE = 0.05  # and saving may take at most this share of the pass (a large state)
QUEUE_BYTES = 256 << 20  # the most batch data waiting for the writer thread

__all__ = ["plan", "run"]

Selection = Sequence[int] | np.ndarray | slice | None


def run(
    run_or_model: Run | str | Path | nn.Module,
    data: str | ImageDataset | None = None,
    layers: Sequence[str] | None = None,
    checkpoint: str | int | None = None,
    *,
    limit: int | None = None,
    rows: Selection = None,
    out: str | Path | None = None,
    plan: ProbePlan | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
    free_space: Callable[[Path], int] | None = None,
    **options: Any,
) -> ProbeResult:
    """Probe a model over a dataset and store the result; returns its reader.

    - ``run_or_model``: a :class:`~convlens.Run` (or its path), or an ``nn.Module``
      with ``data`` an :class:`~convlens.data.ImageDataset` and ``out`` a directory.
    - ``data``: a dataset spec or dataset (default: the run's data, all rows).
    - ``layers``: names (default: the model's block and stage outputs,
      :func:`convlens.model.default_layers`).
    - ``checkpoint``: name, step, "first" or "last" (default last).
    - ``limit``: the first ``limit`` rows; ``rows``: the rows of a shard.
    - ``out``: probe root (default ``RUN/probe``); the store is ``out/<checkpoint>``
      (for a bare model, ``out`` itself).
    - ``plan``: what to store, made by :func:`plan` for the whole data (shards of one
      probe share it); by default made here for these rows.
    - ``options``: the fields of :class:`~convlens.probe.plan.ProbeOptions`: ``topk=9``,
      ``batch_size=None`` (auto), ``budget="2GiB"``, ``projections=("pca",)``,
      ``all_positions=False``, ``seed=0``, ``float32_layers=()``, ``task=None``.
    - ``free_space``: ``fn(path) -> bytes`` (tests); the store's size is checked first.
    - ``device``: where a run's model runs ("cpu" by default, "cuda", "auto"); a bare
      model runs where its parameters are. What is stored comes back to the CPU.

    A re-run with the same options resumes an interrupted probe, or returns at
    once when it is complete.

    >>> # res = convlens.probe.run("runs/lenet", limit=2000); res.topk("conv1")[0].shape
    """
    opts = _options(options)
    target = resolve(run_or_model, data, checkpoint, limit, rows, out, opts.task, device)
    model = target.model
    was_training = model.training
    model.eval()
    try:
        _probe(target, layers, opts, plan, progress, free_space)
    finally:
        model.train(was_training)
    return open_probe_dir(target.path, run=target.run)


def plan(
    run_or_model: Run | str | Path | nn.Module,
    data: str | ImageDataset | None = None,
    layers: Sequence[str] | None = None,
    checkpoint: str | int | None = None,
    *,
    limit: int | None = None,
    rows: Selection = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> ProbePlan:
    """The plan :func:`run` would make for these rows, to give every shard of them.

    Shards probed with ``run(..., rows=shard, plan=p)`` store exactly what one pass
    over all the rows stores (same layers, dtypes, sampled positions, projections)
    and :func:`convlens.probe.merge` joins them. Arguments as for :func:`run`.

    >>> # p = convlens.probe.plan(run); convlens.probe.run(run, rows=slice(0, 5000), plan=p)
    """
    opts = _options(options)
    target = resolve(run_or_model, data, checkpoint, limit, rows, "<plan>", opts.task, device)
    specs, out_dim = _specs(target, layers)
    fit = tuple(int(r) for r in target.rows[:FIT_IMAGES])
    return make_plan(specs, len(target.rows), _size(target, opts, out_dim), opts, fit)


def _options(options: dict[str, Any]) -> ProbeOptions:
    known = set(ProbeOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unexpected probe options {unknown}; expected some of {sorted(known)}")
    opts = ProbeOptions(**options)
    if not isinstance(opts.topk, int) or opts.topk < 1:
        raise DataError(f"topk={opts.topk!r}: expected a positive integer")
    batch = opts.batch_size
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise DataError(f"batch_size={opts.batch_size!r}: expected a positive integer")
    projections = (opts.projections,) if isinstance(opts.projections, str) else opts.projections
    for method in projections:
        require_method(method)
    return replace(
        opts,
        projections=tuple(dict.fromkeys(projections)),
        float32_layers=tuple(opts.float32_layers),
    )


def _specs(target: Target, layers: Sequence[str] | None) -> tuple[list[LayerSpec], int]:
    first = _model_input(target.dataset, first_images(target.dataset, target.rows), target.model)
    specs, output = resolve_layers(target.model, first, layers)
    out_dim = int(np.prod(output.shape[1:])) if isinstance(output, torch.Tensor) else 0
    if out_dim == 0:
        raise DataError("the model output is not a tensor; probe a model that returns one")
    return specs, out_dim


def _size(target: Target, opts: ProbeOptions, out_dim: int) -> StoreSize:
    return StoreSize(len(target.classes), out_dim, int(np.prod(target.dataset.shape)), opts.topk)


def _probe(
    target: Target,
    layers: Sequence[str] | None,
    opts: ProbeOptions,
    given: ProbePlan | None,
    progress: bool,
    free_space: Callable[[Path], int] | None,
) -> None:
    specs, out_dim = _specs(target, layers)
    if given is not None and [p.name for p in given.layers] != [s.name for s in specs]:
        raise DataError(
            f"the plan covers layers {[p.name for p in given.layers]} but this probe's are "
            f"{[s.name for s in specs]}; make the plan with the same layers"
        )
    while True:
        plan = given or make_plan(specs, len(target.rows), _size(target, opts, out_dim), opts)
        try:
            _probe_with(target, plan, opts, out_dim, progress, free_space)
            return
        except Widen as wide:
            if given is not None:
                raise DataError(
                    f"layer {wide.names[0]!r} leaves float16's range (±65504), but the plan "
                    f"stores it as float16; make the plan with float32_layers={wide.names!r}"
                ) from None
            opts = replace(opts, float32_layers=(*opts.float32_layers, *wide.names))


def _config(target: Target, plan: ProbePlan, opts: ProbeOptions, out_dim: int) -> dict[str, Any]:
    ds = target.dataset
    indices = ds.indices[target.rows].astype(np.int64)
    fit = np.asarray(plan.fit_rows if plan.fit_rows is not None else target.rows[:FIT_IMAGES])
    classify = target.task == "classify" and out_dim == len(target.classes)
    return {
        "format": FORMAT,
        "checkpoint": target.checkpoint,
        "data_spec": target.data_spec,
        "n": len(target.rows),
        "indices_sha1": hashlib.sha1(indices.tobytes()).hexdigest(),
        "input_shape": list(ds.shape),
        "layers": [p.name for p in plan.layers],
        "shapes": {p.name: list(p.shape) for p in plan.layers},
        "topk": min(opts.topk, plan.n),
        "all_positions": opts.all_positions,
        "batch_size": plan.batch_size,
        "task": target.task,
        "classify": classify,
        "classes": list(target.classes),
        "outputs": out_dim,
        "projections": list(plan.projections),
        "plan": plan.to_json(),
        "fit_sha1": hashlib.sha1(ds.indices[fit].astype(np.int64).tobytes()).hexdigest(),
    }


def _probe_with(
    target: Target,
    plan: ProbePlan,
    opts: ProbeOptions,
    out_dim: int,
    progress: bool,
    free_space: Callable[[Path], int] | None,
) -> None:
    config = _config(target, plan, opts, out_dim)
    specs = [p.spec for p in plan.layers]
    n = len(target.rows)
    store = StoreWriter(target.path, layout(config, plan))
    manifest = store.read_manifest()
    state = store.read_partial()
    if manifest and manifest.get("config") == config and (manifest.get("finished") or state):
        if manifest.get("finished"):
            return
        partial = Partial.from_bytes(state, specs)  # type: ignore[arg-type]
    else:
        size = _size(target, opts, out_dim)
        check_disk(target.path, store_bytes(plan.layers, n, plan.projections, size), free_space)
        store = create_store(target.path, config, plan, plan.storage(n))
        manifest = store.read_manifest()
        c, h, w = target.dataset.shape
        pixels = c * h * w if len(target.classes) * c * h * w <= INPUT_MEAN_LIMIT else 0
        partial = Partial.empty(
            specs, len(target.classes), config["topk"], pixels, opts.all_positions
        )
    projectors = _projectors(target, plan, partial)
    if partial.rows < n:
        _fit_apart(target, plan, partial, projectors)
        _stream(target, store, plan, partial, projectors, progress)
    finalize(store, target, plan, partial, manifest)  # type: ignore[arg-type]


def _projectors(target: Target, plan: ProbePlan, partial: Partial) -> dict[str, Projector]:
    if "pca" not in plan.projections:
        return {}
    fit_rows = len(plan.fit_rows) if plan.fit_rows is not None else FIT_IMAGES
    fit_rows = min(fit_rows, plan.n)
    return {
        p.name: Projector(
            p.points_per_image,
            p.channels,
            fit_rows,
            basis=partial.bases.get(p.name),
            float16=p.dtype == "float16",
            held=(partial.held[p.name], plan.batch_size) if p.name in partial.held else None,
        )
        for p in plan.layers
    }


def _fit_apart(
    target: Target, plan: ProbePlan, partial: Partial, projectors: dict[str, Projector]
) -> None:
    """Fit the projections on the plan's fit rows first, when this probe's rows do not
    start with them (a shard): a pass over those rows that stores nothing."""
    if not projectors or all(p.fitted for p in projectors.values()) or plan.fit_rows is None:
        return
    fit = np.asarray(plan.fit_rows)
    if np.array_equal(target.rows[: len(fit)], fit):
        return  # this probe starts with them: the pass fits as it goes
    scratch = Partial.empty([p.spec for p in plan.layers], len(partial.counts), partial.k, 0)
    model, ds = target.model, target.dataset
    taps = Taps(model, plan.layers, scratch, projectors, plan.seed)
    with torch.no_grad(), taps:
        for start, images in zip(
            range(0, len(fit), plan.batch_size), ds.image_batches(fit, plan.batch_size), strict=True
        ):
            taps.start_batch(start, ds.indices[fit[start : start + len(images)]])
            model(_model_input(ds, images, model))
    for p in projectors.values():
        p.finish()
    _keep_bases(partial, projectors)


def _keep_bases(partial: Partial, projectors: dict[str, Projector]) -> None:
    """The projections' state into the partial: fitted bases, and the points still held
    for a fit (so that a resumed probe fits on the same points)."""
    partial.bases = {n: p.basis for n, p in projectors.items() if p.basis is not None}
    held = {n: p.held() for n, p in projectors.items()}
    partial.held = {n: h for n, h in held.items() if h is not None}


def _stream(
    target: Target,
    store: StoreWriter,
    plan: ProbePlan,
    partial: Partial,
    projectors: dict[str, Projector],
    progress: bool,
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
    ``QUEUE_BYTES`` of batch data wait for ``io`` (and at most three batches). Python's
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
    io = Writer(streams, depth=int(max(1, min(3, QUEUE_BYTES // max(batch_bytes, 1)))))
    taps = Taps(model, plan.layers, partial, projectors, plan.seed)
    bar = tqdm(
        total=n,
        initial=partial.rows,
        unit="img",
        desc=f"probe {target.checkpoint}",
        disable=not progress,
        file=sys.stderr,
    )
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
                out = _as_matrix(model(_model_input(ds, images, model)))
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


def _model_input(ds: ImageDataset, images: np.ndarray, model: nn.Module) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalised float32 on the model's device (uint8 travels)."""
    device = device_of(model)
    if device.type == "cpu":
        return ds.normalization.apply(images)
    return ds.normalization.apply(torch.from_numpy(np.ascontiguousarray(images)).to(device))


def _as_matrix(output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.detach().float().reshape(len(output), -1).cpu()
