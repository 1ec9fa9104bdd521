"""``convlens.probe.run``: one streamed pass of a model over a dataset.

The pass maps each batch to a :class:`~convlens.probe.partial.Partial` and
merges it into the running one, while a writer thread puts the batch's
embeddings and outputs on disk. Every couple of seconds (and at the end) the
running partial is saved after the writes before it, so a killed probe resumes
from the last saved batch. Derived arrays (top-k, class means, projections) are
written at the end from the partial, each one listed in the manifest once whole.
"""

from __future__ import annotations

import gc
import hashlib
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..data.dataset import ImageDataset
from ..errors import DataError, RunError
from ..model import device_of
from ..rundir import Run
from ._taps import StorageTaps
from ._target import Target, check_disk, estimate_bytes, resolve, resolve_layers
from ._writer import Writer
from .finalize import finalize, prepare
from .partial import LayerBatch, LayerSpec, Partial, summarise
from .project import require_method
from .result import ProbeResult, open_probe_dir
from .store import FORMAT, Store, batch_chunk_rows, layer_key

SAVE_EVERY_S = 2.0
PROJECTIONS = ("pca",)

__all__ = ["run"]


def run(
    run_or_model: Run | str | Path | nn.Module,
    data: str | ImageDataset | None = None,
    layers: Sequence[str] | None = None,
    checkpoint: str | int | None = None,
    topk: int = 9,
    limit: int | None = None,
    out: str | Path | None = None,
    batch_size: int = 256,
    *,
    rows: Sequence[int] | np.ndarray | slice | None = None,
    all_positions: bool = False,
    projections: Sequence[str] = PROJECTIONS,
    task: str | None = None,
    progress: bool = False,
    free_space: Callable[[Path], int] | None = None,
    device: str | torch.device | None = None,
) -> ProbeResult:
    """Probe a model over a dataset and store the result; returns its reader.

    - ``run_or_model``: a :class:`~convlens.Run` (or its path), or an ``nn.Module``
      with ``data`` an :class:`~convlens.data.ImageDataset` and ``out`` a directory.
    - ``data``: a dataset spec or dataset (default: the run's data, all rows).
    - ``layers``: names (default: every leaf with an (N, D) or (N, C, H, W) output).
    - ``checkpoint``: name, step, "first" or "last" (default last).
    - ``topk``: pairs kept per channel; ``all_positions=True`` lets one image
      give several positions (default: its strongest only).
    - ``limit``: the first ``limit`` rows; ``rows``: the rows of a shard.
    - ``out``: probe root (default ``RUN/probe``); the store is ``out/<checkpoint>``
      (for a bare model, ``out`` itself).
    - ``projections``: ``("pca",)`` by default, ``()`` for none; ``"umap"`` and
      ``"tsne"`` need the extras of those names and take far longer per point
      (see :mod:`convlens.probe.project`).
    - ``free_space``: ``fn(path) -> bytes`` (tests); the estimate is checked first.
    - ``device``: where a run's model runs ("cpu" by default, "cuda", "auto"); a bare
      model runs where its parameters are. Batches go there; what is stored comes
      back to the CPU.

    A re-run with the same options resumes an interrupted probe, or returns at
    once when it is complete.

    >>> # res = convlens.probe.run("runs/lenet", limit=2000); res.topk("conv1")[0].shape
    """
    if not isinstance(topk, int) or topk < 1:
        raise DataError(f"topk={topk!r}: expected a positive integer")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch_size={batch_size!r}: expected a positive integer")
    for method in projections:
        require_method(method)
    target = resolve(run_or_model, data, checkpoint, limit, rows, out, task, device)
    model = target.model
    was_training = model.training
    model.eval()
    try:
        _probe(
            target,
            layers,
            topk,
            batch_size,
            all_positions,
            tuple(projections),
            progress,
            free_space,
        )
    finally:
        model.train(was_training)
    return open_probe_dir(target.path, run=target.run)


def _probe(
    target: Target,
    layers: Sequence[str] | None,
    topk: int,
    batch_size: int,
    all_positions: bool,
    projections: tuple[str, ...],
    progress: bool,
    free_space: Callable[[Path], int] | None,
) -> None:
    ds = target.dataset
    first = _model_input(ds, ds.images[target.rows[:1]], device_of(target.model))
    specs, output = resolve_layers(target.model, first, layers)
    out_dim = int(np.prod(output.shape[1:])) if isinstance(output, torch.Tensor) else 0
    if out_dim == 0:
        raise DataError("the model output is not a tensor; probe a model that returns one")
    classify = target.task == "classify" and out_dim == len(target.classes)
    config = _config(
        target,
        specs,
        min(topk, len(target.rows)),
        batch_size,
        all_positions,
        projections,
        out_dim,
        classify,
    )
    store = Store(target.path)
    manifest = store.read_manifest()
    state = store.read_partial()
    if manifest and manifest.get("config") == config and (manifest.get("finished") or state):
        if manifest.get("finished"):
            return
        partial = Partial.from_bytes(state, specs)  # type: ignore[arg-type]
    else:
        size = int(np.prod(ds.shape))
        needed = estimate_bytes(len(target.rows), specs, out_dim, size, projections)
        check_disk(target.path, needed, free_space)
        _clear(target.path)
        manifest = {"config": config, "complete": [], "finished": False}
        _create_arrays(store, config, specs, out_dim, classify)
        store.write_manifest(manifest)
        partial = Partial.empty(
            specs, len(target.classes), config["topk"], int(np.prod(ds.shape)), all_positions
        )
    if partial.rows < len(target.rows):
        _stream(target, store, specs, partial, batch_size, classify, progress, config)
    finalize(store, target, specs, partial, manifest, projections)


def _config(
    target: Target,
    specs: list[LayerSpec],
    k: int,
    batch_size: int,
    all_positions: bool,
    projections: tuple[str, ...],
    out_dim: int,
    classify: bool,
) -> dict[str, Any]:
    indices = target.dataset.indices[target.rows].astype(np.int64)
    return {
        "format": FORMAT,
        "checkpoint": target.checkpoint,
        "data_spec": target.data_spec,
        "n": len(target.rows),
        "indices_sha1": hashlib.sha1(indices.tobytes()).hexdigest(),
        "input_shape": list(target.dataset.shape),
        "layers": [s.name for s in specs],
        "shapes": {s.name: list(s.shape) for s in specs},
        "topk": k,
        "all_positions": all_positions,
        "batch_size": batch_size,
        "task": target.task,
        "classify": classify,
        "classes": list(target.classes),
        "outputs": out_dim,
        "projections": list(projections),
        "dtype": "float16",
    }


def _clear(path: Path) -> None:
    """Empty the store directory; refuse to clear a folder that is not a probe store."""
    if path.exists():
        if any(path.iterdir()) and not (path / "manifest.json").exists():
            raise RunError(
                f"{str(path)!r} exists and is not a probe store; give an empty or new --out DIR"
            )
        shutil.rmtree(path)
    Store(path).init_group()


def _create_arrays(
    store: Store, config: dict[str, Any], specs: list[LayerSpec], out_dim: int, classify: bool
) -> None:
    n, b = config["n"], config["batch_size"]
    shapes = {f"embeddings/{layer_key(s.name)}": ((n, *s.shape), "float16") for s in specs}
    shapes["outputs/logits"] = ((n, out_dim), "float32")
    for name in STREAMED[1 : 4 if classify else 3]:  # labels, indices (, predictions)
        shapes[name] = ((n,), "int64")
    for name, (shape, dtype) in shapes.items():
        store.declare(name, shape, dtype, batch_chunk_rows(b, shape[1:], dtype, n))


STREAMED = ("outputs/logits", "outputs/labels", "outputs/indices", "outputs/predictions")


def _stream(
    target: Target,
    store: Store,
    specs: list[LayerSpec],
    partial: Partial,
    batch_size: int,
    classify: bool,
    progress: bool,
    config: dict[str, Any],
) -> None:
    """The pass itself: this thread computes, a writer thread writes.

    - The forward pass runs with the taps on: as each probed layer's output is
      produced, its hook converts it to its stored form and summarises it (peaks,
      minimum, class sums; :func:`~convlens.probe.partial.summarise`) while it is
      still in cache: torch's intra-op threads reduce the large maps, compiled loops
      the small ones and the class sums.
    - Then the batch is folded into the partial: compiled loops insert the peaks
      that can still enter a top-k.
    - ``io`` writes the batch's blocks, by direct I/O where it can, which costs the
      CPU almost nothing and so overlaps the next forward pass; then it hands the
      buffer set back to the taps. While the disk is busy it also lays out the
      derived arrays (:func:`~convlens.probe.finalize.prepare`).

    Every couple of seconds the partial is saved, queued on ``io`` behind the rows
    it covers, so a saved partial never counts rows whose embeddings are not on
    disk yet. Python's cyclic garbage collector is paused for the pass: its full
    scans of torch's many objects cost more than the pass makes garbage.
    """
    ds, model, n = target.dataset, target.model, len(target.rows)
    device = device_of(model)
    names = [s.name for s in specs]
    classes = len(partial.counts)
    arrays = {f"embeddings/{layer_key(s.name)}": None for s in specs}
    arrays.update({k: None for k in STREAMED[: 4 if classify else 3]})
    io = Writer({k: store.open(k, mode="r+") for k in arrays})
    io.call(lambda: prepare(store, specs, config))
    batch_labels: list[torch.Tensor] = []  # the current batch's, for the hooks

    def summary(name: str, output: torch.Tensor, stored: torch.Tensor) -> LayerBatch:
        return summarise(output, stored, batch_labels[0], classes)

    shapes = {s.name: s.shape for s in specs}
    taps = StorageTaps(model, names, shapes, batch_size, summarise=summary)
    bar = tqdm(
        total=n,
        initial=partial.rows,
        unit="img",
        desc=f"probe {target.checkpoint}",
        disable=not progress,
        file=sys.stderr,
    )
    last_save = time.monotonic()

    def forward(images: np.ndarray) -> torch.Tensor:
        """One pass with the taps on; again with copies if the pass changed what it saw."""
        out = model(_model_input(ds, images, device))
        changed = taps.changed()
        if changed:  # an in-place op after a probed layer: copy those layers, run again
            taps.copy(changed)
            out = model(_model_input(ds, images, device))
        return _as_matrix(out).cpu()

    collecting = gc.isenabled()
    gc.disable()
    try:
        with torch.no_grad(), taps:
            for start in range(partial.rows, n, batch_size):
                r = target.rows[start : start + batch_size]
                images = ds.images[r]
                labels = partial.checked_labels(torch.from_numpy(ds.labels[r]))
                indices = torch.from_numpy(ds.indices[r].astype(np.int64))
                buffers = taps.take(check=io.check)
                batch_labels[:] = [labels]
                out = forward(images)
                outputs, summaries = dict(taps.outputs), dict(taps.summaries)
                blocks = {
                    f"embeddings/{layer_key(nm)}": taps.stored[nm].cpu().numpy() for nm in names
                }
                taps.clear()
                preds = out.argmax(1) if classify else None
                blocks["outputs/logits"] = out.numpy()
                blocks["outputs/labels"] = labels.numpy()
                blocks["outputs/indices"] = indices.numpy()
                if preds is not None:
                    blocks["outputs/predictions"] = preds.numpy()
                io.put(start, blocks)
                io.call(lambda b=buffers: taps.give_back(b))
                partial.fold(summaries, outputs, images, labels, indices, preds)
                del outputs, summaries, blocks
                bar.update(len(r))
                if time.monotonic() - last_save > SAVE_EVERY_S:
                    snapshot = partial.to_bytes()
                    io.call(io.flush)
                    io.call(lambda b=snapshot: store.write_partial(b))
                    last_save = time.monotonic()
        final = partial.to_bytes()
        io.call(lambda: store.write_partial(final))
        io.close()
    finally:
        if collecting:
            gc.enable()
        bar.close()
        io.abort()


def _model_input(ds: ImageDataset, images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, C, H, W) -> normalised float32 on ``device`` (uint8 travels, not float)."""
    if device.type == "cpu":
        return ds.normalization.apply(images)
    return ds.normalization.apply(torch.from_numpy(np.ascontiguousarray(images)).to(device))


def _as_matrix(output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.detach().float().reshape(len(output), -1)
