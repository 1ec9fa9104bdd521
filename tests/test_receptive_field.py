"""Receptive fields: hand-worked networks and the gradient support of random ones.

The arithmetic in the comments uses, per axis, the first and last input pixel
(lo, hi) seen by position 0 and the stride j between positions. A window with
kernel k, stride s, padding p and dilation d maps them to
``lo - p*j``, ``hi + (-p + (k-1)*d)*j`` and ``j*s``; size = hi - lo + 1 and
offset (centre of position 0) = (lo + hi) / 2.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convlens import zoo
from convlens.errors import InputShapeError, LayerError
from convlens.model import (
    ReceptiveField,
    capture,
    layer_table,
    receptive_fields,
    rf_box,
    rf_boxes,
)


def _sso(rf: ReceptiveField) -> tuple[int, int, float]:
    """(size, stride, offset) of a square field, checking both axes agree."""
    assert rf.size[0] == rf.size[1] and rf.stride[0] == rf.stride[1]
    assert rf.offset[0] == rf.offset[1]
    return rf.size[0], rf.stride[0], rf.offset[0]


def test_lenet_acceptance_values() -> None:
    rfs = receptive_fields(zoo.create("lenet"), (1, 28, 28))
    # conv1 5x5: lo=-0, hi=4 -> 5/1, centre 2.
    # pool1 2/2: hi=4+1=5 -> 6/2, centre 2.5.
    # conv2 5x5 at j=2: hi=5+4*2=13 -> 14/2, centre 6.5.
    # pool2 2/2 at j=2: hi=13+2=15 -> 16/4, centre 7.5.
    assert {n: _sso(rfs[n]) for n in ("conv1", "pool1", "conv2", "pool2")} == {
        "conv1": (5, 1, 2.0),
        "pool1": (6, 2, 2.5),
        "conv2": (14, 2, 6.5),
        "pool2": (16, 4, 7.5),
    }
    assert all(rf.exact for rf in rfs.values())
    assert set(rfs) == {"conv1", "pool1", "conv2", "pool2"}


def test_resnet8_hand_worked() -> None:
    rfs = receptive_fields(zoo.create("resnet8"), (3, 32, 32))
    expected = {
        # conv1 3x3 p1: lo=-1, hi=1, j=1 -> 3/1, centre 0.
        "conv1": (3, 1, 0.0),
        "bn1": (3, 1, 0.0),
        # layer1.conv1 3x3 p1: -2..2 -> 5; layer1.conv2: -3..3 -> 7.
        "layer1.conv1": (5, 1, 0.0),
        "layer1.conv2": (7, 1, 0.0),
        # the identity shortcut sees conv1's 3; the union of the branches is 7.
        "layer1.shortcut": (3, 1, 0.0),
        "layer1": (7, 1, 0.0),
        # layer2.conv1 3x3 s2 p1 at j=1: -3-1=-4 .. 3+1=4 -> 9/2.
        "layer2.conv1": (9, 2, 0.0),
        # layer2.conv2 3x3 p1 at j=2: -4-2=-6 .. 6 -> 13/2.
        "layer2.conv2": (13, 2, 0.0),
        # shortcut 1x1 s2 p0 at j=1: -3..3 -> 7/2; union 13/2.
        "layer2.shortcut": (7, 2, 0.0),
        "layer2.shortcut.0": (7, 2, 0.0),
        "layer2": (13, 2, 0.0),
        # layer3.conv1 3x3 s2 p1 at j=2: -6-2=-8 .. 8 -> 17/4.
        "layer3.conv1": (17, 4, 0.0),
        # layer3.conv2 3x3 p1 at j=4: -12 .. 12 -> 25/4.
        "layer3.conv2": (25, 4, 0.0),
        # shortcut 1x1 s2 at j=2: -6..6 -> 13/4; union 25/4.
        "layer3.shortcut": (13, 4, 0.0),
        "layer3": (25, 4, 0.0),
        # global average pool over 8 positions = a pool of 8/8 at j=4:
        # lo=-12, hi=12+7*4=40 -> 53/32, centre 14 (the whole padded input).
        "avgpool": (53, 32, 14.0),
    }
    assert {n: _sso(rfs[n]) for n in expected} == expected
    assert all(rf.exact for rf in rfs.values())


class _Dilated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 2, 3, padding=1)
        self.c2 = nn.Conv2d(2, 2, 3, padding=2, dilation=2)
        self.c3 = nn.Conv2d(2, 2, 3, padding=4, dilation=4)
        self.pool = nn.MaxPool2d(2)
        self.c4 = nn.Conv2d(2, 2, 3, stride=2, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c4(self.pool(self.c3(self.c2(self.c1(x)))))


def test_dilated_network_hand_worked() -> None:
    rfs = receptive_fields(_Dilated(), (1, 40, 40))
    assert {n: _sso(rf) for n, rf in rfs.items()} == {
        # c1 3x3 p1: -1..1 -> 3/1, centre 0.
        "c1": (3, 1, 0.0),
        # c2 3x3 d2 p2: -1-2=-3 .. 1+(-2+4)=3 -> 7/1.
        "c2": (7, 1, 0.0),
        # c3 3x3 d4 p4: -3-4=-7 .. 3+(-4+8)=7 -> 15/1.
        "c3": (15, 1, 0.0),
        # pool 2/2: -7 .. 7+1=8 -> 16/2, centre 0.5.
        "pool": (16, 2, 0.5),
        # c4 3x3 d2 s2 p0 at j=2: -7 .. 8+4*2=16 -> 24/4, centre 4.5.
        "c4": (24, 4, 4.5),
    }


class _Functional(nn.Module):
    """Functional calls only: F.conv2d, F.pad, slicing, F.max_pool2d(ceil), cat, +."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.ones(2, 1, 3, 3))
        self.w2 = nn.Parameter(torch.ones(2, 4, 1, 1))
        self.a = nn.Identity()
        self.b = nn.Identity()
        self.c = nn.Identity()
        self.d = nn.Identity()
        self.e = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.conv2d 3x3, no padding: 0..2 -> 3/1, centre 1.
        y = self.a(F.conv2d(x, self.w1))
        # F.pad by 2 on the top and 1 on the left: position 0 is pixel -2 (rows) / -1 (cols)
        # of y: rows -2..0 -> 3/1 centre -1; cols -1..1 -> centre 0.
        y = self.b(F.pad(y, (1, 0, 2, 0)))
        # every 2nd position from 1: rows -1..1, cols 0..2, stride 2 -> centres 0 and 1.
        y = self.c(y[:, :, 1::2, 1::2])
        # max pool 3, stride 2, ceil mode, at j=2: rows -1..1+2*2=5 -> 7/4 centre 2;
        # cols 0..6 -> centre 3.
        y = self.d(F.max_pool2d(y, 3, stride=2, ceil_mode=True))
        # cat along channels then a 1x1 conv, plus a pointwise branch: all keep the field.
        z = torch.cat([y, F.relu(y)], dim=1)
        return self.e(F.conv2d(z, self.w2) + torch.sigmoid(y))


def test_functional_calls_hand_worked() -> None:
    rfs = receptive_fields(_Functional(), (1, 20, 20))
    got = {n: (rf.size, rf.stride, rf.offset) for n, rf in rfs.items()}
    assert got == {
        "a": ((3, 3), (1, 1), (1.0, 1.0)),
        "b": ((3, 3), (1, 1), (-1.0, 0.0)),
        "c": ((3, 3), (2, 2), (0.0, 1.0)),
        "d": ((7, 7), (4, 4), (2.0, 3.0)),
        "e": ((7, 7), (4, 4), (2.0, 3.0)),
    }
    assert all(rf.exact for rf in rfs.values())


class _Mixing(nn.Module):
    """Global statistics, broadcasting, permutes, upsampling and uneven adaptive pools."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.se = nn.Identity()
        self.perm = nn.Identity()
        self.up = nn.Upsample(scale_factor=2)
        self.uneven = nn.AdaptiveAvgPool2d(3)
        self.chan = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        # squeeze-excitation: every position is scaled by the mean of all of them.
        y = self.se(y * torch.sigmoid(y.mean((2, 3), keepdim=True)))
        # channels-last and back: the spatial axes are followed.
        y = self.perm(y.permute(0, 2, 3, 1).permute(0, 3, 1, 2))
        self.chan(y.softmax(dim=1))
        return self.uneven(self.up(y))


def test_mixing_ops_are_whole_or_flagged() -> None:
    table = {i.name: i for i in layer_table(_Mixing(), (1, 10, 10))}
    # conv 3x3 p1: -1..1, hull over 10 positions -1..10 (12 pixels, centre 4.5).
    assert table["conv"].rf_size == (3, 3) and table["conv"].rf_note is None
    # the SE product sees the whole hull at every position: stride 0, exact.
    se = table["se"]
    assert (se.rf_size, se.rf_stride, se.rf_offset, se.rf_note) == (
        (12, 12),
        (0, 0),
        (4.5, 4.5),
        None,
    )
    assert table["perm"].rf_size == (12, 12) and table["perm"].rf_note is None
    # softmax over channels keeps every position's field.
    assert table["chan"].rf_size == (12, 12) and table["chan"].rf_note is None
    # upsampling is not modelled: the whole input, with a note saying so.
    assert table["up"].rf_stride == (0, 0) and "changes a spatial size from 10 to 20" in str(
        table["up"].rf_note
    )
    assert "not a divisor" in str(table["uneven"].rf_note)
    assert table["uneven"].receptive_field is not None
    assert not table["uneven"].receptive_field.exact


def test_softmax_over_a_spatial_axis_mixes_it() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)
            self.sm = nn.Softmax(dim=-1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.sm(self.conv(x))

    rf = receptive_fields(Net(), (1, 9, 9))["sm"]
    # rows keep 0..2 (3/1); columns: every position sees the conv's hull 0..8.
    assert (rf.size, rf.stride, rf.offset, rf.exact) == ((3, 9), (1, 0), (1.0, 4.0), True)


# ---------------------------------------------------------------------------
# Random linear networks: the box equals the support of the input gradient.


class _FConv(nn.Module):
    """A convolution through F.conv2d with positive weights."""

    def __init__(self, cin: int, cout: int, k: int, s: int, p: int, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(cout, cin, k, k, dtype=torch.float64) + 0.5)
        self.s, self.p, self.d = s, p, d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, None, self.s, self.p, self.d)


class _Residual(nn.Module):
    """Two branches of equal output size, joined by + or torch.cat."""

    def __init__(self, c: int, s: int, d: int, join: str):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(c, c, 3, stride=s, padding=d, dilation=d, bias=False),
            nn.Conv2d(c, c, 3, padding=1, bias=False),
        )
        self.skip = nn.Conv2d(c, c, 1, stride=s, bias=False)
        self.merge = nn.Conv2d(2 * c, c, 1, bias=False)
        self.join = join

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.main(x), self.skip(x)
        return a + b if self.join == "add" else self.merge(torch.cat([a, b], 1))


def _random_net(gen: np.random.Generator, size: int) -> nn.Sequential:
    c, n = 2, size
    layers: list[nn.Module] = []
    while len(layers) < 5:
        kind = gen.choice(["conv", "fconv", "avg", "res"])
        k, s, d = int(gen.integers(1, 5)), int(gen.integers(1, 3)), int(gen.integers(1, 3))
        if kind in ("conv", "fconv"):
            p = int(gen.integers(0, k))
            out = (n + 2 * p - d * (k - 1) - 1) // s + 1
            layer: nn.Module = (
                nn.Conv2d(c, c, k, s, p, d, bias=False)
                if kind == "conv"
                else _FConv(c, c, k, s, p, d)
            )
        elif kind == "avg":
            k = max(k, 2)
            p = int(gen.integers(0, k // 2 + 1))
            ceil = bool(gen.integers(0, 2))
            layer = nn.AvgPool2d(k, s, p, ceil_mode=ceil)
            out = nn.functional.avg_pool2d(torch.zeros(1, 1, n, n), k, s, p, ceil).shape[-1]
        else:
            out = (n + 2 * d - 2 * d - 1) // s + 1
            layer = _Residual(c, s, d, str(gen.choice(["add", "cat"])))
        if out < 3:
            break
        layers.append(layer)
        n = out
    net = nn.Sequential(*layers).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.rand_like(m.weight) + 0.5)
    return net


def _support_box(grad: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(np.abs(grad).sum(axis=(0, 2)) > 0)
    cols = np.flatnonzero(np.abs(grad).sum(axis=(0, 1)) > 0)
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


@pytest.mark.parametrize("seed", range(12))
def test_random_linear_networks_match_gradient_support(seed: int) -> None:
    gen = np.random.default_rng(seed)
    size = 36
    net = _random_net(gen, size)
    if len(net) == 0:
        pytest.skip("no layer fits")
    table = layer_table(net, (2, size, size))
    checked = 0
    for info in table:
        if not info.name.isdigit():
            continue
        _, h, w = info.output_shape
        picks = {(0, 0), (h - 1, w - 1), (h // 2, w // 2)}
        picks |= {(int(gen.integers(0, h)), int(gen.integers(0, w))) for _ in range(3)}
        for i, j in sorted(picks):
            x = torch.rand(1, 2, size, size, dtype=torch.float64, requires_grad=True)
            with capture(net, [info.name], detach=False, clone=False) as seen:
                net(x)
            seen[info.name][0, 0, i, j].backward()
            grad = x.grad[0].numpy()
            support = _support_box(grad)
            clipped = rf_box(info, i, j, clip=(size, size))
            unclipped = rf_box(info, i, j)
            # The support always lies inside the clipped box ...
            assert clipped[0] <= support[0] and clipped[1] <= support[1]
            assert support[2] <= clipped[2] and support[3] <= clipped[3]
            if unclipped == clipped:
                # ... and equals it when the box lies inside the input.
                assert support == clipped, (info.name, i, j)
                centre = ((support[0] + support[2] - 1) / 2, (support[1] + support[3] - 1) / 2)
                assert info.rf_offset is not None and info.rf_stride is not None
                assert centre == (
                    info.rf_offset[0] + i * info.rf_stride[0],
                    info.rf_offset[1] + j * info.rf_stride[1],
                )
                checked += 1
    assert checked >= 3


# ---------------------------------------------------------------------------
# Boxes, the model left unchanged, bad input.


def test_rf_box_contract() -> None:
    rf = ReceptiveField((16, 16), (4, 4), (7.5, 7.5))
    # centre 7.5 + 4*3 = 19.5; rows 19.5-7.5 = 12 .. 27 inclusive -> [12, 28).
    assert rf_box(rf, 3, 0) == (12, 0, 28, 16)
    assert rf_box(rf, 3, 4, clip=(28, 28)) == (12, 16, 28, 28)
    padded = ReceptiveField((3, 3), (1, 1), (0.0, 0.0))
    assert rf_box(padded, 0, 0) == (-1, -1, 2, 2)
    assert rf_box(padded, 0, 0, clip=(4, 4)) == (0, 0, 2, 2)
    boxes = rf_boxes(padded, np.array([[0, 0], [3, 2]]), clip=(4, 4))
    assert boxes.tolist() == [[0, 0, 2, 2], [2, 1, 4, 4]]


def test_rf_box_of_a_non_spatial_layer() -> None:
    fc1 = next(i for i in layer_table(zoo.create("lenet"), (1, 28, 28)) if i.name == "fc1")
    with pytest.raises(LayerError) as e:
        rf_box(fc1, 0, 0)
    assert str(e.value) == (
        "layer 'fc1' has no spatial output, so no receptive field; "
        "pick a convolution or pooling layer (see `convlens layers`)"
    )


def test_model_left_unchanged() -> None:
    net = zoo.create("resnet8")
    net.train()
    net.layer2.eval()
    before = {n: m.training for n, m in net.named_modules()}
    receptive_fields(net, (3, 32, 32))
    assert {n: m.training for n, m in net.named_modules()} == before
    assert all(not m._forward_hooks for m in net.modules())
    assert all(float(b.abs().sum()) == 0 for n, b in net.named_buffers() if "running_mean" in n)


def test_hooks_removed_after_a_failed_pass() -> None:
    net = zoo.create("lenet")
    with pytest.raises(InputShapeError) as e:
        receptive_fields(net, (1, 20, 20))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("a dry forward pass of LeNet on input shape (1, 20, 20) failed (")
    assert msg.endswith("pass the input shape (C, H, W) the model expects")
    assert all(not m._forward_hooks for m in net.modules())


@pytest.mark.parametrize("shape", [(1, 0, 28), ("a", 2), ()])
def test_bad_input_shape(shape: tuple) -> None:
    with pytest.raises(InputShapeError) as e:
        layer_table(zoo.create("lenet"), shape)
    assert str(e.value) == (
        f"input_shape={shape!r}: expected positive sizes without the batch dimension, "
        "like (1, 28, 28) for (C, H, W)"
    )


def test_an_op_that_cannot_be_followed_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    from convlens.model import _rf_trace

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unreadable arguments")

    monkeypatch.setattr(_rf_trace, "_generic", broken)
    table = {i.name: i for i in layer_table(zoo.create("lenet"), (1, 28, 28))}
    # conv1 and pool1 have their own rules; nothing in lenet reaches the broken path
    # before pool2, and the forward pass itself still runs to the end.
    assert table["pool2"].rf_size == (16, 16)
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU())
    relu = {i.name: i for i in layer_table(net, (1, 8, 8))}["1"]
    # conv hull 0..7 on both axes, every position: the whole input, flagged.
    assert (relu.rf_size, relu.rf_stride) == ((8, 8), (0, 0))
    assert "convlens could not follow relu; taken as the whole input" in str(relu.rf_note)
