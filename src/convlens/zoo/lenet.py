"""The Caffe MNIST networks: LeNet and the siamese network of Hadsell et al. (2006).

Both share one trunk: conv 20@5x5, max-pool 2, conv 50@5x5, max-pool 2, fc 500,
ReLU. LeNet ends in fc 10 (class scores). The siamese network ends in fc 10 and
fc 2, a 2-D embedding trained with a contrastive loss (seed 004, section 4).
"""

from __future__ import annotations

import torch
from torch import nn


class _Trunk(nn.Module):
    def __init__(self, in_channels: int, relu: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(50 * 4 * 4, 500)
        self.relu1 = nn.ReLU() if relu else None

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        x = self.fc1(self.flatten(x))
        return self.relu1(x) if self.relu1 is not None else x


class LeNet(_Trunk):
    """LeNet for 1x28x28 inputs. Output: (N, num_classes) class scores."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__(in_channels, relu=True)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.trunk(x))


class Siamese(_Trunk):
    """One branch of the Caffe MNIST siamese network. Output: (N, 2) embedding.

    ``relu=False`` removes its one ReLU (after fc1), for the A/B experiment of
    seed 004 section 4.4.
    """

    def __init__(self, in_channels: int = 1, relu: bool = True, embedding: int = 2):
        super().__init__(in_channels, relu=relu)
        self.fc2 = nn.Linear(500, 10)
        self.feat = nn.Linear(10, embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feat(self.fc2(self.trunk(x)))


def siamese_norelu(in_channels: int = 1, embedding: int = 2) -> Siamese:
    """The siamese branch without its ReLU (the zoo name ``siamese-norelu``): the same
    as ``siamese`` with ``relu=False``, for seed 004's A/B comparison."""
    return Siamese(in_channels, relu=False, embedding=embedding)
