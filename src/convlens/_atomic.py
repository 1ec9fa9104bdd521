"""Atomic file writes: a reader never sees a half-written file."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ConvlensError, OutputError

#: what to do about an OS error at an output path, by errno
_ADVICE = {
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "a part of it is a file, not a folder; give another path",
    errno.EEXIST: "a part of it is a file, not a folder; give another path",
    errno.EACCES: "permission denied; write to a folder you may write to",
    errno.EPERM: "permission denied; write to a folder you may write to",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.ENOSPC: "the disk is full; free some space or write somewhere else",
    errno.EDQUOT: "the disk quota is used up; free some space or write somewhere else",
    errno.EFBIG: "the file is larger than this system allows (ulimit -f); write less or "
    "raise the limit",
    errno.ENAMETOOLONG: "the name is too long; give a shorter path",
}


def output_error(path: str | os.PathLike[str], exc: OSError) -> OutputError:
    """The one-line :class:`~convlens.errors.OutputError` for ``exc`` raised while writing
    ``path``: what was given, what went wrong, what to do."""
    if isinstance(exc, OutputError):
        return exc
    advice = _ADVICE.get(exc.errno or 0, "check the path and the disk")
    reason = exc.strerror or type(exc).__name__
    return OutputError(f"cannot write {os.fsdecode(path)!r} ({reason}): {advice}")


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an OS error raised inside into an :class:`~convlens.errors.OutputError` about
    ``path`` (the file or folder being written)."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, ConvlensError):
            raise
        raise output_error(path, exc) from None


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The rename is atomic on POSIX, so ``path`` holds either the old or the new
    content. On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    with writing(path):
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        with writing(path):
            yield tmp_path
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
            # mkstemp makes the file 0600; give it the mode an ordinary open() would.
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
