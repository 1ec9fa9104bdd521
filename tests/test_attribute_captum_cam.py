"""captum's Grad-CAM (``layer/test_grad_cam.py``) and guided Grad-CAM tests, ported.

captum's LayerGradCam returns the signed map at the layer (no ReLU, no resize):
``relu=False, upsample=False`` here. Its GuidedGradCam resizes by nearest
neighbour: ``upsample="nearest"``.
"""

from __future__ import annotations

import torch
from captum.testing.helpers.basic_models import (
    BasicModel_ConvNet_One_Conv,
    BasicModel_MultiLayer,
)

from _captum_port import close
from convlens.attribute import Layer, grad_cam, guided_grad_cam


def conv_input() -> torch.Tensor:
    return torch.arange(16, dtype=torch.float).view(1, 1, 4, 4)


def layer_cam(net, x, layer, **options):
    return grad_cam(net, x, 0, layer=layer, relu=options.pop("relu", False), upsample=False)


# ------------------------------------------------------------- layer/test_grad_cam.py
def test_simple_input_non_conv() -> None:
    net = BasicModel_MultiLayer()
    close(layer_cam(net, torch.tensor([[0.0, 100.0, 0.0]]), "linear0"), [[400.0]], 0.01)


def test_simple_multi_input_non_conv() -> None:
    # multi_relu returns two tensors: one map each
    net = BasicModel_MultiLayer(multi_input_module=True)
    got = layer_cam(net, torch.tensor([[0.0, 6.0, 0.0]]), "multi_relu")
    close(got, ([[21.0]], [[21.0]]), 0.01)


def test_simple_input_conv() -> None:
    got = layer_cam(BasicModel_ConvNet_One_Conv(), conv_input(), "conv1")
    close(got, [[[[11.25, 13.5], [20.25, 22.5]]]], 0.01)


def test_simple_input_conv_no_grad() -> None:
    net = BasicModel_ConvNet_One_Conv()
    for p in net.parameters():
        p.requires_grad = False
    close(layer_cam(net, conv_input(), "conv1"), [[[[11.25, 13.5], [20.25, 22.5]]]], 0.01)
    assert all(not p.requires_grad for p in net.parameters())


def test_simple_input_conv_relu() -> None:
    got = layer_cam(BasicModel_ConvNet_One_Conv(), conv_input(), "relu1")
    close(got, [[[[0.0, 4.0], [28.0, 32.5]]]], 0.01)


def test_simple_input_conv_without_final_relu() -> None:
    x = conv_input()
    x[0, 0, 1, 1] = -4.0
    got = layer_cam(BasicModel_ConvNet_One_Conv(), x, Layer("conv1", input=True))
    close(got, 0.5625 * x, 0.01)


def test_simple_input_conv_fc_with_final_relu() -> None:
    x = conv_input()
    x[0, 0, 1, 1] = -4.0
    want = 0.5625 * x
    want[0, 0, 1, 1] = 0.0
    got = layer_cam(BasicModel_ConvNet_One_Conv(), x, Layer("conv1", input=True), relu=True)
    close(got, want, 0.01)


def test_simple_multi_input_conv() -> None:
    net = BasicModel_ConvNet_One_Conv()
    got = layer_cam(net, (conv_input(), torch.ones(1, 1, 4, 4)), "conv1")
    close(got, [[[[14.5, 19.0], [32.5, 37.0]]]], 0.01)


def test_relu_gradcam_with_unused_layer() -> None:
    # in multi_input_module mode the output of `relu` is computed but never used
    net = BasicModel_MultiLayer(multi_input_module=True)
    got = layer_cam(net, torch.tensor([[0.0, 6.0, 0.0]]), "relu")
    close(got, [[0.0]], 0.0)


# --------------------------------------------------------------- test_guided_grad_cam.py
GGC_MULTI = [
    [14.5, 29.0, 38.0, 19.0],
    [29.0, 58.0, 76.0, 38.0],
    [65.0, 130.0, 148.0, 74.0],
    [32.5, 65.0, 74.0, 37.0],
]


def test_guided_grad_cam_simple_input_conv() -> None:
    want = [[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 12.0, 8.0], [28.0, 84.0, 97.5, 65.0]]
    want.append([28.0, 56.0, 65.0, 32.5])
    net = BasicModel_ConvNet_One_Conv()
    got = guided_grad_cam(net, conv_input(), 0, layer="relu1", upsample="nearest")
    close(got, [[want]], 0.01)


def test_guided_grad_cam_simple_multi_input_conv() -> None:
    net = BasicModel_ConvNet_One_Conv()
    xs = (conv_input(), torch.ones(1, 1, 4, 4))
    got = guided_grad_cam(net, xs, 0, layer="conv1", upsample="nearest")
    close(got, ([[GGC_MULTI]], [[GGC_MULTI]]), 0.01)


def test_guided_grad_cam_simple_multi_input_relu_input() -> None:
    net = BasicModel_ConvNet_One_Conv(inplace=True)
    xs = (conv_input(), torch.ones(1, 1, 4, 4))
    got = guided_grad_cam(net, xs, 0, layer=Layer("relu1", input=True), upsample="nearest")
    close(got, ([[GGC_MULTI]], [[GGC_MULTI]]), 0.01)


def test_guided_grad_cam_simple_multi_input_conv_inplace() -> None:
    net = BasicModel_ConvNet_One_Conv(inplace=True)
    xs = (conv_input(), torch.ones(1, 1, 4, 4))
    got = guided_grad_cam(net, xs, 0, layer="conv1", upsample="nearest")
    close(got, ([[GGC_MULTI]], [[GGC_MULTI]]), 0.01)
