"""``convlens train``: output, bad input (one line, exit 2), NaN loss, kill -9 and resume."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _record_helpers import small_npz, write_nan_model
from convlens import open_run
from convlens.cli.main import main
from convlens.record import open_log

TESTS = Path(__file__).resolve().parent


def _train(*args: str) -> int:
    return main(["train", "--no-progress", *args])


def test_train_prints_a_summary_and_writes_a_run(tmp_path, capsys) -> None:
    data = str(small_npz(tmp_path))
    out = str(tmp_path / "run")
    code = _train("--model", "_record_helpers:tiny", "--data", data, "--epochs", "2",
                  "--out", out)  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    lines = captured.out.splitlines()
    assert re.fullmatch(
        rf"trained _record_helpers:tiny on {re.escape(data)}: 2 epoch\(s\), 8 steps, "
        r"256 train / 64 val images, \d+\.\d s",
        lines[0],
    )
    with open_log(out) as log:
        vl, va = log.last("val/loss")[1], log.last("val/acc")[1]
        assert log.scalars("train/loss").step.tolist() == list(range(1, 9))
        assert log.scalars("val/acc").step.tolist() == [4, 8]
    assert lines[1:] == [
        f"val: loss {vl:.4f}  acc {va:.4f}",
        f"run: {out} (4 checkpoints)",
        f"next: convlens runs show {out}",
    ]
    run = open_run(out)
    assert [c.step for c in run.checkpoints] == [1, 2, 5, 8]
    assert run.manifest.training["lr"] == 2e-3 and run.manifest.data["val"] == [256, 320]
    val = run.dataset("val")
    with torch.no_grad():
        acc = (run.model()(val.preprocess(val.images)).argmax(1).numpy() == val.labels).mean()
    assert acc == pytest.approx(va, abs=1e-6)


def test_unknown_model(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert _train("--model", "lenett", "--data", "digits", "--out", str(out)) == 2
    assert capsys.readouterr().err == (
        "error: unknown model 'lenett': expected a zoo name or module:factory; "
        "closest zoo models: lenet, resnet8, resnet50\n"
    )
    assert not out.exists()


def test_factory_that_does_not_import(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "broken_models.py").write_text("import no_such_package_xyz\n")
    out = tmp_path / "run"
    code = _train("--model", "broken_models:make", "--data", "digits", "--out", str(out))
    assert code == 2
    assert capsys.readouterr().err == (
        "error: model factory 'broken_models:make': module 'broken_models' does not import "
        "(ModuleNotFoundError: No module named 'no_such_package_xyz'); fix the error in that "
        "code or its dependencies\n"
    )
    assert not out.exists()


def test_missing_data_path(tmp_path, capsys) -> None:
    missing = str(tmp_path / "nowhere")
    assert _train("--model", "lenet", "--data", missing, "--out", str(tmp_path / "r")) == 2
    assert capsys.readouterr().err == (
        f"error: data {missing!r} does not exist: expected 'digits' or a path to MNIST IDX "
        "files, CIFAR-10 batches, an .npz file or a folder of class folders; check the path\n"
    )


def test_existing_run_and_nothing_to_resume(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "run.json").write_text("{}")
    assert _train("--model", "lenet", "--data", "digits", "--out", str(out)) == 2
    assert capsys.readouterr().err == (
        f"error: {str(out)!r} already holds a run: expected a new or empty directory; "
        "resume it (--resume), start again (--overwrite), or choose another output\n"
    )
    empty = tmp_path / "empty"
    assert _train("--out", str(empty), "--resume") == 2
    assert capsys.readouterr().err == (
        f"error: --resume: {str(empty)!r} holds no run to resume (no run.json); drop "
        "--resume to start a new run there\n"
    )


def test_nan_loss_stops_with_one_line_and_keeps_checkpoints(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = write_nan_model(tmp_path, after=7)  # 4 steps per epoch: NaN at step 7, epoch 2
    out = tmp_path / "run"
    data = str(small_npz(tmp_path))
    code = _train("--model", spec, "--data", data, "--epochs", "3", "--out", str(out))
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == (
        "error: loss became nan at step 7 (epoch 2) with --lr 0.002: expected a finite loss; "
        f"training stopped, the 3 checkpoint(s) written so far are kept in {str(out)!r}; "
        "try a lower --lr such as 0.0002\n"
    )
    run = open_run(out)
    assert [c.step for c in run.checkpoints] == [1, 2, 5]
    for cp in run.checkpoints:
        weights = run.model(cp.name).state_dict()["fc.weight"]
        assert bool(torch.isfinite(weights).all())
    with open_log(run) as log:
        assert log.meta()["status"] == "failed" and log.last_step() == 6


@pytest.mark.slow
def test_kill_9_then_runs_show_and_resume(tmp_path, capsys) -> None:
    data = str(small_npz(tmp_path, n=640))  # 8 steps per epoch
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    cmd = [sys.executable, "-m", "convlens.cli.main", "train", "--model", "_record_helpers:tiny",
           "--data", data, "--epochs", "20", "--out", str(out)]  # fmt: skip
    errors = tmp_path / "stderr.txt"
    with open(errors, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        state = out / "state" / "train.json"
        deadline = time.monotonic() + 120
        while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert state.exists(), errors.read_text()
    assert proc.returncode == -signal.SIGKILL

    assert main(["runs", "show", str(out)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[-1] == (
        "status:      stopped early (the writer was killed); continue it with "
        f"`convlens train --out {out} --resume`"
    )
    assert shown[4].startswith("checkpoints: ")

    sys.path.insert(0, str(TESTS))
    assert _train("--out", str(out), "--resume") == 0
    capsys.readouterr()
    with open_log(out) as log:
        steps = log.scalars("train/loss").step
        np.testing.assert_array_equal(steps, np.arange(1, 161))
        assert log.scalars("epoch").value.tolist() == list(range(1, 21))
        assert log.meta()["status"] == "finished"
    assert [c.step for c in open_run(out).checkpoints] == [1, 2, 5, 10, 20, 50, 100, 160]


@pytest.mark.slow
def test_lenet_on_mnist_reaches_97_percent(tmp_path, mnist_dir, capsys) -> None:
    out = tmp_path / "lenet"
    t0 = time.perf_counter()
    assert _train("--model", "lenet", "--data", str(mnist_dir), "--epochs", "2",
                  "--out", str(out)) == 0  # fmt: skip
    seconds = time.perf_counter() - t0
    run = open_run(out)
    val = run.dataset("val")
    assert len(val) == 2000 and val.indices[0] == 8000
    with torch.no_grad():
        scores = torch.cat([run.model()(b.inputs) for b in val.batches(500)])
    acc = float((scores.argmax(1).numpy() == val.labels).mean())
    with capsys.disabled():
        print(f"\nlenet on MNIST, 2 epochs: val acc {acc:.4f} in {seconds:.1f} s")
    assert acc >= 0.97
    assert seconds < 180
