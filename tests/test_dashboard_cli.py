"""``convlens dashboard``: exact printed lines and exit codes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from _dashboard_helpers import record_run
from convlens.cli.main import main
from convlens.explorer.dashboard import DashboardServer


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashboard-cli") / "tiny"
    record_run(path, lr=0.05, steps=12)
    return path


def test_serves_the_runs_on_loopback_and_prints_the_url(run, capsys, monkeypatch):
    seen = {}

    def wait(self: DashboardServer) -> None:  # instead of blocking until Ctrl-C
        seen["runs"] = httpx.get(self.url.replace("/dashboard/", "/api/dashboard/runs")).json()
        seen["page"] = httpx.get(self.url).status_code

    monkeypatch.setattr(DashboardServer, "wait", wait)
    assert main(["dashboard", str(run), "--no-browser"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"convlens dashboard: http://127\.0\.0\.1:\d+/dashboard/ \(Ctrl-C to stop\)\n", out
    )
    labels = [r["label"] for r in seen["runs"]["runs"]]
    assert labels == ["tiny"] and seen["page"] == 200


def test_two_runs_with_one_name_get_their_folder_in_the_label(tmp_path, run, monkeypatch):
    for parent in ("a", "b"):
        shutil.copytree(run, tmp_path / parent / "tiny")
    seen = {}

    def wait(self: DashboardServer) -> None:
        seen.update(httpx.get(self.url.replace("/dashboard/", "/api/dashboard/runs")).json())

    monkeypatch.setattr(DashboardServer, "wait", wait)
    assert (
        main(["dashboard", str(tmp_path / "a/tiny"), str(tmp_path / "b/tiny"), "--no-browser"]) == 0
    )
    assert [r["label"] for r in seen["runs"]] == ["a/tiny", "b/tiny"]


def test_a_missing_run_is_one_error_line(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path / "nope"), "--no-browser"]) == 2
    assert capsys.readouterr().err == (
        f"error: run directory {str(tmp_path / 'nope')!r} does not exist; check the path, or "
        "create one with `convlens train`\n"
    )


def test_a_run_without_a_log_is_one_error_line(tmp_path, run, capsys):
    copy = tmp_path / "nolog"
    shutil.copytree(run, copy)
    for name in ("log.sqlite", "log.sqlite-wal", "log.sqlite-shm"):
        (copy / name).unlink(missing_ok=True)
    assert main(["dashboard", str(copy), "--no-browser"]) == 2
    assert capsys.readouterr().err == (
        f"error: {str(copy)!r} has no training log (log.sqlite): expected a run written by "
        "`convlens train` or convlens.record.Recorder\n"
    )


def test_a_port_out_of_range_is_one_error_line(run, capsys):
    assert main(["dashboard", str(run), "--no-browser", "--port", "70000"]) == 2
    assert capsys.readouterr().err == (
        "error: port 70000 is out of range: expected 0..65535 (0 = any free port)\n"
    )
