"""Folders of class folders: exact pixels, labels, resizing, channels, bad folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convlens.data import detect_format, load_dataset, load_image_folder
from convlens.errors import DataError, PathNotFoundError


@pytest.fixture
def pets(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path / "pets"
    written: dict[str, np.ndarray] = {}
    for cls, n in (("dog", 2), ("cat", 3)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / cls / f"{i}.png")
            written[f"{cls}/{i}"] = img
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root, written


def test_exact_pixels_and_labels(pets: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, written = pets
    assert detect_format(str(root)) == "folder"
    ds = load_dataset(str(root))
    assert ds.classes == ["cat", "dog"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    order = ["cat/0", "cat/1", "cat/2", "dog/0", "dog/1"]
    for row, key in enumerate(order):
        np.testing.assert_array_equal(ds.images[row], np.transpose(written[key], (2, 0, 1)))
        np.testing.assert_array_equal(ds[row].image, written[key])


def test_grey_and_resize(pets: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, written = pets
    ds = load_image_folder(root, size=(12, 10), channels=1)
    assert ds.images.shape == (5, 1, 12, 10)
    # grey of an upscaled image is close to the upscaled grey value at the corners
    luma = written["cat/0"].astype(float) @ np.array([0.299, 0.587, 0.114])
    assert abs(float(ds.images[0, 0, 0, 0]) - luma[0, 0]) <= 1.0
    assert abs(float(ds.images[0, 0, -1, -1]) - luma[-1, -1]) <= 1.0


def test_mixed_grey_and_rgb_become_rgb(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    Image.fromarray(grey).save(tmp_path / "a" / "g.png")
    Image.fromarray(np.full((3, 4, 3), 9, np.uint8)).save(tmp_path / "b" / "c.jpg", quality=100)
    ds = load_image_folder(tmp_path)
    assert ds.images.shape == (2, 3, 3, 4)
    np.testing.assert_array_equal(ds.images[0], np.stack([grey] * 3))


def test_different_sizes_need_a_size(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(tmp_path / "a" / "1.png")
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(tmp_path / "a" / "2.png")
    with pytest.raises(DataError) as e:
        load_image_folder(tmp_path)
    assert str(e.value) == (
        f"images in {str(tmp_path)!r} differ in size: '1.png' is 3x4 but "
        f"{str(tmp_path / 'a' / '2.png')!r} is 5x4 (HxW); pass size=(H, W) (the model's "
        "input size) to resize them"
    )
    assert load_image_folder(tmp_path, size=(4, 4)).images.shape == (2, 1, 4, 4)


def test_folder_with_no_images(tmp_path: Path) -> None:
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "readme.txt").write_text("x")
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path))
    assert str(e.value) == (
        f"folder {str(tmp_path)!r} has no images in class sub-folders (looked for "
        ".png, .jpg, .jpeg); put images in one sub-folder per class"
    )


def test_loose_images_are_pointed_out(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "x.PNG")
    with pytest.raises(DataError, match="move the images into one sub-folder per class"):
        load_image_folder(tmp_path)


def test_corrupt_image_names_the_file(pets: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, _ = pets
    bad = root / "dog" / "9.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DataError) as e:
        load_image_folder(root)
    assert str(e.value).startswith(f"image {str(bad)!r} cannot be read (")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PathNotFoundError) as e:
        load_dataset(str(tmp_path / "nope"))
    assert str(e.value).startswith(f"data {str(tmp_path / 'nope')!r} does not exist")
    with pytest.raises(PathNotFoundError):
        load_image_folder(tmp_path / "nope")
