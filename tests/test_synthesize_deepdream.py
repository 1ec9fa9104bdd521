"""DeepDream: tiled gradients, octaves, zoom frames, class from noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convlens.data import Normalization
from convlens.errors import InputShapeError, TargetError
from convlens.synthesize import (
    DREAM,
    DREAM_CLASS,
    Dream,
    deepdream,
    dream_class,
    tiled_gradient,
    zoom_frames,
)
from convlens.zoo import create

NORM = Normalization((0.45, 0.45, 0.45), (0.25, 0.25, 0.25))


def _photo(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 5.0) * np.cos(y / 7.0)])
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def vgg() -> nn.Module:
    torch.manual_seed(0)
    return create("smallvgg").eval()


def test_tiled_gradient_equals_the_whole_image_gradient_for_a_pointwise_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Tanh(), nn.Conv2d(4, 2, 1))
    x = torch.randn(1, 3, 37, 53)
    tiled = tiled_gradient(model, x, ["2"], tile=16)
    # the reference: d/dx of half the sum of squares, by hand through autograd on the whole image
    z = x.clone().requires_grad_(True)
    (model(z).pow(2).sum() / 2).backward()
    torch.testing.assert_close(tiled, z.grad, rtol=1e-5, atol=1e-6)


def test_one_tile_covering_the_image_is_the_plain_gradient(vgg):
    x = torch.randn(1, 3, 24, 40)
    g = tiled_gradient(vgg, x, ["features.conv2_1"], tile=64)
    z = x.clone().requires_grad_(True)
    act = vgg.features[:6](z)  # up to conv2_1, before its in-place ReLU
    (act.pow(2).sum() / 2).backward()
    torch.testing.assert_close(g, z.grad, rtol=1e-4, atol=1e-6)


def test_deepdream_changes_the_photo_keeps_its_size_and_is_deterministic(vgg):
    photo = _photo(48, 72)
    spec = DREAM.replace(steps=3, transforms="roll(4)")
    kw = {"dream": Dream(octaves=2, tile=32), "data": NORM}
    a = deepdream(vgg, photo, ["features.conv2_1"], spec, **kw)
    b = deepdream(vgg, photo, ["features.conv2_1"], spec, **kw)
    assert a.image.shape == (3, 48, 72)
    assert bool(torch.isfinite(a.image).all())
    assert a.change > 0.005
    torch.testing.assert_close(a.image, b.image, rtol=0, atol=0)
    lo, hi = NORM.bounds()
    assert float(a.image.min()) >= float(lo.min()) - 1e-5
    assert float(a.image.max()) <= float(hi.max()) + 1e-5


def test_zoom_frames_follow_each_other(vgg):
    frames = list(
        zoom_frames(
            vgg,
            _photo(32, 32),
            ["features.conv1_2"],
            3,
            1.2,
            DREAM.replace(steps=1, transforms="roll(2)"),
            dream=Dream(octaves=1),
            data=NORM,
        )
    )
    assert len(frames) == 3
    assert all(f.image.shape == (3, 32, 32) for f in frames)
    assert not torch.equal(frames[1].image, frames[2].image)


@pytest.mark.slow
def test_class_from_noise_raises_the_class_probability(digits_lenet_run):
    model = digits_lenet_run.model()
    res = dream_class(digits_lenet_run, 7, DREAM_CLASS.replace(steps=20))
    with torch.no_grad():
        p_start = torch.softmax(model(res.original[None]), 1)[0, 7]
    assert res.params["probability"] > max(0.9, float(p_start))
    assert res.image.shape == (1, 28, 28)


@pytest.mark.slow
def test_a_1100_by_622_photo_runs_in_tiles(vgg):
    photo = _photo(622, 1100)
    res = deepdream(
        vgg,
        photo,
        ["features.conv3_1"],
        DREAM.replace(steps=1),
        dream=Dream(octaves=1, tile=256),
        data=NORM,
    )
    assert res.image.shape == (3, 622, 1100)
    assert bool(torch.isfinite(res.image).all()) and res.change > 0


def test_dream_bad_input(vgg):
    photo = _photo(20, 20)
    with pytest.raises(TargetError) as err:
        deepdream(vgg, photo, [], data=NORM)
    assert str(err.value) == "layers is empty: name at least one layer to dream with"
    with pytest.raises(InputShapeError) as err:
        deepdream(vgg, photo, ["features.conv3_1"], dream=Dream(octaves=8), data=NORM)
    assert str(err.value).startswith(
        "the smallest octave (2 x 2 pixels) is too small for the model ("
    )
    assert str(err.value).endswith("); use fewer octaves or a smaller octave_scale")
