"""MaCo: the spectrum against a float64 numpy estimate, the magnitude kept through the
optimisation, the transparency map against a hand-worked linear model, and the
optimisers against their update rules written out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convlens.data import Normalization
from convlens.synthesize import MAXIMISE, ColourBasis, MacoParam, Spectrum, channels
from convlens.synthesize._step import Stepper
from convlens.synthesize.maco import EPS


def _numpy_spectrum(images: np.ndarray, basis: ColourBasis) -> np.ndarray:
    """sqrt(mean |rfft2|^2) of each image's latent (the inverse of the decoder), float64 numpy."""
    x = np.clip(images.astype(np.float64) / 255.0, EPS, 1 - EPS)
    mean = np.clip(basis.mean.double().numpy(), 0.02, 0.98)
    logits = np.log(x / (1 - x)) - np.log(mean / (1 - mean))[None, :, None, None]
    m = basis.matrix.double().numpy()
    if not np.allclose(m, np.eye(len(m))):
        logits = np.einsum("ij,njhw->nihw", np.linalg.pinv(m), logits)
    return np.sqrt((np.abs(np.fft.rfft2(logits, norm="ortho")) ** 2).mean(0))


@pytest.mark.parametrize("decorrelate", [False, True])
def test_the_spectrum_of_the_data_matches_a_float64_estimate(rng, decorrelate):
    images = rng.integers(0, 256, (9, 3, 12, 10), dtype=np.uint8)
    images[:, 1] = images[:, 0] // 2 + 40  # correlated colours, so the basis is not trivial
    basis = ColourBasis.fit(images) if decorrelate else ColourBasis.identity(3, (0.4, 0.5, 0.6))
    got = Spectrum.from_images(images, (12, 10), basis, "x").magnitude
    assert got.shape == (3, 12, 6)
    np.testing.assert_allclose(got.numpy(), _numpy_spectrum(images, basis), rtol=2e-4, atol=1e-4)


def test_the_natural_spectrum_falls_as_one_over_f_with_unit_variance():
    r = Spectrum.natural(2, (32, 32)).magnitude
    assert r[0, 0, 0] == 0  # no mean: the colour basis gives the mean pixel
    torch.testing.assert_close(r[0, 0, 2] / r[0, 0, 4], torch.tensor(2.0))
    torch.testing.assert_close(r[1, 3, 0] / r[1, 6, 0], torch.tensor(2.0))
    torch.manual_seed(0)
    p = MacoParam((400, 2, 32, 32), spectrum=Spectrum.natural(2, (32, 32)))
    latent = p._spatial().detach()
    assert abs(float(latent.var()) - 1.0) < 0.05


def test_only_the_phase_moves_the_magnitude_is_kept():
    torch.manual_seed(0)
    spectrum = Spectrum(torch.rand(3, 16, 9) + 0.5)
    p = MacoParam((4, 3, 16, 16), Normalization((0.5,) * 3, (0.25,) * 3), None, spectrum)
    assert p.parameters() == [p.phase]
    stepper = Stepper("adam", 0.3, 5, p.parameters())
    target = torch.randn(4, 3, 16, 16)
    for step in range(5):
        (g,) = torch.autograd.grad(((p() - target) ** 2).sum(), p.parameters())
        stepper.step([g], step)
    mag = torch.fft.rfft2(p._spatial().detach(), norm="ortho").abs()
    inner = (slice(None), slice(None), slice(1, 8), slice(1, 8))  # not self-conjugate
    torch.testing.assert_close(mag[inner], spectrum.magnitude[None].expand_as(mag)[inner])
    x = p().detach()
    lo, hi = Normalization((0.5,) * 3, (0.25,) * 3).bounds()
    assert float(x.min()) >= float(lo.min()) and float(x.max()) <= float(hi.max())


def test_the_transparency_map_of_a_linear_unit_is_its_weights():
    # channel k of a 1x1 conv scores mean_ij(w_k . x_ij): the gradient at every pixel is
    # w_k / (H W), so the map is steps * sum_c |w_kc| / (H W) everywhere
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[0.5, -1.0, 2.0], [-0.25, 0.0, 1.0]]).view(2, 3, 1, 1))
    net = nn.Sequential(conv).eval()
    spec = MAXIMISE.replace(param="maco", steps=6, size=(5, 7), transforms=None)
    res = channels(net, "0", [0, 1], spec, data=Normalization((0.5,) * 3, (1.0,) * 3))
    expected = torch.tensor([3.5, 1.25])[:, None, None] * 6 / (5 * 7)
    torch.testing.assert_close(res.transparency, expected.expand(2, 5, 7))
    assert res.alpha().shape == (2, 5, 7)


def test_maco_drives_lenet_units_above_every_real_image(digits_lenet_run):
    res = channels(digits_lenet_run, "conv2", range(10), MAXIMISE.replace(param="maco", steps=48))
    assert res.spec.param == "maco" and res.spec.lr == 0.2 and res.spec.decorrelate is False
    assert res.figures()["fraction_above_data"] >= 0.8
    # the images have the data's spectrum: no unit gets a blank or a saturated picture
    pixels = res.pixels().astype(np.float64) / 255
    assert float(pixels.std(axis=(1, 2, 3)).min()) > 0.05


def test_the_optimisers_follow_their_update_rules():
    def run(kind, lr, steps):
        z = torch.tensor([1.0, -2.0, 0.5])
        stepper = Stepper(kind, lr, steps, [z])
        for step in range(steps):
            stepper.step([2 * z.clone()], step)  # the gradient of sum(z^2)
        return z

    # heavy ball: v = 0.9 v - rate g, z = z + v; the rate is lr / 10 from step 2 of 3 on
    z, v = [1.0, -2.0, 0.5], [0.0, 0.0, 0.0]
    for step, rate in enumerate([0.1, 0.1, 0.01]):
        for i in range(3):
            v[i] = 0.9 * v[i] - rate * 2 * z[i]
            z[i] = z[i] + v[i]
        assert step < 3
    torch.testing.assert_close(run("sgd", 0.1, 3), torch.tensor(z))
    # normalised: z = z - lr g / mean|g|
    z = np.array([1.0, -2.0, 0.5])
    for _ in range(2):
        g = 2 * z
        z = z - 0.1 * g / np.abs(g).mean()
    torch.testing.assert_close(run("normalized", 0.1, 2), torch.tensor(z, dtype=torch.float32))
    # Adam is torch's
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    torch.testing.assert_close(run("adam", 0.1, 3), w.detach())


class _Start:
    """Two images: the first starts where its ReLU unit is closed (no gradient at all)."""

    def __init__(self):
        self.shape = (2, 1, 3, 3)
        self.device = torch.device("cpu")
        self.t = torch.tensor([-1.0, 2.0]).view(2, 1, 1, 1).repeat(1, 1, 3, 3).requires_grad_()
        self.redrawn: list[list[bool]] = []

    def parameters(self):
        return [self.t]

    def __call__(self):
        return self.t * 1.0

    @torch.no_grad()
    def redraw_(self, rows):
        self.redrawn.append(rows.tolist())
        self.t[rows] = 3.0


def test_an_image_whose_unit_never_opens_gets_a_fresh_start():
    from convlens.synthesize import _engine, channel

    net = nn.Sequential(nn.ReLU()).eval()
    param = _Start()
    spec = MAXIMISE.replace(steps=3, transforms=None).resolved()
    found = _engine.optimise(net, channel("0", [0, 0]), param, spec)
    assert param.redrawn == [[True, False]]  # once, at step 0, only the closed one
    # the map: d mean(relu(x)) / dx = 1/9 per pixel while open; image 0 opens from step 1
    torch.testing.assert_close(found, torch.tensor([2.0, 3.0]).view(2, 1, 1).expand(2, 3, 3) / 9)


@pytest.mark.parametrize("make", ["pixel", "fourier", "maco"])
def test_a_fresh_start_changes_only_the_rows_asked_for(make):
    from convlens import synthesize as S

    p = getattr(S, make)((3, 1, 8, 8))
    (t,) = p.parameters()
    before = t.detach().clone()
    p.redraw_(torch.tensor([False, True, False]))
    assert torch.equal(t[0], before[0]) and torch.equal(t[2], before[2])
    assert not torch.equal(t[1], before[1])
