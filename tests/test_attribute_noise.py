"""The noise tunnel: kinds, absolute and relative noise, and per-sample determinism."""

from __future__ import annotations

import pytest
import torch

from _attribute_helpers import twins
from _captum_port import noise_tunnel_reference
from convlens.attribute import Noise, input_x_gradient, saliency, smoothgrad
from convlens.errors import ConvlensError


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return twins()[0]


@pytest.mark.parametrize("kind", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_kinds_equal_a_brute_force_loop(net, kind) -> None:
    x = torch.randn(3, 3, 8, 8)
    noise = Noise(samples=4, stdev=0.3, kind=kind, seed=11)
    got = smoothgrad(net, x, [0, 1, 2], method="input_x_gradient", noise=noise)
    want = noise_tunnel_reference(
        input_x_gradient, net, (x,), [0, 1, 2], stdev=0.3, samples=4, kind=kind, seed=11
    )[0]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_level_is_a_fraction_of_each_samples_range(net) -> None:
    # level l on a sample whose values span r is an absolute stdev of l * r
    x = torch.randn(2, 3, 8, 8)
    x[1] *= 3.0
    spans = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).tolist()
    rel = smoothgrad(net, x, 1, noise=Noise(samples=3, level=0.2))
    for i, span in enumerate(spans):
        absolute = smoothgrad(
            net, x[i : i + 1], 1, noise=Noise(samples=3, stdev=0.2 * span), sample_ids=[i]
        )
        torch.testing.assert_close(rel[i : i + 1], absolute, rtol=1e-5, atol=1e-7)


def test_deterministic_per_sample_whatever_the_batch(net) -> None:
    x = torch.randn(5, 3, 8, 8)
    noise = Noise(samples=6, level=0.3, seed=3)
    ref = smoothgrad(net, x, 2, noise=noise)
    for batch in (1, 4, 7, 30):  # rows per pass: chunks cut copies and samples anywhere
        torch.testing.assert_close(smoothgrad(net, x, 2, noise=noise, batch_size=batch), ref)
    # company: sample 3 beside other images, or alone with its id, gets the same map
    others = torch.cat([torch.randn(3, 3, 8, 8), x[3:4], torch.randn(1, 3, 8, 8)])
    mixed = smoothgrad(net, others, 2, noise=noise, sample_ids=[10, 11, 12, 3, 14])
    torch.testing.assert_close(mixed[3:4], ref[3:4])
    alone = smoothgrad(net, x[3:4], 2, noise=noise, sample_ids=[3])
    torch.testing.assert_close(alone, ref[3:4])
    # and the seed matters
    other = smoothgrad(net, x, 2, noise=Noise(samples=6, level=0.3, seed=4))
    assert not torch.allclose(other, ref)


class Pair(torch.nn.Module):
    """Two inputs into one small network."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, a, b):
        return self.net(a * b + a)


def test_several_inputs_get_their_own_levels(net) -> None:
    a, b = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    noise = Noise(samples=3, stdev=(0.0, 0.5))
    got = smoothgrad(Pair(net), (a, b), 1, noise=noise)
    want = noise_tunnel_reference(
        saliency, Pair(net), (a, b), 1, stdev=(0.0, 0.5), samples=3, kind="smoothgrad"
    )
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(got[0], saliency(Pair(net), (a, b), 1)[0])


@pytest.mark.parametrize(
    ("noise", "message"),
    [
        (Noise(samples=0), r"Noise\(samples=0\) must be at least 1"),
        (Noise(kind="var"), r"Noise\(kind='var'\) is unknown: expected one of smoothgrad"),
        (Noise(level=-1.0), r"Noise\(level=-1.0\) must be a number >= 0"),
        (Noise(stdev=(0.1, 0.2, 0.3)), r"Noise\(stdev=...\) has 3 entries for 2 inputs"),
    ],
)
def test_bad_noise_is_one_line(net, noise, message) -> None:
    x = torch.randn(2, 3, 8, 8)
    model, inputs = (Pair(net), (x, x)) if "entries" in message else (net, x)
    with pytest.raises(ConvlensError, match=message) as err:
        smoothgrad(model, inputs, 1, noise=noise)
    assert "\n" not in str(err.value)
