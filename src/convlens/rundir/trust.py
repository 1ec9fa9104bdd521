"""Which code a run directory may run: the user's trust file.

A run's ``run.json`` names the code that builds its model (``module:factory`` or
``file.py:factory``). Opening a run imports or calls that code only when:

- it is a built-in zoo model, or
- the user's trust file lists it: runs made on this machine (``convlens train``,
  ``convlens runs create``, the Recorder) are recorded there as they are made, or
  ``convlens runs trust RUN`` adds one, or
- the user says so for this call: ``--trust-code`` on the command line,
  ``open_run(path, trust_code=True)`` or the :func:`granted` context.

An entry matches by spec and source file; for code outside the Python path (a
file, or a module found in a recorded folder) the file's SHA-256 must match too,
so a changed or swapped file is not trusted silently. The trust file is
``$CONVLENS_TRUST_FILE``, else ``$XDG_CONFIG_HOME/convlens/trusted.json``, else
``~/.config/convlens/trusted.json``. See ``docs/security.md``.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._atomic import write_json
from ..errors import UntrustedCodeError
from ..model.spec import ModelSource, ModelSpec, locate

TRUST_ENV = "CONVLENS_TRUST_FILE"
_GRANTED: contextvars.ContextVar[bool] = contextvars.ContextVar("convlens_trust", default=False)
_warned: set[str] = set()

__all__ = ["TRUST_ENV", "check", "granted", "granting", "is_trusted", "record", "trust_path"]


def trust_path() -> Path:
    """The per-user trust file (it need not exist yet)."""
    env = os.environ.get(TRUST_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "convlens" / "trusted.json"


@contextmanager
def granting(allow: bool = True) -> Iterator[None]:
    """Trust the code of every run opened inside this block (``--trust-code``)."""
    token = _GRANTED.set(allow)
    try:
        yield
    finally:
        _GRANTED.reset(token)


def granted() -> bool:
    """Whether the current context trusts all run code (see :func:`granting`)."""
    return _GRANTED.get()


def _entries() -> list[dict[str, Any]]:
    path = trust_path()
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    items = obj.get("trusted") if isinstance(obj, dict) else None
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _matches(entry: dict[str, Any], spec: ModelSpec, source: ModelSource | None) -> bool:
    if entry.get("spec") != spec.text:
        return False
    if source is None:  # a module built into Python: the spec alone names it
        return entry.get("file") is None
    if entry.get("file") != source.file:
        return False
    on_path = spec.kind == "module" and source.root is None
    return on_path or entry.get("sha256") == source.sha256


def is_trusted(spec: ModelSpec, source: ModelSource | None) -> bool:
    """Whether the trust file lists ``spec`` with this ``source`` (zoo models always are)."""
    if spec.kind == "zoo":
        return True
    return any(_matches(e, spec, source) for e in _entries())


def record(spec: ModelSpec, source: ModelSource | None, how: str) -> bool:
    """Add ``spec`` (with its source file and hash) to the trust file; True if written.

    Concurrent writers are serialised by a lock file. When the file cannot be
    written (a read-only home, say) a warning says so once, and the run is made
    anyway: opening it later needs ``--trust-code``.
    """
    if spec.kind == "zoo" or is_trusted(spec, source):
        return False
    path = trust_path()
    entry = {
        "spec": spec.text,
        "file": source.file if source else None,
        "sha256": source.sha256 if source else None,
        "added": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "by": how,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = [e for e in _entries() if not _same_code(e, entry)]
            write_json(path, {"format": "convlens-trust/1", "trusted": [*entries, entry]})
    except OSError as exc:
        if str(path) not in _warned:
            _warned.add(str(path))
            sys.stderr.write(
                f"warning: cannot record model code {spec.text!r} in the trust file "
                f"{str(path)!r} ({exc.strerror or exc}); commands on this run will need "
                f"--trust-code (set {TRUST_ENV} to a writable file to avoid this)\n"
            )
        return False
    return True


def _same_code(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("spec") == b.get("spec") and a.get("file") == b.get("file")


def _call_text(spec: ModelSpec, options: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"{spec.factory}({args})"


def check(
    spec: ModelSpec,
    options: dict[str, Any],
    recorded: ModelSource | None,
    run_path: Path,
    allow: bool,
) -> ModelSource | None:
    """Where ``spec``'s code is now; an :class:`UntrustedCodeError` unless it may run.

    Nothing is imported here: the source is found by searching paths. ``recorded``
    is the source ``run.json`` names (its root is searched too, and its hash is
    compared, so a changed file is named as such).
    """
    if spec.kind == "zoo":
        return None
    current = locate(spec, recorded.root if recorded else None)
    if allow or granted() or is_trusted(spec, current):
        return current
    run = str(run_path)
    what = (
        f"import module {spec.target!r}" if spec.kind == "module" else f"run file {spec.target!r}"
    )
    if current is not None and spec.kind == "module":
        what += f" ({current.file})"
    why = "it is not in your trust file (runs made on this machine are)"
    if recorded and current and recorded.sha256 and recorded.sha256 != current.sha256:
        why = (
            f"{current.file!r} has changed since the run was made (SHA-256 "
            f"{recorded.sha256[:12]}... recorded, {current.sha256[:12]}... now)"
        )
    raise UntrustedCodeError(
        f"run {run!r} names model code {spec.text!r}: opening it would {what} and call "
        f"{_call_text(spec, options)}; not run, because {why}; if you trust this code, "
        f"pass --trust-code (Python: open_run(path, trust_code=True)) or trust it for good "
        f"with `convlens runs trust {run}`"
    )
