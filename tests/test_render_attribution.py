"""Heatmaps, diverging maps, overlays, channel reductions and method grids."""

from __future__ import annotations

import numpy as np
import pytest

from convlens.errors import ConvlensError
from convlens.render import (
    attribution_image,
    diverging,
    heatmap,
    method_grid,
    overlay,
    pca_rgb,
    reduce_channels,
    to_grey,
)
from convlens.render.colormap import DIVERGING_LUT, HEAT_LUT
from convlens.render.figure import wrap


def test_heatmap_scales_each_map_to_its_max() -> None:
    v = np.array([[[0.0, 1.0, 2.0]], [[0.0, 5.0, 10.0]]])
    out = heatmap(v)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], out[1])  # same relative values, same colours
    assert out[0, 0, 0].tolist() == HEAT_LUT[0].tolist()
    assert out[0, 0, 1].tolist() == HEAT_LUT[128].tolist()  # 1/2 of the max -> entry 127.5
    assert out[0, 0, 2].tolist() == HEAT_LUT[255].tolist()
    assert heatmap(np.array([[[-3.0, 3.0]]]))[0, 0, 0].tolist() == HEAT_LUT[0].tolist()


def test_diverging_is_symmetric_with_white_zero() -> None:
    out = diverging(np.array([[[-2.0, -1.0, 0.0, 1.0, 2.0]]]))[0, 0]
    assert out[2].tolist() == [247, 247, 247]
    assert out[0].tolist() == DIVERGING_LUT[0].tolist()
    assert out[4].tolist() == DIVERGING_LUT[254].tolist()
    assert out[1].tolist() == DIVERGING_LUT[64].tolist()  # -1/2 -> (1 - 0.5) / 2 * 254 = 63.5
    assert out[0, 2] > out[0, 0] and out[4, 0] > out[4, 2]  # blue below zero, red above


def test_overlay_blends_grey_and_colour() -> None:
    img = np.array([[[[100, 100, 100]]]], np.uint8)
    col = np.array([[[[200, 0, 0]]]], np.uint8)
    assert overlay(img, col, alpha=0.25)[0, 0, 0].tolist() == [125, 75, 75]


def test_channel_reductions() -> None:
    maps = np.zeros((1, 3, 1, 2))
    maps[0, :, 0, 0] = [3.0, -4.0, 0.0]
    maps[0, :, 0, 1] = [1.0, 1.0, -2.0]
    np.testing.assert_allclose(reduce_channels(maps, "norm"), [[[5.0, np.sqrt(6.0)]]])
    np.testing.assert_allclose(reduce_channels(maps, "absmax"), [[[4.0, 2.0]]])
    np.testing.assert_allclose(reduce_channels(maps, "sum"), [[[-1.0, 0.0]]])
    assert to_grey(np.array([[[0.0, 2.0, 4.0]]])).tolist() == [[[0, 128, 255]]]
    with pytest.raises(ConvlensError, match="unknown channel reduction 'mean'"):
        reduce_channels(maps, "mean")


def test_pca_colours_follow_the_main_directions(rng) -> None:
    # 100-channel cells along three orthogonal directions: each gets its own colour;
    # empty cells stay black, and a cell at half length is darker with the same hue.
    d = np.linalg.qr(rng.normal(size=(100, 3)))[0].T
    maps = np.zeros((1, 100, 1, 5))
    maps[0, :, 0, 0] = 3 * d[0]
    maps[0, :, 0, 1] = 2 * d[1]
    maps[0, :, 0, 2] = 1 * d[2]
    maps[0, :, 0, 3] = 1.5 * d[0]
    rgb = pca_rgb(maps)[0, 0].astype(int)
    assert rgb[4].tolist() == [0, 0, 0]
    hues = [tuple(np.sign(rgb[i] - rgb[i].mean())) for i in range(3)]
    assert len(set(hues)) == 3
    np.testing.assert_allclose(rgb[3], rgb[0] * np.sqrt(0.5), atol=1)


def test_method_grid_layout() -> None:
    images = np.full((2, 6, 6), 10, np.uint8)
    pics = {"a": np.full((2, 6, 6, 3), 50, np.uint8), "b": np.full((2, 6, 6, 3), 90, np.uint8)}
    out = method_grid(images, pics, scale=2, labels=False, pad=1)
    assert out.shape == (2 * 12 + 3, 3 * 12 + 4, 3)
    assert out[1, 1].tolist() == [10, 10, 10]  # input first
    assert out[1 + 12 + 1, 1 + 12 + 1].tolist() == [50, 50, 50]  # row 2, method a
    assert out[1, 1 + 2 * 13].tolist() == [90, 90, 90]
    labelled = method_grid(images, pics, scale=2)
    # 12 px tiles hold two characters a line: "input" wraps to three lines of header
    assert labelled.shape == (3 * 12 + 2 * 12 + 3 * 2, 3 * 12 + 4 * 2, 3)
    with pytest.raises(ConvlensError, match="picture 'a' has shape"):
        method_grid(images, {"a": np.zeros((1, 6, 6, 3), np.uint8)})


def test_method_grid_names_rows_and_columns() -> None:
    # every row gets a caption band above it (wrapped to the figure's width), every column
    # a header (wrapped to the tile's width); the tiles keep their pixels
    images = np.full((2, 20, 20), 10, np.uint8)
    pics = {"saliency": np.full((2, 20, 20, 3), 50, np.uint8)}
    rows = ["#0: target 3 | predicted 3 p=0.99", "#1: target 5 | predicted 9 p=0.51"]
    out = method_grid(
        images, pics, scale=3, pad=2, headers={"saliency": "saliency conv2"}, row_labels=rows
    )
    width = 2 * 60 + 3 * 2  # 126 px: captions of 20 characters a line, headers of 10
    assert wrap("saliency conv2", 60) == ["saliency", "conv2"]
    assert wrap(rows[1], width - 4) == ["#1: target 5 |", "predicted 9 p=0.51"]
    header, caption = 2 * 12, 2 * 12
    assert out.shape == (header + 2 * (caption + 60) + 3 * 2, width, 3)
    y0 = header + caption + 2  # the first row's tiles
    assert out[y0, 2].tolist() == [10, 10, 10] and out[y0, 2 + 60 + 2].tolist() == [50, 50, 50]
    y1 = y0 + 60 + 2 + caption  # the second row's tiles, below its caption
    assert out[y1, 2].tolist() == [10, 10, 10]
    for band in (out[:header, 64:124], out[header : header + caption], out[y1 - caption : y1]):
        assert (band < 128).any()  # text was drawn
    assert (out[header + caption : y0] == 255).all()  # padding stays white
    with pytest.raises(ConvlensError, match="row_labels has 1 entries for 2 images"):
        method_grid(images, pics, row_labels=["one"])


def test_attribution_image_styles() -> None:
    maps = np.zeros((1, 3, 2, 2))
    maps[0, 0, 0, 0] = 1.0
    assert attribution_image(maps, style="heat")[0, 0, 0].tolist() == HEAT_LUT[255].tolist()
    assert attribution_image(maps, style="grey")[0, 0, 0].tolist() == [255, 255, 255]
    assert attribution_image(-maps, style="diverging")[0, 0, 0].tolist() == (
        DIVERGING_LUT[0].tolist()
    )
    with pytest.raises(ConvlensError, match="style 'overlay' needs the input images"):
        attribution_image(maps, style="overlay")
