"""The fast per-step path: own-unit forward, fused transforms, constants cached.

Each shortcut is checked against the plain computation it replaces.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens.model import forward_until
from convlens.synthesize import channel, compose, jitter, neuron, pad, rotate, scale
from convlens.synthesize._tap import LayerTap, selectable
from convlens.synthesize.objectives import IMAGE
from convlens.synthesize.transforms import FusedAffine
from convlens.zoo import create


def _net() -> nn.Module:
    torch.manual_seed(0)
    return create("lenet").eval()


@pytest.mark.parametrize(
    ("layer", "make"),
    [
        ("conv2", lambda us: channel("conv2", us)),
        ("conv2", lambda us: neuron("conv2", us, (2, 5))),
        ("conv1", lambda us: channel("conv1", us)),
        ("fc1", lambda us: channel("fc1", us)),
    ],
)
def test_own_units_give_the_full_layers_scores_and_gradients(layer, make):
    net = _net()
    units = [3, 0, 7, 3, 9, 1]
    obj = make(units)
    x = torch.randn(6, 1, 28, 28, dtype=torch.float32)
    # reference: the whole layer from a plain forward pass
    xr = x.clone().requires_grad_(True)
    full = forward_until(net, xr, [layer], detach=False, clone=False)[layer]
    want = obj({layer: full})
    (want_grad,) = torch.autograd.grad(want.sum(), xr)
    # the tap computes each image's own unit only
    xt = x.clone().requires_grad_(True)
    with LayerTap(net, [layer], select=obj) as tap:
        assert tap.select is obj
        seen = tap(xt)
        assert layer not in seen and obj.own_key in seen
        got = obj(seen)
        (got_grad,) = torch.autograd.grad(got.sum(), xt)
        assert not any(p.requires_grad for p in net.parameters())
    torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-4, atol=1e-6)
    # the model is as it was: flags restored, no hooks, no gradients
    assert all(p.requires_grad for p in net.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert all(p.grad is None for p in net.parameters())


def test_the_full_layer_is_used_when_the_layer_is_changed_or_read_by_others():
    net = _net()
    obj = channel("conv2", [1, 2])
    assert selectable(net, obj) is net.conv2
    handle = net.conv2.register_forward_hook(lambda m, a, out: out * 2)
    try:
        assert selectable(net, obj) is None  # a user's hook changes the output
    finally:
        handle.remove()
    x = torch.randn(2, 1, 28, 28, requires_grad=True)
    ref = forward_until(net, x.detach(), ["conv1", "conv2"])
    with LayerTap(net, ["conv1", "conv2"], select=obj) as tap:
        assert tap.select is None  # another layer is read too: the plain pass
        seen = tap(x)
        torch.testing.assert_close(seen["conv2"].detach(), ref["conv2"])
        torch.testing.assert_close(seen["conv1"].detach(), ref["conv1"])
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_fused_affine_draws_like_the_separate_transforms():
    x = torch.nn.functional.interpolate(torch.randn(1, 2, 6, 6), size=(20, 20), mode="bilinear")
    x = x.repeat(12, 1, 1, 1)
    # pad + jitter alone: an exact integer shift away from the border
    fused = FusedAffine(2, (1.0, 1.0), 0.0)
    torch.manual_seed(5)
    a = fused(x)
    torch.manual_seed(5)
    b = compose(pad(2), jitter(4), scale((1.0, 1.0)), rotate(0))(x)
    torch.testing.assert_close(a[..., 2:-2, 2:-2], b[..., 2:-2, 2:-2], atol=1e-5, rtol=0)
    # zoom and rotation alone: the very same resampling as the separate transforms
    fused = FusedAffine(0, (0.8, 1.2), 20.0)
    torch.manual_seed(6)
    a = fused(x)
    torch.manual_seed(6)
    torch.randint(0, 1, (12,)), torch.randint(0, 1, (12,))  # the zero-width jitter's draws
    b = compose(scale((0.8, 1.2)), rotate(20))(x)
    one = compose(scale((0.8, 1.2)))(x)
    assert not torch.allclose(one, x)
    # a single resampling differs from two only by interpolation: close, not equal
    assert float((a - b)[..., 4:-4, 4:-4].abs().mean()) < 0.05
    torch.manual_seed(7)
    y = fused(x)
    assert not torch.allclose(y[0], y[1])  # one draw per sample
    assert repr(FusedAffine(2, (0.9, 1.1), 10)) == "affine(shift=2, scale=0.9..1.1, rotate=10)"


def test_channels_gives_the_same_images_through_either_path(monkeypatch):
    from convlens.synthesize import MAXIMISE, _tap, channels

    net = _net()
    spec = MAXIMISE.replace(steps=6, size=28, seed=2)
    fast = channels(net, "conv2", [0, 4, 9], spec)
    monkeypatch.setattr(_tap, "selectable", lambda model, unit: None)
    plain = channels(net, "conv2", [0, 4, 9], spec)
    torch.testing.assert_close(fast.images, plain.images, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(fast.reached, plain.reached, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(fast.transparency, plain.transparency, rtol=1e-3, atol=1e-5)
    assert IMAGE not in fast.params
