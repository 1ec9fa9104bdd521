"""Default layers: block outputs and stage outputs after their activation, read off a traced
forward pass for models written any way (hand-worked small networks as references)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convlens.model import default_layers, layer_table
from convlens.zoo import create


class _Residual(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (its activation comes after it): a block."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return out + x


class _Branches(nn.Module):
    """Two branches joined by cat along channels: a block."""

    def __init__(self, c: int):
        super().__init__()
        self.a, self.b = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], 1)


class _Net(nn.Module):
    """A stem with a shared activation module, a residual block followed by its own ReLU
    module, an inception-like block, a pool, a reshape and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()  # called twice below: never a default layer
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.block = _Residual(8)
        self.after = nn.ReLU(inplace=True)
        self.mixed = _Branches(8)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(self.act(self.stem(x))))
        x = self.mixed(self.after(self.block(x)))
        return self.head(self.drop(self.pool(x).view(len(x), -1)))


def test_blocks_and_stages_of_a_hand_written_net():
    # stem and conv keep their names (the shared activation after each has no name of
    # its own); the residual block's stage ends with the ReLU module after it; the
    # branches are one block; view and dropout only repeat their input
    net = _Net()
    assert default_layers(net, (3, 8, 8)) == ["stem", "conv", "after", "mixed", "pool", "head"]


def test_an_activation_that_changes_nothing_is_not_a_stage_of_its_own():
    # a ReLU module after a block that already ends with a ReLU repeats its values
    block = _Residual(4)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), block, nn.ReLU(), nn.ReLU())
    net[2].forward = lambda x: F.relu(_Residual.forward(block, x))  # type: ignore[method-assign]
    assert default_layers(net, (1, 6, 6)) == ["1", "2"]


def test_a_plain_stack_takes_each_stage_after_its_activation():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3), nn.ReLU(inplace=True), nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10), nn.Dropout(), nn.ReLU(), nn.Linear(10, 3),
    )  # fmt: skip
    assert default_layers(net, (1, 14, 14)) == ["2", "3", "5", "9", "10"]


def test_zoo_networks():
    assert default_layers(create("lenet"), (1, 28, 28)) == [
        "conv1", "pool1", "conv2", "pool2", "relu1", "fc2",
    ]  # fmt: skip
    without = default_layers(create("siamese", relu=False), (1, 28, 28))
    assert without == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "feat"]
    # a functional ReLU after bn1: the stage is named by bn1; BasicBlocks are blocks
    assert default_layers(create("resnet8"), (3, 32, 32)) == [
        "bn1", "layer1", "layer2", "layer3", "avgpool", "fc",
    ]  # fmt: skip


def test_a_standard_resnet50_gets_every_bottleneck_and_few_else():
    layers = default_layers(create("resnet50"), (3, 224, 224))
    blocks = [f"layer{i}.{j}" for i, n in zip((1, 2, 3, 4), (3, 4, 6, 3), strict=True)
              for j in range(n)]  # fmt: skip
    assert len(layers) <= 40
    assert layers == ["relu", "maxpool", *blocks, "avgpool", "fc"]


def test_the_model_is_left_as_it_was(rng):
    net = _Net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    default_layers(net, (3, 8, 8))
    assert all(m.training for m in net.modules())
    for k, v in net.state_dict().items():  # BatchNorm's running stats untouched
        assert torch.equal(v, before[k]), k
    for m in net.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_layer_table_marks_the_defaults():
    table = layer_table(create("lenet"), (1, 28, 28))
    assert [i.name for i in table if i.default] == default_layers(create("lenet"), (1, 28, 28))
    assert not layer_table(create("lenet"), (1, 28, 28), defaults=False)[0].default


def test_resnet50_has_torchvision_parameter_names_and_sizes():
    model = create("resnet50")
    state = model.state_dict()
    assert len(state) == 320
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    shapes = {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.0.downsample.1.running_var": (256,),
        "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer3.5.bn3.num_batches_tracked": (),
        "layer4.2.conv3.weight": (2048, 512, 1, 1),
        "fc.weight": (1000, 2048),
        "fc.bias": (1000,),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("shared", [True, False])
def test_a_module_called_twice_is_never_a_default(shared):
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.other = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(self.conv(x)) if shared else self.other(self.conv(x))

    assert default_layers(Twice(), (2, 6, 6)) == ([] if shared else ["conv", "other"])
