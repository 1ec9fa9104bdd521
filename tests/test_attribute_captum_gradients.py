"""captum's saliency, input x gradient, guided backprop and deconvolution tests, ported.

One test per captum test (``tests/attr/test_saliency.py`` and friends), with the
same models (from ``captum.testing``) and expected values. Where captum only
checks a noise-tunnel result's shape, the port checks its value: with tiny noise
against the plain map, with large noise against a brute-force loop.
"""

from __future__ import annotations

import pytest
import torch
from captum.testing.helpers.basic_models import (
    BasicModel,
    BasicModel5_MultiArgs,
    BasicModel_ConvNet_One_Conv,
)
from captum.testing.helpers.classification_models import SoftmaxModel

from _captum_port import close, noise_tunnel_reference
from convlens.attribute import (
    Noise,
    deconvnet,
    guided_backprop,
    input_x_gradient,
    project_units,
    saliency,
    smoothgrad,
)

KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def basic_config() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    # captum's get_basic_config: 1 - relu(1 - x) on six one-number samples
    x = torch.tensor([1.0, 2.0, 3.0, 0.0, -1.0, 7.0])
    return BasicModel(), x, torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 0.0])


def multiargs_config(large: bool = False):
    # captum's get_multiargs_basic_config(_large): two inputs and ([2, 3], 1) as extra args
    if large:
        x1 = torch.tensor([[10.5, 12.0, 34.3], [43.4, 51.2, 32.0]]).repeat_interleave(3, 0)
        x2 = torch.tensor([[1.0, 3.5, 23.2], [2.3, 1.2, 0.3]]).repeat_interleave(3, 0)
    else:
        x1 = torch.tensor([[1.5, 2.0, 34.3], [3.4, 1.2, 2.0]])
        x2 = torch.tensor([[3.0, 3.5, 23.2], [2.3, 1.2, 0.3]])
    model, extra = BasicModel5_MultiArgs(), ([2, 3], 1)
    a, b = x1.clone().requires_grad_(), x2.clone().requires_grad_()
    grads = torch.autograd.grad(model(a, b, *extra).sum(), [a, b])  # plain autograd
    return model, (x1, x2), grads, extra


def tunnel(kind: str, want: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """What a noise tunnel over near-zero noise gives, from the plain maps."""
    if kind == "smoothgrad":
        return want
    if kind == "smoothgrad_sq":
        return tuple(w * w for w in want)
    return tuple(torch.zeros_like(w) for w in want)


# ------------------------------------------------------------------ test_saliency.py
@pytest.mark.parametrize("kind", [None, "smoothgrad", "vargrad"])
def test_saliency_test_basic(kind) -> None:  # _vanilla, _smoothgrad, _vargrad
    model, x, grads = basic_config()
    if kind is None:
        close(saliency(model, x, None, abs=True), grads)
    else:
        # x = 1 sits on the kink of 1 - relu(1 - x): any noise flips its gradient, so
        # the reference is the brute-force loop over the same noise
        noise = Noise(samples=10, stdev=2e-7, kind=kind)
        got = smoothgrad(model, x, None, method="saliency", noise=noise, abs=True)
        want = noise_tunnel_reference(
            saliency, model, (x,), None, stdev=2e-7, samples=10, kind=kind, abs=True
        )
        close(got, want[0], 1e-6)
        close(got[1:], tunnel(kind, (grads[1:],))[0], 1e-6)  # away from the kink


@pytest.mark.parametrize("kind", [None, "smoothgrad", "vargrad"])
def test_saliency_test_basic_multi_variable(kind) -> None:  # _vanilla, _smoothgrad, _vargrad
    model, xs, grads, extra = multiargs_config()
    want = tuple(g.abs() for g in grads)
    if kind is None:
        close(saliency(model, xs, None, abs=True, additional_forward_args=extra), want)
    else:
        noise = Noise(samples=10, stdev=2e-7, kind=kind)
        got = smoothgrad(model, xs, None, noise=noise, abs=True, additional_forward_args=extra)
        close(got, tunnel(kind, want), 1e-4)


@pytest.mark.parametrize(
    ("kind", "batch"),
    [("smoothgrad", 2), ("smoothgrad_sq", 3), ("vargrad", 1), ("vargrad", 6)],
)
def test_saliency_test_basic_multivar_n_samples_batch_size(kind, batch) -> None:
    model, xs, _, extra = multiargs_config(large=True)
    noise = Noise(samples=10, stdev=2e-7, kind=kind)
    batched = smoothgrad(
        model, xs, None, noise=noise, abs=True, additional_forward_args=extra, batch_size=batch
    )
    whole = smoothgrad(model, xs, None, noise=noise, abs=True, additional_forward_args=extra)
    close(batched, whole, 0.0)


@pytest.mark.parametrize("kind", [None, "smoothgrad", "vargrad"])
def test_saliency_classification(kind) -> None:
    model = SoftmaxModel(5, 20, 10)
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    a = x.clone().requires_grad_()
    (want,) = torch.autograd.grad(model(a)[:, 5].sum(), [a])
    if kind is None:
        close(saliency(model, x, torch.tensor(5), abs=True), want.abs(), 1e-7)
    else:
        noise = Noise(samples=10, stdev=2e-4, kind=kind)
        got = smoothgrad(model, x, torch.tensor(5), noise=noise, abs=True)
        close(got, tunnel(kind, (want.abs(),))[0], 1e-5)


def test_saliency_grad_unchanged() -> None:
    model, x, grads = basic_config()
    x = x.clone().requires_grad_()
    x.grad = torch.randn_like(x)
    before = x.grad.clone()
    close(saliency(model, x, None, abs=True), grads)
    assert torch.equal(x.grad, before)


# -------------------------------------------------------------- test_input_x_gradient.py
@pytest.mark.parametrize("kind", [None, "smoothgrad", "vargrad"])
def test_input_x_gradient_test_basic(kind) -> None:
    model, x, grads = basic_config()
    if kind is None:
        close(input_x_gradient(model, x, None), grads * x)
    else:
        noise = Noise(samples=10, stdev=2e-4, kind=kind)
        got = smoothgrad(model, x, None, method="input_x_gradient", noise=noise)
        want = noise_tunnel_reference(
            input_x_gradient, model, (x,), None, stdev=2e-4, samples=10, kind=kind
        )
        close(got, want[0], 1e-6)
        close(got[1:], tunnel(kind, (grads[1:] * x[1:],))[0], 1e-3)  # away from the kink


@pytest.mark.parametrize("kind", [None, "smoothgrad", "vargrad"])
def test_input_x_gradient_test_basic_multi_variable(kind) -> None:
    model, xs, grads, extra = multiargs_config()
    want = tuple(g * x for g, x in zip(grads, xs, strict=True))
    if kind is None:
        close(input_x_gradient(model, xs, None, additional_forward_args=extra), want)
    else:
        noise = Noise(samples=10, stdev=2e-4, kind=kind)
        got = smoothgrad(
            model,
            xs,
            None,
            method="input_x_gradient",
            noise=noise,
            additional_forward_args=extra,
        )
        close(got, tunnel(kind, want), 1e-2)


@pytest.mark.parametrize("kind", [None, "smoothgrad", "smoothgrad_sq", "vargrad"])
def test_input_x_gradient_classification(kind) -> None:
    model = SoftmaxModel(5, 20, 10)
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    a = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(model(a)[:, 5].sum(), [a])
    if kind is None:
        close(input_x_gradient(model, x, torch.tensor(5)), grad * x, 1e-5)
        return
    # captum draws noise of stdev 1 and checks the shape; we check the values
    noise = Noise(samples=10, stdev=1.0, kind=kind)
    got = smoothgrad(model, x, torch.tensor(5), method="input_x_gradient", noise=noise)
    want = noise_tunnel_reference(
        input_x_gradient, model, (x,), 5, stdev=1.0, samples=10, kind=kind
    )
    close(got, want[0], 1e-6)
    assert not torch.allclose(got, grad * x)


# ------------------------------------------------- test_guided_backprop.py, test_deconvolution.py
GB = [[0.0, 1.0, 1.0, 1.0], [1.0, 3.0, 3.0, 2.0], [1.0, 3.0, 3.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
GB_MULTI = [[1.0, 2.0, 2.0, 1.0], [2.0, 4.0, 4.0, 2.0], [2.0, 4.0, 4.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
DECONV = [[2.0, 3.0, 3.0, 1.0], [3.0, 5.0, 5.0, 2.0], [3.0, 5.0, 5.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
RULES = {"guided": (guided_backprop, GB, GB_MULTI), "deconvnet": (deconvnet, DECONV, DECONV)}


def conv_input() -> torch.Tensor:
    return torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)


@pytest.mark.parametrize("rule", RULES)
def test_simple_input_conv(rule) -> None:  # test_simple_input_conv_gb / _deconv
    fn, want, _ = RULES[rule]
    close(fn(BasicModel_ConvNet_One_Conv(), conv_input(), 0), [[want]], 0.01)


@pytest.mark.parametrize("rule", RULES)
def test_simple_input_conv_neuron(rule) -> None:  # NeuronGuidedBackprop on fc1, neuron (0,)
    _, want, _ = RULES[rule]
    net = BasicModel_ConvNet_One_Conv()
    close(project_units(net, conv_input(), "fc1", 0, rule=rule), [[want]], 0.01)


@pytest.mark.parametrize("rule", RULES)
def test_simple_multi_input_conv(rule) -> None:
    fn, _, want = RULES[rule]
    net = BasicModel_ConvNet_One_Conv()
    got = fn(net, (conv_input(), torch.ones(1, 1, 4, 4)), 0)
    close(got, ([[want]], [[want]]), 0.01)


@pytest.mark.parametrize("rule", RULES)
def test_simple_multi_input_conv_neuron(rule) -> None:  # neuron (3,) of fc1, two inputs
    _, _, want = RULES[rule]
    net = BasicModel_ConvNet_One_Conv()
    got = project_units(net, (conv_input(), torch.ones(1, 1, 4, 4)), "fc1", 3, rule=rule)
    close(got, ([[want]], [[want]]), 0.01)


@pytest.mark.parametrize("rule", RULES)
def test_matching(rule) -> None:  # test_gb_matching / test_deconv_matching
    fn = RULES[rule][0]
    net = BasicModel_ConvNet_One_Conv()
    x = 100.0 * torch.randn(1, 1, 4, 4)
    for i in range(net(x).shape[1]):
        close(fn(net, x, i), project_units(net, x, "relu2", i, rule=rule), 0.01)
