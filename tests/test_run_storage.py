"""Runs on unusual storage: non-UTF-8 paths, read-only mounts, leftovers of a kill."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from _byo_helpers import tree_hash
from _record_helpers import TinyNet
from convlens import open_run
from convlens.cli.main import main
from convlens.record import Cadence, Recorder, RunInfo, open_log


def _recorded(path: Path, steps: int = 6) -> Path:
    """A small finished run made by the Recorder (log, two checkpoints)."""
    torch.manual_seed(0)
    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    rec = Recorder(model, path, input_shape=(1, 28, 28), data="digits", normalization="none",
                   cadence=Cadence(2, [3, steps]),
                   info=RunInfo(model_spec="_record_helpers:tiny"))  # fmt: skip
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        rec.step(step, loss=loss)
    rec.close()
    return path


def _convlens(*argv: str | Path) -> subprocess.CompletedProcess:
    """convlens in a fresh process; output as bytes (a path may not be UTF-8)."""
    return subprocess.run(
        [sys.executable, "-m", "convlens", *map(os.fsencode, argv)], capture_output=True,
        timeout=300,
    )  # fmt: skip


def test_run_at_a_non_utf8_path_opens(tmp_path) -> None:
    raw = bytes(tmp_path) + b"/run-\xff\xfe"
    path = Path(os.fsdecode(raw))
    _recorded(path)
    shown = _convlens("runs", "show", path)
    assert shown.returncode == 0 and shown.stderr == b"", shown.stderr
    assert b"run:         " + raw in shown.stdout  # the path's own bytes
    assert b"status:      finished" in shown.stdout
    assert _convlens("layers", path).returncode == 0
    probed = _convlens("probe", path, "--limit", "40", "--batch-size", "20")
    assert probed.returncode == 0, probed.stderr
    assert isinstance(open_run(path).model(), TinyNet)
    assert open_run(path).probe().outputs.shape == (40, 10)
    with open_log(path) as log:
        assert log.last_step() == 6


def test_readers_write_nothing_into_a_run(tmp_path, capsys) -> None:
    run = _recorded(tmp_path / "run")
    assert not (run / "log.sqlite-wal").exists()
    before = sorted(p.name for p in run.iterdir()), tree_hash(run)
    assert main(["runs", "show", str(run)]) == 0
    from convlens.explorer.dashboard.sources import RunSource

    source = RunSource(open_run(run))
    assert source.scalars("loss")[0].tolist() == [1, 2, 3, 4, 5, 6]
    source.close()
    assert (sorted(p.name for p in run.iterdir()), tree_hash(run)) == before


def test_orphan_temporary_files_go_on_resume(tmp_path) -> None:
    run = _recorded(tmp_path / "run")
    orphans = [
        run / "checkpoints" / ".step-00000009.safetensors.abc123.tmp",
        run / ".run.json.x.tmp",
    ]
    for p in orphans:
        p.write_bytes(b"half")
    keep = run / "checkpoints" / "notes.txt"
    keep.write_text("mine")
    Recorder(TinyNet(), run, resume=True).close()
    assert not any(p.exists() for p in orphans)
    assert keep.read_text() == "mine"


def _read_only_mount(source: Path, target: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """``argv`` (a convlens command) with ``source`` bind-mounted read-only at ``target``,
    in a user and mount namespace of its own (no root needed)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a read-only bind mount")
    script = (
        f"mount --bind {source} {target} && mount -o remount,bind,ro {target} && "
        f"touch {target}/probe-write 2>/dev/null && echo WRITABLE; "
        + " ".join([sys.executable, "-m", "convlens", *argv])
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    if "mount" in proc.stderr and proc.returncode != 0 and "convlens" not in proc.stderr:
        pytest.skip(f"a read-only bind mount is not allowed here: {proc.stderr.strip()}")
    assert "WRITABLE" not in proc.stdout
    return proc


@pytest.mark.slow
def test_run_on_a_read_only_mount_opens(tmp_path) -> None:
    run = _recorded(tmp_path / "run")
    before = tree_hash(run)
    target = tmp_path / "mounted"
    target.mkdir()
    shown = _read_only_mount(run, target, ["runs", "show", str(target)])
    assert shown.returncode == 0, shown.stderr
    assert "status:      finished" in shown.stdout and shown.stderr == ""
    layers = _read_only_mount(run, target, ["layers", str(target)])
    assert layers.returncode == 0, layers.stderr
    assert tree_hash(run) == before


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--batch-size", "0"], "--batch-size 0 is out of range: expected a whole number >= 1"),
        (["--batch-size", "-1"], "--batch-size -1 is out of range"),
        (["--epochs", "0"], "--epochs 0 is out of range"),
        (["--epochs", "-3"], "--epochs -3 is out of range"),
        (["--lr", "nan"], "--lr nan is out of range: expected a finite number > 0"),
        (["--lr", "-1"], "--lr -1.0 is out of range"),
        (["--lr", "inf"], "--lr inf is out of range"),
        (["--hist-every", "-2"], "--hist-every -2 is out of range"),
        (["--seed", "-1"], "--seed -1 is out of range"),
    ],
)
def test_train_numbers_out_of_range(tmp_path, capsys, flag, message) -> None:
    out = tmp_path / "run"
    assert main(["train", "--model", "lenet", "--data", "digits", "--out", str(out), *flag]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {message}"), err
    assert not out.exists()
