"""MNIST IDX, .npz and digits: exact contents, shared MNIST checks, damaged files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from convlens.data import load_dataset, load_mnist, load_npz, read_idx
from convlens.errors import DataError, PathNotFoundError


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(folder: Path, images: np.ndarray, labels: np.ndarray, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    for name, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        raw = _idx_bytes(arr)
        (folder / (name + ext)).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path: Path, rng: np.random.Generator, gz: bool) -> None:
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5).astype(np.uint8)
    _write_mnist(tmp_path / "m", images, labels, gz)
    ds = load_dataset(str(tmp_path / "m"))
    np.testing.assert_array_equal(ds.images[:, 0], images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.classes == [str(d) for d in range(10)]


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_idx(tmp_path: Path, rng: np.random.Generator, gz: bool) -> None:
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    _write_mnist(tmp_path / "m", images, np.zeros(5, np.uint8), gz)
    path = tmp_path / "m" / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path / "m")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"IDX file {str(path)!r} ")
    if gz:
        assert "is not a readable gzip file" in msg
    else:
        assert msg == (
            f"IDX file {str(path)!r} is truncated or padded: header promises shape (5, 28, 28) "
            f"(3920 bytes of data) but holds 3820 bytes; get the file again"
        )


def test_corrupt_idx(tmp_path: Path) -> None:
    bad_header = tmp_path / "x-images-idx3-ubyte"
    bad_header.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="has no IDX header"):
        read_idx(bad_header)
    # a gzip stream whose compressed body is damaged
    blob = bytearray(gzip.compress(_idx_bytes(np.arange(4000, dtype=np.uint8).reshape(4, 1000))))
    blob[20:40] = b"\xff" * 20
    bad_gz = tmp_path / "y-images-idx3-ubyte.gz"
    bad_gz.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="is not a readable gzip file"):
        read_idx(bad_gz)
    with pytest.raises(PathNotFoundError):
        read_idx(tmp_path / "missing-idx3-ubyte")


def test_npz_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    y = np.array([0, 2, 1, 2])
    np.savez(tmp_path / "d.npz", x=x, y=y, classes=np.array(["a", "b", "c"]))
    ds = load_dataset(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(ds.images, np.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.classes == ["a", "b", "c"]


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_truncated_npz(tmp_path: Path, rng: np.random.Generator, cut: float) -> None:
    x = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(50, np.int64))
    raw = (tmp_path / "d.npz").read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(DataError) as e:
        load_npz(bad)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"npz file {str(bad)!r} cannot be read (")
    assert msg.endswith("it may be truncated: write it again with np.savez")


def test_npz_missing_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DataError) as e:
        load_npz(tmp_path / "d.npz")
    assert str(e.value) == (
        f"npz file {str(tmp_path / 'd.npz')!r} has arrays ['images'], expected 'x' (images) "
        "and 'y' (labels); save it with np.savez(path, x=..., y=...)"
    )


@pytest.mark.mnist
def test_shared_mnist_counts_and_md5(mnist_dir: Path) -> None:
    raw = gzip.decompress((mnist_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    ds = load_dataset(str(mnist_dir))
    assert ds.images.shape == (10000, 1, 28, 28)
    assert np.bincount(ds.labels).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009,
    ]  # fmt: skip
    # the loaded pixels are the IDX body, in order
    assert ds.images.tobytes() == raw[16:]


def test_digits_match_sklearn() -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    ds = load_dataset("digits", size=(28, 28))
    assert ds.images.shape == (1797, 1, 28, 28)
    np.testing.assert_array_equal(ds.labels, bunch.target)
    # MNIST-like placement: a 4-pixel empty margin, the digit in the 20x20 centre
    assert ds.images[:, :, :4].max() == 0 and ds.images[:, :, 24:].max() == 0
    # brightest scan pixel (16) maps to 255 before resizing; ink order is kept
    means = ds.images[:, 0, 4:24, 4:24].reshape(1797, -1).mean(1)
    ref = bunch.images.reshape(1797, -1).mean(1) * 255 / 16
    assert np.corrcoef(means, ref)[0, 1] > 0.99


def test_corrupt_compressed_npz(tmp_path: Path, rng: np.random.Generator) -> None:
    x = rng.integers(0, 4, size=(50, 28, 28), dtype=np.uint8)
    np.savez_compressed(tmp_path / "d.npz", x=x, y=np.zeros(50, np.int64))
    blob = bytearray((tmp_path / "d.npz").read_bytes())
    middle = len(blob) // 3
    blob[middle : middle + 64] = bytes(64)
    (tmp_path / "d.npz").write_bytes(bytes(blob))
    with pytest.raises(DataError) as e:
        load_npz(tmp_path / "d.npz")
    assert "\n" not in str(e.value) and "cannot be read" in str(e.value)


def test_missing_npz(tmp_path: Path) -> None:
    with pytest.raises(PathNotFoundError) as e:
        load_npz(tmp_path / "nope.npz")
    assert str(e.value) == f"npz file {str(tmp_path / 'nope.npz')!r} does not exist; check the path"
