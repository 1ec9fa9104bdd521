"""Which positions of an image a sampled layer keeps: a seeded hash of the data, no state.

For an image with dataset index ``d`` and a layer of ``P`` positions of which each
image keeps ``m``, every position ``p`` gets the key ``mix(mix(seed, d) + p)``
(``mix`` is the SplitMix64 finaliser, a bijection of 64-bit integers, so the keys of
one image are distinct); the image keeps its ``m`` positions with the smallest keys,
in position order. So:

- the choice depends on the seed and the data only, never on batching or sharding:
  a shard of rows gives the points a single pass gives for those rows;
- every (image, position) pair is kept with the same chance ``m / P``, and every
  image keeps ``m`` points;
- a smaller ``m`` keeps a subset of what a larger one keeps (the smallest keys).

Example::

    pos = sample_positions(np.array([7, 8]), positions=576, keep=30, seed=0)  # (2, 30)
"""

from __future__ import annotations

import numpy as np

__all__ = ["mix", "sample_positions"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 values (wrapping arithmetic), elementwise."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def sample_positions(indices: np.ndarray, positions: int, keep: int, seed: int) -> np.ndarray:
    """(B,) dataset indices -> (B, keep) int64 flat positions (row-major over the feature
    map), ascending per image; all positions when ``keep >= positions``."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if keep >= positions:
        return np.broadcast_to(np.arange(positions, dtype=np.int64), (len(indices), positions))
    with np.errstate(over="ignore"):
        base = mix(np.uint64(seed) * _GOLDEN + mix(indices.astype(np.uint64)))
        keys = mix(base[:, None] + np.arange(positions, dtype=np.uint64)[None, :])
    chosen = np.argpartition(keys, keep - 1, axis=1)[:, :keep]
    return np.sort(chosen, axis=1).astype(np.int64)
