"""The fast paths of the top-k and class sums against brute force, with many ties."""

from __future__ import annotations

import numpy as np
import torch

from convlens.probe import Partial, select_topk
from convlens.probe.partial import FIXED_POINT, NO_INDEX, LayerSpec


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
    emb16 = act.to(torch.float16).permute(0, 2, 3, 1).contiguous()
    labels = torch.from_numpy(rng.integers(0, classes, size=n))
    indices = torch.from_numpy(rng.permutation(1000)[:n].astype(np.int64))
    images = rng.integers(0, 256, size=(n, 1, 2, 2), dtype=np.uint8)
    part = Partial.empty([spec], classes=classes, k=k, input_size=4)
    for start in range(0, n, 16):
        sl = slice(start, start + 16)
        part.update({"x": act[sl]}, {"x": emb16[sl]}, images[sl], labels[sl], indices[sl], None)
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
    stored = emb16.reshape(n, -1).numpy().astype(np.float64)
    for cls in range(classes):
        exact = stored[labels.numpy() == cls] * FIXED_POINT  # integers below 2**53
        np.testing.assert_array_equal(got.sums[cls], exact.sum(0).astype(np.int64))
    pixels = images.reshape(n, -1).astype(np.int64)
    for cls in range(classes):
        np.testing.assert_array_equal(part.input_sums[cls], pixels[labels.numpy() == cls].sum(0))


def test_direct_chunk_writes_read_back_through_zarr(tmp_path, rng):
    from convlens.probe._chunks import RowChunks
    from convlens.probe.store import Store

    store = Store(tmp_path)
    store.init_group()
    data = rng.normal(size=(10, 3, 4, 2)).astype(np.float16)
    chunks = RowChunks(store.create("e", data.shape, "float16", 4))
    assert chunks.folder is not None
    for start in (0, 4, 8):  # the last chunk is an edge chunk of 2 rows
        chunks.write(start, data[start : start + 4])
    np.testing.assert_array_equal(store.read("e"), data)
    np.testing.assert_array_equal(chunks.read(8, 12), data[8:])
    np.testing.assert_array_equal(chunks.read(4, 8), data[4:8])
    chunks.write(1, data[1:3] * 2)  # rows inside one chunk: at their place in its file
    chunks.write(3, data[3:5] * 2)  # rows across two chunks: through zarr
    want = data.copy()
    want[1:5] *= 2
    np.testing.assert_array_equal(store.read("e"), want)
    labels = RowChunks(store.create("l", (5,), "int64", 4))
    labels.write(0, np.arange(4))
    labels.write(4, np.array([-7]))
    np.testing.assert_array_equal(store.read("l"), [0, 1, 2, 3, -7])


def test_compiled_insertion_equals_a_whole_sort_across_batches(rng):
    """Peaks with many ties, shuffled indices and given positions, in uneven batches."""
    from convlens.probe._peak_topk import entrants, insert

    for trial in range(20):
        c, n, k = int(rng.integers(1, 7)), int(rng.integers(1, 70)), int(rng.integers(1, 10))
        width = int(rng.integers(1, 4))
        peak = rng.integers(-2, 3, size=(n, c)).astype(np.float32)
        if trial % 4 == 0:
            peak[:, 0] = 0.0  # a dead channel: every peak ties
        indices = rng.permutation(500)[:n].astype(np.int64)
        at = rng.integers(0, 3 * width, size=(n, c))
        values = np.full((c, k), -np.inf, np.float32)
        index = np.full((c, k), NO_INDEX, np.int64)
        position = np.zeros((c, k, 2), np.int64)
        start = 0
        while start < n:
            stop = start + int(rng.integers(1, 20))
            p, ind = peak[start:stop], indices[start:stop]
            channel, image = entrants(p, ind, values, index)
            where = at[start:stop][image, channel]
            insert(values, index, position, p, ind, channel, image, where, width)
            start = stop
        every = np.stack([at.T // width, at.T % width], -1)
        want = _brute_topk(peak.T, np.broadcast_to(indices, (c, n)), every, k)
        for got, w in zip((values, index, position), want, strict=True):
            np.testing.assert_array_equal(got, w)


def test_fixed_point_class_sums_read_every_finite_float16_exactly():
    from convlens.probe._class_sums import add_class_sums

    bits = np.arange(2**16, dtype=np.uint16)
    finite = bits[(bits & 0x7C00) != 0x7C00]
    values = torch.from_numpy(finite.view(np.float16).copy())
    rows = torch.stack([values, values.flip(0), -values])  # every sign and order
    labels = torch.tensor([1, 0, 1])
    sums = np.zeros((3, len(finite)), np.int64)
    add_class_sums(rows, labels, sums)
    add_class_sums(rows[:1], torch.tensor([2]), sums)  # it adds to what is there
    exact = rows.numpy().astype(np.float64) * FIXED_POINT  # integers below 2**53
    np.testing.assert_array_equal(sums[0], exact[1].astype(np.int64))
    np.testing.assert_array_equal(sums[1], (exact[0] + exact[2]).astype(np.int64))
    np.testing.assert_array_equal(sums[2], exact[0].astype(np.int64))


def test_integer_class_sums_add_pixels_as_they_are(rng):
    from convlens.probe._class_sums import add_class_sums

    pixels = rng.integers(0, 256, size=(300, 17), dtype=np.uint8)
    labels = rng.integers(0, 4, size=300)
    sums = np.full((4, 17), 7, np.int64)
    add_class_sums(torch.from_numpy(pixels), torch.from_numpy(labels), sums)
    for cls in range(4):
        want = 7 + pixels[labels == cls].astype(np.int64).sum(0)
        np.testing.assert_array_equal(sums[cls], want)


def test_fixed_point_class_sums_refuse_bad_labels_and_other_dtypes():
    import pytest

    from convlens.probe._class_sums import add_class_sums

    sums = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1, got 0\.\.2"):
        add_class_sums(torch.ones(2, 3, dtype=torch.float16), torch.tensor([0, 2]), sums)
    with pytest.raises(TypeError, match="float16"):
        add_class_sums(torch.ones(2, 3), torch.tensor([0, 1]), sums)


def test_compiled_peaks_and_range_equal_torch_reductions_nan_included(rng):
    from convlens.probe._peaks import peaks_and_range

    for shape in [(5, 3, 1), (7, 4, 16), (1, 2, 9)]:
        x = torch.from_numpy(rng.integers(-3, 4, size=shape).astype(np.float32))
        x[0, 0, -1] = float("nan")  # a NaN last in its map still wins
        peak, low, high = peaks_and_range(x.numpy())
        np.testing.assert_array_equal(peak, x.amax(2).numpy())
        np.testing.assert_array_equal(low, x.amin(2).amin(0).numpy())
        np.testing.assert_array_equal(high, x.amax(2).amax(0).numpy())
        assert np.isnan(peak[0, 0]) and np.isnan(low[0]) and np.isnan(high[0])
