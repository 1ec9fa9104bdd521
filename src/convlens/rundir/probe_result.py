"""Reading a probe back: :class:`ProbeResult` and :func:`open_probe`.

A probed layer is stored whole (every position of every image) or as a sample of
its positions: each image keeps the same number of its positions, chosen by a
seeded hash of (seed, dataset index, position) (see ``docs/probe.md``). Exact
summaries (top-k, ranges, class means, per-image channel means, outputs) cover
every position of every image either way.

Example::

    res = convlens.open_run("runs/lenet").probe()
    values, image_index, position = res.topk("conv2")      # (C, k), (C, k), (C, k, 2)
    points, rows, positions = res.points("conv1")          # (M, C), (M,), (M, 2)
    res.fraction("conv1")                                  # 1.0, or e.g. 0.068
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LayerError, RunError, suggestion
from .probe_layout import CLASSES, MANIFEST, OUTPUTS, PROBE_DIR, array_path, summary_path
from .probe_store import ProbeStore

if TYPE_CHECKING:
    from ..data.dataset import ImageDataset
    from .run import Run

__all__ = ["ProbeResult", "open_probe", "open_probe_dir", "probed_checkpoints"]


class ProbeResult:
    """A finished probe of one checkpoint over one dataset.

    Rows follow the probed order: row ``r`` is dataset image ``.indices[r]``.

    >>> # res = convlens.open_run("runs/lenet").probe()
    >>> # values, image_index, position = res.topk("conv2")   # (C, k), (C, k), (C, k, 2)
    """

    def __init__(self, path: str | Path, run: Run | None = None):
        self.path = Path(path)
        self.store = ProbeStore(self.path)
        self.manifest = self.store.manifest()
        self.config: dict[str, Any] = self.manifest["config"]
        self.run = run
        self._checked: set[str] = set()

    # ----------------------------------------------------------- properties
    @property
    def checkpoint(self) -> str:
        return self.config["checkpoint"]

    @property
    def layers(self) -> list[str]:
        return list(self.config["layers"])

    @property
    def data_spec(self) -> str:
        return self.config["data_spec"]

    @property
    def classes(self) -> list[str]:
        return list(self.config["classes"])

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def k(self) -> int:
        return int(self.config["topk"])

    def __len__(self) -> int:
        return int(self.config["n"])

    def dataset(self) -> ImageDataset:
        """The images this probe ran on, with the run's normalisation: the run's own
        data, or the data given to the probe (``--data``), loaded at the run's size."""
        spec = self.data_spec
        if self.run is None or spec == "<arrays>":
            raise RunError(
                f"the probe at {str(self.path)!r} ran on data given in memory, so its images "
                "cannot be reloaded; probe with a dataset path or name (--data) to draw figures"
            )
        own = spec == self.run.manifest.data["spec"]
        return self.run.dataset() if own else self.run.dataset(data=spec)

    # --------------------------------------------------------------- layers
    def _check(self, layer: str) -> str:
        if layer not in self.config["shapes"]:
            raise LayerError(
                f"layer {layer!r} was not probed: expected one of {len(self.layers)} probed "
                f"layers; {suggestion(str(layer), self.layers, 'layers')}"
            )
        return layer

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """(D,) for vector layers, (H, W, C) for feature maps."""
        return tuple(self.config["shapes"][self._check(layer)])

    def is_spatial(self, layer: str) -> bool:
        return len(self.layer_shape(layer)) == 3

    def storage(self, layer: str) -> dict[str, Any]:
        """How ``layer`` is stored: ``dtype`` ("float16"/"float32"), ``points_per_image``,
        ``positions`` (per image), ``stored_points``, ``total_points``, ``fraction``,
        ``sampled``."""
        return dict(self.manifest["storage"][self._check(layer)])

    def is_sampled(self, layer: str) -> bool:
        return bool(self.storage(layer)["sampled"])

    def fraction(self, layer: str) -> float:
        """The fraction of (image, position) pairs of ``layer`` whose points are stored."""
        return float(self.storage(layer)["fraction"])

    # --------------------------------------------------------------- arrays
    def _require(self, name: str) -> str:
        if name not in self.manifest["complete"]:
            raise RunError(
                f"array {name!r} is not in the probe at {str(self.path)!r}; re-run "
                "`convlens probe RUN` with the options that write it"
            )
        return name

    def _read(self, name: str, rows: slice | np.ndarray | None = None) -> np.ndarray:
        self._check_rows(self._require(name))
        return self.store.read(name, rows)

    def _check_rows(self, name: str) -> None:
        """Refuse an array with one row per image (or per stored point) whose metadata
        disagrees with the manifest: its reads would be another store's rows."""
        if name in self._checked:
            return
        group, _, rest = name.partition("/")
        layer, _, field = rest.rpartition("/")
        per_image = group == OUTPUTS or (
            group == "embeddings" and field in ("activation", "image", "pca", "umap", "tsne")
        )
        per_image = per_image or (group == "summary" and field == "mean")
        if per_image:
            shape = self.store.open(name).shape
            rows = len(self)
            layer = layer.replace("|", "/")
            if group == "embeddings" and layer in self.config["shapes"] and self.is_sampled(layer):
                rows = int(self.storage(layer).get("stored_points", -1))
            if not shape or shape[0] != rows:
                raise RunError(
                    f"the probe at {str(self.path)!r} is damaged: array {name!r} has shape "
                    f"{tuple(shape)}, expected {rows} rows as its manifest says; delete the "
                    "store and probe again"
                )
            if field == "activation" and not self.is_sampled(layer):
                want = self._stored_shape(layer)
                if tuple(shape[1:]) != want:
                    raise RunError(
                        f"the probe at {str(self.path)!r} is damaged: array {name!r} has shape "
                        f"{tuple(shape)}, expected {(rows, *want)}; delete the store and probe "
                        "again"
                    )
        self._checked.add(name)

    def _stored_shape(self, layer: str) -> tuple[int, ...]:
        """A whole layer's shape on disk after the image axis: (D,) or (C, H, W)."""
        shape = self.layer_shape(layer)
        return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape

    def embeddings(self, layer: str, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """(N, D) or (N, H, W, C), float16 (float32 for a layer beyond float16's range),
        for a layer stored whole (``rows``: only those rows); a sampled layer has
        :meth:`points` only. A feature map is stored (N, C, H, W); this is a view of it."""
        self._whole(layer)
        return _channels_last(self._read(array_path(layer, "activation"), rows))

    def _whole(self, layer: str) -> None:
        if self.is_sampled(layer):
            info = self.storage(layer)
            raise RunError(
                f"layer {layer!r} is stored as a sample ({info['stored_points']:,} of "
                f"{info['total_points']:,} positions, {100 * info['fraction']:.1f}%); read its "
                "points with .points(layer), or run the model for whole feature maps"
            )

    def points(self, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Every stored point of ``layer``: values (M, C), probe rows (M,) and positions
        (M, 2) as (y, x) (None for fc layers). Points are ordered by row, then position."""
        info = self.storage(layer)
        m = int(info["points_per_image"])
        rows = np.repeat(np.arange(len(self), dtype=np.int64), m)
        if not info["sampled"]:
            values = self.embeddings(layer)
            c = values.shape[-1]
            if not self.is_spatial(layer):
                return values, rows, None
            h, w, _ = self.layer_shape(layer)
            grid = np.indices((h, w)).reshape(2, -1).T
            return values.reshape(-1, c), rows, np.tile(grid, (len(self), 1)).astype(np.int64)
        values = self._read(array_path(layer, "activation"))
        ys = self._read(array_path(layer, "y")).astype(np.int64)
        xs = self._read(array_path(layer, "x")).astype(np.int64)
        return values, rows, np.stack([ys, xs], 1)

    def image_means(self, layer: str) -> np.ndarray:
        """(N, C) float32: each image's mean of each channel over every position (the
        values themselves for fc layers)."""
        if not self.is_spatial(layer):
            return self.embeddings(layer).astype(np.float32)
        return self._read(summary_path(layer, "mean"))

    def channel_range(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """(min (C,), max (C,)) float32 over every image and position."""
        both = self._read(summary_path(self._check(layer), "range"))
        return both[:, 0], both[:, 1]

    @cached_property
    def labels(self) -> np.ndarray:
        """(N,) int64."""
        return self._read(f"{OUTPUTS}/label")

    @cached_property
    def indices(self) -> np.ndarray:
        """(N,) int64 dataset index of each row."""
        return self._read(f"{OUTPUTS}/image")

    @cached_property
    def predictions(self) -> np.ndarray | None:
        """(N,) int64 arg-max of the outputs, or None for embedding models."""
        return self._read(f"{OUTPUTS}/prediction") if self.config["classify"] else None

    @cached_property
    def outputs(self) -> np.ndarray:
        """(N, K) float32 model outputs (logits)."""
        return self._read(f"{OUTPUTS}/logits")

    def confusion(self) -> np.ndarray | None:
        """(K, K) int64, rows = label, columns = prediction; None for embedding models."""
        return self._read(f"{CLASSES}/confusion") if self.config["classify"] else None

    def class_counts(self) -> np.ndarray:
        """(K,) int64 images per class."""
        return self._read(f"{CLASSES}/count")

    def class_means(self, layer: str) -> np.ndarray:
        """(K, C) float32: each class's mean of each channel over its images and every
        position; ``"input"`` gives (K, C, H, W) pixels in 0..1."""
        if layer == "input":
            return self._read(f"{CLASSES}/input_mean")
        return self._read(summary_path(self._check(layer), "class_mean"))

    def topk(self, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """values (C, k) float32, image_index (C, k) int64 (dataset index),
        position (C, k, 2) int64 (row, col), best first."""
        self._check(layer)
        return (
            self._read(summary_path(layer, "topk_value")),
            self._read(summary_path(layer, "topk_image")),
            self._read(summary_path(layer, "topk_position")),
        )

    def topk_boxes(self, layer: str) -> np.ndarray:
        """(C, k, 4) int64 input boxes (y0, x0, y1, x1), half-open, clipped."""
        return self._read(summary_path(self._check(layer), "topk_box"))

    def projection(self, layer: str, method: str = "pca") -> np.ndarray:
        """float32, laid out like the points: (N, P) or (N, H, W, P) for a layer stored
        whole, (M, P) for a sampled one. P = min(C, 10) for ``"pca"``, 2 for ``"umap"``
        and ``"tsne"``."""
        values = self._read(array_path(self._check(layer), method)).astype(np.float32)
        return values if self.is_sampled(layer) else _channels_last(values)

    def pca_basis(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """(mean (C,), components (P, C)) float64: ``pca = (activation - mean) @ components.T``."""
        self._check(layer)
        return (
            self._read(array_path(layer, "pca_mean")),
            self._read(array_path(layer, "pca_components")),
        )

    def rows_of(self, image_index: np.ndarray | int) -> np.ndarray:
        """Rows of dataset indices (-1 where an index was not probed)."""
        order = np.argsort(self.indices, kind="stable")
        want = np.asarray(image_index)
        at = np.clip(np.searchsorted(self.indices, want, sorter=order), 0, len(order) - 1)
        rows = order[at]
        return np.where(self.indices[rows] == want, rows, -1)

    def __repr__(self) -> str:
        return f"ProbeResult({str(self.path)!r}, checkpoint={self.checkpoint!r}, n={len(self)})"


def _channels_last(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> an (N, H, W, C) view; anything else as it is."""
    return np.moveaxis(a, 1, -1) if a.ndim == 4 else a


def open_probe_dir(path: str | Path, run: Run | None = None) -> ProbeResult:
    """The probe stored in ``path`` (a store directory)."""
    return ProbeResult(path, run=run)


def probed_checkpoints(run: Run) -> list[str]:
    """Names of the run's checkpoints that have a finished probe, by step."""
    names = []
    for c in run.checkpoints:
        m = ProbeStore(run.path / PROBE_DIR / c.name).read_manifest()
        if m and m.get("finished"):
            names.append(c.name)
    return names


def open_probe(run: Run | str | Path, checkpoint: str | int | None = None) -> ProbeResult:
    """The probe of ``checkpoint`` of ``run`` (a Run or a path).

    ``checkpoint=None`` means the last checkpoint if probed, else the latest one
    that was. ``run`` may also be a probe store directory itself.

    >>> # res = open_probe(convlens.open_run("runs/lenet"))
    """
    from .run import Run, open_run

    if not isinstance(run, Run):
        if (Path(run) / MANIFEST).exists():
            return ProbeResult(run)
        run = open_run(run)
    if checkpoint is None:
        done = probed_checkpoints(run)
        name = run.checkpoint(None).name
        if name not in done and done:
            name = done[-1]
    else:
        name = run.checkpoint(checkpoint).name
    path = run.path / PROBE_DIR / name
    if ProbeStore(path).read_manifest() is None and not (path / MANIFEST).exists():
        raise RunError(
            f"checkpoint {name!r} of run {str(run.path)!r} was not probed; run "
            f"`convlens probe {run.path} --checkpoints {'all' if checkpoint else 'last'}` first"
        )
    return ProbeResult(path, run=run)
