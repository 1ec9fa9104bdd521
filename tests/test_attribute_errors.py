"""Every bad input of the attribution room gets one clear line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens import zoo
from convlens.attribute import cam, grad_cam, saliency, smoothgrad
from convlens.errors import ConvlensError, InputShapeError, LayerError, ModelError, TargetError


@pytest.fixture(scope="module")
def lenet() -> nn.Module:
    return zoo.create("lenet").eval()


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_target_out_of_range(lenet) -> None:
    x = torch.randn(2, 1, 28, 28)
    with pytest.raises(TargetError) as err:
        saliency(lenet, x, 10)
    assert _one_line(err) == (
        "target 10 is out of range: class index 10 does not exist in an output with 10 "
        "classes; expected an index in 0..9"
    )
    with pytest.raises(TargetError) as err:
        saliency(lenet, x, [1, -1])
    assert _one_line(err).startswith("target [1, -1] is out of range: class index -1")
    with pytest.raises(TargetError) as err:
        saliency(lenet, x, (12,))
    assert _one_line(err) == (
        "target index (12,) is out of range: position 0 must be in 0..9 for a model output "
        "of per-sample shape (10,)"
    )
    with pytest.raises(TargetError, match="target has 3 class indices for 2 inputs"):
        saliency(lenet, x, [1, 2, 3])


def test_grad_cam_needs_a_spatial_layer(lenet) -> None:
    with pytest.raises(LayerError) as err:
        grad_cam(lenet, torch.randn(1, 1, 28, 28), 0, layer="fc1")
    assert _one_line(err) == (
        "layer 'fc1' has output of shape (1, 500), not a spatial map (N, C, H, W): choose a "
        "convolutional layer (see `convlens layers`)"
    )
    with pytest.raises(LayerError, match="unknown layer 'conv7'"):
        grad_cam(lenet, torch.randn(1, 1, 28, 28), 0, layer="conv7")


def test_input_of_the_wrong_shape(lenet) -> None:
    with pytest.raises(InputShapeError) as err:
        saliency(lenet, torch.randn(2, 3, 32, 32), 0)
    text = _one_line(err)
    assert text.startswith("inputs of shape (2, 3, 32, 32) do not fit the model (")
    assert text.endswith("pass (N, C, H, W) inputs of the shape the model was built for")
    with pytest.raises(InputShapeError) as err:
        saliency(lenet, torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 0)
    assert _one_line(err).startswith("inputs have dtype torch.uint8: expected a float tensor")


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fc(x), self.fc(x).relu()


def test_tuple_output_needs_a_target_function() -> None:
    x, net = torch.randn(2, 4), TwoHeads()
    with pytest.raises(TargetError) as err:
        saliency(net, x, 1)
    assert _one_line(err) == (
        "the model returns a tuple, not one tensor: pass a callable target fn(output) -> (N,) "
        "scores that picks the score to explain, e.g. target=lambda out: out[0][:, 3]"
    )
    maps = saliency(net, x, lambda out: out[0][:, 1])  # a linear head: the gradient is w[1]
    torch.testing.assert_close(maps, net.fc.weight[1].detach().expand(2, 4))
    with pytest.raises(TargetError, match=r"returned \(2, 3\): expected a tensor of one score"):
        saliency(net, x, lambda out: out[0])


def test_cam_needs_gap_and_linear() -> None:
    with pytest.raises(ModelError) as err:
        cam(zoo.create("smallvgg", width=4).eval(), torch.randn(1, 3, 16, 16), 0)
    assert _one_line(err) == (
        "cam needs a network that ends in global average pooling (AdaptiveAvgPool2d(1)) "
        "followed by one nn.Linear; SmallVGG does not; use grad_cam instead"
    )


def test_unknown_smoothgrad_method(lenet) -> None:
    with pytest.raises(ConvlensError) as err:
        smoothgrad(lenet, torch.randn(1, 1, 28, 28), 0, method="saliancy")
    assert _one_line(err).startswith("unknown attribution method 'saliancy': expected one of")


def test_nan_inputs_are_refused(lenet) -> None:
    x = torch.randn(3, 1, 28, 28)
    x[1, 0, 5, 5] = float("nan")
    x[2, 0, 0, 0] = float("inf")
    with pytest.raises(InputShapeError) as err:
        saliency(lenet, x, 0)
    assert _one_line(err) == (
        "inputs hold NaN or infinite values (samples [1, 2]): expected finite preprocessed "
        "inputs; check the image files or the normalisation"
    )


def test_nan_scores_are_refused(lenet) -> None:
    import copy

    broken = copy.deepcopy(lenet)
    with torch.no_grad():
        broken.fc2.bias[0] = float("nan")
    with pytest.raises(TargetError) as err:
        grad_cam(broken, torch.randn(2, 1, 28, 28), 0, layer="conv2")
    assert _one_line(err) == (
        "the model's target score is NaN or infinite for rows [0, 1]: expected finite scores; "
        "check the model's weights (a diverged checkpoint?) and its inputs"
    )
    assert not torch.isnan(lenet.fc2.bias).any()  # the user's model is untouched
