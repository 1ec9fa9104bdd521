"""One layer's summary of one batch, made in its forward hook while the output is in cache.

- per image and channel: the peak (for the top-k) and the sum over positions (for the
  per-image means and, as the integer ``round(sum * 2**24)``, the exact class sums);
- per channel: the batch's minimum and maximum.

Example::

    batch = summarise(activation, "conv1")      # activation (B, C, H, W) or (B, D)
    wide = check_range("conv1", batch, indices, float16=True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError

FIXED_POINT = 2**24  # per-image channel sums are kept as integers in units of 2**-24
FIXED_LIMIT = 2.0**38  # |sum| beyond this would not fit the int64 fixed point
FLOAT16_MAX = 65504.0

__all__ = ["FIXED_POINT", "FLOAT16_MAX", "LayerBatch", "check_range", "summarise"]


@dataclass
class LayerBatch:
    """One layer's summary of one batch (see :func:`summarise`)."""

    peak: np.ndarray  # (B, C) float32: each image's maximum per channel
    low: np.ndarray  # (C,) float32: the batch's minimum per channel
    high: np.ndarray  # (C,) float32: the batch's maximum per channel
    sums: np.ndarray  # (B, C) float64: each image's sum per channel over its positions
    #                  (a float32 reduction, the same for an image in any batch)
    fixed: np.ndarray  # (B, C) int64: round(sums * 2**24)


def summarise(activation: torch.Tensor, name: str = "") -> LayerBatch:
    """Layer ``name``'s batch summary from its output (B, C, H, W) or (B, D), any device.

    The probe calls this in the layer's forward hook, while the output is in cache.
    Raises :class:`DataError` when a channel sum is too large for the exact sums.
    """
    flat = activation.reshape(activation.shape[0], activation.shape[1], -1)
    # three reductions on the layer's own device; what follows is (B, C) small, in numpy
    peak = flat.amax(dim=2).float().cpu().numpy()
    low = flat.amin(dim=2).float().cpu().numpy().min(axis=0)
    sums = flat.sum(dim=2).cpu().numpy().astype(np.float64)  # per image: one float32 sum
    high = peak.max(axis=0)
    fixed = np.zeros(sums.shape, np.int64)
    if np.isfinite(low).all() and np.isfinite(high).all():
        top = max(-float(low.min()), float(high.max())) * flat.shape[2]
        if top >= FIXED_LIMIT:
            raise DataError(
                f"a channel of layer {name!r} may sum to {top:.4g} over one image's positions, "
                f"beyond what the probe sums exactly (±{FIXED_LIMIT:.3g}); the model has diverged: "
                "probe another checkpoint or leave the layer out (layers=[...])"
            )
        fixed = np.rint(sums * FIXED_POINT).astype(np.int64)
    return LayerBatch(peak, low, high, sums, fixed)


def check_range(name: str, batch: LayerBatch, indices: np.ndarray, float16: bool) -> bool:
    """Refuse a batch whose layer is not finite; True when a float16 layer's values
    leave float16's range (the layer must be stored as float32)."""
    low, high = batch.low, batch.high
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        bad = int(np.flatnonzero(~(np.isfinite(low) & np.isfinite(high)))[0])
        raise DataError(
            f"layer {name!r} produced NaN or infinite values (channel {bad}, in the batch "
            f"of dataset images {int(indices.min())}..{int(indices.max())}): expected "
            "finite activations; check the checkpoint's weights (a diverged run?)"
        )
    return float16 and max(float(high.max()), -float(low.min())) > FLOAT16_MAX
