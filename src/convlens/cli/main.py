"""``convlens VERB ...``: finds the verbs, parses, and turns errors into one line.

Each verb lives in a module ``cmd_<verb>.py`` of this package with a function
``register(subparsers)`` that adds its parser and sets ``func(args) -> int``.
Registering imports neither torch nor numpy, so ``convlens --help`` and
``convlens --version`` start at once; a verb imports what it needs when it runs.
A :class:`~convlens.errors.ConvlensError` is printed as ``error: ...`` on stderr
with exit status 2 and no traceback, on a line of its own even after a progress
bar; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._version import __version__
from ..errors import ConvlensError
from ._progress import end_bars

EXIT_ERROR = 2


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, with each verb's help beside its name.

    argparse measures the verbs of a sub-command list without their indent, so
    the longer names get their help on the next line; this counts the indent.
    """

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction) and action.choices:
            longest = max(map(len, action.choices)) + self._current_indent + self._indent_increment
            self._action_max_length = max(self._action_max_length, longest)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line with the fix, exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="convlens", description="See inside convolutional neural networks.")
    parser.add_argument(
        "--version", action="version", version=f"convlens {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(
        dest="verb", metavar="VERB", parser_class=_Parser, title="verbs (`convlens VERB --help`)"
    )
    from . import __path__ as cli_path

    for info in sorted(pkgutil.iter_modules(cli_path), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            module.register(sub)
    for verb in _leaf_parsers(sub):
        verb.add_argument(
            "--trust-code",
            action="store_true",
            help="let the model code a run directory names run even when it is not in your "
            "trust file (runs made on this machine are; default: refuse; see docs/security.md)",
        )
    return parser


def _leaf_parsers(sub: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Every verb's parser, and for verbs with actions (``runs show``) each action's."""
    leaves = []
    for parser in dict.fromkeys(sub.choices.values()):
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        leaves.extend(_leaf_parsers(nested[0]) if nested else [parser])
    return leaves


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """convlens's own warnings as ``warning: ...`` lines on stderr (others as Python shows them)."""
    from ..errors import ConvlensWarning

    default_show = warnings.showwarning

    def show(message: object, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if issubclass(category, ConvlensWarning):
            sys.stderr.write(f"warning: {message}\n")
        else:
            default_show(message, category, *rest, **kw)  # type: ignore[arg-type]

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = default_show


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # paths whose bytes are not UTF-8 print as they are
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    from ..rundir.trust import granting

    try:
        with granting(bool(getattr(args, "trust_code", False))), _warnings_as_lines():
            return int(args.func(args) or 0)
    except ConvlensError as exc:
        end_bars(args)
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        end_bars(args)
        sys.stderr.write("interrupted\n")
        return 130
    except OSError as exc:  # the disk or the OS refused (full, read-only, ...) where no
        if isinstance(exc, BrokenPipeError):  # verb said which output it was writing
            return _broken_pipe()
        from .._atomic import output_error

        end_bars(args)
        sys.stderr.write(f"error: {output_error(exc.filename or '(a file)', exc)}\n")
        return EXIT_ERROR


def _broken_pipe() -> int:
    """`convlens ... | head`: the reader left; exit quietly."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
