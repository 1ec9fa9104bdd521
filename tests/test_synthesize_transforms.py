"""Transforms (shapes, per-sample randomness, exact crops) and parameterisations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convlens.data import Normalization
from convlens.errors import InputShapeError
from convlens.synthesize import (
    ColourBasis,
    compose,
    fourier,
    jitter,
    pad,
    pixel,
    rotate,
    scale,
    standard_transforms,
)
from convlens.synthesize.param import gaussian_blur


@pytest.mark.parametrize("size", [12, 28, 32, 57])
def test_standard_transforms_preserve_shape(size):
    t = standard_transforms(size)
    x = torch.randn(5, 3, size, size)
    assert t(x).shape == x.shape
    assert t.out_size(size, size) == (size, size)


@pytest.mark.parametrize(
    ("transform", "out"),
    [(pad(3), (16, 20)), (jitter(4), (6, 10)), (scale((0.5, 2)), (10, 14)), (rotate(45), (10, 14))],
    ids=repr,
)
def test_each_transform_reports_its_output_size(transform, out):
    x = torch.randn(4, 2, 10, 14)
    assert tuple(transform(x).shape[-2:]) == out == transform.out_size(10, 14)


def test_jitter_takes_an_exact_crop_at_a_separate_offset_per_sample():
    torch.manual_seed(0)
    x = torch.arange(10 * 10, dtype=torch.float32).view(1, 1, 10, 10).repeat(16, 1, 1, 1)
    y = jitter(4)(x)
    offsets = set()
    for k in range(16):
        dy, dx = divmod(int(y[k, 0, 0, 0]), 10)
        assert 0 <= dy <= 4 and 0 <= dx <= 4
        torch.testing.assert_close(y[k, 0], x[k, 0, dy : dy + 6, dx : dx + 6])
        offsets.add((dy, dx))
    assert len(offsets) > 4  # not one shift for the whole batch


def test_scale_and_rotate_draw_per_sample_and_are_identity_at_zero():
    torch.manual_seed(0)
    x = torch.randn(1, 1, 16, 16).repeat(6, 1, 1, 1)
    y = rotate(30)(x)
    assert not torch.allclose(y[0], y[1])
    torch.testing.assert_close(rotate(0)(x), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(scale((1.0, 1.0))(x), x, atol=1e-5, rtol=0)


def test_compose_names_itself_and_keeps_size():
    t = compose(pad(2), jitter(4), rotate(5))
    assert repr(t) == "pad(2) -> jitter(4) -> rotate(5)"
    assert t(torch.zeros(2, 1, 9, 9)).shape == (2, 1, 9, 9)


def test_too_small_for_the_transforms_is_one_line():
    with pytest.raises(InputShapeError) as err:
        compose(pad(1), jitter(8)).out_size(5, 5)
    assert str(err.value) == (
        "size 7x7 is too small for the transform jitter(8): it needs images of at least 9x9; "
        "pass a larger size or weaker transforms"
    )


def test_colour_basis_is_a_square_root_of_the_data_covariance(rng):
    mix = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.7]])
    latent = rng.normal(size=(20000, 3))
    pixels = np.clip(0.5 + 0.1 * latent @ mix.T, 0, 1)
    images = np.round(pixels * 255).astype(np.uint8).T.reshape(3, 200, 100).transpose(1, 0, 2)
    images = images[:, :, None, :]  # (N=200, C=3, 1, 100)
    basis = ColourBasis.fit(images)
    cov = np.cov(np.moveaxis(images, 1, -1).reshape(-1, 3).astype(np.float64) / 255, rowvar=False)
    m = basis.matrix.double().numpy()
    product = m @ m.T
    # M M^T is the covariance up to one scale factor
    np.testing.assert_allclose(product / product[0, 0], cov / cov[0, 0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(basis.mean.numpy(), images.mean(axis=(0, 2, 3)) / 255, atol=1e-6)
    assert ColourBasis.fit(images[:, :1]).matrix.tolist() == [[1.0]]


@pytest.mark.parametrize("make", [pixel, fourier])
def test_parameterisations_stay_within_the_data_range(make):
    norm = Normalization((0.1307,), (0.3081,))
    p = make((3, 1, 16, 16), norm)
    with torch.no_grad():
        p.parameters()[0].mul_(1e4)  # push far out: still inside the range
    x = p().detach()
    lo, hi = norm.bounds()
    assert x.shape == (3, 1, 16, 16)
    assert float(x.min()) >= float(lo) - 1e-6 and float(x.max()) <= float(hi) + 1e-6


def test_fourier_blur_equals_a_gaussian_low_pass():
    torch.manual_seed(0)
    p = fourier((1, 1, 32, 32), decay=0.0)
    before = p._spatial().detach()
    p.blur_(1.0)
    after = p._spatial().detach()
    # circular Gaussian blur computed independently in the frequency domain
    fy = torch.fft.fftfreq(32)[:, None]
    fx = torch.fft.fftfreq(32)[None, :]
    gain = torch.exp(-2 * torch.pi**2 * (fx**2 + fy**2))
    expected = torch.fft.ifft2(torch.fft.fft2(before) * gain).real
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-4)


def test_pixel_blur_matches_a_direct_gaussian_convolution():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    y = gaussian_blur(x, 1.0)
    t = torch.arange(-3, 4, dtype=torch.float32)
    k = torch.exp(-0.5 * t**2)
    k = k / k.sum()
    torch.testing.assert_close(y[0, 0, 1:8, 1:8], k[:, None] * k[None, :], atol=1e-6, rtol=1e-5)
