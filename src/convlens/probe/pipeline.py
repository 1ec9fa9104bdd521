"""``convlens.probe.run``: one streamed pass of a model over a dataset.

The pass maps each batch to a :class:`~convlens.probe.partial.Partial` and merges
it into the running one, while a writer thread puts the batch's points and outputs
on disk. Every couple of seconds (and at the end) the running partial is saved
after the writes before it, so a killed probe resumes from the last saved batch.
Derived arrays (top-k, class means, ranges) are written at the end from the
partial, each one listed in the manifest once whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._atomic import writing
from ..data.dataset import ImageDataset
from ..errors import DataError
from ..model import device_of
from ..rundir import ProbeResult, Run, open_probe_dir
from ..rundir.probe_layout import FORMAT
from ._pass import Progress, fit_apart, model_input, projectors, stream
from ._taps import Widen
from ._target import Target, check_disk, first_images, resolve, resolve_layers
from .finalize import finalize
from .partial import LayerSpec, Partial
from .plan import FIT_IMAGES, ProbeOptions, ProbePlan, StoreSize, make_plan, store_bytes
from .project import require_method
from .store import INPUT_MEAN_LIMIT, StoreWriter, create_store, layout

__all__ = ["FloatRangeError", "plan", "run"]


class FloatRangeError(DataError):
    """A layer left float16's range in a probe that follows a given plan (a shard):
    ``names`` are the layers the plan must store as float32."""

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        super().__init__(
            f"layer {self.names[0]!r} leaves float16's range (±65504), but the plan stores "
            f"it as float16; make the plan with float32_layers={self.names!r}"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # raised on a dask worker, read on the driver
        return (FloatRangeError, (self.names,))


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
    progress: Progress = False,
    device: str | torch.device | None = None,
    client: Any = None,
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
    - The store's size is checked against the free disk space first.
    - ``device``: where a run's model runs ("cpu" by default, "cuda", "auto"); a bare
      model runs where its parameters are. What is stored comes back to the CPU.
    - ``progress``: True draws a bar on stderr; a callable is called with (rows done,
      rows) after every batch.
    - ``client``: a ``dask.distributed.Client``: the rows are probed in contiguous shards
      on its workers and merged, with the result of one pass (see
      :mod:`convlens.probe.distributed`; needs the ``dask`` extra).

    A re-run with the same options resumes an interrupted probe, or returns at
    once when it is complete.

    >>> # res = convlens.probe.run("runs/lenet", limit=2000); res.topk("conv1")[0].shape
    """
    opts = _options(options)
    if client is not None and (rows is not None or plan is not None):
        raise DataError(
            "client= splits the rows into shards and plans them itself; drop rows= and plan="
        )
    target = resolve(run_or_model, data, checkpoint, limit, rows, out, opts.task, device)
    model = target.model
    was_training = model.training
    model.eval()
    try:
        if client is not None:
            from .distributed import probe_on_cluster

            probe_on_cluster(client, target, layers, opts, progress)
        else:
            _probe(target, layers, opts, plan, progress)
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
    images = first_images(target.dataset, target.rows)
    first = model_input(target.dataset, images, device_of(target.model))
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
    progress: Progress,
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
            _probe_with(target, plan, opts, out_dim, progress)
            return
        except Widen as wide:
            if given is not None:
                raise FloatRangeError(wide.names) from None
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
    progress: Progress,
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
        check_disk(target.path, store_bytes(plan.layers, n, plan.projections, size))
        store = create_store(target.path, config, plan, plan.storage(n))
        manifest = store.read_manifest()
        c, h, w = target.dataset.shape
        pixels = c * h * w if len(target.classes) * c * h * w <= INPUT_MEAN_LIMIT else 0
        partial = Partial.empty(
            specs, len(target.classes), config["topk"], pixels, opts.all_positions
        )
    fitting = projectors(target, plan, partial)
    with writing(target.path):  # a write the disk refuses names the store, and it resumes
        if partial.rows < n:
            fit_apart(target, plan, partial, fitting)
            stream(target, store, plan, partial, fitting, progress)
        finalize(store, target, plan, partial, manifest)  # type: ignore[arg-type]
