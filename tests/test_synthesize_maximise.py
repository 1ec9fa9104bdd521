"""Activation maximisation on lenet/MNIST: acceptance, quality figure, determinism, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens.errors import InputShapeError, LayerError, TargetError
from convlens.model import forward_until
from convlens.synthesize import (
    MAXIMISE,
    Penalty,
    _engine,
    channels,
    classes,
    compose,
    directions,
    jitter,
    neurons,
)


def _dataset_channel_max(run, layer: str) -> torch.Tensor:
    model = run.model()
    with torch.no_grad():
        means = [
            forward_until(model, b.inputs, [layer])[layer].mean((2, 3))
            for b in run.dataset().batches(1000)
        ]
    return torch.cat(means).max(0).values


@pytest.mark.slow
def test_synthesized_images_beat_every_mnist_test_image_on_conv2(mnist_lenet_run):
    real_max = _dataset_channel_max(mnist_lenet_run, "conv2")  # all 10,000 test images
    res = channels(mnist_lenet_run, "conv2", spec=MAXIMISE.replace(steps=128))
    assert res.images.shape == (50, 1, 28, 28)
    assert res.units == list(range(50))
    # the reached activation, recomputed by a plain forward pass on the returned images
    with torch.no_grad():
        seen = forward_until(mnist_lenet_run.model(), res.images, ["conv2"])["conv2"]
    own = seen.mean((2, 3))[torch.arange(50), torch.arange(50)]
    torch.testing.assert_close(res.reached, own, rtol=1e-4, atol=1e-5)
    fraction = float((own > real_max).float().mean())
    assert fraction >= 0.9
    # images lie within the data's value range
    lo, hi = mnist_lenet_run.normalization.bounds()
    assert (
        float(res.images.min()) >= float(lo) - 1e-5 and float(res.images.max()) <= float(hi) + 1e-5
    )
    # the quality figure: the reference sample's maximum never exceeds the full data's
    assert bool((res.reference_max <= real_max + 1e-5).all())
    ratio = (res.reached - res.reference_mean) / (res.reference_max - res.reference_mean)
    torch.testing.assert_close(res.ratio, ratio)
    assert res.figures()["fraction_above_data"] >= 0.9


def test_runs_are_deterministic_under_a_seed_and_keep_the_callers_rng(mnist_lenet_run):
    model = mnist_lenet_run.model()
    model.train()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    spec = MAXIMISE.replace(steps=8, size=28, seed=3)
    a = channels(model, "conv1", [0, 5, 7], spec)
    after = torch.rand(3)
    b = channels(model, "conv1", [0, 5, 7], spec)
    c = channels(model, "conv1", [0, 5, 7], spec.replace(seed=4))
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    assert not torch.equal(a.images, c.images)
    torch.testing.assert_close(after, expected_next)  # the caller's generator is untouched
    # the model is left as it was: training flag, no hooks, no gradients
    assert model.training and model.conv1.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_chunks_and_out_of_memory_fallback_give_every_unit(mnist_lenet_run, monkeypatch):
    model = mnist_lenet_run.model()
    real = _engine.optimise
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "optimise", flaky)
    res = channels(model, "conv1", range(10), MAXIMISE.replace(steps=4, size=28, batch=8))
    assert res.units == list(range(10))
    assert res.spec.batch == 4  # halved after the failure
    assert calls["n"] == 4  # 1 failed + chunks of 4, 4, 2


def test_several_diverse_images_per_unit(mnist_lenet_run):
    spec = MAXIMISE.replace(steps=16, size=28, samples=3, penalty=Penalty(diversity=1.0))
    res = channels(mnist_lenet_run.model(), "conv2", [3, 9], spec)
    assert res.units == [3, 3, 3, 9, 9, 9]
    flat = res.images.flatten(1)
    assert float((flat[0] - flat[1]).abs().mean()) > 1e-3
    assert "diversity(conv2)" in res.objective


@pytest.mark.slow
def test_neurons_classes_and_directions(mnist_lenet_run):
    model = mnist_lenet_run.model()
    res = classes(mnist_lenet_run, spec=MAXIMISE.replace(steps=32))
    with torch.no_grad():
        predicted = model(res.images).argmax(1)
    assert int((predicted == torch.arange(10)).sum()) >= 9
    eye = torch.eye(50)[[4, 20]]
    d = directions(model, "conv2", eye, MAXIMISE.replace(steps=8, size=28))
    with torch.no_grad():
        seen = forward_until(model, d.images, ["conv2"])["conv2"].mean((2, 3))
    torch.testing.assert_close(d.reached, seen[[0, 1], [4, 20]], rtol=1e-4, atol=1e-5)
    n = neurons(model, "conv2", [1], (2, 5), MAXIMISE.replace(steps=8, size=28))
    with torch.no_grad():
        value = forward_until(model, n.images, ["conv2"])["conv2"][0, 1, 2, 5]
    assert float(n.reached[0]) == pytest.approx(float(value), rel=1e-4)


# ------------------------------------------------------------------ bad input
class _Argmax(nn.Module):
    def forward(self, x):
        return x.argmax(1, keepdim=True)


class _Round(nn.Module):
    def forward(self, x):
        return torch.round(x)


class _Flat(nn.Module):
    def __init__(self, last: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 1)
        self.pick = last

    def forward(self, x):
        return self.pick(self.conv(x))


def test_unknown_layer(mnist_lenet_run):
    with pytest.raises(LayerError) as err:
        channels(mnist_lenet_run, "conv9", spec=MAXIMISE.replace(steps=1))
    assert str(err.value).startswith("unknown layer 'conv9': expected one of the model's")


def test_unit_out_of_range(mnist_lenet_run):
    with pytest.raises(TargetError) as err:
        channels(mnist_lenet_run, "conv2", [3, 50], MAXIMISE.replace(steps=1))
    assert str(err.value) == (
        "unit 50 is out of range for layer 'conv2' with 50 channels: expected 0..49"
    )
    with pytest.raises(TargetError) as err:
        classes(mnist_lenet_run, [10], MAXIMISE.replace(steps=1))
    assert (
        str(err.value) == "class 10 is out of range for layer 'output' with 10 units: expected 0..9"
    )


def test_a_layer_after_an_argmax_gives_no_gradient():
    with pytest.raises(LayerError) as err:
        channels(_Flat(_Argmax()), "pick", [0], MAXIMISE.replace(steps=2, size=8))
    assert str(err.value) == (
        "layer 'pick' gives the objective no gradient: its output (torch.int64 tensor) does not "
        "depend differentiably on the image (for example after an argmax, a comparison or a "
        "detach); choose a layer before it"
    )


def test_a_flat_layer_gives_a_zero_gradient():
    with pytest.raises(LayerError) as err:
        channels(_Flat(_Round()), "pick", [0, 1], MAXIMISE.replace(steps=2, size=8))
    assert str(err.value) == (
        "the objective channel(pick, 2 units) has a zero gradient with respect to the image "
        "through layer 'pick': that layer is flat (a step, rounding or argmax) or every unit is "
        "inactive; choose a layer before it"
    )


def test_size_too_small_for_the_transforms_or_the_model(mnist_lenet_run):
    with pytest.raises(InputShapeError) as err:
        spec = MAXIMISE.replace(size=6, transforms=compose(jitter(8)))
        channels(_Flat(nn.Identity()), "conv", [0], spec)
    assert str(err.value) == (
        "size 6x6 is too small for the transform jitter(8): it needs images of at least 9x9; "
        "pass a larger size or weaker transforms"
    )
    with pytest.raises(InputShapeError) as err:
        channels(mnist_lenet_run, "conv2", [0], MAXIMISE.replace(size=6))
    assert str(err.value).startswith(
        "an image of shape (1, 6, 6) (C, H, W) does not fit the model ("
    )
    assert str(err.value).endswith("); pass the size the model was built for")
