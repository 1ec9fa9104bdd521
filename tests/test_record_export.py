"""``convlens export tensorboard``: event files read back with TensorBoard's own reader."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from _record_helpers import TinyNet
from convlens.cli.main import main
from convlens.record import Recorder, open_log


def _run(out) -> None:
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    with Recorder(
        model, out, input_shape=(1, 28, 28), normalization="none", hist_every=2, snapshots=None
    ) as rec:
        for step in range(1, 6):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(step, {"train/loss": loss, "lr": 0.1 / step})


def test_export_tensorboard_round_trip(tmp_path, capsys) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _run(tmp_path / "run")
    tb = tmp_path / "tb"
    assert main(["export", "tensorboard", str(tmp_path / "run"), str(tb)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote 10 scalar values of 2 tags and 24 histograms to {tb}",
        f"view: tensorboard --logdir {tb}",
    ]
    acc = EventAccumulator(str(tb), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    with open_log(tmp_path / "run") as log:
        assert sorted(acc.Tags()["scalars"]) == log.tags() == ["lr", "train/loss"]
        for tag in log.tags():
            s = log.scalars(tag)
            events = acc.Scalars(tag)
            assert [e.step for e in events] == s.step.tolist()
            np.testing.assert_allclose([e.value for e in events], s.value, rtol=1e-6)
            np.testing.assert_allclose([e.wall_time for e in events], s.wall, rtol=1e-9)
        for kind, prefix in (("weight", "weights"), ("grad", "grads")):
            h = log.histograms("fc.weight", kind)
            events = acc.Histograms(f"{prefix}/fc.weight")
            assert [e.step for e in events] == h.step.tolist() == [1, 2, 4]
            for t, e in enumerate(events):
                v = e.histogram_value
                assert (v.min, v.max, v.num) == pytest.approx((h.min[t], h.max[t], h.count[t]))
                assert v.sum == pytest.approx(h.mean[t] * h.count[t], rel=1e-6, abs=1e-9)
                assert v.sum_squares / v.num - (v.sum / v.num) ** 2 == pytest.approx(
                    h.std[t] ** 2, rel=1e-5
                )
                np.testing.assert_allclose(v.bucket_limit, h.edges[t][1:], rtol=1e-12)
                np.testing.assert_array_equal(v.bucket, h.counts[t])


def test_export_without_tensorboard_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    _run(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    assert main(["export", "tensorboard", str(tmp_path / "run"), str(tmp_path / "tb")]) == 2
    assert capsys.readouterr().err == (
        "error: exporting to TensorBoard needs the tensorboard package, which is not "
        "installed; install it with `pip install 'convlens[tensorboard]'`\n"
    )
