"""project_units (contract C3) against captum's neuron attributions."""

from __future__ import annotations

import pytest
import torch
from captum.attr import NeuronDeconvolution, NeuronGradient, NeuronGuidedBackprop

from _attribute_helpers import assert_same, snapshot, twins
from convlens import zoo
from convlens.attribute import project_units
from convlens.errors import LayerError, TargetError

CAPTUM = {"deconvnet": NeuronDeconvolution, "guided": NeuronGuidedBackprop}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.fixture(scope="module")
def vgg() -> torch.nn.Module:
    torch.manual_seed(1)
    return zoo.create("smallvgg", width=8).eval()


@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
def test_positions_match_captum_per_sample(vgg, rule: str) -> None:
    x = torch.randn(3, 3, 16, 16)
    chans, pos = [1, 5, 9], [[2, 3], [0, 7], [4, 4]]
    ours = project_units(vgg, x, "features.conv2_1", chans, pos, rule=rule)
    layer = vgg.features.conv2_1
    for i in range(3):
        sel = (chans[i], *pos[i])
        if rule == "gradient":
            ref = NeuronGradient(vgg, layer).attribute(x[i : i + 1], neuron_selector=sel)
        else:
            ref = CAPTUM[rule](vgg, layer).attribute(x[i : i + 1], neuron_selector=sel)
        assert _rel(ours[i : i + 1], ref) <= 1e-5


def test_whole_channel_and_fc_unit(vgg) -> None:
    x = torch.randn(2, 3, 16, 16)
    ours = project_units(vgg, x, "features.relu3_1", 4, rule="guided")
    ref = NeuronGuidedBackprop(vgg, vgg.features.relu3_1).attribute(
        x, neuron_selector=lambda out: out[:, 4].sum((1, 2))
    )
    assert _rel(ours, ref) <= 1e-5
    fc = project_units(vgg, x, "classifier.fc1", [3, 7], rule="deconvnet")
    for i, unit in enumerate([3, 7]):
        ref = NeuronDeconvolution(vgg, vgg.classifier.fc1).attribute(
            x[i : i + 1], neuron_selector=(unit,)
        )
        assert _rel(fc[i : i + 1], ref) <= 1e-5


def test_functional_model_and_untouched() -> None:
    functional, module = twins()
    x = torch.randn(2, 3, 8, 8)
    before = snapshot(functional)
    a = project_units(functional, x, "conv3", [1, 2], [[1, 1], [2, 3]], rule="guided", batch_size=1)
    b = project_units(module, x, "conv3", [1, 2], [[1, 1], [2, 3]], rule="guided")
    assert _rel(a, b) <= 1e-5
    assert_same(before, snapshot(functional))


def test_bad_units_are_one_line(vgg) -> None:
    x = torch.randn(2, 3, 16, 16)
    with pytest.raises(TargetError) as err:
        project_units(vgg, x, "features.conv2_1", 99)
    assert str(err.value) == (
        "channel 99 is out of range for layer 'features.conv2_1' with output shape "
        "(16, 8, 8): expected 0..15"
    )
    with pytest.raises(TargetError, match="outside the 8x8 map"):
        project_units(vgg, x, "features.conv2_1", 0, [[0, 0], [8, 0]])
    with pytest.raises(TargetError, match="channels has 3 entries for 2 inputs"):
        project_units(vgg, x, "features.conv2_1", [0, 1, 2])
    with pytest.raises(LayerError, match=r"unknown layer 'features\.conv9'"):
        project_units(vgg, x, "features.conv9", 0)
