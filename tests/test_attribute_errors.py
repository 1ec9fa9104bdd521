"""Every bad input of the attribution room gets one clear line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlens import zoo
from convlens.attribute import (
    cam,
    grad_cam,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
)
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
        "target 10 is out of range: class index 10 does not exist in a model output of shape "
        "(2, 10) with 10 classes; expected an index in 0..9"
    )
    with pytest.raises(TargetError) as err:
        saliency(lenet, x, [1, -1])
    assert _one_line(err).startswith("target [1, -1] is out of range: class index -1")
    with pytest.raises(TargetError) as err:
        saliency(lenet, x, (12,))
    assert _one_line(err) == (
        "target index (12,) is out of range: position 0 must be in 0..9 for a model output "
        "of shape (2, 10) (per-sample shape (10,))"
    )
    with pytest.raises(TargetError, match="target has 3 class indices for 2 inputs"):
        saliency(lenet, x, [1, 2, 3])


def test_grad_cam_needs_a_known_layer(lenet) -> None:
    with pytest.raises(LayerError, match="unknown layer 'conv7'"):
        grad_cam(lenet, torch.randn(1, 1, 28, 28), 0, layer="conv7")
    with pytest.raises(LayerError) as err:
        grad_cam(lenet, torch.randn(1, 1, 28, 28), 0, layer="")
    assert _one_line(err) == (
        "grad_cam needs layer=NAME (or Layer(NAME, input=..., call=...)), got '': choose a "
        "layer of the model (see `convlens layers`)"
    )


def test_input_of_the_wrong_shape(lenet) -> None:
    with pytest.raises(InputShapeError) as err:
        saliency(lenet, torch.randn(2, 3, 32, 32), 0)
    text = _one_line(err)
    assert text.startswith("inputs of shape (2, 3, 32, 32) do not fit the model (")
    assert text.endswith("; pass inputs of the shape the model was built for")
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
        "the model returns a tuple of 2, not one tensor: pass a callable target "
        "fn(output) -> (N,) "
        "scores that picks the score to explain, e.g. target=lambda out: out[0][:, 3]"
    )
    maps = saliency(net, x, lambda out: out[0][:, 1])  # a linear head: the gradient is w[1]
    torch.testing.assert_close(maps, net.fc.weight[1].detach().expand(2, 4))
    with pytest.raises(TargetError, match=r"returned \(2, 3\) for a model that returns a tuple"):
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


# ------------------------------------------------------------ several inputs, baselines
class Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.fc(a + b)


def test_wrong_tuple_lengths_and_mismatched_baselines() -> None:
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    net = Pair()
    with pytest.raises(InputShapeError) as err:
        saliency(net, (a, torch.randn(3, 4)), 0)
    assert _one_line(err) == (
        "inputs[1] of shape (3, 4) has 3 samples but inputs[0] has 2: every input needs "
        "the same batch size N (axis 0)"
    )
    with pytest.raises(InputShapeError, match=r"^inputs\[1\] has dtype torch.int64"):
        saliency(net, (a, torch.ones(2, 4, dtype=torch.long)), 0)
    with pytest.raises(InputShapeError, match=r"^inputs of type tuple are not a tensor"):
        saliency(net, (), 0)
    with pytest.raises(ConvlensError) as err:
        integrated_gradients(net, (a, b), 0, baseline=(0.0, 0.0, 0.0))
    assert _one_line(err) == (
        "baseline has 3 entries for 2 inputs: give one per input, or one value for all of them"
    )
    with pytest.raises(ConvlensError) as err:
        integrated_gradients(net, (a, b), 0, baseline=(0.0, torch.zeros(3, 4)))
    assert _one_line(err) == (
        "baseline of shape (3, 4) does not fit inputs[1] of shape (2, 4): expected a number, "
        "'zeros', 'mean', or a tensor that broadcasts to the inputs"
    )
    with pytest.raises(ConvlensError, match=r"^baseline 'ones' does not fit inputs of shape"):
        occlusion(net, a, 0, baseline="ones", window=1, stride=1, additional_forward_args=b)
    with pytest.raises(ConvlensError, match=r"^window has 3 entries for 2 inputs"):
        occlusion(net, (a, b), 0, window=(1, 1, 1), stride=1)


# --------------------------------------------------------- bad targets, every output rank
class Shaped(nn.Module):
    """Returns a tensor of the shape it is built with, (N, *shape), or a tuple."""

    def __init__(self, *shape: int, pair: bool = False) -> None:
        super().__init__()
        self.shape, self.pair = shape, pair
        self.fc = nn.Linear(4, max(1, int(torch.tensor(shape).prod())) if shape else 1)

    def forward(self, x: torch.Tensor):
        out = self.fc(x).reshape(len(x), *self.shape)
        return (out, out) if self.pair else out


BAD_TARGETS = [
    (
        (),
        3,
        "target 3 needs class scores (N, K, ...), but the model returns a tensor of shape "
        "(2,); pass target=None (the output is one score per sample) or a callable",
    ),
    (
        (),
        "predicted",
        "target 'predicted' needs class scores (N, K, ...), but the model "
        "returns a tensor of shape (2,); pass target=None (the output is one score per sample) "
        "or a callable",
    ),
    (
        (),
        (0,),
        "target index (0,) does not fit a model output of shape (2,) (per-sample "
        "shape ()): expected a tuple of 0 ints",
    ),
    (
        (5,),
        None,
        "target None takes the output as one score per sample, but the model "
        "returns a tensor of shape (2, 5); pass a class index, 'predicted', an index tuple or a "
        "callable",
    ),
    (
        (5,),
        5,
        "target 5 is out of range: class index 5 does not exist in a model output of "
        "shape (2, 5) with 5 classes; expected an index in 0..4",
    ),
    (
        (5,),
        [1, 2, 3],
        "target has 3 class indices for 2 inputs (model output of shape "
        "(2, 5)): give one per sample, or one for all",
    ),
    (
        (5,),
        "largest",
        "target 'largest' is unknown for a model that returns a tensor of shape "
        "(2, 5): expected 'predicted', None, a class index, one class index per sample, an output "
        "index tuple, one index tuple per sample, or a callable output -> (N,) scores",
    ),
    (
        (5,),
        1.5,
        "target 1.5 is not understood for a model that returns a tensor of shape "
        "(2, 5): expected 'predicted', None",
    ),
    (
        (4, 3, 2),
        4,
        "target 4 is out of range: class index 4 does not exist in a model output "
        "of shape (2, 4, 3, 2) with 4 classes; expected an index in 0..3",
    ),
    (
        (4, 3, 2),
        (1, 2),
        "target index (1, 2) does not fit a model output of shape (2, 4, 3, 2) "
        "(per-sample shape (4, 3, 2)): expected a tuple of 3 ints",
    ),
    (
        (4, 3, 2),
        [(1, 2, 1), (0, 3, 0)],
        "target index [(1, 2, 1), (0, 3, 0)] is out of range: "
        "position 1 must be in 0..2 for a model output of shape (2, 4, 3, 2) (per-sample shape "
        "(4, 3, 2))",
    ),
    (
        (4, 3, 2),
        [(1, 2, 1)] * 3,
        "target has 3 index tuples for 2 inputs (model output of "
        "shape (2, 4, 3, 2)): give one per sample, or one tuple for all",
    ),
    (
        (4, 3, 2),
        [(1, 2), (0, 1, 1)],
        "target [(1, 2), (0, 1, 1)] mixes index tuples of "
        "different lengths or non-integers for a model output of shape (2, 4, 3, 2)",
    ),
    (
        (4, 3, 2),
        lambda out: out[:, 0],
        "the target function returned (2, 3, 2) for a model "
        "that returns a tensor of shape (2, 4, 3, 2): expected a tensor of one score per sample, "
        "shape (2,)",
    ),
]


@pytest.mark.parametrize(("shape", "target", "message"), BAD_TARGETS)
@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "occlusion"])
def test_bad_targets_on_every_output_rank(shape, target, message, method) -> None:
    from convlens.attribute import get_method

    options = {"occlusion": {"window": 1, "stride": 1}}.get(method, {})
    if method == "integrated_gradients":
        options = {"steps": 2}
    with pytest.raises(TargetError) as err:
        get_method(method)(Shaped(*shape), torch.randn(2, 4), target, **options)
    assert _one_line(err).startswith(message)


def test_bad_targets_on_a_tuple_output() -> None:
    with pytest.raises(TargetError) as err:
        saliency(Shaped(5, pair=True), torch.randn(2, 4), "predicted")
    assert _one_line(err).startswith("the model returns a tuple of 2, not one tensor")


# ------------------------------------------------------------------ errors in forward
class Broken(nn.Module):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.fc, self.error = nn.Linear(4, 2), error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.error is not None:
            raise self.error
        return self.fc(x)


def test_errors_inside_forward_are_reported_as_what_they_are() -> None:
    x = torch.randn(2, 4)
    with pytest.raises(ModelError) as err:
        saliency(Broken(RuntimeError("CUDA kernel failed: bad state\nmore")), x, 0)
    assert _one_line(err) == (
        "the model's forward pass failed on inputs of shape (2, 4) (torch.float32, cpu): "
        "RuntimeError: CUDA kernel failed: bad state; this error comes from the model's own code"
    )
    with pytest.raises(InputShapeError, match=r"^inputs of shape \(2, 5\) do not fit the model"):
        saliency(Broken(None), torch.randn(2, 5), 0)
    with pytest.raises(KeyError, match="'missing'"):  # not a RuntimeError: untouched
        saliency(Broken(KeyError("missing")), x, 0)
