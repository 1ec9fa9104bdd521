"""Making a probe store: every array laid out at once, with names, dimensions and attributes.

:func:`layout` lists the arrays of a store for a plan (see
:mod:`convlens.rundir.probe_layout` for what each holds); :func:`create_store`
makes an empty store with all of them (through ``zarr.create_hierarchy``, one call
for the whole tree) and its manifest. The pass and :func:`convlens.probe.merge`
both start from it. Arrays are uncompressed (activations barely compress, and
compression would cost throughput) and chunked along their first axis only.

Example::

    store = create_store("runs/lenet/probe/step-00000100", config, plan)
    store.open_rw("outputs/label")[0:256] = labels
"""

from __future__ import annotations

import functools
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BytesCodec
from zarr.core.dtype import get_data_type_from_native_dtype
from zarr.core.group import GroupMetadata
from zarr.core.metadata.v3 import ArrayV3Metadata
from zarr.storage import LocalStore

from .._atomic import output_error, write_bytes, write_json, writing
from ..errors import RunError
from ..rundir.probe_layout import (
    CLASSES,
    EMBEDDINGS,
    FORMAT,
    MANIFEST,
    OUTPUTS,
    PARTIAL,
    SUMMARY,
    array_path,
    layer_key,
    summary_path,
)
from ..rundir.probe_store import ProbeStore
from ._writer import Stream
from .plan import INPUT_MEAN_LIMIT, LayerPlan, ProbePlan, projection_axes

CHUNK_BYTES = 4 << 20  # a streamed array's chunks hold as many rows as fit in this
CHUNK_KEYS = {"name": "default", "separator": "."}  # chunk files beside zarr.json

__all__ = ["CHUNK_BYTES", "INPUT_MEAN_LIMIT", "ArraySpec", "StoreWriter", "create_store", "layout"]


@dataclass(frozen=True)
class ArraySpec:
    """One array of a store: shape, dtype, dimension names and attributes; ``per_image``
    is how many of its rows one image gives when the pass streams it (0: written whole,
    or row block by row block, after the pass)."""

    shape: tuple[int, ...]
    dtype: str
    dims: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    per_image: int = 0

    @property
    def chunk_rows(self) -> int:
        """Rows per chunk: at most ``CHUNK_BYTES`` of them (at least one row), the rows
        spread evenly over the chunks so that the last one, stored at its full size like
        every chunk, pads little."""
        if not self.shape or not self.shape[0]:
            return 1
        row = np.dtype(self.dtype).itemsize * math.prod(self.shape[1:])
        most = max(1, CHUNK_BYTES // max(row, 1))
        chunks = -(-self.shape[0] // most)
        return int(-(-self.shape[0] // chunks))


def _spec(
    shape: tuple[int, ...],
    dtype: str,
    dims: tuple[str, ...],
    what: tuple[str, str, str],
    **more: Any,
) -> ArraySpec:
    """An array of ``shape``/``dtype``/``dims``; ``what`` = (layer, units, description);
    ``per_image=m`` for arrays the pass streams, other keywords are attributes."""
    per_image = int(more.pop("per_image", 0))
    layer, units, description = what
    attrs = {"layer": layer, "units": units, "description": description, **more}
    return ArraySpec(tuple(shape), dtype, tuple(dims), attrs, per_image)


def layout(config: dict[str, Any], plan: ProbePlan) -> dict[str, ArraySpec]:
    """Every array of a store of ``config["n"]`` images probed with ``plan``, by path."""
    n, k, classes = config["n"], config["topk"], len(config["classes"])
    out = {
        f"{OUTPUTS}/image": _spec(
            (n,), "int64", ("image",), ("", "index", "dataset index of each row"), per_image=1
        ),
        f"{OUTPUTS}/label": _spec(
            (n,), "int64", ("image",), ("", "class", "label of each image"), per_image=1
        ),
        f"{OUTPUTS}/logits": _spec(
            (n, config["outputs"]), "float32", ("image", "output"),
            ("", "model output", "the model's output for each image"), per_image=1,
        ),
    }  # fmt: skip
    if config["classify"]:
        out[f"{OUTPUTS}/prediction"] = _spec(
            (n,), "int64", ("image",), ("", "class", "arg-max of the output"), per_image=1
        )
    for p in plan.layers:
        out.update(_layer_arrays(p, n, k, classes, plan.projections))
    out[f"{CLASSES}/count"] = _spec(
        (classes,), "int64", ("class",), ("", "images", "images per class")
    )
    if config["classify"]:
        out[f"{CLASSES}/confusion"] = _spec(
            (classes, classes), "int64", ("label", "prediction"),
            ("", "images", "images per (label, prediction)"),
        )  # fmt: skip
    c, h, w = config["input_shape"]
    if classes * c * h * w <= INPUT_MEAN_LIMIT:
        out[f"{CLASSES}/input_mean"] = _spec(
            (classes, c, h, w), "float32", ("class", "channel", "y", "x"),
            ("input", "pixels 0..1", "mean input image per class"),
        )  # fmt: skip
    return out


def _layer_arrays(
    p: LayerPlan, n: int, k: int, classes: int, projections: tuple[str, ...]
) -> dict[str, ArraySpec]:
    name, c, units = p.name, p.channels, "activation"
    # a layer stored whole keeps PyTorch's (C, H, W) order per image: writing it costs one
    # plain cast per batch, where (H, W, C) would cost a transposing copy of every value
    m = p.points_per_image if p.sampled else 1
    coords = {"coordinates": "image y x"} if p.sampled else {}
    n_rows = n * m

    def dims(last: str, size: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        if p.sampled:
            return (n_rows, size), ("point", last)
        if p.spatial:
            return (n, size, *p.shape[:2]), ("image", last, "y", "x")
        return (n, size), ("image", last)

    where = "a sample of the positions" if p.sampled else "every position"
    emb = lambda key: array_path(name, key)  # noqa: E731
    shape, names = dims("channel", c)
    out = {
        emb("activation"): _spec(
            shape, p.dtype, names,
            (name, units, f"the layer's output at {where} of each image"), per_image=m, **coords,
        ),
        emb("image"): _spec(
            shape[:1], "int64", names[:1], (name, "index", "dataset index of each row's image"),
            per_image=m,
        ),
    }  # fmt: skip
    if p.sampled:
        pos = "int16" if max(p.shape[:2]) < 2**15 else "int32"
        for axis in ("y", "x"):
            out[emb(axis)] = _spec(
                (n_rows,),
                pos,
                ("point",),
                (name, "position", f"{axis} of each point"),
                per_image=m,
            )
    for method in projections:
        shape, names = dims("component" if method == "pca" else "axis", projection_axes(c, method))
        out[emb(method)] = _spec(
            shape, p.dtype, names, (name, method, f"{method} of each stored point"),
            per_image=m if method == "pca" else 0, **coords,
        )  # fmt: skip
    if "pca" in projections:
        out[emb("pca_mean")] = _spec(
            (c,), "float64", ("channel",), (name, units, "mean subtracted before the pca")
        )
        out[emb("pca_components")] = _spec(
            (projection_axes(c, "pca"), c), "float64", ("component", "channel"),
            (name, units, "pca = (activation - pca_mean) @ pca_components.T"),
        )  # fmt: skip
    sm = lambda key: summary_path(name, key)  # noqa: E731
    if p.spatial:
        out[sm("mean")] = _spec(
            (n, c), "float32", ("image", "channel"),
            (name, units, "mean of each channel over the positions of each image"), per_image=1,
        )  # fmt: skip
    table = {
        "range": ((c, 2), "float32", ("channel", "bound"), units,
                  "minimum and maximum over every image and position"),
        "topk_value": ((c, k), "float32", ("channel", "rank"), units,
                       "the k largest values, one per image, best first"),
        "topk_image": ((c, k), "int64", ("channel", "rank"), "index",
                       "dataset index of each top-k value"),
        "topk_position": ((c, k, 2), "int64", ("channel", "rank", "axis"), "position",
                          "(y, x) of each top-k value"),
        "topk_box": ((c, k, 4), "int64", ("channel", "rank", "side"), "pixels",
                     "receptive field (y0, x0, y1, x1) of each top-k value, half-open"),
        "class_mean": ((classes, c), "float32", ("class", "channel"), units,
                       "mean over each class's images and every position"),
    }  # fmt: skip
    for key, (shape, dtype, dims, unit, what) in table.items():
        out[sm(key)] = _spec(shape, dtype, dims, (name, unit, what))
    return out


@functools.cache
def _data_type(dtype: str) -> Any:
    return get_data_type_from_native_dtype(np.dtype(dtype))


def _metadata(spec: ArraySpec) -> ArrayV3Metadata:
    chunks = (spec.chunk_rows, *spec.shape[1:]) if spec.shape else ()
    return ArrayV3Metadata(
        shape=spec.shape,
        data_type=_data_type(spec.dtype),
        chunk_grid={
            "name": "regular",
            "configuration": {"chunk_shape": [max(1, c) for c in chunks]},
        },
        chunk_key_encoding=CHUNK_KEYS,
        fill_value=0,
        codecs=(BytesCodec(),),
        attributes=spec.attrs,
        dimension_names=spec.dims,
    )


class StoreWriter(ProbeStore):
    """A probe directory being written: its arrays (read-write), manifest and state."""

    def __init__(
        self,
        path: str | Path,
        specs: dict[str, ArraySpec] | None = None,
        arrays: dict[str, zarr.Array] | None = None,
    ):
        super().__init__(path)
        self.specs = specs or {}
        self._rw: dict[str, zarr.Array] = {
            name: a.with_config({"write_empty_chunks": True}) for name, a in (arrays or {}).items()
        }

    def open_rw(self, name: str) -> zarr.Array:
        """Array ``name`` opened for writing (cached); its chunks are written even when
        they hold only zeros, so that a missing chunk always means damage."""
        if name not in self._rw:
            array = zarr.open_array(store=LocalStore(self.path), path=name, mode="r+")
            self._rw[name] = array.with_config({"write_empty_chunks": True})
        return self._rw[name]

    def write(self, name: str, data: np.ndarray) -> None:
        """Write a whole array, chunk by chunk (:class:`~convlens.probe._writer.Stream`)."""
        array = self.open_rw(name)
        stream = Stream(array)
        stream.put(0, np.asarray(data, dtype=array.dtype).reshape(array.shape))
        stream.flush()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.path / MANIFEST, manifest)

    def write_partial(self, data: bytes) -> None:
        write_bytes(self.path / PARTIAL, data)


def create_store(
    path: str | Path, config: dict[str, Any], plan: ProbePlan, storage: dict[str, Any]
) -> StoreWriter:
    """An empty store in ``path`` for ``config`` and ``plan``, with every array laid out
    and a manifest listing none of them as complete; an older probe store there is
    replaced. ``storage`` is the manifest's per-layer storage table.

    Refuses (one line) to clear a folder that holds something else than a probe.
    """
    path = Path(path)
    if (path.exists() and not path.is_dir()) or path.parent.is_file():
        raise output_error(path, NotADirectoryError(20, "Not a directory"))
    if path.exists() and any(path.iterdir()) and not (path / MANIFEST).exists():
        raise RunError(
            f"{str(path)!r} exists and is not a probe store; give an empty or new --out DIR"
        )
    with writing(path):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    specs = layout(config, plan)
    nodes: dict[str, Any] = {
        "": GroupMetadata(attributes={"format": FORMAT, "checkpoint": config["checkpoint"]}),
        OUTPUTS: GroupMetadata(attributes={"description": "per image: outputs and labels"}),
        CLASSES: GroupMetadata(attributes={"classes": list(config["classes"])}),
    }
    for p in plan.layers:
        info = {"layer": p.name, **storage[p.name]}
        nodes[f"{EMBEDDINGS}/{layer_key(p.name)}"] = GroupMetadata(attributes=info)
        nodes[f"{SUMMARY}/{layer_key(p.name)}"] = GroupMetadata(attributes={"layer": p.name})
    nodes.update({name: _metadata(spec) for name, spec in specs.items()})
    made = dict(zarr.create_hierarchy(store=LocalStore(path), nodes=nodes, overwrite=True))
    store = StoreWriter(path, specs, {n: a for n, a in made.items() if n in specs})
    store.write_manifest({"config": config, "storage": storage, "complete": [], "finished": False})
    return store
