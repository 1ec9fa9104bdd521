"""The bad-input suite's shared parts: the world a case runs in, its checks and the tally.

Each case gets a fresh folder (the *world*) holding a copy of a small trained and
probed run (``run/``), a few good input files and an empty working directory
(``cwd/``), damages it as the case says, runs one bad command or call, and then
checks, whatever the outcome:

- the exit code (2 for the CLI) or the ConvlensError subclass (the API);
- exactly one ``error:`` line on stderr and no traceback;
- every file of the world that existed before is still there with the same SHA-256;
- an output run directory left behind opens with ``open_run`` (or does not exist);
- no marker file: no code named by a hostile file ran.

The tally counts what each case saw; ``pytest_terminal_summary`` in conftest.py
prints it, and ``test_bad_input_tally.py`` checks the table holds >= 150 cases.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import shutil
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: what the whole suite saw; printed at the end of the session
TALLY: dict[str, int] = {
    "cases": 0,
    "tracebacks": 0,
    "silent accepts": 0,
    "corruptions": 0,
    "markers": 0,
}
#: every case id of every table, by kind (filled as the test modules are imported)
TABLES: dict[str, list[str]] = {}


def register(kind: str, ids: list[str]) -> None:
    """Record a table of cases; ids must be distinct across the whole suite."""
    TABLES.setdefault(kind, [])
    seen = {i for ids_ in TABLES.values() for i in ids_}
    repeated = sorted(set(ids) & seen) + sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"case ids repeated: {repeated}"
    TABLES[kind].extend(ids)


def summary_line() -> str:
    t = TALLY
    return (
        f"bad-input suite: {t['cases']} cases, {t['tracebacks']} tracebacks, "
        f"{t['silent accepts']} silent accepts, {t['corruptions']} corruptions, "
        f"{t['markers']} markers"
    )


# ------------------------------------------------------------------------- the world
@dataclass
class World:
    """One case's folder: ``run`` (a probed run), good files, ``cwd`` (empty)."""

    root: Path
    run: Path
    cwd: Path
    probe: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def marker(self) -> Path:
        return self.root / "MARKER"

    def names(self) -> dict[str, str]:
        """What ``{name}`` in a case's arguments stands for."""
        return {
            "root": str(self.root),
            "run": str(self.run),
            "probe": str(self.probe),
            "cwd": str(self.cwd),
            "new": str(self.root / "new-run"),
            "marker": str(self.marker),
            "step": self.probe.name,
            **self.extra,
        }

    def fill(self, text: str) -> str:
        return text.format(**self.names())

    def path(self, rel: str) -> Path:
        return self.root / self.fill(rel)


def make_world(root: Path, source: Path) -> World:
    """A fresh world in ``root`` from the pristine probed run ``source``."""
    run = root / "run"
    shutil.copytree(source, run)
    cwd = root / "cwd"
    cwd.mkdir()
    (root / "file.txt").write_text("not a run\n")
    (root / "empty").mkdir()
    grey = (np.arange(28 * 28) % 256).astype(np.uint8).reshape(28, 28)
    save_image(root / "img.png", grey)
    save_image(root / "rgb.png", np.stack([grey] * 3, -1))
    x = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    np.savez(root / "data.npz", x=x, y=np.arange(20) % 10)
    probe = next((run / "probe").iterdir())
    return World(root, run, cwd, probe)


def save_image(path: Path, array: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


# --------------------------------------------------------------------- damage helpers
def one(w: World, pattern: str) -> Path:
    """The first path (sorted) matching ``pattern`` (relative to the world, templated)."""
    found = sorted(glob.glob(str(w.root / w.fill(pattern))))
    assert found, f"no file matches {pattern!r}"
    return Path(found[0])


def write(rel: str, data: bytes | str) -> Callable[[World], None]:
    def setup(w: World) -> None:
        p = w.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        p.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def truncate(pattern: str, keep: int | float = 0.5) -> Callable[[World], None]:
    """Cut the first file matching ``pattern`` to ``keep`` bytes (or that fraction)."""

    def setup(w: World) -> None:
        p = one(w, pattern)
        size = p.stat().st_size
        n = int(size * keep) if isinstance(keep, float) else keep
        with open(p, "r+b") as f:
            f.truncate(n)

    return setup


def append(pattern: str, data: bytes) -> Callable[[World], None]:
    def setup(w: World) -> None:
        with one(w, pattern).open("ab") as f:
            f.write(data)

    return setup


def remove(pattern: str) -> Callable[[World], None]:
    def setup(w: World) -> None:
        p = one(w, pattern)
        shutil.rmtree(p) if p.is_dir() else p.unlink()

    return setup


def edit_json(rel: str, change: Callable[[Any], Any]) -> Callable[[World], None]:
    """Replace the JSON in ``rel`` by ``change(json)`` (which may edit it in place)."""

    def setup(w: World) -> None:
        p = one(w, rel)
        data = json.loads(p.read_text())
        new = change(data)
        p.write_text(json.dumps(data if new is None else new))

    return setup


def make_dir(rel: str) -> Callable[[World], None]:
    def setup(w: World) -> None:
        p = w.path(rel)
        if p.is_file():
            p.unlink()
        p.mkdir(parents=True, exist_ok=True)

    return setup


def npz(rel: str, **arrays: Any) -> Callable[[World], None]:
    def setup(w: World) -> None:
        np.savez(w.path(rel), **arrays)

    return setup


def image(rel: str, array: np.ndarray) -> Callable[[World], None]:
    def setup(w: World) -> None:
        p = w.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        save_image(p, array)

    return setup


def python_file(rel: str, source: str) -> Callable[[World], None]:
    """A Python module in the world (its folder is put on sys.path by the case)."""

    def setup(w: World) -> None:
        p = w.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(w.fill(source))

    return setup


def both(*steps: Callable[[World], None]) -> Callable[[World], None]:
    def setup(w: World) -> None:
        for step in steps:
            step(w)

    return setup


# ------------------------------------------------------------------------------ checks
def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file below ``root``, by relative path (symlinks by their target)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            try:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError as exc:
                out[rel] = f"unreadable: {exc}"
    return out


def check_untouched(
    before: dict[str, str], after: dict[str, str], allowed_new: Callable[[str], bool]
) -> list[str]:
    """Problems: files changed or gone, and new files that are not allowed."""
    problems = [f"changed: {k}" for k, v in before.items() if after.get(k, v) != v]
    problems += [f"removed: {k}" for k in before if k not in after]
    problems += [f"new file: {k}" for k in after if k not in before and not allowed_new(k)]
    return problems


def opens_or_absent(path: Path) -> str | None:
    """None when ``path`` does not exist or opens as a run; else the reason."""
    if not path.exists():
        return None
    from convlens.rundir import open_run

    try:
        run = open_run(path)
        run.manifest  # noqa: B018 - reading it is the check
    except Exception as exc:  # any failure is a half-written run
        return f"{path} exists but does not open: {type(exc).__name__}: {exc}"
    return None


@dataclass
class Outcome:
    """What one CLI invocation did."""

    code: int | None
    out: str
    err: str
    escaped: str | None  # the traceback of an exception that escaped main()


def run_main(argv: list[str]) -> Outcome:
    """``convlens.cli.main.main(argv)`` in this process, its stdout/stderr captured."""
    from convlens.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    escaped = None
    code: int | None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            escaped = traceback.format_exc()
            code = None
    return Outcome(code, out.getvalue(), err.getvalue(), escaped)


def stderr_problems(err: str) -> list[str]:
    """Problems with a failed command's stderr: it must be one ``error:`` line (warnings
    and blank lines aside), with no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    other = [line for line in lines if not line.startswith(("error: ", "warning: "))]
    problems = []
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    if len(errors) != 1:
        problems.append(f"{len(errors)} error: lines")
    if other:
        problems.append(f"other stderr lines: {other[:3]}")
    return problems


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def log_line(case: str, code: int | None, err: str) -> None:
    """With ``BAD_INPUT_LOG=FILE``, append each case's exit status and error line to FILE
    (to read what the suite's commands answer)."""
    target = os.environ.get("BAD_INPUT_LOG")
    if target:
        line = next((x for x in err.splitlines() if x.startswith("error: ")), err.strip()[:200])
        with open(target, "a") as f:
            f.write(f"{case}\t{code}\t{line}\n")


def count(problems: list[str], kind: str) -> None:
    if problems:
        TALLY[kind] += 1
