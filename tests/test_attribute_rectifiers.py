"""ReLUs written as clamp(min=0) or maximum(x, 0) are rewritten; scripted parts are named."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _attribute_helpers import assert_same, snapshot
from convlens.attribute import deconvnet, guided_backprop
from convlens.model.rectifiers import RectifierWarning, rewrite_rectifiers


class Spelled(nn.Module):
    """The same network with its three ReLUs written as ``relu``."""

    spell = "relu"

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 8 * 8, 5)

    def rect(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return F.relu(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.rect(self.conv1(x), 0)
        x = self.rect(self.conv2(x), 1)
        return self.fc(self.rect(x, 2).flatten(1))


SPELLINGS = {
    "clamp": lambda x, k: x.clamp(min=0),
    "torch.clamp": lambda x, k: torch.clamp(x, 0),
    "clamp_min": lambda x, k: x.clamp_min(0.0),
    "clamp_ in place": lambda x, k: (x * 1).clamp_(min=0),
    "maximum": lambda x, k: torch.maximum(x, torch.tensor(0.0)),
    "max with zeros": lambda x, k: torch.max(x, torch.zeros_like(x)),
    "threshold": lambda x, k: F.threshold(x, 0.0, 0.0),
    "mixed": lambda x, k: [x.clamp(min=0), torch.maximum(x, torch.zeros(1)), F.relu(x)][k],
}


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("method", [guided_backprop, deconvnet])
def test_relu_spellings_equal_the_relu_net(spelling, method) -> None:
    ref = Spelled().eval()
    other = Spelled().eval()
    other.load_state_dict(ref.state_dict())
    other.rect = SPELLINGS[spelling]
    x = torch.randn(3, 3, 8, 8)
    before = snapshot(other)
    torch.testing.assert_close(method(other, x, 2), method(ref, x, 2))
    assert_same(before, snapshot(other))
    # the guided map differs from the plain gradient, so the rewrite mattered
    xg = x.clone().requires_grad_()
    (plain,) = torch.autograd.grad(other(xg)[:, 2].sum(), [xg])
    assert not torch.allclose(method(other, x, 2), plain)


def test_spellings_are_counted_and_clips_named() -> None:
    x = torch.randn(4, 5, requires_grad=True)
    with rewrite_rectifiers(None, "guided") as report:
        x.clamp(min=0)
        torch.maximum(x, torch.tensor(0.0))
        x.clamp(0.5)  # not a ReLU: left alone, not reported
        torch.maximum(x, torch.ones(1))
    assert report.count == 2
    assert dict(report.as_relu) == {"Tensor.clamp(min=0)": 1, "torch.maximum(x, 0)": 1}
    with (
        pytest.warns(RectifierWarning, match=r"Tensor.clamp\(min=0, max=...\) \(1 call\(s\)\)"),
        rewrite_rectifiers(None, "guided") as report,
    ):
        x.clamp(0, 6)  # ReLU6 by another name: reported, its gradient kept
    assert report.count == 0


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class WithScripted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = torch.jit.script(Block())
        self.head = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(3 * 8 * 8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(x))


def test_scripted_submodules_are_named_even_when_other_relus_exist() -> None:
    net = WithScripted().eval()
    with pytest.warns(RectifierWarning, match=r"scripted sub-module 'block' \(torch.jit\)"):
        guided_backprop(net, torch.randn(2, 3, 8, 8), 1)
    with rewrite_rectifiers(net, "gradient") as report:
        net(torch.randn(1, 3, 8, 8))
    assert report.scripted == []  # the plain gradient needs no rewrite, so no warning
