"""One opened run as the explorer sees it: probe results, layer table, images, caches.

A :class:`RunView` reads only through the probe reader (:class:`convlens.rundir.ProbeResult`),
the run's layer table, its dataset and its model (per-image feature maps are computed
on request, :mod:`convlens.explorer.ondemand`). It never writes to the run directory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import LayerError, RunError, suggestion
from ..rundir import ProbeResult, probed_checkpoints
from ._http import ApiError
from .binary import pack
from .ondemand import average_maps, plan_maps
from .points import choose_dtype, dimension_major

PROJECTIONS = ("raw", "pca")
DTYPES = ("auto", "u8", "f16")
ATLAS_PAGE_BYTES = 16 << 20  # the pixel atlas travels in pages of at most this many bytes
FLOAT16_MAX = 65504.0

torch_lock = threading.Lock()  # one model computation at a time (the CPU is shared)


class _Cache:
    """A thread-safe LRU of computed values, bounded by total bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Any, threading.Lock] = {}

    def get(self, key: Any, make: Callable[[], Any], size: Callable[[Any], int]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key][0]
            value = make()
            with self._lock:
                self._items[key] = (value, size(value))
                while sum(s for _, s in self._items.values()) > self.max_bytes and (
                    len(self._items) > 1
                ):
                    self._items.popitem(last=False)
            return value

    def drop(self, keep: Callable[[Any], bool]) -> None:
        """Forget every entry whose key ``keep(key)`` rejects."""
        with self._lock:
            for key in [k for k in self._items if not keep(k)]:
                del self._items[key]


class RunView:
    """The explorer's read-only view of one run at one probed checkpoint.

    >>> # view = RunView(convlens.open_run("runs/siamese"))
    >>> # view.summary()["layers"][0]["name"]
    """

    def __init__(self, run: Any, checkpoint: str | int | None = None, cache_mb: int = 1024):
        self.run = run
        self.probe = run.probe(checkpoint)
        self.layer_names: list[str] = list(self.probe.layers)
        table = {info.name: info for info in run.layers(checkpoint)}
        self._info = {name: table.get(name) for name in self.layer_names}
        self._cache = _Cache(cache_mb << 20)
        self._probes = {self.probe.checkpoint: self.probe}
        names = probed_checkpoints(run)
        self.checkpoint_names: list[str] = (
            names if self.probe.checkpoint in names else [self.probe.checkpoint]
        )
        self._lock = threading.Lock()
        # checkpoint -> why it cannot be read now (the live explorer: a store being re-probed)
        self.busy: dict[str, str] = {}

    def refresh(self, probed: list[str] | None = None) -> None:
        """Re-read which checkpoints are probed (``probed``: the names, when known)."""
        names = list(probed_checkpoints(self.run) if probed is None else probed)
        if self.probe.checkpoint not in names:
            names.append(self.probe.checkpoint)
        steps = {c.name: c.step for c in self.run.checkpoints}
        self.checkpoint_names = sorted(names, key=lambda n: (steps.get(n, -1), n))

    def forget(self, checkpoint: str) -> None:
        """Drop everything read or computed from ``checkpoint`` (its store was rewritten)."""
        with self._lock:
            if checkpoint != self.probe.checkpoint:
                self._probes.pop(checkpoint, None)
        self._cache.drop(lambda key: checkpoint not in key)

    def probe_at(self, checkpoint: str | None = None) -> ProbeResult:
        """The probe of a probed checkpoint (``None``: the one the view opened with).

        Every snapshot of the timeline must hold the same images and layers as the
        opened one, so that point ``p`` is the same image position in each.
        """
        name = self.probe.checkpoint if checkpoint is None else checkpoint
        if name in self.busy:
            raise ApiError(409, self.busy[name])
        if checkpoint is None or checkpoint == self.probe.checkpoint:
            return self.probe
        if checkpoint not in self.checkpoint_names:
            self.refresh()
        if checkpoint not in self.checkpoint_names:
            raise ApiError(
                404,
                f"checkpoint {checkpoint!r} of run {self.run.name!r} has no probe results: "
                f"expected one of {', '.join(self.checkpoint_names)}; run `convlens probe "
                f"{self.run.path} --checkpoint {checkpoint}` first",
            )
        with self._lock:
            if checkpoint not in self._probes:
                other = self.run.probe(checkpoint)
                kept = [
                    other.storage(n)["points_per_image"]
                    != self.probe.storage(n)["points_per_image"]
                    for n in self.layer_names
                    if n in other.layers
                ]
                if (
                    not np.array_equal(other.indices, self.probe.indices)
                    or list(other.layers) != list(self.layer_names)
                    or any(kept)
                ):
                    raise ApiError(
                        409,
                        f"checkpoint {checkpoint!r} of run {self.run.name!r} was probed on "
                        "other images, layers or stored positions than "
                        f"{self.probe.checkpoint!r}; probe both with the same options",
                    )
                self._probes[checkpoint] = other
            return self._probes[checkpoint]

    # ------------------------------------------------------------------ summary
    @property
    def n_images(self) -> int:
        return len(self.probe.labels)

    def layer(self, name: str) -> str:
        """Validate a layer name (LayerError naming the closest probed layers)."""
        if name not in self.layer_names:
            raise LayerError(
                f"layer {name!r} was not probed in run {self.run.name!r}: expected a probed "
                f"layer ({suggestion(name, self.layer_names, 'layers')})"
            )
        return name

    def _layer_json(self, name: str) -> dict[str, Any]:
        shape = tuple(int(s) for s in self.probe.layer_shape(name))
        spatial = len(shape) == 3
        info = self._info.get(name)
        out: dict[str, Any] = {
            "name": name,
            "type": info.type if info is not None else "",
            "dims": shape[-1],
            "grid": [shape[0], shape[1]] if spatial else [1, 1],
            "positions": shape[0] * shape[1] if spatial else 1,
            "spatial": spatial,
            "pca": min(shape[-1], 10),
            **self._storage_json(name),
        }
        if spatial and info is not None and info.rf_size is not None:
            out["rf_size"] = [int(v) for v in info.rf_size]
            out["rf_stride"] = [int(v) for v in info.rf_stride]
            out["rf_offset"] = [float(v) for v in info.rf_offset]
        return out

    def _storage_json(self, name: str) -> dict[str, Any]:
        """How the layer's points are stored: ``sampled``, ``points_per_image``,
        ``stored_points`` of ``total_points`` (``fraction``), ``dtype``."""
        info = self.probe.storage(name)
        return {
            "sampled": bool(info["sampled"]),
            "points_per_image": int(info["points_per_image"]),
            "stored_points": int(info["stored_points"]),
            "total_points": int(info["total_points"]),
            "fraction": float(info["fraction"]),
            "dtype": info["dtype"],
        }

    def summary(self) -> dict[str, Any]:
        """JSON description: classes, input shape, image count, snapshots and probed layers."""
        steps = {c.name: c.step for c in self.run.checkpoints}
        return {
            "name": self.run.name,
            "path": str(self.run.path),
            "checkpoint": self.probe.checkpoint,
            "data": self.probe.data_spec,
            "checkpoints": [{"name": n, "step": steps.get(n)} for n in self.checkpoint_names],
            "all_checkpoints": [{"name": c.name, "step": c.step} for c in self.run.checkpoints],
            "has_confusion": self.probe.confusion() is not None,
            "task": self.run.task,
            "classes": self.run.classes,
            "input_shape": list(self.run.input_shape),
            "n_images": self.n_images,
            "layers": [self._layer_json(name) for name in self.layer_names],
        }

    # ------------------------------------------------------------------ arrays
    def points(self, name: str, checkpoint: str | None = None) -> tuple[np.ndarray, Any]:
        """The stored points of a layer, cached: values (N, D), (N, H, W, C) for a layer
        stored whole, (M, C) for a sampled one; and each sampled point's flat position
        (y * W + x, (M,) int32), None for a whole layer."""
        probe = self.probe_at(checkpoint)

        def make() -> tuple[np.ndarray, Any]:
            if not probe.is_sampled(name):
                return probe.embeddings(name), None
            values, _, pos = probe.points(name)
            width = probe.layer_shape(name)[1]
            return values, (pos[:, 0] * width + pos[:, 1]).astype(np.int32)

        return self._cache.get(("points", name, probe.checkpoint), make, _nbytes_pair)

    def image_vectors(self, name: str, checkpoint: str | None = None) -> tuple[np.ndarray, str]:
        """(N, F) one vector per image and what it is: the whole response of a layer stored
        whole ("every position"), each channel's mean over positions for a sampled one."""
        probe = self.probe_at(checkpoint)
        if probe.is_sampled(name):
            return probe.image_means(name), "channel means"
        values, _ = self.points(name, checkpoint)
        return values.reshape(len(values), -1), "every position"

    def points_message(
        self,
        name: str,
        projection: str = "raw",
        dtype: str = "auto",
        checkpoint: str | None = None,
    ) -> bytes:
        """The binary point cloud of a layer (see :mod:`convlens.explorer.points`).

        A sampled layer's points come with ``position`` (M,) int32, each point's flat
        position in the feature map; ``positions`` is then the points each image keeps.
        """
        self.layer(name)
        probe = self.probe_at(checkpoint)

        def make() -> bytes:
            values, where = self.points(name, probe.checkpoint)
            if projection == "pca":
                values = np.asarray(probe.projection(name, method="pca"))
            kind = _wire_dtype(name, dtype, values)
            data, lo, hi = dimension_major(values, kind)
            info = probe.storage(name)
            arrays: dict[str, np.ndarray] = {"values": data}
            if where is not None:
                arrays["position"] = where
            return pack(
                arrays,
                layer=name,
                checkpoint=probe.checkpoint,
                projection=projection,
                dtype=kind,
                dims=int(values.shape[-1]),
                n_images=len(probe),
                positions=int(info["points_per_image"]),
                grid_positions=int(info["positions"]),
                sampled=bool(info["sampled"]),
                lo=lo.tolist(),
                hi=hi.tolist(),
            )

        return self._cache.get(("message", name, projection, dtype, probe.checkpoint), make, len)

    def labels_message(self, checkpoint: str | None = None) -> bytes:
        """Labels (N,) int16, dataset indices (N,) int32 and, for classifiers, the
        predictions (N,) int16 of ``checkpoint``."""
        probe = self.probe_at(checkpoint)
        labels = np.asarray(probe.labels).astype(np.int16)
        indices = np.asarray(probe.indices).astype(np.int32)
        predictions = probe.predictions
        arrays = {"labels": labels, "indices": indices}
        if predictions is not None:
            arrays["predictions"] = np.asarray(predictions).astype(np.int16)
        return pack(
            arrays, n_images=self.n_images, classes=self.run.classes, checkpoint=probe.checkpoint
        )

    def images(self) -> np.ndarray:
        """(N, H, W, C) uint8 pixels of the probed images, in probe row order (cached)."""

        def make() -> np.ndarray:
            ds, where = self.dataset_rows()
            return np.ascontiguousarray(ds.images[where].transpose(0, 2, 3, 1))

        return self._cache.get(("images",), make, _nbytes)

    def atlas_page_size(self) -> int:
        """Images per page of the pixel atlas (pages of at most :data:`ATLAS_PAGE_BYTES`)."""
        per_image = max(1, int(np.prod(self.images().shape[1:])))
        return max(1, min(self.n_images, ATLAS_PAGE_BYTES // per_image))

    def images_message(self, page: int = 0) -> bytes:
        """Page ``page`` of the pixel atlas: (n, H, W, C) uint8 rows ``start .. start + n``."""
        size = self.atlas_page_size()
        pages = -(-self.n_images // size)
        if not 0 <= page < pages:
            raise ApiError(
                404, f"atlas page {page} does not exist: expected a page from 0 to {pages - 1}"
            )
        start = page * size
        pixels = self.images()[start : start + size]
        return pack(
            {"pixels": pixels},
            n_images=self.n_images,
            start=start,
            page=page,
            pages=pages,
            page_size=size,
        )

    def dataset_rows(self) -> tuple[Any, np.ndarray]:
        """The probe's dataset and the dataset position of each probe row (cached)."""

        def make() -> tuple[Any, np.ndarray]:
            ds = self.probe.dataset()
            order = np.argsort(ds.indices, kind="stable")
            wanted = np.asarray(self.probe.indices)
            where = np.clip(np.searchsorted(ds.indices[order], wanted), 0, len(order) - 1)
            if not np.array_equal(ds.indices[order][where], wanted):
                raise RunError(
                    f"the dataset of run {self.run.name!r} no longer holds every probed image; "
                    "probe the run again with `convlens probe`"
                )
            return ds, order[where]

        return self._cache.get(("dataset",), make, lambda pair: 0)

    def model(self, checkpoint: str | None = None) -> Any:
        """The run's model at a probed snapshot, in eval mode (cached)."""
        name = self.probe_at(checkpoint).checkpoint
        return self._cache.get(
            ("model", name),
            lambda: self.run.model(name),
            lambda m: sum(p.numel() * p.element_size() for p in m.parameters()),
        )

    def maps_message(self, rows: list[int], checkpoint: str | None = None) -> bytes:
        """The average response of ``rows`` at every probed layer and the input, computed
        from the model on request (every position, whatever the probe stored).

        Each layer travels as float16 (C, H, W) (fully connected: (D, 1, 1)) with its own
        min and max (a layer beyond float16's range divided by ``scale``, a power of two);
        the input as float16 (C, H, W) in 0..1. Over :data:`~.ondemand.MAX_MAP_IMAGES`
        images, or beyond the memory a request may use, the answer is a one-line 413.
        """
        probe = self.probe_at(checkpoint)
        index = np.asarray(rows, dtype=np.int64)
        features = [int(np.prod(probe.layer_shape(n))) for n in self.layer_names]
        plan = plan_maps(len(index), features, int(np.prod(self.run.input_shape)))
        key = ("maps", probe.checkpoint, hash(index.tobytes()), len(index))

        def make() -> bytes:
            ds, where = self.dataset_rows()
            model = self.model(probe.checkpoint)
            with torch_lock:
                avg = average_maps(model, ds, where[index], self.layer_names, plan)
            arrays = {"input": avg.input.astype(np.float16)}
            layers = [{"name": "input", "lo": 0.0, "hi": 1.0}]
            for name in self.layer_names:
                maps = avg.layers[name]
                lo, hi = float(maps.min()), float(maps.max())
                scale = _scale(max(abs(lo), abs(hi)))
                arrays[name] = (maps / scale).astype(np.float16)
                entry = {"name": name, "lo": lo / scale, "hi": hi / scale}
                if scale != 1.0:
                    entry["scale"] = scale
                layers.append(entry)
            return pack(arrays, rows=len(index), layers=layers, computed="on request")

        return self._cache.get(key, make, len)


def _scale(peak: float) -> float:
    """1, or the power of two that brings ``peak`` within float16's range."""
    scale = 1.0
    while peak / scale > FLOAT16_MAX:
        scale *= 2.0**8
    return scale


def _wire_dtype(name: str, requested: str, values: np.ndarray) -> str:
    """The wire dtype of a point cloud: 8-bit codes for layers beyond float16's range."""
    wide = values.dtype == np.float32 and float(np.abs(values).max(initial=0.0)) > FLOAT16_MAX
    if wide and requested == "f16":
        raise ApiError(
            400,
            f"layer {name!r} holds values beyond float16's range (±{FLOAT16_MAX:g}): expected "
            "dtype 'auto' or 'u8' for it",
        )
    return "u8" if wide else choose_dtype(requested, int(values.size))


def _nbytes_pair(pair: tuple[np.ndarray, Any]) -> int:
    return int(sum(getattr(v, "nbytes", 0) for v in pair))


def _nbytes(value: Any) -> int:
    return int(getattr(value, "nbytes", 0))
