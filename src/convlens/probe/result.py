"""Reading a probe back: :class:`ProbeResult` (contract C4) and :func:`open_probe`."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LayerError, RunError, suggestion
from .store import MANIFEST, Store, layer_key

PROBE_DIR = "probe"

__all__ = ["ProbeResult", "open_probe", "open_probe_dir", "probed_checkpoints"]


class ProbeResult:
    """A finished probe of one checkpoint over one dataset.

    Rows follow the probed order: row ``r`` is dataset image ``.indices[r]``.

    >>> # res = convlens.open_run("runs/lenet").probe()
    >>> # values, image_index, position = res.topk("conv2")   # (C, k), (C, k), (C, k, 2)
    """

    def __init__(self, path: str | Path, run: Any = None):
        self.path = Path(path)
        self.store = Store(self.path)
        manifest = self.store.read_manifest()
        if manifest is None:
            raise RunError(f"{str(self.path)!r} holds no probe; run `convlens probe RUN` first")
        if not manifest.get("finished"):
            raise RunError(
                f"the probe in {str(self.path)!r} is incomplete (interrupted?); re-run "
                "`convlens probe RUN` with the same options to finish it"
            )
        self.manifest = manifest
        self.config: dict[str, Any] = manifest["config"]
        self.run = run

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

    def dataset(self) -> Any:
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

    def layer_shape(self, layer: str) -> tuple[int, ...]:
        """(D,) for vector layers, (H, W, C) for feature maps."""
        return tuple(self.config["shapes"][self._check(layer)])

    def is_spatial(self, layer: str) -> bool:
        return len(self.layer_shape(layer)) == 3

    # --------------------------------------------------------------- arrays
    def _read(self, name: str) -> np.ndarray:
        if name not in self.manifest["complete"]:
            raise RunError(
                f"array {name!r} is not in the probe at {str(self.path)!r}; re-run "
                "`convlens probe RUN` with the options that write it"
            )
        return self.store.read(name)

    def _check(self, layer: str) -> str:
        if layer not in self.config["shapes"]:
            raise LayerError(
                f"layer {layer!r} was not probed: expected one of {len(self.layers)} probed "
                f"layers; {suggestion(str(layer), self.layers, 'layers')}"
            )
        return layer

    def embeddings(self, layer: str) -> np.ndarray:
        """float16 (N, D) or (N, H, W, C)."""
        return self._read(f"embeddings/{layer_key(self._check(layer))}")

    def embeddings_array(self, layer: str) -> Any:
        """The lazily read Zarr array of :meth:`embeddings` (for row slices)."""
        self._check(layer)
        return self.store.open(f"embeddings/{layer_key(layer)}")

    def channel_range(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """(min (C,), max (C,)) float32 over every image and position."""
        key = layer_key(self._check(layer))
        return self._read(f"range/{key}/min"), self._read(f"range/{key}/max")

    @cached_property
    def labels(self) -> np.ndarray:
        """(N,) int64."""
        return self._read("outputs/labels")

    @cached_property
    def indices(self) -> np.ndarray:
        """(N,) int64 dataset index of each row."""
        return self._read("outputs/indices")

    @cached_property
    def predictions(self) -> np.ndarray | None:
        """(N,) int64 arg-max of the outputs, or None for embedding models."""
        return self._read("outputs/predictions") if self.config["classify"] else None

    @cached_property
    def outputs(self) -> np.ndarray:
        """(N, K) float32 model outputs (logits)."""
        return self._read("outputs/logits")

    def confusion(self) -> np.ndarray | None:
        """(K, K) int64, rows = label, columns = prediction; None for embedding models."""
        return self._read("confusion") if self.config["classify"] else None

    def class_counts(self) -> np.ndarray:
        """(K,) int64 images per class."""
        return self._read("class_counts")

    def class_means(self, layer: str) -> np.ndarray:
        """(K, *layer_shape) float32; ``"input"`` gives (K, C, H, W) pixels in 0..1."""
        if layer == "input":
            return self._read("class_means/input")
        return self._read(f"class_means/{layer_key(self._check(layer))}")

    def topk(self, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """values (C, k) float32, image_index (C, k) int64 (dataset index),
        position (C, k, 2) int64 (row, col), best first."""
        key = layer_key(self._check(layer))
        return (
            self._read(f"topk/{key}/values"),
            self._read(f"topk/{key}/image_index"),
            self._read(f"topk/{key}/position"),
        )

    def topk_boxes(self, layer: str) -> np.ndarray:
        """(C, k, 4) int64 input boxes (y0, x0, y1, x1), half-open, clipped."""
        return self._read(f"topk/{layer_key(self._check(layer))}/boxes")

    def projection(self, layer: str, method: str = "pca") -> np.ndarray:
        """float32 (N, P) or (N, H, W, P) (stored as float16): P = min(D, 10) for
        ``"pca"``, 2 for ``"umap"`` and ``"tsne"``."""
        name = f"projection/{layer_key(self._check(layer))}/{method}"
        return self._read(name).astype(np.float32)

    def rows_of(self, image_index: np.ndarray | int) -> np.ndarray:
        """Rows of dataset indices (-1 where an index was not probed)."""
        order = np.argsort(self.indices, kind="stable")
        want = np.asarray(image_index)
        at = np.clip(np.searchsorted(self.indices, want, sorter=order), 0, len(order) - 1)
        rows = order[at]
        return np.where(self.indices[rows] == want, rows, -1)

    def __repr__(self) -> str:
        return f"ProbeResult({str(self.path)!r}, checkpoint={self.checkpoint!r}, n={len(self)})"


def open_probe_dir(path: str | Path, run: Any = None) -> ProbeResult:
    """The probe stored in ``path`` (a store directory)."""
    return ProbeResult(path, run=run)


def probed_checkpoints(run: Any) -> list[str]:
    """Names of the run's checkpoints that have a finished probe, by step."""
    names = []
    for c in run.checkpoints:
        m = Store(run.path / PROBE_DIR / c.name).read_manifest()
        if m and m.get("finished"):
            names.append(c.name)
    return names


def open_probe(run: Any, checkpoint: str | int | None = None) -> ProbeResult:
    """The probe of ``checkpoint`` of ``run`` (a Run or a path).

    ``checkpoint=None`` means the last checkpoint if probed, else the latest one
    that was. ``run`` may also be a probe store directory itself.

    >>> # res = open_probe(convlens.open_run("runs/lenet"))
    """
    from ..rundir import Run, open_run

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
    manifest = Store(path).read_manifest()
    if manifest is None:
        raise RunError(
            f"checkpoint {name!r} of run {str(run.path)!r} was not probed; run "
            f"`convlens probe {run.path} --checkpoints {'all' if checkpoint else 'last'}` first"
        )
    return ProbeResult(path, run=run)
