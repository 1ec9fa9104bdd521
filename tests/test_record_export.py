"""``convlens export tensorboard``: event files read back with TensorBoard's own reader
(scalars, histograms, weight heatmaps, the run's figures), and one line for a folder that
cannot take them."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from _record_helpers import TinyNet
from convlens.cli.main import main
from convlens.record import Cadence, Recorder, open_log


def _run(out) -> None:
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    with Recorder(
        model, out, input_shape=(1, 28, 28), normalization="none", cadence=Cadence(2, None)
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
        f"wrote 10 scalar values of 2 tags, 24 histograms, 0 weight heatmaps and 0 figures to {tb}",
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


def _accumulator(tb):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb), size_guidance={"images": 0, "tensors": 0, "scalars": 0})
    acc.Reload()
    return acc


def _hand_run(path) -> None:
    """A 2 x 2 linear layer with hand-set weights, snapshotted at steps 1 and 2."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
    weights = {1: [[2.0, -2.0], [1.0, 0.0]], 2: [[1.0, -1.0], [0.0, 0.0]]}
    with Recorder(
        model, path, input_shape=(2,), normalization="none", cadence=Cadence(1, [1, 2])
    ) as rec:
        for step, w in weights.items():
            with torch.no_grad():
                model[0].weight.copy_(torch.tensor(w))
            rec.step(step, {"loss": 1.0 / step})


def _cells(png: bytes) -> np.ndarray:
    """The 2 x 2 cell colours of a heatmap figure (the picture sits at the top left)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    size = int(np.argmax(np.any(rgb[0] != rgb[0, 0], axis=-1)))  # first colour change
    assert size > 4
    return np.array([[rgb[r * size + size // 2, c * size + size // 2] for c in (0, 1)]
                     for r in (0, 1)])  # fmt: skip


RED, BLUE, WHITE = (103, 0, 31), (5, 48, 97), (247, 247, 247)  # the diverging map's ends


def test_export_weight_heatmaps_and_figures_read_back(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    _hand_run(run)
    grey = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    rgba = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    (run / "figures").mkdir()
    Image.fromarray(rgba).save(run / "figures" / "attr.png")
    (run / "figures" / "attr.json").write_text(json.dumps({"method": "saliency", "target": 3}))
    (run / "report").mkdir()
    Image.fromarray(grey).save(run / "report" / "accuracy.png")
    tb = tmp_path / "tb"
    assert main(["export", "tensorboard", str(run), str(tb)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"wrote 2 scalar values of 1 tags, 2 histograms, 2 weight heatmaps and 2 figures to {tb}"
    )
    acc = _accumulator(tb)
    assert sorted(acc.Tags()["images"]) == [
        "figures/figures/attr",
        "figures/report/accuracy",
        "weight_heatmaps/0.weight",
    ]
    heat = acc.Images("weight_heatmaps/0.weight")
    assert [e.step for e in heat] == [1, 2]
    first, second = (_cells(e.encoded_image_string) for e in heat)
    # step 1: +2 full red, -2 full blue, 0 white; +1 half-way
    assert first[0, 0].tolist() == list(RED) and first[0, 1].tolist() == list(BLUE)
    assert first[1, 1].tolist() == list(WHITE)
    # step 2 on the same scale (|w| = 2): +1 has step 1's colour of +1, not full red
    assert second[0, 0].tolist() == first[1, 0].tolist() != list(RED)
    assert second[1, 0].tolist() == second[1, 1].tolist() == list(WHITE)

    figures = {tag: acc.Images(tag) for tag in ("figures/figures/attr", "figures/report/accuracy")}
    for tag, original in (("figures/figures/attr", rgba), ("figures/report/accuracy", grey)):
        (event,) = figures[tag]
        assert event.step == 2  # the last checkpoint's
        got = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
        want = original if original.ndim == 3 else np.repeat(original[..., None], 3, -1)
        np.testing.assert_array_equal(got, want)
    path = run / "figures" / "attr.png"
    assert figures["figures/figures/attr"][0].wall_time == pytest.approx(path.stat().st_mtime)
    (text,) = acc.Tensors("figures/figures/attr/text_summary")
    assert json.loads(text.tensor_proto.string_val[0].decode()) == {
        "method": "saliency",
        "target": 3,
    }


def _export_error(args, capsys) -> str:
    assert main(["export", "tensorboard", *map(str, args)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_export_to_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys) -> None:
    _run(tmp_path / "run")
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    for target, reason in ((blocker, "File exists"), (blocker / "tb", "Not a directory")):
        assert _export_error([tmp_path / "run", target], capsys) == (
            f"error: cannot write TensorBoard event files to {str(target)!r} ({reason}): "
            "expected a folder you can write to (it is created if missing); give another DIR\n"
        )
    assert blocker.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_export_to_a_read_only_folder_is_one_line(tmp_path, capsys) -> None:
    _run(tmp_path / "run")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        err = _export_error([tmp_path / "run", locked], capsys)
    finally:
        locked.chmod(0o700)
    assert err.startswith(f"error: cannot write TensorBoard event files to {str(locked)!r} (")
    assert err.count("\n") == 1


def test_export_into_a_folder_of_earlier_events_is_one_line(tmp_path, capsys) -> None:
    _run(tmp_path / "run")
    tb = tmp_path / "tb"
    assert main(["export", "tensorboard", str(tmp_path / "run"), str(tb)]) == 0
    capsys.readouterr()
    (old,) = (p.name for p in tb.iterdir())
    assert _export_error([tmp_path / "run", tb], capsys) == (
        f"error: {str(tb)!r} already holds TensorBoard event files ({old}, ...), which "
        "TensorBoard would show twice: expected an empty or new folder; give another DIR "
        "or delete them\n"
    )
    assert [p.name for p in tb.iterdir()] == [old]
