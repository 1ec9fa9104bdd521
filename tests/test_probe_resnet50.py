"""ResNet-50 probed with its default layers (every bottleneck block's output) on a small
input: the top-k of three layers equals a brute-force pass over every position."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _probe_helpers import brute_topk, forward_all
from convlens.data import ImageDataset, Normalization
from convlens.probe import run as probe_run
from convlens.zoo import create


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    torch.manual_seed(7)
    model = create("resnet50", num_classes=4).eval()
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(24, 3, 64, 64), dtype=np.uint8)
    labels = np.arange(24) % 4
    norm = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    ds = ImageDataset(images, labels, ["a", "b", "c", "d"], normalization=norm)
    out = tmp_path_factory.mktemp("resnet50") / "s"
    res = probe_run(model, data=ds, out=out, batch_size=8, budget="20MB", topk=5)
    return res, model, ds


@pytest.mark.slow
def test_the_default_layers_are_the_block_outputs(probed):
    res, _, _ = probed
    assert len(res.layers) == 20 and res.layers[2:5] == ["layer1.0", "layer1.1", "layer1.2"]
    assert res.is_sampled("layer1.0") and res.fraction("layer1.0") < 0.5


@pytest.mark.slow
def test_topk_of_three_layers_equals_brute_force_over_every_position(probed):
    res, model, ds = probed
    names = ["layer1.2", "layer3.4", "avgpool"]
    acts, out = forward_all(model, ds.normalization.apply(ds.images), names, 8)
    for name in names:
        values, images, positions = brute_topk(acts[name], ds.indices, 5)
        got_v, got_i, got_p = res.topk(name)
        np.testing.assert_array_equal(got_v, values, err_msg=name)
        np.testing.assert_array_equal(got_i, images, err_msg=name)
        np.testing.assert_array_equal(got_p, positions, err_msg=name)
    np.testing.assert_array_equal(res.outputs, out)
