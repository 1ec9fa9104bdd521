"""The hook owner: captures what layers produced and leaves no hook behind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens.errors import LayerError
from convlens.model import capture, forward_until, get_layer
from convlens.zoo import create


def _hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_no_hook_remains_after_success_and_exception():
    model = create("smallvgg")
    x = torch.randn(2, 3, 32, 32)
    with capture(model, ["features.conv1_1", "classifier.fc1"]) as seen:
        assert _hook_count(model) == 2
        model(x)
    assert set(seen) == {"features.conv1_1", "classifier.fc1"}
    assert _hook_count(model) == 0
    with pytest.raises(RuntimeError, match="boom"), capture(model, ["features.conv1_1"]):
        model(x)
        raise RuntimeError("boom")
    assert _hook_count(model) == 0


def test_inplace_relu_does_not_change_captured_output():
    conv = nn.Conv2d(1, 2, 3)
    model = nn.Sequential(conv, nn.ReLU(inplace=True))
    x = torch.randn(1, 1, 6, 6)
    with capture(model, ["0"]) as seen:
        model(x)
    expected = conv(x)
    assert (expected < 0).any()  # the ReLU really changed values in place
    torch.testing.assert_close(seen["0"], expected)


def test_capture_inputs_and_forward_until():
    model = create("lenet")
    x = torch.randn(3, 1, 28, 28)
    with capture(model, ["fc1"], inputs=True) as seen:
        model(x)
    torch.testing.assert_close(
        seen.inputs["fc1"], model.flatten(model.pool2(model.conv2(model.pool1(model.conv1(x)))))
    )
    calls = []
    model.fc2.register_forward_hook(lambda *a: calls.append(1))
    early = forward_until(model, x, ["conv2"])
    assert calls == [] and early["conv2"].shape == (3, 50, 8, 8)


def test_unknown_layer_lists_closest():
    model = create("lenet")
    with pytest.raises(LayerError, match=r"unknown layer 'conv3'.*closest names: conv2, conv1"):
        get_layer(model, "conv3")
    with pytest.raises(LayerError), capture(model, ["nope"]):
        pass
    assert _hook_count(model) == 0
