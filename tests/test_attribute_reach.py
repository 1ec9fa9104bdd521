"""Captum's reach: several inputs, every target kind with every method, quadrature
rules, Grad-CAM variants, against brute force and closed forms."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _attribute_helpers import twins
from convlens import zoo
from convlens.attribute import (
    Layer,
    LayerCallWarning,
    Noise,
    grad_cam,
    guided_backprop,
    guided_grad_cam,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
)
from convlens.zoo.doccnn import FIELDS, field_item, synthetic_invoices


# ----------------------------------------------------------------- targets
@pytest.fixture(scope="module")
def doc():
    torch.manual_seed(0)
    model = zoo.create("doccnn", width=8).eval()
    inv = synthetic_invoices(2, seed=2)
    return model, inv.inputs, inv.labels == FIELDS.index("iban")


MANY_ROWS = [
    (integrated_gradients, {"steps": 3}),
    (integrated_gradients, {"steps": 3, "batch_size": 1}),
    (occlusion, {"window": (3, 3), "stride": 3}),
    (occlusion, {"window": (3, 3), "stride": 3, "batch_size": 5}),
    (smoothgrad, {"noise": Noise(samples=3)}),
    (smoothgrad, {"noise": Noise(samples=3), "batch_size": 3}),
]


@pytest.mark.parametrize(("method", "options"), MANY_ROWS)
def test_per_sample_callable_target_with_many_rows(doc, method, options) -> None:
    # field_item scores sample i from its own cells: batched runs equal sample-by-sample ones
    model, x, cells = doc
    maps = method(model, x, field_item("iban", cells), **options)
    for i in range(len(x)):
        ids = {"sample_ids": [i]} if method is smoothgrad else {}  # the same noise alone
        alone = method(model, x[i : i + 1], field_item("iban", cells[i : i + 1]), **options, **ids)
        torch.testing.assert_close(maps[i : i + 1], alone, rtol=1e-4, atol=1e-6)
    assert float(maps.abs().max()) > 0


@pytest.mark.slow
def test_class_targets_on_a_structured_output(doc) -> None:
    # an int is the class map summed over every cell; "predicted" the largest such sum
    model, x, _ = doc
    with torch.no_grad():
        sums = model(x).flatten(2).sum(2)  # (N, 4)
    for method in (saliency, guided_backprop):
        torch.testing.assert_close(
            method(model, x, 2), method(model, x, lambda out: out[:, 2].flatten(1).sum(1))
        )
        pred = sums.argmax(1)

        def predicted(out: torch.Tensor, pred: torch.Tensor = pred) -> torch.Tensor:
            return out[torch.arange(2), pred].flatten(1).sum(1)

        by_hand = method(model, x, predicted)
        torch.testing.assert_close(method(model, x, "predicted"), by_hand)
        torch.testing.assert_close(
            method(model, x, [1, 3]), torch.cat([method(model, x[:1], 1), method(model, x[1:], 3)])
        )
    maps = integrated_gradients(model, x, "predicted", steps=4)
    want = integrated_gradients(model, x, pred.tolist(), steps=4)
    torch.testing.assert_close(maps, want)


@pytest.mark.slow
def test_per_sample_index_tuples(doc) -> None:
    model, x, _ = doc
    index = [(0, 3, 4), (2, 10, 1)]
    for method, options in (
        (saliency, {}),
        (integrated_gradients, {"steps": 3}),
        (occlusion, {"window": 4, "stride": 4}),
    ):
        maps = method(model, x, index, **options)
        for i, idx in enumerate(index):
            torch.testing.assert_close(
                maps[i : i + 1],
                method(model, x[i : i + 1], idx, **options),
                rtol=1e-4,
                atol=1e-6,
            )
    as_tensor = saliency(model, x, torch.tensor(index))
    torch.testing.assert_close(as_tensor, saliency(model, x, index))


# ----------------------------------------------------------- several inputs
class TwoEyes(nn.Module):
    """Two image inputs and a per-sample extra tensor: relu(conv(a) + conv(b) * w) -> (N, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, a, b, w, scale=1.0):
        h = F.relu(self.a(a) + self.b(b) * w.view(-1, 1, 1, 1))
        return self.fc(h.flatten(1)) * scale


def test_several_inputs_equal_a_float64_reference() -> None:
    net = TwoEyes().eval()
    a, b, w = torch.randn(3, 1, 6, 6), torch.randn(3, 2, 6, 6), torch.rand(3) + 0.5
    extra = (w, 2.0)
    ga, gb = saliency(net, (a, b), [0, 1, 2], additional_forward_args=extra)
    n64 = TwoEyes().double()
    n64.load_state_dict(net.state_dict())
    a64, b64 = a.double().requires_grad_(), b.double().requires_grad_()
    out = n64(a64, b64, w.double(), 2.0)
    want = torch.autograd.grad(out[torch.arange(3), torch.tensor([0, 1, 2])].sum(), [a64, b64])
    torch.testing.assert_close(ga.double(), want[0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gb.double(), want[1], rtol=1e-4, atol=1e-6)
    # integrated gradients with one baseline per input keeps completeness over both inputs
    base = (torch.zeros(1, 1, 6, 6), 0.5)
    (ia, ib), check = integrated_gradients(
        net,
        (a, b),
        1,
        steps=256,
        baseline=base,
        additional_forward_args=extra,
        return_completeness=True,
        batch_size=100,
    )
    assert float(check.gap.abs().max()) < 5e-3  # ReLU kinks: slow but steady convergence
    total = ia.flatten(1).sum(1) + ib.flatten(1).sum(1)
    torch.testing.assert_close(check.total, total)
    with torch.no_grad():
        far = net(torch.zeros_like(a), torch.full_like(b, 0.5), w, 2.0)
        delta = net(a, b, w, 2.0)[:, 1] - far[:, 1]
    torch.testing.assert_close(check.delta, delta, rtol=1e-5, atol=1e-5)
    # captum's one-entry tuples for one input: (b,) is the baseline b, ((3, 2),) the window
    alone = integrated_gradients(
        net,
        (a,),
        1,
        steps=8,
        baseline=(torch.ones(1, 1, 6, 6),),
        additional_forward_args=(b, w, 2.0),
    )
    plain = integrated_gradients(
        net, a, 1, steps=8, baseline=torch.ones(1, 1, 6, 6), additional_forward_args=(b, w, 2.0)
    )
    torch.testing.assert_close(alone[0], plain)
    # occlusion of b alone: input a is kept, windows per input
    oa, ob = occlusion(net, (a, b), 1, window=(3, 2), stride=(3, 2), additional_forward_args=extra)
    assert oa.shape == a.shape and ob.shape == b.shape


class Cubes(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x**3).sum(1)


@pytest.mark.parametrize(
    ("rule", "nodes"),
    [
        ("left", lambda n: torch.arange(n) / n),
        ("right", lambda n: (torch.arange(n) + 1) / n),
        ("midpoint", lambda n: (torch.arange(n) + 0.5) / n),
        ("riemann_middle", lambda n: (torch.arange(n) + 0.5) / n),
    ],
)
def test_riemann_rules_against_closed_form(rule, nodes) -> None:
    # f = sum x^3, path a * x: IG_j = x_j * sum_k 3 (a_k x_j)^2 / n for a Riemann sum
    x = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    n = 4
    a = nodes(n).double()
    want = x * (3 * (a**2).sum() * x**2 / n)
    maps = integrated_gradients(Cubes(), x, None, steps=n, rule=rule)
    torch.testing.assert_close(maps, want)
    plain = integrated_gradients(Cubes(), x, None, steps=n, rule=rule, multiply_by_inputs=False)
    torch.testing.assert_close(plain * x, maps)


def test_trapezoid_and_gauss_legendre_against_closed_form() -> None:
    x = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    a = torch.linspace(0, 1, 5, dtype=torch.float64)
    w = torch.full((5,), 0.25, dtype=torch.float64)
    w[[0, -1]] = 0.125
    torch.testing.assert_close(
        integrated_gradients(Cubes(), x, None, steps=5, rule="trapezoid"),
        x * (3 * (w * a**2).sum() * x**2),
    )
    # two Gauss-Legendre nodes integrate a^2 exactly: IG = x^3
    torch.testing.assert_close(
        integrated_gradients(Cubes(), x, None, steps=2, rule="gausslegendre"), x**3
    )


# -------------------------------------------------------------------- Grad-CAM
def _cam64(model, x, target, where) -> torch.Tensor:
    """Signed Grad-CAM by hand in float64 from a hook on ``where``."""
    m64 = copy.deepcopy(model).double()
    seen = {}
    handle = where(m64).register_forward_hook(lambda m, a, o: seen.setdefault("a", o))
    try:
        out = m64(x.double())
    finally:
        handle.remove()
    (g,) = torch.autograd.grad(out[:, target].sum(), [seen["a"]])
    dims = tuple(range(2, g.ndim))
    weights = g.mean(dims, keepdim=True) if dims else g
    return (weights * seen["a"]).sum(1, keepdim=True)


def test_grad_cam_signed_rectified_and_resized() -> None:
    net, _ = twins()
    x = torch.randn(2, 3, 8, 8)
    want = _cam64(net, x, 3, lambda m: m.conv2)
    signed = grad_cam(net, x, 3, layer="conv2", relu=False, upsample=False)
    torch.testing.assert_close(signed.double(), want, rtol=1e-4, atol=1e-6)
    assert float(signed.min()) < 0 < float(signed.max())
    rect = grad_cam(net, x, 3, layer="conv2", upsample=False)
    torch.testing.assert_close(rect, signed.clamp(min=0))
    small = grad_cam(net, x, 3, layer="conv3", upsample=False)  # (2, 1, 4, 4)
    near = grad_cam(net, x, 3, layer="conv3", upsample="nearest")
    torch.testing.assert_close(near, small.repeat_interleave(2, 2).repeat_interleave(2, 3))
    bil = grad_cam(net, x, 3, layer="conv3")
    torch.testing.assert_close(bil, F.interpolate(small, (8, 8), mode="bilinear"))
    gg = guided_grad_cam(net, x, 3, layer="conv3", upsample="nearest")
    torch.testing.assert_close(gg, guided_backprop(net, x, 3) * near)


class Signal(nn.Module):
    """A 1-D conv net (N, 2, L) -> (N, 4), with a block called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 6, 3, padding=1)
        self.block = nn.Conv1d(6, 6, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x))
        h = F.relu(self.block(h))
        h = F.relu(self.block(h))  # the same layer again
        return self.fc(self.pool(h).flatten(1))


def _calls(model: nn.Module, name: str, x: torch.Tensor) -> list[torch.Tensor]:
    outs: list[torch.Tensor] = []
    handle = getattr(model, name).register_forward_hook(lambda m, a, o: outs.append(o))
    try:
        out = model(x)
    finally:
        handle.remove()
    return outs, out


def test_grad_cam_on_1d_layers_and_a_layer_called_twice() -> None:
    net = Signal().eval()
    x = torch.randn(3, 2, 10)
    # conv1 (N, 6, 10): float64 reference, and a linear resize along the one axis
    want = _cam64(net, x, 1, lambda m: m.conv1)
    got = grad_cam(net, x, 1, layer="conv1", relu=False, upsample=False)
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-6)
    assert grad_cam(net, x, 1, layer="conv1").shape == (3, 1, 10)
    # a non-spatial layer: one number per sample, sum_c g_c a_c
    fc_in = grad_cam(net, x, 1, layer=Layer("fc", input=True), relu=False)
    assert fc_in.shape == (3, 1)
    w = net.fc.weight[1].detach()
    with torch.no_grad():
        feats = net.pool(F.relu(net.block(F.relu(net.block(F.relu(net.conv1(x))))))).flatten(1)
    torch.testing.assert_close(fc_in, (feats * w).sum(1, keepdim=True))
    # the block runs twice: each call by hand, the last one by default with a warning
    for call in (0, 1, -1):
        acts, _ = _calls(net, "block", x)
        a = acts[call].detach().requires_grad_()
        h = F.relu(a)
        if call == 0:
            h = F.relu(net.block(h))
        out = net.fc(net.pool(h).flatten(1))
        (g,) = torch.autograd.grad(out[:, 1].sum(), [a])
        want = (g.mean(2, keepdim=True) * a).sum(1, keepdim=True)
        got = grad_cam(net, x, 1, layer=Layer("block", call=call), relu=False, upsample=False)
        torch.testing.assert_close(got, want.detach(), rtol=1e-4, atol=1e-6)
    with pytest.warns(LayerCallWarning, match=r"layer 'block' ran 2 times .* last call"):
        last = grad_cam(net, x, 1, layer="block", relu=False, upsample=False)
    torch.testing.assert_close(
        last, grad_cam(net, x, 1, layer=Layer("block", call=1), relu=False, upsample=False)
    )


def test_grad_cam_of_a_layer_input_counts_every_use_of_the_tensor() -> None:
    # layer2.conv1's input also feeds layer2's shortcut: its gradient sums both paths,
    # as captum's LayerGradCam(attribute_to_layer_input=True) has it, frozen or not
    from captum.attr import LayerGradCam

    from _attribute_helpers import randomize_bn, resnet8_module_twin

    torch.manual_seed(1)
    res = randomize_bn(zoo.create("resnet8", width=4))
    twin = resnet8_module_twin(res)
    x = torch.randn(2, 3, 16, 16)
    ref = LayerGradCam(twin, twin.layer2.conv1).attribute(
        x, target=4, attribute_to_layer_input=True
    )
    got = grad_cam(res, x, 4, layer=Layer("layer2.conv1", input=True), relu=False, upsample=False)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-6)
    for p in res.parameters():
        p.requires_grad_(False)
    frozen = grad_cam(
        res, x, 4, layer=Layer("layer2.conv1", input=True), relu=False, upsample=False
    )
    torch.testing.assert_close(frozen, ref, rtol=1e-4, atol=1e-6)
