"""Rectifier rewriting: every ReLU form is reached, values kept, model untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _attribute_helpers import assert_same, snapshot, twins
from convlens.errors import ConvlensError
from convlens.model.rectifiers import RectifierWarning, rectified, rewrite_rectifiers


def _input_grad(model: nn.Module, x: torch.Tensor, rule: str, k: int = 2):
    x = x.clone().requires_grad_(True)
    with rewrite_rectifiers(model, rule) as report:
        out = model(x)
    (grad,) = torch.autograd.grad(out[:, k].sum(), [x])
    return out.detach(), grad, report


@pytest.mark.parametrize("rule", ["guided", "deconvnet", "gradient"])
def test_functional_relus_equal_module_twin(rule: str) -> None:
    functional, module = twins()
    x = torch.randn(3, 3, 8, 8)
    out_f, grad_f, rep_f = _input_grad(functional, x, rule)
    out_m, grad_m, rep_m = _input_grad(module, x, rule)
    torch.testing.assert_close(out_f, out_m, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad_f, grad_m, rtol=1e-5, atol=1e-7)
    if rule != "gradient":
        # F.relu, torch.relu, F.relu(inplace), Tensor.relu, torch.relu_
        assert (rep_f.count, rep_m.count) == (5, 4)
        assert rep_f.warnings == []


def test_rules_differ_from_the_plain_gradient() -> None:
    functional, _ = twins()
    x = torch.randn(3, 3, 8, 8)
    grads = {r: _input_grad(functional, x, r)[1] for r in ("gradient", "guided", "deconvnet")}
    assert not torch.allclose(grads["gradient"], grads["guided"])
    assert not torch.allclose(grads["guided"], grads["deconvnet"])


def test_backward_rules_elementwise() -> None:
    # y = relu(x) with upstream gradient g; x and g chosen to cover every sign pair.
    x = torch.tensor([-2.0, -1.0, 1.0, 2.0], requires_grad=True)
    g = torch.tensor([3.0, -3.0, 5.0, -5.0])
    expected = {
        "gradient": [0.0, 0.0, 5.0, -5.0],  # g where x > 0
        "guided": [0.0, 0.0, 5.0, 0.0],  # g where x > 0 and g > 0
        "deconvnet": [3.0, 0.0, 5.0, 0.0],  # g where g > 0, x ignored
    }
    for rule, want in expected.items():
        (grad,) = torch.autograd.grad(rectified(x, rule), [x], g)
        assert grad.tolist() == want, rule


@pytest.mark.parametrize(
    "call",
    [
        lambda t: F.relu(t, inplace=True),
        lambda t: F.relu_(t),
        lambda t: torch.relu_(t),
        lambda t: t.relu_(),
        lambda t: nn.ReLU(inplace=True)(t),
    ],
)
def test_inplace_calls_stay_in_place(call) -> None:
    base = torch.randn(4, 6, requires_grad=True)
    t = base * 1.0
    storage = t.data_ptr()
    with rewrite_rectifiers(None, "guided") as report:
        out = call(t)
    assert report.count == 1
    assert out is t and t.data_ptr() == storage
    torch.testing.assert_close(t, base.detach().clamp(min=0), rtol=0, atol=0)
    (grad,) = torch.autograd.grad(t.sum(), [base])
    assert grad.tolist() == (base > 0).float().tolist()


def test_repeated_inplace_relu_backward() -> None:
    base = torch.randn(5, requires_grad=True)
    with rewrite_rectifiers(None, "guided"):
        t = base * 2
        t.relu_()
        t.relu_()
    (grad,) = torch.autograd.grad(t.sum(), [base])
    assert grad.tolist() == (2 * (base > 0).float()).tolist()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (nn.LeakyReLU(), "F.leaky_relu"),
        (nn.ReLU6(), "F.hardtanh"),
        (nn.GELU(), "F.gelu"),
        (nn.ELU(), "F.elu"),
    ],
)
def test_unreachable_rectifiers_warn(module: nn.Module, name: str) -> None:
    net = nn.Sequential(nn.Linear(3, 3), module, nn.ReLU(), nn.Linear(3, 1))
    with (
        pytest.warns(RectifierWarning, match=f"{name} \\(1 call\\(s\\)\\) is not a ReLU"),
        rewrite_rectifiers(net, "guided") as report,
    ):
        net(torch.randn(2, 3))
    assert report.count == 1
    assert report.unreached == {name: 1}


def test_model_exactly_as_before_also_on_error() -> None:
    functional, module = twins()
    for net in (functional, module):
        before = snapshot(net)
        with pytest.raises(RuntimeError, match="boom"), rewrite_rectifiers(net, "deconvnet"):
            net(torch.randn(2, 3, 8, 8))
            raise RuntimeError("boom")
        assert_same(before, snapshot(net))
        # and the rewrite is gone: a later pass has the ordinary gradient
        x = torch.randn(2, 3, 8, 8, requires_grad=True)
        (g,) = torch.autograd.grad(net(x)[:, 0].sum(), [x])
        y = x.detach().requires_grad_(True)
        with rewrite_rectifiers(net, "gradient"):
            (g2,) = torch.autograd.grad(net(y)[:, 0].sum(), [y])
        torch.testing.assert_close(g, g2, rtol=0, atol=0)


def test_unknown_rule_is_one_line() -> None:
    with pytest.raises(ConvlensError) as err, rewrite_rectifiers(None, "zeiler"):
        pass
    assert str(err.value) == (
        "unknown rectifier rule 'zeiler': expected one of 'gradient', 'guided', 'deconvnet'"
    )
