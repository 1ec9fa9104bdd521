"""``convlens runs show``: exact summary lines, live and killed runs, bad paths."""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest

from _record_helpers import TinyNet
from convlens.cli.main import main
from convlens.record import Cadence, Recorder, RunInfo


def _recorded(out, close: bool = True) -> Recorder:
    rec = Recorder(
        TinyNet(),
        out,
        input_shape=(1, 28, 28),
        normalization="none",
        info=RunInfo(classes=["a", "b"], model_spec="_record_helpers:tiny", training={"epochs": 1}),
        cadence=Cadence(snapshots=[1]),
    )
    for step, loss in ((1, 0.9), (2, 0.7), (3, 0.5)):
        rec.step(step, {"train/loss": loss, "train/acc": 0.25 * step})
    for tag, value in (("val/loss", 0.6), ("val/acc", 0.7), ("epoch", 1)):
        rec.scalar(tag, value, 3)
    if close:
        rec.close()
    return rec


def _show(path, capsys) -> list[str]:
    assert main(["runs", "show", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out.splitlines()


def test_runs_show_prints_a_summary(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    _recorded(out)
    assert _show(out, capsys) == [
        f"run:         {out}",
        "model:       _record_helpers:tiny (classify, input 1x28x28)",
        "data:        external (external, no val split)",
        "classes:     2 (a, b)",
        "checkpoints: 2 (first step-00000001, last step-00000003)",
        "last step:   3 (epoch 1 of 1 complete)",
        "train:       loss 0.5000 (step 3), acc 0.7500 (step 3)",
        "val:         loss 0.6000 (step 3), acc 0.7000 (step 3)",
        "status:      finished",
    ]


def test_runs_show_tells_a_live_run_from_a_killed_one(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    rec = _recorded(out, close=False)
    rec.flush()
    try:
        lines = _show(out, capsys)
        assert lines[4] == "checkpoints: 1 (first step-00000001, last step-00000001)"
        assert lines[-1] == f"status:      being written (pid {os.getpid()})"
    finally:
        rec.close()
    dead = subprocess.Popen(["true"])
    dead.wait()
    con = sqlite3.connect(out / "log.sqlite")
    con.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    con.execute("UPDATE meta SET value = ? WHERE key = 'pid'", (str(dead.pid),))
    con.commit()
    con.close()
    assert _show(out, capsys)[-1] == (
        "status:      stopped early (the writer was killed); continue it with "
        f"`convlens train --out {out} --resume`"
    )


def test_runs_show_without_log_and_on_a_missing_path(tmp_path, capsys) -> None:
    from convlens.rundir import Manifest

    Manifest(
        model={"spec": "lenet", "options": {}, "input_shape": [1, 28, 28], "task": "classify"},
        data={"spec": "digits", "format": "digits", "val": [1500, 1797]},
        classes=[str(i) for i in range(12)],
        normalization={"mean": [0.1], "std": [0.3]},
    ).write(tmp_path / "bare")
    lines = _show(tmp_path / "bare", capsys)
    assert lines[1:] == [
        "model:       lenet (classify, input 1x28x28)",
        "data:        digits (digits, val rows 1500-1797)",
        "classes:     12 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)",
        "checkpoints: none yet",
        "log:         none",
    ]
    missing = tmp_path / "nope"
    assert main(["runs", "show", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"error: run directory {str(missing)!r} does not exist; check the path, or create one "
        "with `convlens train`\n"
    )


@pytest.mark.parametrize("argv", [["runs"], ["runs", "show"]])
def test_runs_usage_errors_are_one_line(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: convlens runs")
