"""The probe's writes: whole chunks by direct I/O (tested zarr releases) or through zarr,
streams that resume inside a chunk, and what the hooks see of in-place operations."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import zarr

from _probe_helpers import PaddedNet, brute_topk, forward_all
from convlens.data import load_dataset
from convlens.probe import run as probe_run
from convlens.probe._chunks import ALIGN, DIRECT_MIN, aligned_buffer, write_rows
from convlens.probe._writer import Stream
from convlens.rundir.probe_store import ProbeStore


def aligned_empty(shape, dtype=torch.float16):
    """A CPU tensor whose data starts on a page boundary."""
    count = int(np.prod(shape))
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    return torch.from_numpy(aligned_buffer(nbytes)).view(dtype)[:count].view(shape)


def _array(tmp_path, shape, dtype, chunk_rows):
    from zarr.storage import LocalStore

    root = zarr.open_group(LocalStore(tmp_path), mode="a")
    return root.create_array(
        "e", shape=shape, dtype=dtype, chunks=(chunk_rows, *shape[1:]), fill_value=0,
        compressors=None, chunk_key_encoding={"name": "default", "separator": "."},
    ).with_config({"write_empty_chunks": True})  # fmt: skip


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


@pytest.mark.parametrize("direct", [True, False])
def test_streams_write_whole_chunks_that_zarr_reads_back(tmp_path, rng, monkeypatch, direct):
    import convlens.probe._chunks as chunks

    if not direct:  # an untested zarr release: everything goes through zarr's API
        monkeypatch.setattr(chunks, "TESTED_ZARR", ("0.0.",))
    data = rng.normal(size=(10, 3, 4, 2)).astype(np.float16)
    array = _array(tmp_path, data.shape, "float16", 4)
    stream = Stream(array)
    assert (stream.folder is not None) == direct
    for start in (0, 3, 7):  # blocks across chunk boundaries
        stream.put(start, data[start : {0: 3, 3: 7, 7: 10}[start]])
    np.testing.assert_array_equal(array[...], data)
    # every chunk is on disk at its full size (the edge chunk zero-padded), no more files
    files = ["c.0.0.0.0", "c.1.0.0.0", "c.2.0.0.0", "zarr.json"]
    assert sorted(os.listdir(tmp_path / "e")) == files
    assert os.path.getsize(tmp_path / "e" / "c.2.0.0.0") == 4 * 3 * 4 * 2 * 2
    with pytest.raises(ValueError, match="rows must come in order: got row 3, expected 10"):
        stream.put(3, data[3:4])


def test_a_flushed_stream_resumes_inside_its_chunk(tmp_path, rng):
    data = rng.normal(size=(10, 3, 2)).astype(np.float16)
    array = _array(tmp_path, data.shape, "float16", 6)
    first = Stream(array)
    for start in (0, 2):
        first.put(start, data[start : start + 2])
    assert not (tmp_path / "e" / "c.0.0.0").exists()  # a filling chunk waits in memory...
    first.flush()  # ...until the probe saves a partial that counts these rows
    np.testing.assert_array_equal(array[0:4], data[:4])
    np.testing.assert_array_equal(array[4:6], np.zeros((2, 3, 2), np.float16))
    again = Stream(array, 4)  # as a resumed probe opens it: rows 0..3 are read back
    for start in (4, 6, 8):
        again.put(start, data[start : start + 2])
    np.testing.assert_array_equal(array[...], data)
    assert sorted(os.listdir(tmp_path / "e")) == ["c.0.0.0", "c.1.0.0", "zarr.json"]


def test_whole_chunks_reach_the_disk_by_direct_io(tmp_path, rng, monkeypatch):
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this system")
    direct: list[bool] = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda p, f, *a: direct.append(bool(f & os.O_DIRECT)) or real_open(p, f, *a)
    )
    data = rng.normal(size=(300, 5000)).astype(np.float16)  # 10,000 bytes a row
    array = _array(tmp_path, data.shape, "float16", 120)  # chunks of 1.2 MB
    stream = Stream(array)
    for start in range(0, 300, 30):
        stream.put(start, data[start : start + 30])
    np.testing.assert_array_equal(array[...], data)
    assert direct.count(True) == 3  # one direct write per whole chunk


def test_a_missing_or_cut_chunk_is_one_line_never_zeros(tmp_path, rng):
    from convlens.errors import RunError

    data = rng.normal(size=(10, 3)).astype(np.float32)
    array = _array(tmp_path, data.shape, "float32", 4)
    Stream(array).put(0, data)
    store = ProbeStore(tmp_path)
    np.testing.assert_array_equal(store.read("e"), data)
    chunk = tmp_path / "e" / "c.1.0"
    chunk.write_bytes(chunk.read_bytes()[:20])
    with pytest.raises(RunError) as info:
        store.read("e", slice(4, 6))
    assert str(info.value) == (
        f"the probe at {str(tmp_path)!r} is damaged: chunk 'c.1.0' of 'e' is 20 bytes, "
        "expected 48; delete the store and probe again"
    )
    np.testing.assert_array_equal(store.read("e", slice(0, 4)), data[:4])  # others still read
    chunk.unlink()
    with pytest.raises(RunError, match=r"chunk 'c.1.0' of 'e' is missing; delete the store"):
        store.read("e")


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
        layers=["conv1", "conv2"],  # conv1 by name: the default takes the ReLU after it
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
        stored = res.embeddings(name)
        want = acts[name].transpose(0, 2, 3, 1).astype(np.float16)
        np.testing.assert_array_equal(stored, want)
    # conv1 is followed by an in-place ReLU: what is stored is what conv1 gave before it
    assert res.embeddings("conv1").min() < 0
    assert res.channel_range("conv1")[0].min() < 0


def test_a_failing_disk_write_ends_the_probe_with_its_error(tmp_path, digits, monkeypatch):
    def broken(self, start, block):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Stream, "put", broken)
    model = PaddedNet().eval()
    with pytest.raises(OSError, match="No space left"):
        probe_run(model, data=digits, out=tmp_path / "s", batch_size=16, projections=())


def test_the_probe_leaves_the_callers_torch_thread_count_as_it_was(tmp_path, digits):
    before = torch.get_num_threads()
    probe_run(PaddedNet().eval(), data=digits, out=tmp_path / "s", batch_size=32, projections=())
    assert torch.get_num_threads() == before
