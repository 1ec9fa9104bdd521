"""Merging shards: stores probed apart, combined into the one-pass store."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import RunError
from ._target import Target
from .finalize import finalize
from .partial import LayerSpec, Partial
from .pipeline import _clear, _create_arrays
from .result import ProbeResult
from .store import Store, layer_key

__all__ = ["merge"]

_SAME = (
    "format",
    "checkpoint",
    "data_spec",
    "input_shape",
    "layers",
    "shapes",
    "topk",
    "all_positions",
    "batch_size",
    "task",
    "classify",
    "classes",
    "outputs",
    "dtype",
)


def merge(shards: Sequence[str | Path | ProbeResult], out: str | Path, model=None) -> ProbeResult:
    """Concatenate finished shard stores (in the order given) and merge their partials.

    The shards must share every option but their rows. The result equals a single
    pass over the concatenated rows exactly (same embeddings, top-k, means, ...).
    ``model`` (the probed module) gives receptive-field boxes; without it the boxes
    are copied from the first shard's layer table, which needs ``shards[0].run``.

    >>> # merged = merge(["s0/model", "s1/model", "s2/model"], "all/model", model=net)
    """
    results = [s if isinstance(s, ProbeResult) else ProbeResult(s) for s in shards]
    if not results:
        raise RunError("merge needs at least one shard store")
    first = results[0].config
    for r in results[1:]:
        diff = [k for k in _SAME if r.config.get(k) != first.get(k)]
        if diff:
            raise RunError(
                f"shard {str(r.path)!r} differs from {str(results[0].path)!r} in "
                f"{', '.join(diff)}; probe every shard with the same options"
            )
    specs = [LayerSpec(n, tuple(first["shapes"][n])) for n in first["layers"]]
    partial = Partial.from_bytes(results[0].store.read_partial() or b"", specs)
    for r in results[1:]:
        partial = partial.merge(Partial.from_bytes(r.store.read_partial() or b"", specs))
    n = sum(len(r) for r in results)
    indices = np.concatenate([r.indices for r in results])
    config = dict(first)
    config["n"] = n
    config["indices_sha1"] = hashlib.sha1(indices.astype(np.int64).tobytes()).hexdigest()
    path = Path(out)
    _clear(path)
    store = Store(path)
    _create_arrays(store, config, specs, first["outputs"], first["classify"])
    manifest = {"config": config, "complete": [], "finished": False}
    store.write_manifest(manifest)
    names = [f"embeddings/{layer_key(s.name)}" for s in specs]
    names += ["outputs/logits", "outputs/labels", "outputs/indices"]
    if first["classify"]:
        names.append("outputs/predictions")
    for name in names:
        dest = store.open(name, mode="r+")
        _concat(dest, [r.store.open(name) for r in results], dest.chunks[0])
    store.write_partial(partial.to_bytes())
    target = _merged_target(results[0], model, path)
    finalize(store, target, specs, partial, manifest, tuple(first["projections"]))
    return ProbeResult(path, run=results[0].run)


def _concat(dest, sources, step: int) -> None:
    """Copy ``sources`` one after another into ``dest``, in blocks of ``step`` rows (its chunks)."""
    buffer: list[np.ndarray] = []
    held = 0
    at = 0
    for src in sources:
        for start in range(0, src.shape[0], step):
            block = src[start : start + step]
            buffer.append(block)
            held += len(block)
            while held >= step:
                joined = np.concatenate(buffer)
                dest[at : at + step] = joined[:step]
                at += step
                buffer = [joined[step:]]
                held -= step
    if held:
        dest[at : at + held] = np.concatenate(buffer)


class _Shape:
    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


def _merged_target(first: ProbeResult, model, path: Path) -> Target:
    if model is None:
        if first.run is None:
            raise RunError("merge needs model=... (or shards opened from a run) for the boxes")
        model = first.run.model(first.checkpoint)
    dataset = _Shape(tuple(first.config["input_shape"]))
    return Target(
        model,
        dataset,
        np.arange(0),
        first.checkpoint,
        path,
        first.run,  # type: ignore[arg-type]
        first.task,
        first.classes,
        first.data_spec,
    )
