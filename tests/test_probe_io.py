"""The probe's fast paths: direct I/O chunk files, arrays written without zarr's
API, recycled aligned buffers, and in-place ops detected after the hook."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import zarr
from torch import nn

from _probe_helpers import PaddedNet, brute_topk, forward_all
from convlens.data import load_dataset
from convlens.probe import run as probe_run
from convlens.probe._chunks import ALIGN, DIRECT_MIN, RowChunks, write_array, write_rows
from convlens.probe._taps import StorageTaps, aligned_empty
from convlens.probe.store import CHUNK_KEYS, Store


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=(28, 28)).subset(slice(0, 200))


@pytest.mark.parametrize("tail", [0, 123])
def test_a_large_aligned_block_is_written_by_direct_io_with_its_unaligned_tail(
    tmp_path, monkeypatch, tail
):
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this system")
    opened: list[int] = []
    real_open = os.open

    def spy(path, flags, *args):
        opened.append(flags)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", spy)
    block = aligned_empty((DIRECT_MIN + tail,), torch.uint8).numpy()
    block[:] = np.arange(len(block)) % 251
    path = tmp_path / "c.0"
    write_rows(path, block, ALIGN, ALIGN + len(block) + 5)  # at an aligned offset
    assert path.read_bytes() == bytes(ALIGN) + block.tobytes() + bytes(5)
    assert block.ctypes.data % ALIGN == 0
    assert any(f & os.O_DIRECT for f in opened)  # (tmp_path's file system takes it here)


def test_small_or_unaligned_blocks_go_through_the_page_cache(tmp_path, monkeypatch):
    calls: list[int] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, f, *a: calls.append(f) or real_open(p, f, *a))
    big = np.arange(DIRECT_MIN + 8, dtype=np.uint8)[1:]  # one byte off any alignment
    aligned = aligned_empty((DIRECT_MIN,), torch.uint8).numpy()
    write_rows(tmp_path / "a", big, 0, len(big))
    write_rows(tmp_path / "b", np.arange(10, dtype=np.int64), 0, 80)
    write_rows(tmp_path / "c", aligned, 8, 8 + len(aligned))  # an offset off the blocks
    assert (tmp_path / "a").read_bytes() == big.tobytes()
    assert (tmp_path / "b").read_bytes() == np.arange(10, dtype=np.int64).tobytes()
    assert (tmp_path / "c").read_bytes() == bytes(8) + aligned.tobytes()
    assert not any(f & getattr(os, "O_DIRECT", 0) for f in calls)


def test_refused_direct_io_falls_back_to_a_plain_write(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    block = aligned_empty((2 * DIRECT_MIN,), torch.uint8).numpy()
    block[:] = 7
    write_rows(tmp_path / "c", block, 0, len(block))
    assert (tmp_path / "c").read_bytes() == block.tobytes()


def test_whole_arrays_written_directly_read_back_through_zarr_and_rewrite_in_place(tmp_path, rng):
    store = Store(tmp_path)
    store.init_group()
    values = rng.normal(size=(5, 9)).astype(np.float32)
    write_array(tmp_path, "topk/conv1/values", np.zeros_like(values), CHUNK_KEYS)
    inode = os.stat(tmp_path / "topk" / "conv1" / "values" / "zarr.json").st_ino
    write_array(tmp_path, "topk/conv1/values", values, CHUNK_KEYS)
    assert os.stat(tmp_path / "topk" / "conv1" / "values" / "zarr.json").st_ino == inode
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "topk/conv1/values"))[...], values)
    group = zarr.open_group(str(tmp_path), mode="r")
    assert isinstance(group["topk"]["conv1"], zarr.Group)
    # a different shape replaces the old chunk rather than leaving it beside the new one
    write_array(tmp_path, "topk/conv1/values", np.arange(3, dtype=np.int64), CHUNK_KEYS)
    np.testing.assert_array_equal(store.read("topk/conv1/values"), [0, 1, 2])
    assert sorted(os.listdir(tmp_path / "topk/conv1/values")) == ["c.0", "zarr.json"]
    write_array(tmp_path, "counts", np.zeros((0, 3), np.int64), CHUNK_KEYS)
    assert store.read("counts").shape == (0, 3)


def test_declared_rows_are_chunk_files_without_nested_folders(tmp_path, rng):
    store = Store(tmp_path)
    store.init_group()
    data = rng.normal(size=(6, 2, 2, 3)).astype(np.float16)
    chunks = RowChunks(store.create("e", data.shape, "float16", 4))
    chunks.write(0, data[:4])
    chunks.write(4, data[4:])
    np.testing.assert_array_equal(store.read("e"), data)
    assert sorted(os.listdir(tmp_path / "e")) == ["c.0.0.0.0", "c.1.0.0.0", "zarr.json"]


def test_a_chunk_of_several_batches_fills_batch_by_batch_and_resumes(tmp_path, rng):
    store = Store(tmp_path)
    store.init_group()
    data = rng.normal(size=(10, 3, 2)).astype(np.float16)
    store.declare("e", data.shape, "float16", 6)  # chunks of three batches of 2 rows
    first = RowChunks(store.open("e", mode="r+"))
    for start in (0, 2):
        first.write(start, data[start : start + 2])
    assert not (tmp_path / "e" / "c.0.0.0").exists()  # a small chunk is held in memory...
    first.flush()  # ...until the probe saves a partial that counts these rows
    np.testing.assert_array_equal(first.read(0, 4), data[:4])
    # rows not yet written read as zeros, from the chunk file made at its full size
    np.testing.assert_array_equal(first.read(4, 6), np.zeros((2, 3, 2), np.float16))
    assert os.path.getsize(tmp_path / "e" / "c.0.0.0") == 6 * 3 * 2 * 2
    again = RowChunks(store.open("e", mode="r+"))  # as a resumed probe opens it
    for start in (4, 6, 8):
        again.write(start, data[start : start + 2])
    np.testing.assert_array_equal(store.read("e"), data)
    np.testing.assert_array_equal(again.read(6, 10), data[6:])
    # the edge chunk (rows 6..9 of a 6-row chunk) is stored whole, padded with zeros
    assert os.path.getsize(tmp_path / "e" / "c.1.0.0") == 6 * 3 * 2 * 2
    assert sorted(os.listdir(tmp_path / "e")) == ["c.0.0.0", "c.1.0.0", "zarr.json"]


def test_blocks_of_any_size_reach_the_disk_by_direct_io_carrying_their_tails(
    tmp_path, rng, monkeypatch
):
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this system")
    direct: list[int] = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda p, f, *a: direct.append(bool(f & os.O_DIRECT)) or real_open(p, f, *a)
    )
    store = Store(tmp_path)
    store.init_group()
    data = rng.normal(size=(300, 5000)).astype(np.float16)  # 10,000 bytes a row
    store.declare("fc", data.shape, "float16", 120)  # chunks of 1.2 MB: 4 blocks of 30 rows
    chunks = RowChunks(store.open("fc", mode="r+"))
    for start in range(0, 300, 30):
        chunks.write(start, data[start : start + 30])
        if start == 150:
            chunks.flush()  # mid-chunk: the carried tail reaches the disk too
            np.testing.assert_array_equal(chunks.read(120, 180), data[120:180])
    np.testing.assert_array_equal(store.read("fc"), data)
    assert direct.count(True) >= 10  # the whole disk blocks of each block of 300,000 bytes
    assert sorted(os.listdir(tmp_path / "fc")) == ["c.0.0", "c.1.0", "c.2.0", "zarr.json"]


@pytest.mark.parametrize(
    ("batch", "row", "dtype", "n", "want"),
    [
        (256, (24, 24, 20), "float16", 10_000, 512),  # 5.9 MB a batch: two per chunk
        (256, (10,), "float32", 10_000, 10_240),  # small rows: one chunk for all
        (256, (10,), "float32", 100, 256),  # never less than one batch
        (4, (4096, 4096), "float32", 50, 4),  # a batch above the target: one per chunk
    ],
)
def test_streamed_chunks_are_whole_batches_up_to_the_target_size(batch, row, dtype, n, want):
    from convlens.probe.store import CHUNK_BYTES, batch_chunk_rows

    rows = batch_chunk_rows(batch, row, dtype, n)
    assert rows == want and rows % batch == 0
    assert rows == batch or rows * np.dtype(dtype).itemsize * np.prod(row) <= CHUNK_BYTES


class _Doubler(nn.Module):
    """conv, then an in-place op that changes the conv's output after its hook ran."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y.mul_(-2.0)
        return self.fc(y.flatten(1))


def test_taps_see_outputs_as_produced_and_copy_layers_changed_in_place():
    torch.manual_seed(0)
    model = _Doubler().eval()
    x = torch.randn(4, 1, 6, 6)
    want = model.conv(x).detach()
    shapes = {"conv": (4, 4, 2), "fc": (3,)}
    with StorageTaps(model, ["conv", "fc"], shapes, capacity=4, sets=2) as taps, torch.no_grad():
        first = taps.take()
        model(x)
        assert taps.changed() == ["conv"]
        # the stored form was taken in the hook, before the in-place op
        torch.testing.assert_close(
            taps.stored["conv"].float(), want.permute(0, 2, 3, 1).half().float()
        )
        assert taps.stored["conv"].data_ptr() % ALIGN == 0
        taps.copy(taps.changed())
        taps.clear()
        model(x)
        assert taps.changed() == []
        torch.testing.assert_close(taps.outputs["conv"], want)
        second = taps.take()
        assert second != first
        taps.give_back(first)
        taps.give_back(second)


@pytest.mark.parametrize("all_positions", [False, True])
def test_an_in_place_relu_after_a_probed_conv_leaves_its_pre_relu_values(
    tmp_path, digits, all_positions
):
    torch.manual_seed(3)
    model = PaddedNet().eval()
    sub = digits.subset(slice(0, 130))
    res = probe_run(
        model,
        data=sub,
        out=tmp_path / "a",
        batch_size=64,
        topk=4,
        all_positions=all_positions,
        projections=(),
    )
    acts, _ = forward_all(model, sub.normalization.apply(sub.images), ["conv1", "conv2"], 64)
    for name in ("conv1", "conv2"):
        values, images, positions = brute_topk(acts[name], sub.indices, 4, all_positions)
        got_v, got_i, got_p = res.topk(name)
        np.testing.assert_array_equal(got_v, values)
        np.testing.assert_array_equal(got_i, images)
        np.testing.assert_array_equal(got_p, positions)
        stored = res.embeddings(name)[...]
        want = acts[name].transpose(0, 2, 3, 1).astype(np.float16)
        np.testing.assert_array_equal(stored, want)
    # conv1 is followed by an in-place ReLU: what is stored is what conv1 gave before it
    assert res.embeddings("conv1")[...].min() < 0
    assert res.channel_range("conv1")[0].min() < 0


def test_a_failing_disk_write_ends_the_probe_with_its_error(tmp_path, digits, monkeypatch):
    def broken(self, start, block):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RowChunks, "write", broken)
    model = PaddedNet().eval()
    with pytest.raises(OSError, match="No space left"):
        probe_run(model, data=digits, out=tmp_path / "s", batch_size=16, projections=())


def test_the_probe_leaves_the_callers_torch_thread_count_as_it_was(tmp_path, digits):
    before = torch.get_num_threads()
    probe_run(PaddedNet().eval(), data=digits, out=tmp_path / "s", batch_size=32, projections=())
    assert torch.get_num_threads() == before
