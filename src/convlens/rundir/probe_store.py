"""Reading a probe store: its manifest and its arrays, refusing damage instead of reading zeros.

Zarr reads a chunk file that is not there as the fill value, so a store that lost
a chunk would silently read as zeros. :class:`ProbeStore` checks, before every
read, that each chunk the read needs is on disk at its full size (every array of
a probe store is uncompressed and chunked along its first axis only, so a chunk
file's size is known), and turns anything else into one :class:`RunError` line.

Example::

    store = ProbeStore("runs/lenet/probe/step-00000100")
    store.manifest()["config"]["layers"]
    store.read("outputs/label")               # (N,) int64
    store.read("embeddings/conv1/activation", slice(0, 256))
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

from ..errors import RunError
from .probe_layout import FORMAT, MANIFEST, PARTIAL

__all__ = ["ProbeStore", "check_chunks"]


class ProbeStore:
    """A probe directory, read-only: manifest, partial state and arrays."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._arrays: dict[str, zarr.Array] = {}

    # ------------------------------------------------------------- manifest
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest as written (any format), or None when there is none or it is not
        a JSON object."""
        p = self.path / MANIFEST
        if not p.is_file():
            return None
        try:
            manifest = json.loads(p.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            return None
        return manifest if isinstance(manifest, dict) else None

    def manifest(self) -> dict[str, Any]:
        """The manifest of a finished store of this format (one-line errors otherwise)."""
        manifest = self.read_manifest()
        if manifest is None and (self.path / MANIFEST).exists():
            raise RunError(
                f"the probe at {str(self.path)!r} is damaged: its {MANIFEST} is not a JSON "
                "object; delete the store and probe again"
            )
        if manifest is None:
            raise RunError(f"{str(self.path)!r} holds no probe; run `convlens probe RUN` first")
        config = manifest.get("config")
        fmt = config.get("format") if isinstance(config, dict) else None
        if fmt != FORMAT:
            raise RunError(
                f"the probe at {str(self.path)!r} was written in an older format ({fmt!r}, "
                f"expected {FORMAT!r}); probe again with `convlens probe RUN`, which replaces it"
            )
        if not manifest.get("finished"):
            raise RunError(
                f"the probe in {str(self.path)!r} is incomplete (interrupted?); re-run "
                "`convlens probe RUN` with the same options to finish it"
            )
        _check_manifest(self.path, manifest)
        return manifest

    def read_partial(self) -> bytes | None:
        p = self.path / PARTIAL
        return p.read_bytes() if p.exists() else None

    # --------------------------------------------------------------- arrays
    def open(self, name: str) -> zarr.Array:
        """The Zarr array ``name``, opened read-only (cached)."""
        if name not in self._arrays:
            try:
                self._arrays[name] = zarr.open_array(
                    store=LocalStore(self.path, read_only=True), path=name, mode="r"
                )
            except (FileNotFoundError, KeyError, ValueError, json.JSONDecodeError) as exc:
                raise RunError(
                    f"array {name!r} of the probe at {str(self.path)!r} cannot be opened "
                    f"({type(exc).__name__}); the store is damaged: delete it and probe again"
                ) from None
        return self._arrays[name]

    def read(self, name: str, rows: slice | np.ndarray | None = None) -> np.ndarray:
        """Array ``name`` (all of it, or the rows ``rows`` of its first axis), after checking
        that every chunk it needs is whole on disk."""
        array = self.open(name)
        if array.ndim == 0 or array.shape[0] == 0:
            return array[...]
        if rows is None:
            lo, hi = 0, array.shape[0]
        elif isinstance(rows, slice):
            lo, hi, _ = rows.indices(array.shape[0])
        else:
            rows = np.asarray(rows)
            lo, hi = (int(rows.min()), int(rows.max()) + 1) if rows.size else (0, 0)
        check_chunks(self.path, name, array, lo, hi)
        if rows is None:
            return array[...]
        if isinstance(rows, slice):
            return array[rows]
        return array.get_orthogonal_selection((np.asarray(rows),))


#: the manifest's fields a reader relies on, with the JSON type each must have
_CONFIG_FIELDS = {"checkpoint": str, "data_spec": str, "n": int, "layers": list, "shapes": dict,
                  "topk": int, "task": str, "classes": list, "input_shape": list}  # fmt: skip


def _check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse (:class:`RunError`) a finished manifest whose fields a reader needs are
    missing or of the wrong type, and a store whose Zarr group metadata is not JSON."""

    def damaged(what: str) -> RunError:
        return RunError(
            f"the probe at {str(path)!r} is damaged: {what}; delete the store and probe again"
        )

    config = manifest["config"]
    for name, kind in _CONFIG_FIELDS.items():
        value = config.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise damaged(f"manifest config {name!r} is {value!r}, expected a {kind.__name__}")
    if config["n"] < 0 or not all(isinstance(v, str) for v in config["layers"]):
        raise damaged(f"manifest config n={config['n']!r}, layers={config['layers']!r}")
    shapes = config["shapes"]
    for layer in config["layers"]:
        shape = shapes.get(layer)
        if not isinstance(shape, list) or not all(isinstance(v, int) and v > 0 for v in shape):
            raise damaged(f"manifest shape of layer {layer!r} is {shape!r}")
    for name, kind in (("storage", dict), ("complete", list)):
        if not isinstance(manifest.get(name), kind):
            got = manifest.get(name)
            raise damaged(f"manifest {name!r} is {got!r}, expected a JSON {kind.__name__}")
    try:
        group = json.loads((path / "zarr.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise damaged(f"its zarr.json cannot be read ({type(exc).__name__})") from None
    if not isinstance(group, dict) or group.get("node_type") != "group":
        raise damaged("its zarr.json is not the metadata of a Zarr group")


def check_chunks(root: Path, name: str, array: zarr.Array, lo: int, hi: int) -> None:
    """Refuse (:class:`RunError`) when a chunk holding rows ``lo:hi`` of ``array`` is missing
    or not of its full size: Zarr would read it as zeros."""
    if hi <= lo:
        return
    rows = array.chunks[0]
    itemsize = array.dtype.itemsize
    size = itemsize * math.prod(array.chunks)
    folder = root / name
    for i in range(lo // rows, (hi - 1) // rows + 1):
        key = array.metadata.encode_chunk_key((i,) + (0,) * (array.ndim - 1))
        try:
            got = os.stat(folder / key).st_size
        except FileNotFoundError:
            raise RunError(
                f"the probe at {str(root)!r} is damaged: chunk {key!r} of {name!r} is missing; "
                "delete the store and probe again"
            ) from None
        if got != size:
            raise RunError(
                f"the probe at {str(root)!r} is damaged: chunk {key!r} of {name!r} is {got} "
                f"bytes, expected {size}; delete the store and probe again"
            )
