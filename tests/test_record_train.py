"""The built-in trainer: resume equals an uninterrupted run, siamese metrics, splits."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from _record_helpers import small_npz, write_crashy_model
from convlens import open_run
from convlens.errors import DataError
from convlens.record import (
    TrainConfig,
    contrastive_loss,
    open_log,
    resume_config,
    train,
    val_rows,
)


@pytest.mark.slow
def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_crashy_model(tmp_path)
    data = str(small_npz(tmp_path))
    cfg = TrainConfig(spec, data, epochs=3, batch_size=64, hist_every=3)
    whole = train(cfg, tmp_path / "whole", progress=False)
    assert whole.steps == 12 and whole.train_size == 256 and whole.val_size == 64

    crashy = importlib.import_module("crashy")
    monkeypatch.setattr(crashy, "CRASH_AT", 7)  # in epoch 2 (4 steps per epoch)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=False)
    with open_log(tmp_path / "cut") as log:
        assert log.meta()["status"] == "stopped" and log.last_step() == 6
    monkeypatch.setattr(crashy, "CRASH_AT", None)
    resumed = train(resume_config(tmp_path / "cut"), tmp_path / "cut", resume=True, progress=False)
    assert resumed.steps == 12

    a, b = open_run(tmp_path / "whole"), open_run(tmp_path / "cut")
    assert [c.step for c in b.checkpoints] == [c.step for c in a.checkpoints] == [1, 2, 5, 10, 12]
    for k, v in a.model().state_dict().items():
        torch.testing.assert_close(b.model().state_dict()[k], v, rtol=0, atol=0)
    with open_log(a) as la, open_log(b) as lb:
        for tag in ("train/loss", "train/acc", "val/loss", "val/acc", "epoch"):
            sa, sb = la.scalars(tag), lb.scalars(tag)
            np.testing.assert_array_equal(sb.step, sa.step)
            np.testing.assert_array_equal(sb.value, sa.value)
        assert lb.histograms("conv", "grad").step.tolist() == [1, 3, 6, 9, 12]
        assert lb.meta()["status"] == "finished"


def _centroid_accuracy_np(train_emb, train_y, emb, y) -> float:
    """Brute force: distance to every class mean, loop over images."""
    classes = sorted(set(train_y.tolist()))
    cents = {c: train_emb[train_y == c].astype(np.float64).mean(0) for c in classes}
    correct = 0
    for e, label in zip(emb.astype(np.float64), y, strict=True):
        best = min(classes, key=lambda c: float(((e - cents[c]) ** 2).sum()))
        correct += best == label
    return correct / len(y)


def test_siamese_logs_contrastive_loss_and_centroid_accuracy(tmp_path) -> None:
    data = str(small_npz(tmp_path))
    result = train(TrainConfig("siamese", data, epochs=1), tmp_path / "s", progress=False)
    run = result.run
    assert run.task == "embed" and run.manifest.training["margin"] == 1.0
    model = run.model()
    with torch.no_grad():
        tr, va = run.dataset("train"), run.dataset("val")
        te = model(tr.preprocess(tr.images)).numpy()
        ve = model(va.preprocess(va.images)).numpy()
    expected = _centroid_accuracy_np(te, tr.labels, ve, va.labels)
    with open_log(run) as log:
        assert log.last("val/acc")[1] == pytest.approx(expected, abs=1e-6)
        assert log.last("train/acc")[1] == pytest.approx(
            _centroid_accuracy_np(te, tr.labels, te, tr.labels), abs=1e-6
        )
        assert log.scalars("train/loss").step.tolist() == [1, 2, 3, 4]


def test_contrastive_loss_against_a_float64_loop() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(12, 2, generator=g), torch.randn(12, 2, generator=g) * 0.4
    same = (torch.arange(12) % 3 == 0).float()
    total = 0.0
    for i in range(12):
        d = float(np.linalg.norm(a[i].double().numpy() - b[i].double().numpy()))
        total += d * d if same[i] else max(1.0 - d, 0.0) ** 2
    assert contrastive_loss(a, b, same).item() == pytest.approx(total / 24, rel=1e-5)


def test_validation_rows() -> None:
    assert val_rows("mnist", 10000, None) == (8000, 10000)
    assert val_rows("mnist", 6000, None) == (4800, 6000)
    assert val_rows("digits", 1797, 0.1) == (1617, 1797)
    assert val_rows("npz", 50, 0) is None
    with pytest.raises(DataError) as err:
        val_rows("npz", 50, 50)
    assert str(err.value) == (
        "--val-split 50 leaves no training images out of 50: expected fewer validation "
        "images than the dataset holds; lower it"
    )
    with pytest.raises(DataError, match="expected a fraction in"):
        val_rows("npz", 50, 2.5)
