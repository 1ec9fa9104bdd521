"""A small VGG-style RGB classifier, like the network of seed 001.

Three blocks of 3x3 convolutions with in-place ReLUs and 2x2 max-pooling, then an
adaptive average pool to 4x4 and two fully connected layers. The adaptive pool
lets the convolutional part run on images of any size (DeepDream on photos).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


def _block(i: int, cin: int, cout: int, convs: int) -> list[tuple[str, nn.Module]]:
    layers: list[tuple[str, nn.Module]] = []
    for j in range(1, convs + 1):
        layers.append((f"conv{i}_{j}", nn.Conv2d(cin if j == 1 else cout, cout, 3, padding=1)))
        layers.append((f"relu{i}_{j}", nn.ReLU(inplace=True)))
    layers.append((f"pool{i}", nn.MaxPool2d(2)))
    return layers


class SmallVGG(nn.Module):
    """Input (N, in_channels, H, W), H and W at least 8; output (N, num_classes)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            OrderedDict(
                _block(1, in_channels, w, 2) + _block(2, w, 2 * w, 2) + _block(3, 2 * w, 4 * w, 1)
            )
        )
        self.avgpool = nn.AdaptiveAvgPool2d(4)
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("fc1", nn.Linear(4 * w * 16, 256)),
                    ("relu", nn.ReLU(inplace=True)),
                    ("fc2", nn.Linear(256, num_classes)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))
