"""The bad-input suite's wiring and size: a few cases as real ``convlens`` processes (the
entry point, a full disk, a read-only file system, a file size limit), and the table's
count. The per-case checks live in tests/_bad_input.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import _bad_input as B
import test_bad_input_api
import test_bad_input_cli
import test_bad_input_server

PROCESS_CASES = {
    "proc-missing-run": ["layers", "{root}/nope"],
    "proc-batch-size": ["train", "--model", "lenet", "--data", "digits", "--batch-size", "-1",
                        "--out", "{new}"],
    "proc-chunk-deleted": ["neighbors", "{run}", "--index", "0", "--layer", "relu1"],
    "proc-file-too-large": ["train", "--model", "lenet", "--data", "digits", "--epochs", "1",
                            "--out", "{new}", "--quiet"],
    "proc-disk-full": ["train", "--model", "lenet", "--data", "digits", "--epochs", "1", "--out",
                       "{mnt}/run", "--quiet"],
    "proc-read-only": ["probe", "{mnt}/run", "--limit", "20", "--quiet"],
    "proc-probe-disk-full": ["probe", "{mnt}/run", "--out", "{mnt}/probe", "--quiet"],
    "proc-probe-file-too-large": ["probe", "{run}", "--out", "{cwd}/probe", "--quiet"],
}  # fmt: skip
B.register("process", list(PROCESS_CASES))

_CONVLENS = [sys.executable, "-m", "convlens.cli.main"]
_FSIZE = (
    "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, "
    "resource.RLIM_INFINITY)); sys.argv = ['convlens', *sys.argv[1:]]; "
    "runpy.run_module('convlens.cli.main', run_name='__main__')"
)


_MOUNTED = ("proc-disk-full", "proc-read-only", "proc-probe-disk-full")


def _command(case: str, argv: list[str], w: B.World) -> list[str]:
    if case in ("proc-file-too-large", "proc-probe-file-too-large"):
        return [sys.executable, "-c", _FSIZE, *argv]
    if case in _MOUNTED:
        mnt = w.extra["mnt"]
        # the probe's disk: the run's size and 256 KiB to spare, less than its store needs
        size = {"proc-disk-full": "64k", "proc-read-only": "64m"}.get(
            case, f"$(( $(du -sk {w.run} | cut -f1) + 256 ))k"
        )
        copy = case != "proc-disk-full"
        then = ["cp", "-a", str(w.run), f"{mnt}/run"] if copy else ["true"]
        ro = f"mount -o remount,ro {mnt} && " if case == "proc-read-only" else ""
        script = (
            f"mount -t tmpfs -o size={size} tmpfs {mnt} && {' '.join(then)} && {ro}"
            f"exec {' '.join(_CONVLENS)} {' '.join(argv)}"
        )
        return ["unshare", "-m", "sh", "-c", script]
    return [*_CONVLENS, *argv]


def _can_mount() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PROCESS_CASES))
def test_process_bad_input(tmp_path: Path, bad_input_source: Path, case: str) -> None:
    w = B.make_world(tmp_path, bad_input_source)
    if case in _MOUNTED:
        if not _can_mount():
            pytest.skip("needs `unshare -m` and tmpfs mounts (root in a private mount namespace)")
        (tmp_path / "mnt").mkdir()
        w.extra["mnt"] = str(tmp_path / "mnt")
    if case == "proc-chunk-deleted":
        B.remove("run/probe/*/embeddings/relu1/activation/c*")(w)
    argv = [w.fill(a) for a in PROCESS_CASES[case]]
    before = B.tree_hashes(w.root)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        _command(case, argv, w), capture_output=True, text=True, cwd=w.cwd, env=env, timeout=300
    )
    problems = B.stderr_problems(done.stderr)
    half = B.opens_or_absent(Path(w.fill("{new}")))
    # a probe stopped by the disk leaves its store to resume from, and only that
    store = "cwd/probe/" if case == "proc-probe-file-too-large" else None
    changes = B.check_untouched(
        before,
        B.tree_hashes(w.root),
        lambda rel: (rel.startswith("new-run/") and not half)
        or (store is not None and rel.startswith(store)),
    )
    if store is not None:
        assert "cwd/probe" in done.stderr.replace(os.sep, "/"), done.stderr  # names the store
        _assert_resumable(Path(w.fill("{cwd}")) / "probe", w.run)
    B.TALLY["cases"] += 1
    B.log_line(case, done.returncode, done.stderr)
    B.count([p for p in problems if "traceback" in p], "tracebacks")
    B.count(["accepted"] if done.returncode == 0 else [], "silent accepts")
    B.count(changes + ([half] if half else []), "corruptions")
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert not problems, (problems, done.stderr)
    assert not changes, changes
    assert half is None, half


def _assert_resumable(root: Path, run: Path) -> None:
    """The store a write failure left is read as unfinished, and a second probe with the
    same options, with no limit, finishes it."""
    from convlens.errors import RunError
    from convlens.rundir import ProbeResult

    (store,) = [p for p in root.iterdir() if p.is_dir()]
    with pytest.raises(RunError, match="incomplete"):
        ProbeResult(store)
    done = subprocess.run(
        [*_CONVLENS, "probe", str(run), "--out", str(root), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert ProbeResult(store).manifest["finished"]


def test_the_table_holds_at_least_150_cases() -> None:
    tables = {k: len(v) for k, v in B.TABLES.items()}
    assert sum(tables.values()) >= 150, tables
    assert {"cli", "api", "server", "process"} <= set(tables)
    assert len(test_bad_input_cli.CASES) + len(test_bad_input_api.CALLS) >= 150
    assert test_bad_input_server.REQUESTS
    categories = {c.category for c in test_bad_input_cli.CASES}
    for needed in ("wrong path", "corrupt file", "wrong shape", "unknown layer", "nan",
                   "empty dataset", "huge image", "probe store", "run.json", "output path",
                   "numeric", "factory", "labels"):  # fmt: skip
        assert needed in categories, needed
