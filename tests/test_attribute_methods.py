"""Methods against hand-worked values, float64 references and each other."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from _attribute_helpers import assert_same, randomize_bn, snapshot, twins
from convlens import zoo
from convlens.attribute import (
    Noise,
    cam,
    deconvnet,
    grad_cam,
    guided_backprop,
    guided_grad_cam,
    input_x_gradient,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
)
from convlens.attribute._smoothgrad import row_seed


def hand_net() -> nn.Sequential:
    """y = w2 . relu(W1 x + b1), 2 inputs, 3 hidden units, 1 output."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0], [1.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0, 0.0]))
        net[2].weight.copy_(torch.tensor([[3.0, -2.0, 1.0]]))
        net[2].bias.zero_()
    return net.eval()


# Sample A, x = (1, 2):  h = W1 x + b1 = (1-2+0, 2+2-1, 1+2+0) = (-1, 3, 3), y = 0 - 6 + 3 = -3.
#   upstream gradient at the ReLU: g = w2 = (3, -2, 1).
#   gradient:  g * [h > 0]          = (0, -2, 1) -> W1^T (0,-2,1) = (0-4+1, 0-2+1) = (-3, -1)
#   guided:    g * [h > 0] * [g > 0] = (0,  0, 1) -> W1^T (0, 0,1) = (1, 1)
#   deconvnet: max(g, 0)             = (3,  0, 1) -> W1^T (3, 0,1) = (3+0+1, -3+0+1) = (4, -2)
# Sample B, x = (-1, 1): h = (-2, -2, 0): no unit is positive.
#   gradient and guided: (0, 0); deconvnet ignores the forward pass: (4, -2) again.
X = torch.tensor([[1.0, 2.0], [-1.0, 1.0]])


def test_hand_worked_rules() -> None:
    net = hand_net()
    assert saliency(net, X, 0).tolist() == [[-3.0, -1.0], [0.0, 0.0]]
    assert guided_backprop(net, X, 0).tolist() == [[1.0, 1.0], [0.0, 0.0]]
    assert deconvnet(net, X, 0).tolist() == [[4.0, -2.0], [4.0, -2.0]]
    # input x gradient of A: (1 * -3, 2 * -1)
    assert input_x_gradient(net, X, 0)[0].tolist() == [-3.0, -2.0]


def test_hand_worked_integrated_gradients() -> None:
    # Along a * x (baseline 0) for sample A: h(a) = (-a, 4a - 1, 3a); unit 2 turns on at a = 1/4.
    # a < 1/4: gradient W1^T (0,0,1) = (1, 1); a > 1/4: (-3, -1) (as above).
    # integral = 1/4 (1, 1) + 3/4 (-3, -1) = (-2, -1/2); times x = (1, 2): IG = (-2, -1),
    # summing to y(x) - y(0) = -3 - 0. Four midpoints 1/8, 3/8, 5/8, 7/8 integrate it exactly.
    maps, check = integrated_gradients(
        hand_net(), X[:1], 0, steps=4, rule="midpoint", return_completeness=True
    )
    assert maps.tolist() == [[-2.0, -1.0]]
    assert check.delta.tolist() == [-3.0] and float(check.error[0]) == 0.0


def test_targets_agree() -> None:
    torch.manual_seed(0)
    net = zoo.create("smallvgg", width=8).eval()
    x = torch.randn(3, 3, 16, 16)
    pred = net(x).argmax(1)
    base = saliency(net, x, pred.tolist())
    torch.testing.assert_close(saliency(net, x, "predicted"), base)
    torch.testing.assert_close(
        saliency(net, x, lambda out: out.gather(1, pred[:, None])[:, 0]), base
    )
    torch.testing.assert_close(saliency(net, x, 4), saliency(net, x, (4,)))
    siamese = zoo.create("siamese").eval()
    d = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(
        guided_backprop(siamese, d, (1,)), guided_backprop(siamese, d, lambda out: out[:, 1])
    )


def test_batching_does_not_change_results() -> None:
    functional, _ = twins()
    x = torch.randn(5, 3, 8, 8)
    a = integrated_gradients(functional, x, 1, steps=8)
    b = integrated_gradients(functional, x, 1, steps=8, batch_size=3)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    # per-sample loop reference
    loop = torch.cat([integrated_gradients(functional, x[i : i + 1], 1, steps=8) for i in range(5)])
    torch.testing.assert_close(a, loop, rtol=1e-5, atol=1e-7)


def test_smoothgrad_is_the_mean_over_noisy_copies() -> None:
    # brute force: copy j of sample i, each from its own documented generator
    functional, _ = twins()
    x = torch.randn(2, 3, 8, 8)
    noise = Noise(samples=3, level=0.2, seed=5)
    maps = smoothgrad(functional, x, 1, method="guided_backprop", noise=noise)
    sigma = 0.2 * (x.amax((1, 2, 3)) - x.amin((1, 2, 3)))
    want = torch.zeros_like(x)
    for i in range(2):
        for j in range(3):
            g = torch.Generator().manual_seed(row_seed(5, i, j))
            noisy = x[i] + sigma[i] * torch.randn(x.shape[1:], generator=g)
            want[i] += guided_backprop(functional, noisy[None], 1)[0] / 3
    torch.testing.assert_close(maps, want, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(maps, guided_backprop(functional, x, 1))


def test_cam_equals_grad_cam_for_gap_linear_nets() -> None:
    # For GAP + linear, d score / d A = w / (h w), so Grad-CAM = ReLU(CAM) / (h w).
    torch.manual_seed(0)
    net = randomize_bn(zoo.create("resnet8", width=8))
    x = torch.randn(3, 3, 16, 16)
    before = snapshot(net)
    c = cam(net, x, [1, 2, 3], upsample=False)
    assert_same(before, snapshot(net))
    g = grad_cam(net, x, [1, 2, 3], layer="layer3", upsample=False)
    torch.testing.assert_close(g, c.clamp(min=0) / 16, rtol=1e-4, atol=1e-7)
    big = grad_cam(net, x, [1, 2, 3], layer="layer3")
    assert big.shape == (3, 1, 16, 16)
    gg = guided_grad_cam(net, x, [1, 2, 3], layer="layer3")
    torch.testing.assert_close(gg, guided_backprop(net, x, [1, 2, 3]) * big)


def test_occlusion_hand_checked() -> None:
    # score = sum of the input: covering a window of ones drops the score by its area.
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 1, bias=False))
    with torch.no_grad():
        net[1].weight.fill_(1.0)
    x = torch.ones(1, 1, 4, 4)
    # 2x2 windows, stride 2: each pixel is covered by one window whose drop is 4.
    assert occlusion(net, x, 0, window=2, stride=2).unique().tolist() == [4.0]


METHODS = [
    (saliency, {}),
    (guided_backprop, {}),
    (deconvnet, {}),
    (input_x_gradient, {}),
    (integrated_gradients, {"steps": 4}),
    (smoothgrad, {"noise": Noise(samples=2), "method": "deconvnet"}),
    (occlusion, {"window": 4, "stride": 4}),
    (grad_cam, {"layer": "conv3"}),
    (guided_grad_cam, {"layer": "conv3"}),
]


@pytest.mark.parametrize(("method", "options"), METHODS, ids=lambda m: getattr(m, "__name__", ""))
def test_model_untouched_after_success_and_error(method, options) -> None:
    functional, module = twins()
    for net in (functional, module):
        net.train()  # flags and BatchNorm statistics must survive too
        net.bn1.train(False)
        before = snapshot(net)
        method(net, torch.randn(2, 3, 8, 8), 1, **options)
        assert_same(before, snapshot(net))

        def boom(out: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("target exploded")

        with pytest.raises(RuntimeError, match="target exploded"):
            method(net, torch.randn(2, 3, 8, 8), boom, **options)
        assert_same(before, snapshot(net))
