"""Frozen models: every method gives the same map when no parameter requires gradients."""

from __future__ import annotations

import copy

import pytest
import torch

from _attribute_helpers import randomize_bn, twins
from convlens import zoo
from convlens.attribute import (
    METHODS,
    Layer,
    Noise,
    cam,
    grad_cam,
    guided_grad_cam,
    integrated_gradients,
    project_units,
    smoothgrad,
)

OPTIONS = {
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"noise": Noise(samples=3), "method": "guided_backprop"},
    "occlusion": {"window": 4, "stride": 2},
    "grad_cam": {"layer": "conv2"},
    "guided_grad_cam": {"layer": "conv3"},
}


def frozen(model: torch.nn.Module) -> torch.nn.Module:
    twin = copy.deepcopy(model)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"cam"}))
def test_every_method_equals_its_result_with_gradients_on(name: str) -> None:
    net, _ = twins()
    cold = frozen(net)
    x = torch.randn(3, 3, 8, 8)
    fn = METHODS[name]
    want = fn(net, x, [0, 2, 4], **OPTIONS.get(name, {}))
    got = fn(cold, x, [0, 2, 4], **OPTIONS.get(name, {}))
    assert float(want.abs().max()) > 0  # a map of zeros would prove nothing
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert all(not p.requires_grad for p in cold.parameters())  # left frozen


def test_cam_grad_cam_variants_and_projections_frozen() -> None:
    res = randomize_bn(zoo.create("resnet8", width=4))
    cold = frozen(res)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(cam(cold, x, 1), cam(res, x, 1))
    for layer in ("layer3", Layer("layer3.conv1", input=True), "fc"):
        for relu in (False, True):
            want = grad_cam(res, x, 1, layer=layer, relu=relu, upsample=False)
            assert relu or float(want.abs().max()) > 0
            got = grad_cam(cold, x, 1, layer=layer, relu=relu, upsample=False)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        guided_grad_cam(cold, x, 1, layer="layer2"), guided_grad_cam(res, x, 1, layer="layer2")
    )
    torch.testing.assert_close(
        project_units(cold, x, "layer2", 3), project_units(res, x, "layer2", 3)
    )
    torch.testing.assert_close(
        integrated_gradients(cold, x, 1, steps=4, multiply_by_inputs=False),
        integrated_gradients(res, x, 1, steps=4, multiply_by_inputs=False),
    )
    for kind in ("smoothgrad_sq", "vargrad"):
        noise = Noise(samples=2, kind=kind)
        torch.testing.assert_close(
            smoothgrad(cold, x, 1, noise=noise), smoothgrad(res, x, 1, noise=noise)
        )
