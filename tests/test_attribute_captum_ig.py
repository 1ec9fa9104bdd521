"""captum's integrated-gradients tests (``test_integrated_gradients_basic.py`` and
``test_integrated_gradients_classification.py``), ported.

captum's noise-tunnel variants check each noisy copy's convergence delta;
convlens's smoothgrad returns no per-copy completeness, so the port checks the
plain run's completeness and that the tunnel over near-zero noise gives the plain
map (smoothgrad), its square (smoothgrad_sq) or zero (vargrad).
"""

from __future__ import annotations

import pytest
import torch
from captum.testing.helpers.basic_models import (
    BasicModel,
    BasicModel2,
    BasicModel3,
    BasicModel4_MultiArgs,
    BasicModel5_MultiArgs,
    BasicModel6_MultiTensor,
    BasicModel_MultiLayer,
)
from captum.testing.helpers.classification_models import SigmoidModel, SoftmaxModel

from _captum_port import close
from convlens.attribute import Noise, integrated_gradients, smoothgrad


def check(model, xs, kind=None, rule="gausslegendre", steps=500, stdev=2e-8, **options):
    """captum's _compute_attribution_and_evaluate: completeness and the tunnel."""
    target = options.pop("target", None)
    maps, report = integrated_gradients(
        model, xs, target, steps=steps, rule=rule, return_completeness=True, **options
    )
    maps = maps if isinstance(maps, tuple) else (maps,)
    inputs = xs if isinstance(xs, tuple) else (xs,)
    for m, x in zip(maps, inputs, strict=True):
        assert m.shape == x.shape
    assert float(report.gap.abs().max()) < 0.07
    if kind is not None:
        noise = Noise(samples=5, stdev=stdev, kind=kind)
        got = smoothgrad(
            model,
            xs,
            target,
            method="integrated_gradients",
            noise=noise,
            steps=steps,
            rule=rule,
            **options,
        )
        got = got if isinstance(got, tuple) else (got,)
        want = {
            "smoothgrad": maps,
            "smoothgrad_sq": tuple(m * m for m in maps),
            "vargrad": tuple(torch.zeros_like(m) for m in maps),
        }[kind]
        close(got, want, 0.05)
    return maps


# ----------------------------------------------------------------- multivariable
@pytest.mark.parametrize(
    ("kind", "rule", "multiply"),
    [
        (None, "riemann_right", True),
        (None, "riemann_right", False),
        ("smoothgrad", "riemann_left", True),
        ("smoothgrad_sq", "riemann_middle", True),
        ("vargrad", "riemann_trapezoid", True),
    ],
)
def test_multivariable(kind, rule, multiply) -> None:
    x1, x2 = torch.tensor([3.0]), torch.tensor([1.0])
    base = (torch.tensor([0.0]), torch.tensor([0.0]))
    sums = []
    for model in (BasicModel2(), BasicModel3()):
        if multiply:
            maps = check(model, (x1, x2), kind, rule, baseline=base)
        else:
            maps = integrated_gradients(
                model,
                (x1, x2),
                None,
                steps=500,
                rule=rule,
                baseline=base,
                multiply_by_inputs=False,
            )
        if kind is None:
            close(maps, ([1.5 if multiply else 0.5], [-0.5]), 0.05)
        sums.append(sum(m for m in maps))
    if kind is None:  # implementation invariance
        close(sums[0], sums[1], 1e-5)


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        (None, "gausslegendre"),
        ("smoothgrad", "riemann_right"),
        ("smoothgrad_sq", "riemann_left"),
        ("vargrad", "riemann_middle"),
    ],
)
def test_multi_argument(kind, rule) -> None:
    m4, m5 = BasicModel4_MultiArgs(), BasicModel5_MultiArgs()
    a1 = torch.tensor([[1.5, 2.0, 34.3]]), torch.tensor([[3.0, 3.5, 23.2]])
    check(
        m4,
        a1,
        kind,
        rule,
        baseline=(0.0, torch.zeros(1, 3)),
        additional_forward_args=torch.arange(1.0, 4.0).reshape(1, 3),
    )
    a2 = (
        torch.tensor([[1.5, 2.0, 34.3], [3.4, 1.2, 2.0]]),
        torch.tensor([[3.0, 3.5, 23.2], [2.3, 1.2, 0.3]]),
    )
    check(
        m4,
        a2,
        kind,
        rule,
        baseline=(torch.zeros(2, 3), 0.0),
        additional_forward_args=(torch.arange(1.0, 7.0).reshape(2, 3), 1),
    )
    check(m5, a2, kind, rule, baseline=(0.0, 0.00001), additional_forward_args=([2, 3], 1))
    check(
        m5,
        a2,
        kind,
        rule,
        baseline=(torch.zeros(1, 3), 0.00001),
        additional_forward_args=([2, 3], 1),
    )


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        (None, "riemann_trapezoid"),
        ("smoothgrad", "gausslegendre"),
        ("smoothgrad_sq", "riemann_right"),
        ("vargrad", "riemann_left"),
    ],
)
def test_univariable(kind, rule) -> None:
    # x = 1 is the kink of 1 - relu(1 - x); a tunnel there is not near the plain map,
    # so the tunnel is checked at the other two points
    model = BasicModel()
    check(model, torch.tensor([1.0]), None, rule, baseline=torch.tensor([0.0]))
    check(model, torch.tensor([0.0]), kind, rule, baseline=torch.tensor([0.0]))
    check(model, torch.tensor([-1.0]), kind, rule, baseline=0.00001)


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        (None, "riemann_middle"),
        ("smoothgrad", "riemann_trapezoid"),
        ("smoothgrad_sq", "gausslegendre"),
        ("vargrad", "riemann_right"),
    ],
)
def test_multi_tensor_input(kind, rule) -> None:
    xs = (torch.tensor([[1.5, 2.0, 3.3]]), torch.tensor([[3.0, 3.5, 2.2]]))
    check(BasicModel6_MultiTensor(), xs, kind, rule)


BATCHED = torch.tensor([[1.5, 2.0, 1.3], [0.5, 0.1, 2.3], [1.5, 2.0, 1.3]])


@pytest.mark.parametrize(
    ("kind", "rule", "batch"),
    [
        (None, "riemann_left", None),
        ("smoothgrad", "riemann_middle", None),
        ("smoothgrad", "riemann_middle", 1),  # _with_batch_size_1
        ("vargrad", "riemann_middle", 2),
        ("smoothgrad_sq", "riemann_middle", 3),
        ("smoothgrad_sq", "riemann_trapezoid", None),
        ("vargrad", "gausslegendre", None),
    ],
)
def test_batched_input(kind, rule, batch) -> None:
    # captum's nt_samples_batch_size counts noisy copies of the batch per pass: 3 rows each
    model = BasicModel_MultiLayer()
    check(model, BATCHED, kind, rule, target=0, batch_size=batch and 3 * batch)
    if kind is None:  # captum's _compute_attribution_batch_helper_evaluate
        for internal in (None, 10, 20):
            maps, report = integrated_gradients(
                model,
                BATCHED,
                0,
                steps=100,
                rule=rule,
                batch_size=internal,
                return_completeness=True,
            )
            total = 0.0
            for i in range(3):
                one, r1 = integrated_gradients(
                    model,
                    BATCHED[i : i + 1],
                    0,
                    steps=100,
                    rule=rule,
                    batch_size=internal,
                    return_completeness=True,
                )
                close(maps[i : i + 1], one, 0.05)
                total += float(r1.gap.abs().sum())
            assert abs(float(report.gap.abs().sum()) - total) < 0.005


def test_batched_input_smoothgrad_wo_mutliplying_by_inputs() -> None:
    model = BasicModel_MultiLayer()
    noise = Noise(samples=5, stdev=0.0)
    plain = smoothgrad(
        model,
        BATCHED,
        0,
        method="integrated_gradients",
        noise=noise,
        steps=500,
        multiply_by_inputs=False,
    )
    full = smoothgrad(model, BATCHED, 0, method="integrated_gradients", noise=noise, steps=500)
    close(plain * BATCHED, full, 1e-4)


MULTI = (
    torch.tensor([[1.5, 2.1, 1.9], [0.5, 0.0, 0.7], [1.5, 2.1, 1.1]]),
    torch.tensor([[0.3, 1.9, 2.4], [0.5, 0.6, 2.1], [1.2, 2.1, 0.2]]),
)


@pytest.mark.parametrize(
    ("kind", "rule", "batch"),
    [
        (None, "riemann_right", None),
        ("smoothgrad", "riemann_left", None),
        ("smoothgrad_sq", "riemann_middle", None),
        ("vargrad", "riemann_trapezoid", None),
        ("vargrad", "riemann_trapezoid", 1),
        ("vargrad", "riemann_trapezoid", 2),
        ("vargrad", "riemann_trapezoid", 3),
    ],
)
def test_batched_multi_input(kind, rule, batch) -> None:
    check(BasicModel_MultiLayer(), MULTI, kind, rule, target=0, batch_size=batch and 3 * batch)


# -------------------------------------------------------------- classification
CLASSIFICATION = [
    (None, "riemann_right"),
    ("smoothgrad", "riemann_left"),
    ("smoothgrad_sq", "riemann_middle"),
    ("vargrad", "riemann_trapezoid"),
]


def completeness(model, x, target, kind, rule, baseline=None) -> None:
    """captum's _validate_completness: |delta| < 0.005 with 200 steps."""
    maps, report = integrated_gradients(
        model, x, target, steps=200, rule=rule, baseline=baseline, return_completeness=True
    )
    assert maps.shape == x.shape
    assert float(report.gap.abs().max()) < 0.005
    if kind is not None:
        noise = Noise(samples=10, stdev=0.0002, kind=kind)
        got = smoothgrad(
            model,
            x,
            target,
            method="integrated_gradients",
            noise=noise,
            steps=100,
            rule=rule,
            baseline=baseline,
        )
        plain = integrated_gradients(model, x, target, steps=100, rule=rule, baseline=baseline)
        scale = float(plain.abs().max())
        want = {"smoothgrad": plain, "smoothgrad_sq": plain * plain}.get(kind, 0 * plain)
        close(got, want, 0.02 * max(scale, scale * scale))


@pytest.mark.parametrize(("kind", "rule"), CLASSIFICATION)
def test_sigmoid_classification(kind, rule) -> None:
    x = torch.arange(0.0, 20.0).unsqueeze(0)
    completeness(SigmoidModel(20, 5, 1), x, torch.tensor(0), kind, rule)


# captum pairs each kind with a different rule, per test
SOFTMAX = [
    (None, "gausslegendre"),
    ("smoothgrad", "riemann_right"),
    ("smoothgrad_sq", "riemann_left"),
    ("vargrad", "riemann_middle"),
]
SOFTMAX_BATCH = [
    (None, "riemann_trapezoid"),
    ("smoothgrad", "gausslegendre"),
    ("smoothgrad_sq", "riemann_right"),
    ("vargrad", "riemann_left"),
]


@pytest.mark.parametrize(("kind", "rule"), SOFTMAX)
def test_softmax_classification(kind, rule) -> None:
    x = torch.arange(0.0, 40.0).unsqueeze(0)
    completeness(SoftmaxModel(40, 20, 10), x, torch.tensor(5), kind, rule)


@pytest.mark.parametrize(("kind", "rule"), SOFTMAX_BATCH)
def test_softmax_classification_batch(kind, rule) -> None:
    x = torch.arange(0.0, 120.0).reshape(3, 40)
    model = SoftmaxModel(40, 20, 10)
    completeness(model, x, torch.tensor([5, 5, 2]), kind, rule, baseline=torch.zeros(1, 40))
