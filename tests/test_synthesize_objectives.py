"""Objectives and regularisers: hand-worked values, algebra, and gradients vs finite differences."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens.synthesize import (
    IMAGE,
    alpha_norm,
    channel,
    class_logit,
    direction,
    diversity,
    l2,
    neuron,
    total_variation,
)
from convlens.synthesize._engine import activations


class TinyNet(nn.Module):
    """conv(2->3, 3x3) -> tanh -> conv(3->4, 1x1) -> flatten -> fc(4*4*4 -> 5), float64."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 3)
        self.act = nn.Tanh()
        self.conv2 = nn.Conv2d(3, 4, 1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.conv2(self.act(self.conv1(x)))))


def _score(model, objective, x):
    seen = activations(model, x, sorted(objective.layers - {IMAGE}))
    seen[IMAGE] = x
    return objective(seen)


def _finite_difference_check(model, objective, x, eps=1e-6):
    """Autograd's gradient against central differences along coordinate and random directions."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_score(model, objective, x).sum(), x)
    g = torch.Generator().manual_seed(3)
    directions = [torch.randn(x.shape, generator=g, dtype=x.dtype) for _ in range(4)]
    for i in torch.randperm(x.numel(), generator=g)[:12].tolist():
        e = torch.zeros_like(x).view(-1)
        e[i] = 1.0
        directions.append(e.view_as(x))
    base = x.detach()
    for v in directions:
        with torch.no_grad():
            fp = _score(model, objective, base + eps * v).sum()
            fm = _score(model, objective, base - eps * v).sum()
        numeric = (fp - fm) / (2 * eps)
        analytic = (grad * v).sum()
        torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.fixture
def tiny() -> TinyNet:
    torch.manual_seed(1)
    return TinyNet().double().eval()


@pytest.mark.parametrize(
    "objective",
    [
        channel("conv2", [0, 3]),
        neuron("conv1", [2, 1], (1, 3)),
        class_logit([4, 0]),
        direction("conv2", torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, 1.0, 0.0]])),
        diversity("conv1"),
        channel("conv2", [1, 2]) - 0.3 * total_variation(2.0) + 2 * l2(),
        alpha_norm(6.0) * channel("conv1", [0, 1]),
        total_variation(1.0),
    ],
    ids=lambda o: o.name,
)
def test_objective_gradients_match_finite_differences(tiny, objective):
    torch.manual_seed(2)
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64)
    with torch.enable_grad():
        _finite_difference_check(tiny, objective, x)


def test_channel_scores_each_image_by_its_own_unit():
    act = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    # image 0 by channel 2: mean of 8..11 = 9.5; image 1 by channel 0: mean of 12..15 = 13.5
    assert channel("l", [2, 0])({"l": act}).tolist() == [9.5, 13.5]
    # two images per unit: units repeat in blocks
    assert channel("l", [1])({"l": act}).tolist() == [5.5, 17.5]
    assert channel("l", [2, 0]).table(act).tolist() == [[9.5, 1.5], [21.5, 13.5]]


def test_neuron_defaults_to_the_centre_and_fc_units():
    act = torch.arange(16.0).view(1, 1, 4, 4)
    assert neuron("l", 0)({"l": act}).item() == 10.0  # row 2, col 2
    assert neuron("l", [1])({"l": torch.tensor([[5.0, 7.0]])}).item() == 7.0


def test_direction_is_the_projection_on_a_unit_vector():
    act = torch.zeros(1, 2, 2, 2)
    act[0, 0] = 1.0
    act[0, 1] = 2.0
    # v = (3, 4) / 5: 0.6 * 1 + 0.8 * 2 = 2.2 at every position
    assert direction("l", [[3.0, 4.0]])({"l": act}).item() == pytest.approx(2.2)


def test_diversity_is_zero_for_orthogonal_grams_and_minus_one_for_equal():
    a = torch.zeros(2, 2, 1, 1)
    a[0, 0] = 1.0
    a[1, 1] = 1.0
    assert diversity("l")({"l": a}).tolist() == [0.0, 0.0]
    same = torch.ones(4, 2, 3, 3)
    assert diversity("l", per_unit=2)({"l": same}).tolist() == [-1.0] * 4


def test_regularisers_by_hand():
    x = torch.tensor([[[[0.0, 3.0], [4.0, 0.0]]]])
    assert l2()({IMAGE: x}).item() == pytest.approx(25.0 / 4)
    # alpha norm with alpha=2 on one channel: mean of x^2
    assert alpha_norm(2)({IMAGE: x}).item() == pytest.approx(25.0 / 4, rel=1e-6)
    # one TV position: dx = 3, dy = 4 -> 25; beta=1 -> 5
    assert total_variation(2)({IMAGE: x}).item() == pytest.approx(25.0)
    assert total_variation(1)({IMAGE: x}).item() == pytest.approx(5.0)


def test_objectives_compose_and_name_themselves():
    act = {"a": torch.ones(1, 2, 2, 2) * 2, IMAGE: torch.ones(1, 1, 2, 2)}
    obj = channel("a", 0) - 0.5 * l2() + 1
    assert obj.name == "channel(a, unit 0) - 0.5 * l2() + 1"
    assert obj(act).item() == pytest.approx(2 - 0.5 + 1)
    assert obj.layers == {"a", IMAGE}
    prod = channel("a", 1) * channel("a", 0)
    assert prod(act).item() == 4.0
    assert (-channel("a", 0))(act).item() == -2.0
    assert (3 - channel("a", 0))(act).item() == 1.0
    assert (
        2 * channel("a", 0) + channel("a", 1)
    ).name == "2 * channel(a, unit 0) + channel(a, unit 1)"
