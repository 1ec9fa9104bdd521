"""Histogram summaries against numpy and brute force, stored and read back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from _record_helpers import TinyNet
from convlens.record import PERCENTILES, Cadence, Recorder, open_log, summarize
from convlens.zoo import create


def _brute_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin counts by direct comparison: [e_i, e_i+1), the last bin closed."""
    x = x.astype(np.float64)
    out = []
    for i in range(len(edges) - 1):
        upper = x <= edges[i + 1] if i == len(edges) - 2 else x < edges[i + 1]
        out.append(int(np.count_nonzero((x >= edges[i]) & upper)))
    return np.array(out)


def test_summary_matches_numpy_on_lenet_weights() -> None:
    model = create("lenet")
    for name, p in model.named_parameters():
        x = p.detach().numpy().reshape(-1)
        s = summarize(p)
        np.testing.assert_allclose(
            s.percentiles, np.percentile(x.astype(np.float64), PERCENTILES), rtol=1e-6, atol=0
        )
        assert s.min == float(x.min()) and s.max == float(x.max()), name
        assert s.mean == pytest.approx(float(x.astype(np.float64).mean()), rel=1e-12)
        assert s.std == pytest.approx(float(x.astype(np.float64).std()), rel=1e-9)
        assert s.count == x.size and s.nonfinite == 0
        span = float(x.max()) - float(x.min())
        expected_edges = np.linspace(float(x.min()), float(x.max()), 65)
        np.testing.assert_allclose(s.edges, expected_edges, rtol=0, atol=1e-6 * span)
        assert s.edges[0] == s.min and s.edges[-1] == s.max
        np.testing.assert_array_equal(s.counts, _brute_counts(x, s.edges))


def test_summary_leaves_out_nonfinite_and_handles_constants() -> None:
    s = summarize(torch.tensor([1.0, float("nan"), 3.0, float("inf"), 2.0]))
    assert (s.count, s.nonfinite, s.min, s.max, s.mean) == (3, 2, 1.0, 3.0, 2.0)
    assert s.std == pytest.approx(np.sqrt(2 / 3))
    np.testing.assert_allclose(s.percentiles[[0, 4, 8]], [1.0, 2.0, 3.0])
    c = summarize(torch.full((7,), 0.25), bins=4)
    np.testing.assert_array_equal(c.edges, [-0.25, 0.0, 0.25, 0.5, 0.75])  # value +- 0.5
    assert c.counts.tolist() == [0, 0, 7, 0] and c.std == 0.0
    e = summarize(torch.tensor([float("nan")]))
    assert e.count == 0 and e.nonfinite == 1 and np.isnan(e.mean)


def test_logged_histograms_equal_checkpoint_weights(tmp_path) -> None:
    """The weight summary logged at step 4 describes the checkpoint of step 4."""
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(16, 1, 28, 28)
    y = torch.arange(16) % 10
    rec = Recorder(
        model,
        tmp_path / "run",
        input_shape=(1, 28, 28),
        normalization="none",
        cadence=Cadence(hist_every=2, snapshots=[4]),
    )
    grads = {}
    for step in range(1, 5):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec.step(step, loss=loss)
        grads[step] = model.conv.weight.grad.detach().numpy().copy()
    rec.close()
    weights = load_file(str(tmp_path / "run" / "checkpoints" / "step-00000004.safetensors"))
    with open_log(tmp_path / "run") as log:
        assert log.params() == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
        h = log.histograms("conv", "weight")
        assert h.step.tolist() == [1, 2, 4]
        w = weights["conv.weight"].reshape(-1).astype(np.float64)
        np.testing.assert_allclose(h.percentiles[-1], np.percentile(w, PERCENTILES), rtol=1e-6)
        np.testing.assert_allclose(h.levels, PERCENTILES)
        assert h.mean[-1] == pytest.approx(w.mean(), rel=1e-9)
        np.testing.assert_array_equal(h.counts[-1], _brute_counts(w, h.edges[-1]))
        g = log.histograms("conv.weight", "grad")
        gx = grads[2].reshape(-1).astype(np.float64)
        np.testing.assert_allclose(g.percentiles[1], np.percentile(gx, PERCENTILES), rtol=1e-6)
        assert g.std[1] == pytest.approx(gx.std(), rel=1e-6)
        assert int(g.counts[1].sum()) == gx.size
