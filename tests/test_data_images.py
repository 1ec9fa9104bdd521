"""convlens.data.load_image: pixels as written, conversions, and one-line errors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convlens.data import load_image
from convlens.errors import DataError, PathNotFoundError


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height grey pixels, with no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def test_rgb_png_pixels_exact(tmp_path: Path, rng: np.random.Generator) -> None:
    hwc = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(hwc).save(tmp_path / "a.png")
    got = load_image(tmp_path / "a.png")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, np.transpose(hwc, (2, 0, 1)))


def test_grey_png_stays_grey_and_converts_to_rgb(tmp_path: Path, rng: np.random.Generator) -> None:
    hw = rng.integers(0, 256, size=(4, 6), dtype=np.uint8)
    Image.fromarray(hw).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png"), hw[None])
    np.testing.assert_array_equal(load_image(tmp_path / "g.png", channels=3), np.stack([hw] * 3))


def test_rgb_to_grey_uses_luma(tmp_path: Path, rng: np.random.Generator) -> None:
    hwc = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    Image.fromarray(hwc).save(tmp_path / "c.png")
    got = load_image(tmp_path / "c.png", channels=1)
    # ITU-R 601-2 luma, the grey conversion of Pillow, computed in float64.
    luma = hwc.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert got.shape == (1, 6, 6)
    assert np.abs(got[0].astype(np.float64) - luma).max() <= 1.0


def test_rgba_and_palette_become_rgb(tmp_path: Path, rng: np.random.Generator) -> None:
    rgba = rng.integers(0, 256, size=(3, 4, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(
        load_image(tmp_path / "a.png"), np.transpose(rgba[..., :3], (2, 0, 1))
    )
    pal = Image.new("P", (3, 2))
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.putpixel((1, 0), 1)
    pal.save(tmp_path / "p.png")
    got = load_image(tmp_path / "p.png")
    assert got.shape == (3, 2, 3)
    np.testing.assert_array_equal(got[:, 0, 1], [200, 100, 50])
    np.testing.assert_array_equal(got[:, 1, 2], [10, 20, 30])


def test_sixteen_bit_grey_is_scaled(tmp_path: Path) -> None:
    deep = np.array([[0, 65535], [257 * 100, 257 * 7]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    np.testing.assert_array_equal(load_image(tmp_path / "d.png"), [[[0, 255], [100, 7]]])


def test_resize_to_rows_and_columns(tmp_path: Path) -> None:
    # Left half 0, right half 200, 10 rows x 20 columns -> 5 rows x 4 columns.
    hw = np.zeros((10, 20), dtype=np.uint8)
    hw[:, 10:] = 200
    Image.fromarray(hw).save(tmp_path / "r.png")
    got = load_image(tmp_path / "r.png", size=(5, 4))
    assert got.shape == (1, 5, 4)
    # Every row is the same; the outer columns keep their side's value.
    assert (got == got[:, :1]).all()
    np.testing.assert_array_equal(got[0, :, 0], 0)
    np.testing.assert_array_equal(got[0, :, 3], 200)


def test_jpeg_reads_close_to_written(tmp_path: Path) -> None:
    hwc = np.full((16, 16, 3), (30, 120, 220), dtype=np.uint8)
    Image.fromarray(hwc).save(tmp_path / "j.jpg", quality=100)
    got = load_image(tmp_path / "j.jpg")
    assert np.abs(got.astype(int) - np.transpose(hwc, (2, 0, 1))).max() <= 3


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(PathNotFoundError) as e:
        load_image(missing)
    assert str(e.value) == f"image {str(missing)!r} does not exist; check the path"


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder, expected an image file"):
        load_image(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_file_one_line(tmp_path: Path, rng: np.random.Generator, damage: str) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    data = good.read_bytes()
    bad.write_bytes(b"not an image at all" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        load_image(bad)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"image {str(bad)!r} cannot be read (")
    assert msg.endswith("expected an intact PNG or JPEG file: save it again or remove it")


def test_huge_image_refused_from_header(tmp_path: Path) -> None:
    # 9000 x 9000 = 81,000,000 > 64,000,000: refused before any pixel is decoded.
    path = _png_header_only(tmp_path / "big.png", 9000, 9000)
    with pytest.raises(DataError) as e:
        load_image(path)
    assert str(e.value) == (
        f"image {str(path)!r} is too large (9000 x 9000 = 81000000 pixels, limit 64000000); "
        "pass a smaller image or raise max_pixels / use tiles"
    )


def test_decompression_bomb_is_one_line(tmp_path: Path) -> None:
    path = _png_header_only(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(DataError) as e:
        load_image(path, max_pixels=10**9)
    assert "too large to decode" in str(e.value)
    assert "\n" not in str(e.value)


def test_max_pixels_is_a_parameter(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(tmp_path / "s.png")
    assert load_image(tmp_path / "s.png", max_pixels=120).shape == (1, 10, 12)
    with pytest.raises(DataError, match=r"\(12 x 10 = 120 pixels, limit 119\)"):
        load_image(tmp_path / "s.png", max_pixels=119)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"channels": 2}, "channels=2: expected 1 (grey), 3 (RGB) or None (keep)"),
        ({"size": (0, 4)}, "size=(0, 4): expected (H, W), two positive integers"),
        ({"size": 5}, "size=5: expected (H, W), two positive integers"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, expected: str) -> None:
    Image.fromarray(np.zeros((2, 2), dtype=np.uint8)).save(tmp_path / "s.png")
    with pytest.raises(DataError) as e:
        load_image(tmp_path / "s.png", **kwargs)
    assert str(e.value) == expected
