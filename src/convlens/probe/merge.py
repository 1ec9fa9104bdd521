"""Merging shards: stores probed apart with one plan, combined into the one-pass store."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..errors import RunError
from ..rundir import ProbeResult
from ._target import Target
from ._writer import Stream
from .finalize import finalize
from .partial import Partial
from .plan import LayerPlan, ProbePlan
from .store import create_store, layout

__all__ = ["merge", "plan_of"]

_PER_SHARD = ("n", "indices_sha1")  # the only config entries shards may differ in


def plan_of(config: dict[str, Any]) -> ProbePlan:
    """The plan a store was probed with, from its config."""
    p = config["plan"]
    layers = tuple(
        LayerPlan(d["name"], tuple(d["shape"]), d["dtype"], int(d["points_per_image"]))
        for d in p["layers"]
    )
    return ProbePlan(
        layers, p["n"], p["batch_size"], p["budget"], tuple(p["projections"]), p["seed"]
    )


def merge(
    shards: Sequence[str | Path | ProbeResult], out: str | Path, model: nn.Module | None = None
) -> ProbeResult:
    """Concatenate finished shard stores (in the order given) and merge their partials.

    The shards must have been probed with one plan (:func:`convlens.probe.plan`) and
    differ only in their rows. The result equals a single pass over the concatenated
    rows exactly (same points, top-k, means, projections ...). ``model`` (the probed
    module) gives receptive-field boxes; without it the model is rebuilt from the
    first shard's run.

    >>> # p = convlens.probe.plan(run)
    >>> # shards = [convlens.probe.run(run, rows=r, plan=p, out=f"s{i}") for i, r in ...]
    >>> # merged = merge([s.path for s in shards], "all/model", model=net)
    """
    results = [s if isinstance(s, ProbeResult) else ProbeResult(s) for s in shards]
    if not results:
        raise RunError("merge needs at least one shard store")
    first = results[0].config
    for r in results[1:]:
        keys = sorted(set(first) | set(r.config))
        diff = [k for k in keys if k not in _PER_SHARD and r.config.get(k) != first.get(k)]
        if diff:
            raise RunError(
                f"shard {str(r.path)!r} differs from {str(results[0].path)!r} in "
                f"{', '.join(diff)}; probe every shard with one plan (convlens.probe.plan)"
            )
    plan = plan_of(first)
    specs = [p.spec for p in plan.layers]
    partial = Partial.from_bytes(_state(results[0]), specs)
    for r in results[1:]:
        partial = partial.merge(Partial.from_bytes(_state(r), specs))
    indices = np.concatenate([r.indices for r in results])
    config = dict(first)
    config["n"] = len(indices)
    config["indices_sha1"] = hashlib.sha1(indices.astype(np.int64).tobytes()).hexdigest()
    path = Path(out)
    store = create_store(path, config, plan, plan.storage(config["n"]))
    for name, spec in layout(config, plan).items():
        if spec.per_image:
            _concat(Stream(store.open_rw(name)), [(r, name) for r in results])
    store.write_partial(partial.to_bytes())
    target = _merged_target(results[0], model, path)
    finalize(store, target, plan, partial, store.read_manifest() or {})
    return ProbeResult(path, run=results[0].run)


def _state(result: ProbeResult) -> bytes:
    data = result.store.read_partial()
    if data is None:
        raise RunError(f"shard {str(result.path)!r} has no partial.bin; probe it again")
    return data


def _concat(dest: Stream, sources: list[tuple[ProbeResult, str]]) -> None:
    """The rows of each source array, one after another, into ``dest``."""
    at = 0
    for result, name in sources:
        rows = result.store.open(name).shape[0]
        step = dest.rows
        for start in range(0, rows, step):
            block = result.store.read(name, slice(start, start + step))
            dest.put(at, block)
            at += len(block)
    dest.flush()


class _Shape:
    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


def _merged_target(first: ProbeResult, model: nn.Module | None, path: Path) -> Target:
    if model is None:
        if first.run is None:
            raise RunError("merge needs model=... (or shards opened from a run) for the boxes")
        model = first.run.model(first.checkpoint)
    return Target(
        model,
        _Shape(tuple(first.config["input_shape"])),  # type: ignore[arg-type]
        np.arange(0),
        first.checkpoint,
        path,
        first.run,
        first.task,
        first.classes,
        first.data_spec,
    )
