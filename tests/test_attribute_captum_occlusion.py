"""captum's occlusion tests (``tests/attr/test_occlusion.py``), ported.

captum's default stride is 1 (ours is 4) and its target in these tests is 0, so
both are passed explicitly. captum's ``perturbations_per_eval`` is our
``batch_size`` (rows per forward pass).
"""

from __future__ import annotations

import pytest
import torch
from captum.testing.helpers.basic_models import (
    BasicModel3,
    BasicModel_ConvNet_One_Conv,
    BasicModel_MultiLayer,
    BasicModel_MultiLayer_MultiInput,
)

from _captum_port import close
from convlens.attribute import occlusion
from convlens.errors import ConvlensError


def conv_input() -> torch.Tensor:
    return torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)


def occ(net, x, want, batches=(1,), target=0, **options) -> None:
    options.setdefault("stride", 1)
    for b in batches:
        close(occlusion(net, x, target, batch_size=b, **options), want, 1e-4)


def test_improper_window_shape() -> None:
    # captum also refuses (1, 2) on one (1, 4, 4) input; convlens reads it as a window
    # over the two axes after the channel axis (see docs/attribution.md)
    net, x = BasicModel_ConvNet_One_Conv(), conv_input()
    with pytest.raises(ConvlensError, match=r"window \(1, 1, 1, 2\) does not fit inputs\[1\]"):
        occlusion(net, (x, x), 0, window=((1, 1, 2), (1, 1, 1, 2)), stride=1)
    with pytest.raises(ConvlensError, match="window has 3 entries for 2 inputs"):
        occlusion(net, (x, x), 0, window=((1, 1, 2), (1, 1, 2), (1, 1, 2)), stride=1)


def test_improper_stride() -> None:
    net, x = BasicModel_ConvNet_One_Conv(), conv_input()
    with pytest.raises(ConvlensError, match=r"stride \(1, 2\) does not fit window \(1, 2, 2\)"):
        occlusion(net, x, 0, window=(1, 2, 2), stride=(1, 2))
    with pytest.raises(ConvlensError, match=r"stride \(2, 1, 2, 2\) does not fit"):
        occlusion(net, (x, x), 0, window=((1, 1, 2), (1, 2, 2)), stride=((1, 1, 2), (2, 1, 2, 2)))
    with pytest.raises(ConvlensError, match="stride has 3 entries for 2 inputs"):
        occlusion(
            net,
            (x, x),
            0,
            window=((1, 1, 2), (1, 2, 2)),
            stride=((1, 1, 2), (1, 2, 2), (1, 2, 2)),
        )


def test_too_large_stride() -> None:
    net, x = BasicModel_ConvNet_One_Conv(), conv_input()
    with pytest.raises(ConvlensError, match=r"stride 2 is larger than window \(1, 1, 2\)"):
        occlusion(net, x, 0, window=((1, 1, 2),), stride=2)  # captum's one-input tuple form
    with pytest.raises(ConvlensError, match="stride 2 is larger than window"):
        occlusion(net, (x, x), 0, window=((1, 1, 2), (1, 4, 2)), stride=(2, (1, 2, 3)))
    with pytest.raises(ConvlensError, match=r"window \(2, 1, 2\) is larger than inputs\[0\]"):
        occlusion(net, x, 0, window=(2, 1, 2), stride=2)


def test_simple_input() -> None:
    x = torch.tensor([[20.0, 50.0, 30.0]])
    occ(BasicModel_MultiLayer(), x, [[80.0, 200.0, 120.0]], (1, 2, 3), window=(1,))


def test_simple_multi_input() -> None:
    xs = (torch.tensor([[-10.0], [3.0]]), torch.tensor([[-5.0], [1.0]]))
    occ(BasicModel3(), xs, ([[0.0], [1.0]], [[0.0], [-1.0]]), window=((1,), (1,)))


def test_simple_multi_input_0d() -> None:
    xs = (torch.tensor([-10.0, 3.0]), torch.tensor([-5.0, 1.0]))
    occ(BasicModel3(), xs, ([0.0, 1.0], [0.0, -1.0]), target=None, window=((), ()))


def test_simple_input_larger_shape() -> None:
    x = torch.tensor([[20.0, 50.0, 30.0]])
    occ(
        BasicModel_MultiLayer(),
        x,
        [[200.0, 220.0, 240.0]],
        (1, 2, 3),
        window=(2,),
        baseline=torch.tensor([10.0, 10.0, 10.0]),
    )


def test_simple_input_shape_with_stride() -> None:
    # windows at 0 and 2 along an axis of 3: the second is cut by the edge
    x = torch.tensor([[20.0, 50.0, 30.0]])
    occ(BasicModel_MultiLayer(), x, [[280.0, 280.0, 120.0]], (1, 2, 3), window=(2,), stride=2)


def test_multi_sample_ablation() -> None:
    x = torch.tensor([[2.0, 10.0, 3.0], [20.0, 50.0, 30.0]])
    want = [[8.0, 35.0, 12.0], [80.0, 200.0, 120.0]]
    occ(BasicModel_MultiLayer(), x, want, (1, 2, 3), window=(1,))


def _three_inputs():
    x1 = torch.tensor([[23.0, 100.0, 0.0], [20.0, 50.0, 30.0]])
    x2 = torch.tensor([[20.0, 50.0, 30.0], [0.0, 100.0, 0.0]])
    x3 = torch.tensor([[0.0, 100.0, 10.0], [2.0, 10.0, 3.0]])
    return BasicModel_MultiLayer_MultiInput(), x1, x2, x3


def test_multi_input_ablation_with_mask() -> None:
    net, x1, x2, x3 = _three_inputs()
    want = (
        [[492.0, 492.0, 492.0], [400.0, 400.0, 400.0]],
        [[80.0, 200.0, 120.0], [0.0, 400.0, 0.0]],
        [[400.0, 420.0, 440.0], [48.0, 50.0, 52.0]],
    )
    occ(net, (x1, x2, x3), want, additional_forward_args=(1,), window=((3,), (1,), (2,)))
    occ(
        net,
        (x1, x2),
        want[:2],
        (1, 2, 3),
        additional_forward_args=(x3, 1),
        window=((3,), (1,)),
    )


def test_multi_input_ablation_with_baselines() -> None:
    net, x1, x2, x3 = _three_inputs()
    want = (
        [[444.0, 444.0, 444.0], [328.0, 328.0, 328.0]],
        [[68.0, 188.0, 108.0], [-12.0, 388.0, -12.0]],
        [[368.0, 368.0, 24.0], [0.0, 0.0, -12.0]],
    )
    occ(
        net,
        (x1, x2, x3),
        want,
        baseline=(torch.tensor([[1.0, 4, 7], [3.0, 6, 9]]), 3.0, torch.tensor([[4.0], [6]])),
        additional_forward_args=(1,),
        window=((3,), (1,), (2,)),
        stride=(2, 1, 2),
    )


def test_simple_multi_input_conv() -> None:
    net = BasicModel_ConvNet_One_Conv()
    xs = (conv_input(), torch.ones(1, 1, 4, 4))
    want = (67 * torch.ones(1, 1, 4, 4), 13 * torch.ones(1, 1, 4, 4))
    occ(net, xs, want, (1, 2, 4, 8, 12, 16), window=((1, 4, 4), (1, 4, 4)))
    want = (
        [[[[17.0] * 4, [17.0] * 4, [64.0, 65.5, 65.5, 67.0], [64.0, 65.5, 65.5, 67.0]]]],
        [[[[3.0] * 4, [3.0] * 4, [3.0] * 4, [0.0] * 4]]],
    )
    occ(
        net,
        xs,
        want,
        (1, 3, 7, 14),
        window=((1, 2, 3), (1, 1, 2)),
        stride=((1, 2, 1), (1, 1, 2)),
    )


def test_simple_multi_input_conv_diff_shapes() -> None:
    net = BasicModel_ConvNet_One_Conv()
    xs = (conv_input(), torch.ones(1, 1, 4, 1))
    want = (
        [[[[17.0] * 4, [17.0] * 4, [67.0] * 4, [67.0] * 4]]],
        [[[[10.0], [10.0], [8.0], [6.0]]]],
    )
    occ(
        net,
        xs,
        want,
        (1, 2, 4, 8, 12, 16),
        window=((1, 2, 4), (1, 2, 1)),
        stride=((1, 2, 1), (1, 1, 1)),
    )
