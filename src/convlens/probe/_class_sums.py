"""Exact per-class sums of rows, in compiled loops: float16 as fixed-point integers.

A float16 number is a multiple of 2**-24 below 2**16, so ``value * 2**24`` is an
integer below 2**40, read straight off its bits: ``mantissa`` for subnormals,
``(1024 + mantissa) << (exponent - 1)`` for the others. Adding those integers is
exact and independent of the order, which is what lets probe shards merge
bit-for-bit (see :mod:`convlens.probe.partial`).

Integer rows (image pixels) are added as they are, into int64.

The loops are compiled by numba on first use (cached on disk after that). Each
reads a value once (a float16 as its 16 bits) and adds it into its class's row:
several times faster than widening and ``index_add`` in torch.

Example::

    sums = np.zeros((classes, features), np.int64)
    add_class_sums(stored16.reshape(batch, -1), labels, sums)
"""

from __future__ import annotations

import numba
import numpy as np
import torch

__all__ = ["add_class_sums"]


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _add_rows(values: np.ndarray, labels: np.ndarray, sums: np.ndarray, float16: bool) -> int:
    """Add each row of ``values`` (B, F) into ``sums[labels[b]]``; -1 on a bad label.

    ``float16``: the values are float16 bit patterns (uint16), added as fixed-point
    integers; otherwise integers added as they are. Rows are added in order up to
    the first bad label, which stops the loop.
    """
    rows, width = values.shape
    classes = sums.shape[0]
    for b in range(rows):
        label = labels[b]
        if label < 0 or label >= classes:
            return -1
        total = sums[label]
        for j in range(width):
            u = np.int64(values[b, j])
            if float16:
                exponent = (u >> 10) & 0x1F
                mantissa = u & 0x3FF
                size = mantissa if exponent == 0 else (mantissa | 0x400) << (exponent - 1)
                u = -size if u & 0x8000 else size
            total[j] += u
    return 0


def add_class_sums(values: torch.Tensor, labels: torch.Tensor, sums: np.ndarray) -> None:
    """Add ``values`` (B, F), CPU, into ``sums`` (K, F) int64 by ``labels`` (B,) in place.

    float16 values count as ``value * 2**24`` (exact); infinite and NaN ones count as
    the integer their bits would give were the exponent finite (the probe refuses
    such batches anyway). Integer values count as they are. A bad label raises
    ``ValueError`` after the rows before it were added.
    """
    if values.device.type != "cpu" or not (
        values.dtype == torch.float16 or not values.is_floating_point()
    ):
        raise TypeError(
            f"expected float16 or integer values on the CPU, got {values.dtype} on {values.device}"
        )
    if values.ndim != 2 or sums.shape != (sums.shape[0], values.shape[1]):
        raise ValueError(f"values {tuple(values.shape)} do not add into sums {sums.shape}")
    if sums.dtype != np.int64 or not sums.flags.c_contiguous:
        raise TypeError("sums must be a C-contiguous int64 array")
    lab = np.ascontiguousarray(labels.cpu().numpy(), dtype=np.int64)
    if len(lab) != len(values):
        raise ValueError(f"{len(lab)} labels for {len(values)} rows")
    rows = values.contiguous()
    float16 = rows.dtype == torch.float16
    if float16:
        rows = rows.view(torch.int16)
    if _add_rows(rows.numpy().view(np.uint16) if float16 else rows.numpy(), lab, sums, float16):
        raise ValueError(f"labels must lie in 0..{sums.shape[0] - 1}, got {lab.min()}..{lab.max()}")
