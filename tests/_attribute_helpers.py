"""Shared pieces of the attribution tests: functional-ReLU nets and their nn.ReLU twins."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class FunctionalNet(nn.Module):
    """A small CNN whose rectifiers are all functional calls of different kinds."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(16, 12)
        self.fc2 = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = self.conv3(x)
        F.relu(x, inplace=True)
        x = self.pool(x).flatten(1)
        x = self.fc1(x).relu()
        x = x * 1.0
        torch.relu_(x)
        return self.fc2(x)


class ModuleNet(nn.Module):
    """The same computation as :class:`FunctionalNet` with nn.ReLU modules."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.relu3 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(16, 12)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu3(self.conv3(self.relu2(self.conv2(x))))
        x = self.relu4(self.fc1(self.pool(x).flatten(1)))
        return self.fc2(x)


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine weights, then eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
    return model.eval()


def twins() -> tuple[FunctionalNet, ModuleNet]:
    functional = randomize_bn(FunctionalNet())
    module = ModuleNet().eval()
    module.load_state_dict(functional.state_dict())
    return functional, module


def snapshot(model: nn.Module) -> dict:
    """Everything that must be the same before and after an attribution."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "types": [(n, type(m)) for n, m in model.named_modules()],
        "inplace": [(n, getattr(m, "inplace", None)) for n, m in model.named_modules()],
        "training": [(n, m.training) for n, m in model.named_modules()],
        "hooks": [
            (
                n,
                len(m._forward_hooks),
                len(m._forward_pre_hooks),
                len(m._backward_hooks),
                len(m._backward_pre_hooks),
            )
            for n, m in model.named_modules()
        ],
        "grads": [(n, p.grad) for n, p in model.named_parameters()],
        "requires_grad": [(n, p.requires_grad) for n, p in model.named_parameters()],
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["types"] == after["types"]
    assert before["inplace"] == after["inplace"]
    assert before["training"] == after["training"]
    assert before["hooks"] == after["hooks"]
    assert before["requires_grad"] == after["requires_grad"]
    assert all(g is None for _, g in after["grads"])
    assert before["state"].keys() == after["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(v, after["state"][k]), k


def resnet8_module_twin(model: nn.Module) -> nn.Module:
    """A copy of a zoo resnet8 whose F.relu calls are nn.ReLU modules (for captum)."""
    twin = copy.deepcopy(model)

    def block_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = self.relu_a(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu_b(out + self.shortcut(x))

    def net_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        x = self.relu0(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))

    twin.relu0 = nn.ReLU(inplace=True)
    twin.forward = net_forward.__get__(twin)
    for block in (twin.layer1, twin.layer2, twin.layer3):
        block.relu_a = nn.ReLU(inplace=True)
        block.relu_b = nn.ReLU()
        block.forward = block_forward.__get__(block)
    return twin.eval()
