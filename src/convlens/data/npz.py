"""Datasets stored as ``.npz``: ``x`` images, ``y`` labels, optional ``classes``."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError, PathNotFoundError
from .dataset import ImageDataset


def load_npz(path: str | Path) -> ImageDataset:
    """Load ``x`` (N, H, W), (N, H, W, C) or (N, C, H, W) and ``y`` (N,) from ``path``.

    ``x`` may be uint8, or float in [0, 1] (scaled to uint8). Channels-last input
    (last axis 1, 3 or 4 and smaller than the spatial axes) is moved first.
    """
    path = Path(path)
    if not path.is_file():
        raise PathNotFoundError(f"npz file {str(path)!r} does not exist; check the path")
    try:
        # Open the file here so that it is closed even when numpy fails half-way.
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as f:
            keys = set(f.files)
            if not {"x", "y"} <= keys:
                raise DataError(
                    f"npz file {str(path)!r} has arrays {sorted(keys)}, expected 'x' (images) "
                    "and 'y' (labels); save it with np.savez(path, x=..., y=...)"
                )
            x, y = f["x"], f["y"]
            classes = [str(c) for c in f["classes"]] if "classes" in keys else None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(
            f"npz file {str(path)!r} cannot be read ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else '-'}); "
            "it may be truncated: write it again with np.savez"
        ) from None
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = np.transpose(x, (0, 3, 1, 2))
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
            raise DataError(
                f"npz file {str(path)!r}: 'x' has dtype {x.dtype}, expected uint8 or finite "
                "floats in [0, 1]"
            )
        x = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"npz file {str(path)!r}: 'y' has dtype {y.dtype}, expected integers")
    return ImageDataset(x, y, classes, source=str(path))
