"""Deletion / insertion AUC and the cascading randomisation check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from _attribute_helpers import assert_same, snapshot, twins
from convlens.attribute import saliency
from convlens.attribute.metrics import (
    deletion,
    insertion,
    perturbation_curve,
    randomisation,
)
from convlens.attribute.metrics._deletion import blurred


def _loop_curve(model, x, maps, cls, mode, steps, start, end):
    """Brute force: one image, one step, one forward pass at a time."""
    n, _, h, w = x.shape
    curves = torch.zeros(n, steps + 1)
    for i in range(n):
        order = maps[i].sum(0).flatten().argsort(descending=True, stable=True)
        for k in range(steps + 1):
            m = torch.zeros(h * w, dtype=torch.bool)
            m[order[: round(k * h * w / steps)]] = True
            m = m.view(1, h, w)
            img = torch.where(m, end[i], start[i])
            with torch.no_grad():
                curves[i, k] = model(img[None]).softmax(1)[0, cls[i]]
    return curves


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_batched_curves_equal_a_per_image_loop(mode: str) -> None:
    functional, _ = twins()
    x = torch.randn(3, 3, 8, 8)
    maps = saliency(functional, x, abs=True)
    cls = functional(x).argmax(1)
    curve = perturbation_curve(functional, x, maps, mode=mode, steps=8, batch_size=5)
    base = torch.zeros_like(x) if mode == "deletion" else blurred(x)
    start, end = (x, base) if mode == "deletion" else (base, x)
    want = _loop_curve(functional, x, maps, cls, mode, 8, start, end)
    torch.testing.assert_close(curve.scores, want, rtol=1e-5, atol=1e-6)
    auc = deletion if mode == "deletion" else insertion
    torch.testing.assert_close(auc(functional, x, maps, steps=8), torch.trapezoid(want, dx=1 / 8))


def test_auc_by_hand() -> None:
    # score = sum of 4 pixels (raw score, probabilities off); image (4, 3, 2, 1), map = image.
    # deletion, 4 steps: remove 4, then 3, ...: scores 10, 6, 3, 1, 0 at fractions 0..1;
    # trapezoid with dx 1/4: (10/2 + 6 + 3 + 1 + 0/2) / 4 = 3.75.
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        net[1].weight.fill_(1.0)
    x = torch.tensor([4.0, 3.0, 2.0, 1.0]).view(1, 1, 2, 2)
    curve = perturbation_curve(net, x, x, 0, steps=4, probabilities=False)
    assert curve.scores.tolist() == [[10.0, 6.0, 3.0, 1.0, 0.0]]
    assert float(curve.auc[0]) == 3.75
    # insertion from a zero start: 0, 4, 7, 9, 10 -> (0 + 4 + 7 + 9 + 5) / 4 = 6.25
    ins = insertion(net, x, x, 0, steps=4, baseline=0.0, probabilities=False)
    assert ins.tolist() == [6.25]


def test_randomisation_separates_weight_dependence() -> None:
    functional, _ = twins()
    x = torch.randn(4, 3, 8, 8)
    before = snapshot(functional)
    r = randomisation(functional, x, "saliency", seed=0)
    assert r.layers == ["fc2", "fc1", "conv3", "conv2", "bn1", "conv1"]
    assert r.spearman.shape == (6, 4)
    assert float(r.mean[-1]) < 0.5  # all layers random: the map has changed
    # a "method" that ignores the weights stays perfectly correlated
    edge = randomisation(functional, x, lambda m, x, t: x.abs() + 0 * m(x)[:, :1, None, None])
    torch.testing.assert_close(edge.mean, torch.ones(6))
    assert_same(before, snapshot(functional))
    with pytest.raises(ValueError, match="layer 'pool' has no parameters to randomise"):
        randomisation(functional, x, "saliency", layers=["pool"])
