"""CIFAR-10 python batches: exact pixels and labels, safe unpickling, bad files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from convlens.data import CIFAR10_CLASSES, detect_format, load_cifar10, load_dataset
from convlens.errors import DataError, PathNotFoundError


def _write_batch(path: Path, data: np.ndarray, labels: list[int], protocol: int = 2) -> None:
    """A batch as the real files have it: bytes keys, uint8 (N, 3072), list labels."""
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    with path.open("wb") as f:
        pickle.dump(batch, f, protocol=protocol)


def _write_meta(folder: Path, names: list[str]) -> None:
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in names]}
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump(meta, f, protocol=2)


@pytest.fixture
def cifar_dir(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray, np.ndarray]:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data = rng.integers(0, 256, size=(7, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7)
    _write_batch(folder / "data_batch_1", data[:3], labels[:3].tolist(), protocol=2)
    _write_batch(folder / "data_batch_2", data[3:5], labels[3:5].tolist(), protocol=4)
    _write_batch(folder / "test_batch", data[5:], labels[5:].tolist(), protocol=5)
    _write_meta(folder, [f"class{i}" for i in range(10)])
    return folder, data, labels


def test_pixels_and_labels_exact(cifar_dir: tuple[Path, np.ndarray, np.ndarray]) -> None:
    folder, data, labels = cifar_dir
    ds = load_cifar10(folder)
    assert ds.images.shape == (7, 3, 32, 32)
    # channel c, row r, column k of image i is data[i, 1024*c + 32*r + k]
    for i, c, r, k in [(0, 0, 0, 0), (2, 1, 5, 31), (6, 2, 31, 7), (4, 2, 17, 3)]:
        assert ds.images[i, c, r, k] == data[i, 1024 * c + 32 * r + k]
    np.testing.assert_array_equal(ds.images.reshape(7, -1), data)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.classes == [f"class{i}" for i in range(10)]
    np.testing.assert_array_equal(ds.indices, np.arange(7))


def test_through_load_dataset_and_parent_folder(
    cifar_dir: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    folder, data, _ = cifar_dir
    assert detect_format(str(folder)) == "cifar10"
    assert detect_format(str(folder.parent)) == "cifar10"
    ds = load_dataset(str(folder.parent))
    np.testing.assert_array_equal(ds.images.reshape(7, -1), data)
    one = load_dataset(str(folder / "test_batch"))
    np.testing.assert_array_equal(one.images.reshape(2, -1), data[5:])


def test_standard_names_without_meta(cifar_dir: tuple[Path, np.ndarray, np.ndarray]) -> None:
    folder, _, _ = cifar_dir
    os.remove(folder / "batches.meta")
    assert load_cifar10(folder).classes == list(CIFAR10_CLASSES)


def test_truncated_batch(cifar_dir: tuple[Path, np.ndarray, np.ndarray]) -> None:
    folder, _, _ = cifar_dir
    path = folder / "data_batch_2"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as e:
        load_cifar10(folder)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"CIFAR batch {str(path)!r} cannot be read (")
    assert msg.endswith(
        "expected an intact pickled batch of the CIFAR-10 python version: download it again"
    )


def test_garbage_batch(cifar_dir: tuple[Path, np.ndarray, np.ndarray]) -> None:
    folder, _, _ = cifar_dir
    (folder / "test_batch").write_bytes(b"\x00\x01 this is not a pickle")
    with pytest.raises(DataError, match="cannot be read"):
        load_cifar10(folder)


class _Boom:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def test_code_in_a_pickle_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "evil"
    folder.mkdir()
    with (folder / "data_batch_1").open("wb") as f:
        pickle.dump({b"data": _Boom(), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataError) as e:
        load_cifar10(folder)
    assert "which is not allowed" in str(e.value)
    assert "system" in str(e.value)


def test_wrong_content(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    _write_batch(folder / "data_batch_1", np.zeros((2, 100), dtype=np.uint8), [0, 1])
    with pytest.raises(DataError) as e:
        load_cifar10(folder)
    assert str(e.value) == (
        f"CIFAR batch {str(folder / 'data_batch_1')!r}: 'data' has 100 values per image, "
        "expected 3072 (3 x 32 x 32)"
    )
    _write_batch(folder / "data_batch_1", np.zeros((2, 3072), dtype=np.uint8), [0])
    with pytest.raises(DataError, match="has 2 images but 1 labels"):
        load_cifar10(folder)


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(PathNotFoundError):
        load_cifar10(tmp_path / "nope")
    with pytest.raises(DataError) as e:
        load_cifar10(tmp_path)
    assert str(e.value) == (
        f"folder {str(tmp_path)!r} holds no CIFAR-10 batches; expected data_batch_1 .. "
        "data_batch_5 and/or test_batch (the python version, extracted)"
    )
