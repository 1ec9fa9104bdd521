"""The CLI dispatcher: usage errors, help on every verb and option, a fast start, and a
reader that leaves early."""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys

import pytest

from convlens import cli
from convlens.cli.main import build_parser, main


def test_unknown_verb_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: convlens: argument VERB: invalid choice")


def test_no_verb_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: convlens" in capsys.readouterr().err


def test_closed_pipe_gives_no_traceback():
    cmd = f"{sys.executable} -m convlens layers --model lenet | head -1"
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("name")
    assert "Traceback" not in out.stderr


# ------------------------------------------------------------------ help everywhere
def _parsers(parser: argparse.ArgumentParser):
    """Every parser under ``parser`` (itself, each verb, each sub-verb), depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _quiet_default(action: argparse.Action) -> bool:
    """True when the default needs no word in the help (flags, none, help/version)."""
    return action.default in (None, False, "", argparse.SUPPRESS) or isinstance(
        action, argparse._StoreTrueAction
    )


def test_every_verb_and_option_has_a_help_line_that_names_its_default():
    missing = []
    for parser in _parsers(build_parser()):
        if parser.prog != "convlens" and not parser.description:
            missing.append(f"{parser.prog}: no description")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            if isinstance(action, argparse._SubParsersAction):
                missing += [
                    f"{parser.prog} {c.dest}: no help"
                    for c in action._choices_actions
                    if not (c.help or "").strip()
                ]
                continue
            help_text = action.help if isinstance(action.help, str) else ""
            if not help_text.strip() or action.help is argparse.SUPPRESS:
                missing.append(f"{name}: no help")
            elif not _quiet_default(action) and "default" not in help_text:
                missing.append(f"{name}: help does not name the default {action.default!r}")
    assert missing == []


def test_every_help_page_formats_and_has_no_doubled_percent():
    for parser in _parsers(build_parser()):
        text = parser.format_help()
        assert "%%" not in text, parser.prog
        assert "%(" not in text, parser.prog
    train = next(p for p in _parsers(build_parser()) if p.prog == "convlens train")
    assert "the last 20%." in " ".join(train.format_help().split())


def test_top_level_help_lists_every_verb_with_its_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    verbs = sorted(
        name[len("cmd_") :]
        for name in (m.name for m in pkgutil.iter_modules(cli.__path__))
        if name.startswith("cmd_")
    )
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and
              not line.startswith("     ")]  # fmt: skip
    assert listed == verbs
    for line in out.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            assert len(line.split()) > 1, f"verb without its line: {line!r}"


def test_library_values_in_help_are_the_librarys():
    """Choices and defaults that the parsers hold as text or load late match the library."""
    from convlens.attribute._registry import METHODS
    from convlens.data.images import MAX_PIXELS
    from convlens.probe.figures import RULES
    from convlens.render.figure import STYLES

    parsers = {p.prog: p for p in _parsers(build_parser())}
    pages = {prog: " ".join(p.format_help().split()) for prog, p in parsers.items()}
    assert "Methods: " + ", ".join(METHODS) in pages["convlens attribute"]
    (style,) = (a for a in parsers["convlens attribute"]._actions if a.dest == "style")
    assert tuple(style.choices) == STYLES
    for verb in ("topk", "evolution"):
        assert f"to pixels: {', '.join(RULES)} (guided" in pages[f"convlens {verb}"]
    assert f"(default {MAX_PIXELS:,})" in pages["convlens dream"]


def test_a_bad_choice_loaded_late_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["topk", "RUN", "--layer", "conv2", "--method", "lrp"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "error: convlens topk: argument --method: invalid choice: 'lrp' (choose from "
        "'deconvnet', 'guided', 'gradient') (see `convlens topk --help`)\n"
    )


# --------------------------------------------------------------------- fast start
def _imported(flag_args: list[str]) -> set[str]:
    """Top-level package names that ``python -X importtime -m convlens ARGS`` imports."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "convlens", *flag_args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    names = set()
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "convlens" in names  # the lines were read
    return names


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_neither_torch_nor_numpy(args):
    imported = _imported(args)
    assert {"torch", "numpy", "scipy", "PIL", "tqdm"} & imported == set()


def test_import_convlens_is_lazy_and_the_api_still_works():
    code = (
        "import sys, convlens, convlens.cli, convlens.record\n"
        "from convlens.record import TrainConfig\n"
        "assert TrainConfig('lenet', 'digits').epochs == 2\n"
        "print(sorted({'torch', 'numpy'} & set(sys.modules)))\n"
        "from convlens import Run, open_run\n"
        "print(convlens.open_run is open_run, Run.__name__, convlens.zoo.names()[0])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["[]", "True Run doccnn", "True"]
