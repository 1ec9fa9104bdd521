"""device_of / resolve_device, and the synthesis and probe pieces on a non-CPU device.

This machine has no GPU, so the pieces are also run on PyTorch's "meta" device:
a meta tensor mixed with a CPU tensor is an error, so any tensor created on the
CPU instead of the model's device makes these tests fail.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens.data import Normalization
from convlens.errors import ModelError
from convlens.model import device_of, resolve_device
from convlens.synthesize import _engine as E
from convlens.synthesize.objectives import channel, direction, diversity, neuron
from convlens.synthesize.param import ColourBasis, fourier, gaussian_blur, pixel
from convlens.synthesize.transforms import standard_transforms

META = torch.device("meta")


class _BuffersOnly(nn.Module):
    def __init__(self, device: str) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(1, device=device))

    def forward(self, x):
        return x * self.scale


def test_device_of_parameters_buffers_and_none():
    assert device_of(nn.Linear(2, 2)) == torch.device("cpu")
    assert device_of(nn.Linear(2, 2, device="meta")) == META
    assert device_of(_BuffersOnly("meta")) == META
    assert device_of(nn.Sequential(nn.ReLU(), nn.Flatten())) == torch.device("cpu")


def test_resolve_device_names(monkeypatch):
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("AUTO") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)


def test_resolve_device_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError) as err:
        resolve_device("cuda")
    assert str(err.value) == (
        "device 'cuda' was asked for but CUDA is not available on this machine; "
        "use --device cpu or --device auto"
    )
    with pytest.raises(ModelError) as err:
        resolve_device("gpu0")
    assert str(err.value) == (
        "device 'gpu0' is not a device: expected 'cpu', 'cuda', 'cuda:N' or 'auto'"
    )
    with pytest.raises(ModelError) as err:
        resolve_device("meta")
    assert str(err.value) == "device 'meta' is not supported: expected 'cpu', 'cuda' or 'auto'"


@pytest.mark.parametrize("make", [pixel, fourier])
def test_parameterisation_lives_on_the_device(make):
    norm = Normalization((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    basis = ColourBasis.identity(3, norm.mean)
    p = make((2, 3, 12, 12), norm, basis, device=META)
    assert all(t.device == META for t in p.parameters())
    x = p()
    assert x.device == META and x.shape == (2, 3, 12, 12)
    p.blur_(0.7)  # in place on the device
    assert gaussian_blur(x, 1.0).device == META


def test_parameterisation_draws_the_same_start_on_every_device():
    """The noise is drawn on the CPU generator: the same seed gives the same start."""
    torch.manual_seed(3)
    cpu = fourier((2, 1, 8, 8)).spectrum.detach().clone()
    torch.manual_seed(3)
    meta = fourier((2, 1, 8, 8), device=META)
    torch.manual_seed(3)
    again = fourier((2, 1, 8, 8), device="cpu").spectrum.detach()
    assert meta.spectrum.device == META
    assert torch.equal(cpu, again)


def test_transforms_and_objectives_follow_the_input_device():
    x = torch.zeros(3, 2, 28, 28, device=META)
    y = standard_transforms(28)(x)
    assert y.device == META and y.shape == (3, 2, 28, 28)
    act = torch.zeros(4, 5, 6, 6, device=META)
    for obj in (
        channel("c", [0, 1, 2, 3]),
        neuron("c", [0, 1, 2, 3], (1, 1)),
        direction("c", torch.eye(5)[:4]),
        diversity("c", per_unit=2),
    ):
        out = obj({"c": act})
        assert out.device == META and out.shape == (4,)


def test_engine_probes_shapes_on_the_model_device():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)).to(META)
    assert E.layer_shape(net, "2", (1, 10, 10)) == (2, 6, 6)
    assert E.chunk_size(net, ["2"], (1, 10, 10), 1 << 20) >= 1
    assert E.setup(net).device == META


def test_probe_input_goes_to_the_device():
    import numpy as np

    from convlens.data.dataset import ImageDataset
    from convlens.probe._pass import model_input as _model_input
    from convlens.probe._target import resolve_layers

    images = np.arange(2 * 16, dtype=np.uint8).reshape(2, 1, 4, 4)
    norm = Normalization((0.5,), (0.25,))
    ds = ImageDataset(images, np.zeros(2, np.int64), ["a"], normalization=norm)
    x = _model_input(ds, images, META)
    assert x.device == META and x.dtype == torch.float32
    cpu = _model_input(ds, images, torch.device("cpu"))
    assert torch.equal(cpu, norm.apply(images))
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(12, 2)).to(META)
    specs, out = resolve_layers(net, x[:1], None)
    assert [s.name for s in specs] == ["0", "2"] and out.device == META
