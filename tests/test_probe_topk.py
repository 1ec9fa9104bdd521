"""The fast paths of the top-k and class sums against brute force, with many ties."""

from __future__ import annotations

import numpy as np
import torch

from convlens.probe import Partial, select_topk
from convlens.probe.partial import FIXED_POINT, NO_INDEX, LayerPartial, LayerSpec


def _brute_topk(values, index, position, k):
    """Sort every row whole by (value desc, index, row, col); pad with empty slots."""
    c, m = values.shape
    out_v = np.full((c, k), -np.inf, np.float32)
    out_i = np.full((c, k), NO_INDEX, np.int64)
    out_p = np.zeros((c, k, 2), np.int64)
    for ch in range(c):
        items = sorted(
            range(m),
            key=lambda j: (-float(values[ch, j]), index[ch, j], *position[ch, j]),
        )[:k]
        for slot, j in enumerate(items):
            out_v[ch, slot], out_i[ch, slot], out_p[ch, slot] = (
                values[ch, j],
                index[ch, j],
                position[ch, j],
            )
    return out_v, out_i, out_p


def test_select_topk_equals_a_whole_sort_with_many_ties(rng):
    for trial in range(30):
        c, m, k = rng.integers(1, 12), rng.integers(1, 60), rng.integers(1, 10)
        # few distinct values: ties inside, across and below the k-th place
        values = rng.integers(-2, 3, size=(c, m)).astype(np.float32)
        if trial % 3 == 0:
            values[0] = 0.0  # a dead channel: every value equal
        if trial % 5 == 0:
            values[:, : m // 2] = -np.inf
        index = rng.integers(0, 8, size=(c, m)).astype(np.int64)
        position = rng.integers(0, 3, size=(c, m, 2)).astype(np.int64)
        got = select_topk(values, index, position, int(k))
        want = _brute_topk(values, index, position, int(k))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_streamed_update_equals_brute_force_top_k_and_exact_class_sums(rng):
    """Quantised ReLU activations (many equal maxima and zeros), shuffled indices."""
    spec = LayerSpec("x", (3, 4, 6))
    k, n, classes = 5, 90, 4
    act = torch.from_numpy(rng.integers(0, 4, size=(n, 6, 3, 4)).astype(np.float32) / 4)
    act[:, 5] = 0.0  # a dead channel
    act[:, 4] = torch.from_numpy(rng.normal(size=(n, 3, 4)).astype(np.float32)) * 300
    labels = torch.from_numpy(rng.integers(0, classes, size=n))
    indices = torch.from_numpy(rng.permutation(1000)[:n].astype(np.int64))
    images = rng.integers(0, 256, size=(n, 1, 2, 2), dtype=np.uint8)
    part = Partial.empty([spec], classes=classes, k=k, input_size=4)
    for start in range(0, n, 16):
        sl = slice(start, start + 16)
        part.update({"x": act[sl]}, images[sl], labels[sl], indices[sl], None)
    flat = act.reshape(n, 6, 12).numpy()
    arg = flat.argmax(2)  # first maximum per image and channel
    values = flat.max(2).T  # (C, N)
    index = np.broadcast_to(indices.numpy(), (6, n))
    position = np.stack([arg.T // 4, arg.T % 4], -1)
    want = _brute_topk(values, index, position, k)
    got = part.layers["x"]
    np.testing.assert_array_equal(got.values, want[0])
    np.testing.assert_array_equal(got.index, want[1])
    np.testing.assert_array_equal(got.position, want[2])
    np.testing.assert_array_equal(got.minimum, flat.min((0, 2)))
    np.testing.assert_array_equal(got.maximum, flat.max((0, 2)))
    # each image's channel sum (one float32 reduction, the same whatever batch the image
    # comes in) as an integer in units of 2**-24; class sums add those integers exactly
    sums = act.reshape(n, 6, 12).sum(2)
    alone = torch.cat([act[i : i + 1].reshape(1, 6, 12).sum(2) for i in range(n)])
    np.testing.assert_array_equal(sums.numpy(), alone.numpy())
    np.testing.assert_allclose(sums.numpy(), flat.astype(np.float64).sum(2), rtol=1e-6, atol=1e-4)
    per_image = [[round(float(v) * FIXED_POINT) for v in row] for row in sums.numpy()]
    for cls in range(classes):
        mine = [r for r, lab in zip(per_image, labels.tolist(), strict=True) if lab == cls]
        exact = [sum(col) for col in zip(*mine, strict=True)]  # Python integers
        total = got.sums_hi[cls].astype(object) * 2**32 + got.sums_lo[cls].astype(object)
        assert list(total) == exact
    pixels = images.reshape(n, -1).astype(np.int64)
    for cls in range(classes):
        np.testing.assert_array_equal(part.input_sums[cls], pixels[labels.numpy() == cls].sum(0))


def test_class_sums_cannot_overflow_however_many_images(rng):
    """Sums beyond int64 are kept as (hi, lo) halves: add 2**20 images of 2**38."""
    part = LayerPartial.empty(LayerSpec("x", (1,)), classes=1, k=1)
    big = np.full((1024, 1), (1 << 62) - 1, np.int64)  # per-image fixed-point sums near 2**62
    labels = np.zeros(1024, np.int64)
    for _ in range(1024):
        part.add_sums(big, labels)
    total = int(part.sums_hi[0, 0]) * 2**32 + int(part.sums_lo[0, 0])
    assert total == 1024 * 1024 * ((1 << 62) - 1)
    assert 0 <= part.sums_lo[0, 0] < 2**32


def test_peaks_fold_into_the_top_k_like_a_whole_sort_across_batches(rng):
    """Peaks with many ties, shuffled indices and given positions, in uneven batches."""
    from convlens.probe._topk import fold_peaks

    for trial in range(20):
        c, n, k = int(rng.integers(1, 7)), int(rng.integers(1, 70)), int(rng.integers(1, 10))
        width = int(rng.integers(1, 4))
        peak = rng.integers(-2, 3, size=(n, c)).astype(np.float32)
        if trial % 4 == 0:
            peak[:, 0] = 0.0  # a dead channel: every peak ties
        indices = rng.permutation(500)[:n].astype(np.int64)
        at = rng.integers(0, 3 * width, size=(n, c))
        held = (
            np.full((c, k), -np.inf, np.float32),
            np.full((c, k), NO_INDEX, np.int64),
            np.zeros((c, k, 2), np.int64),
        )
        start = 0
        while start < n:
            stop = start + int(rng.integers(1, 20))
            p, ind, where = peak[start:stop], indices[start:stop], at[start:stop]

            def positions_of(image, channel, where=where, width=width):
                flat = where[image, channel]
                return np.stack([flat // width, flat % width], 1)

            fold_peaks(held, p, ind, positions_of)
            start = stop
        every = np.stack([at.T // width, at.T % width], -1)
        want = _brute_topk(peak.T, np.broadcast_to(indices, (c, n)), every, k)
        for got, w in zip(held, want, strict=True):
            np.testing.assert_array_equal(got, w)
