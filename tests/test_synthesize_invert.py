"""Inversion (Mahendran & Vedaldi 2015) on lenet/MNIST."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convlens.errors import InputShapeError, LayerError
from convlens.synthesize import INVERSION, invert, invert_layers


@pytest.mark.slow
def test_conv1_inversion_is_faithful_and_detail_is_lost_with_depth(mnist_lenet_run):
    ds = mnist_lenet_run.dataset()
    digit = ds.images[0]
    spec = INVERSION.replace(samples=2)
    results = invert_layers(mnist_lenet_run, digit, ["conv1", "conv2", "fc1"], spec)
    conv1 = results[0]
    assert conv1.images.shape == (2, 1, 28, 28)
    # the normalised error, recomputed independently from the returned images
    model = mnist_lenet_run.model()
    with torch.no_grad():
        phi0 = model.conv1(mnist_lenet_run.preprocess(digit[None]))
        phi = model.conv1(conv1.images)
    own = ((phi - phi0) ** 2).flatten(1).sum(1) / (phi0**2).sum()
    torch.testing.assert_close(conv1.errors, own, rtol=1e-4, atol=1e-6)
    assert float(conv1.errors.max()) <= 0.05
    original = digit.astype(np.float64).ravel() / 255
    for img in conv1.pixels():
        assert np.corrcoef(original, img.astype(np.float64).ravel())[0, 1] >= 0.8
    image_errors = [float(r.image_error.mean()) for r in results]
    assert image_errors == sorted(image_errors)  # the picture drifts from the digit with depth
    # two random starts give two different reconstructions
    assert float((conv1.images[0] - conv1.images[1]).abs().max()) > 1e-4


def test_inversion_is_deterministic_and_stays_in_range(digits_lenet_run):
    img = digits_lenet_run.dataset().images[3]
    spec = INVERSION.replace(steps=20, seed=5)
    a = invert(digits_lenet_run, img, "pool1", spec)
    b = invert(digits_lenet_run, img, "pool1", spec)
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    lo, hi = digits_lenet_run.normalization.bounds()
    assert float(a.images.min()) >= float(lo) - 1e-6 and float(a.images.max()) <= float(hi) + 1e-6
    assert a.figures()["layer"] == "pool1"


def test_inversion_bad_input(digits_lenet_run):
    img = digits_lenet_run.dataset().images[0]
    with pytest.raises(LayerError) as err:
        invert(digits_lenet_run, img, "conv7", INVERSION.replace(steps=1))
    assert str(err.value).startswith("unknown layer 'conv7'")
    with pytest.raises(InputShapeError) as err:
        invert(digits_lenet_run, np.zeros((3, 28, 28), np.uint8), "conv1")
    assert str(err.value) == (
        "image has 3 channel(s), the model's data has 1; convert the image "
        "(load_image(path, channels=...))"
    )
