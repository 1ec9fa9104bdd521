"""Agreement with captum (a test-only oracle) on smallvgg and resnet8."""

from __future__ import annotations

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, LayerGradCam, Occlusion, Saliency

from _attribute_helpers import randomize_bn, resnet8_module_twin, twins
from convlens import zoo
from convlens.attribute import (
    deconvnet,
    grad_cam,
    guided_backprop,
    integrated_gradients,
    occlusion,
    saliency,
)

TOL = 1e-4


def rel(ours: torch.Tensor, ref: torch.Tensor) -> float:
    ours, ref = ours.detach(), ref.detach()
    return float((ours - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


@pytest.fixture(scope="module")
def nets() -> dict[str, tuple[torch.nn.Module, torch.nn.Module, str]]:
    """name -> (our model, captum's model with nn.ReLU modules, Grad-CAM layer)."""
    torch.manual_seed(3)
    vgg = zoo.create("smallvgg", width=8).eval()  # in-place nn.ReLU modules
    res = randomize_bn(zoo.create("resnet8", width=8))  # F.relu + BatchNorm (eval)
    return {
        "smallvgg": (vgg, vgg, "features.conv3_1"),
        "resnet8": (res, resnet8_module_twin(res), "layer3"),
    }


@pytest.mark.parametrize("name", ["smallvgg", "resnet8"])
def test_gradient_methods_match_captum(nets, name: str) -> None:
    ours_model, captum_model, layer = nets[name]
    x = torch.randn(4, 3, 16, 16)
    target = [0, 3, 7, 9]
    assert (
        rel(
            saliency(ours_model, x, target),
            Saliency(captum_model).attribute(x, target=target, abs=False),
        )
        <= TOL
    )
    assert (
        rel(
            saliency(ours_model, x, target, abs=True),
            Saliency(captum_model).attribute(x, target=target),
        )
        <= TOL
    )
    assert (
        rel(
            guided_backprop(ours_model, x, target),
            GuidedBackprop(captum_model).attribute(x, target=target),
        )
        <= TOL
    )
    assert (
        rel(
            deconvnet(ours_model, x, target),
            Deconvolution(captum_model).attribute(x, target=target),
        )
        <= TOL
    )
    ref = LayerGradCam(captum_model, dict(captum_model.named_modules())[layer]).attribute(
        x, target=target, relu_attributions=True
    )
    ours = grad_cam(ours_model, x, target, layer=layer, upsample=False)
    assert ours.shape == ref.shape
    assert rel(ours, ref) <= TOL


def test_grad_cam_float64_reference(nets) -> None:
    # Grad-CAM of resnet8's layer3 by hand in float64: A (N,C,h,w), weights = mean dS/dA.
    model, _, _ = nets["resnet8"]
    x = torch.randn(2, 3, 16, 16)
    m64 = resnet8_module_twin(model).double()
    acts = {}
    handle = m64.layer3.register_forward_hook(lambda m, a, o: acts.setdefault("a", o))
    try:
        out = m64(x.double())
    finally:
        handle.remove()
    (g,) = torch.autograd.grad(out[:, 5].sum(), [acts["a"]])
    want = (g.mean((2, 3), keepdim=True) * acts["a"]).sum(1, keepdim=True).clamp(min=0)
    assert rel(grad_cam(model, x, 5, layer="layer3", upsample=False).double(), want) <= TOL


@pytest.mark.parametrize("name", ["smallvgg", "resnet8"])
def test_integrated_gradients_completeness_64_steps(nets, name: str) -> None:
    model = nets[name][0]
    x = torch.randn(2, 3, 16, 16) * 2
    maps, check = integrated_gradients(model, x, 1, steps=64, return_completeness=True)
    delta = check.delta
    assert torch.allclose(maps.flatten(1).sum(1), check.total)
    with torch.no_grad():
        want = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    torch.testing.assert_close(delta, want, rtol=1e-5, atol=1e-6)
    assert float(check.error.max()) <= 0.01


def test_occlusion_matches_captum(nets) -> None:
    model = nets["smallvgg"][0]
    x = torch.randn(2, 3, 8, 8)
    ours = occlusion(model, x, [2, 4], window=4, stride=2, baseline=0.0, batch_size=7)
    ref = Occlusion(model).attribute(
        x,
        target=[2, 4],
        sliding_window_shapes=(3, 4, 4),
        strides=(3, 2, 2),
        baselines=0.0,
        perturbations_per_eval=9,
    )
    assert rel(ours, ref) <= TOL


def test_functional_relus_captum_fails_convlens_passes() -> None:
    functional, module = twins()
    x = torch.randn(4, 3, 8, 8)
    for ours_fn, captum_cls in ((guided_backprop, GuidedBackprop), (deconvnet, Deconvolution)):
        truth = captum_cls(module).attribute(x, target=2)  # nn.ReLU twin: captum is right
        assert rel(ours_fn(module, x, 2), truth) <= TOL
        assert rel(ours_fn(functional, x, 2), truth) <= TOL  # convlens reaches F.relu & co
        captum_functional = captum_cls(functional).attribute(x, target=2)
        assert rel(captum_functional, truth) > 0.05  # captum silently misses them
