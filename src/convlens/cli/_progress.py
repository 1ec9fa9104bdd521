"""Progress bars only where a person watches them: ``--progress`` and ``--quiet``.

Every long verb (train, probe, visualize, dream, invert, report, explore) takes
both options through :func:`add_progress_arguments` and passes
:func:`bars_wanted` to the library as its ``progress`` argument:

- by default, bars are drawn only when stderr is a terminal, so a log file
  (``2> log.txt``) receives no ``\\r`` updates;
- ``--progress`` draws them anyway; ``--quiet`` never draws them; both together
  is a usage error (one line, exit status 2);
- either way, the verb prints its one summary line on stdout at the end.

When a verb fails, :func:`end_bars` closes any bar still drawn, so that the
``error: ...`` line starts on a fresh line.
"""

from __future__ import annotations

import argparse
import sys


def add_progress_arguments(parser: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """Add ``--progress`` and ``--quiet`` (mutually exclusive) to a verb's parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress",
        action="store_true",
        help="draw progress bars on stderr even when it is not a terminal "
        "(default: only on a terminal)",
    )
    group.add_argument(
        "--quiet",
        action="store_true",
        help="draw no progress bars; the summary line is still printed (default: off)",
    )
    return group


def bars_wanted(args: argparse.Namespace) -> bool:
    """True when this verb should draw progress bars (see the module docstring)."""
    if getattr(args, "quiet", False):
        return False
    if getattr(args, "progress", False):
        return True
    return _isatty(sys.stderr)


def end_bars(args: argparse.Namespace) -> None:
    """Close every bar still drawn and leave stderr at the start of a line.

    A job that fails inside its loop leaves its bar open; closing it clears the
    bar from a terminal. Where stderr is a file (``--progress 2> log``), the
    bar's last ``\\r`` update is ended with a newline instead.
    """
    if not bars_wanted(args):
        return
    std = sys.modules.get("tqdm.std")
    if std is not None:
        for bar in list(getattr(std.tqdm, "_instances", ())):
            bar.close()
    if not _isatty(sys.stderr):
        sys.stderr.write("\n")
    sys.stderr.flush()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # replaced or closed stream
        return False
