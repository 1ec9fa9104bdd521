"""The CLI dispatcher: usage errors, help, and a reader that leaves early."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convlens.cli.main import main


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
