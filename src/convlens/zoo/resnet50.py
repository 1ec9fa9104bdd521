"""ResNet-50 (He et al. 2016), written here: the standard ImageNet network, random weights.

The module names and parameter shapes are those of torchvision's ``resnet50``
(``conv1``, ``bn1``, ``relu``, ``maxpool``, ``layer1`` .. ``layer4`` of
:class:`Bottleneck` blocks with ``conv1``..``conv3``, ``bn1``..``bn3``, ``relu`` and
``downsample.0/1``, ``avgpool``, ``fc``), so a torchvision ``state_dict`` loads with
``load_state_dict`` as it is. The stride sits on the 3x3 convolution (ResNet v1.5).
Weights are initialised as torchvision does (Kaiming normal, fan out, for the
convolutions; BatchNorm weight 1 and bias 0); nothing is downloaded.

Input (N, 3, 224, 224) (any size of at least 32 px works: the pooling is adaptive);
output (N, num_classes) class scores. 25,557,032 parameters with 1,000 classes.

>>> model = ResNet50()
>>> sum(p.numel() for p in model.parameters())
25557032
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Bottleneck", "ResNet50"]


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with the stride), 1x1 expand (x4), each with BatchNorm; the
    shortcut (projected by ``downsample`` when the shape changes) is added before
    the last ReLU."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet50(nn.Module):
    """Input (N, in_channels, H, W); output (N, num_classes). Stages of 3, 4, 6, 3 blocks."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        stages = []
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            layers = []
            for b in range(blocks):
                layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
                cin = width * Bottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
