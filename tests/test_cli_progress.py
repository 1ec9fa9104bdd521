"""Progress bars only where a person watches: none in a log file unless --progress, none
with --quiet, both together one line, and an error on a line of its own after a bar."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import convlens.probe
from convlens.cli._progress import bars_wanted
from convlens.cli.main import build_parser, main
from convlens.errors import DataError

LONG_VERBS = ("train", "probe", "visualize", "dream", "invert")


def test_probe_into_a_log_file_writes_no_bar_and_ends_with_its_summary(digits_lenet_run, tmp_path):
    """The acceptance line, as a user runs it: stderr redirected to a file."""
    out, log = tmp_path / "p", tmp_path / "stderr.log"
    args = ["probe", str(digits_lenet_run.path), "--limit", "64", "--layers", "conv1"]
    with open(log, "wb") as err:
        done = subprocess.run(
            [sys.executable, "-m", "convlens", *args, "--out", str(out), "--no-projections"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, log.read_text()
    assert log.read_bytes() == b""
    name = digits_lenet_run.checkpoints[-1].name
    assert done.stdout.splitlines() == [f"probed {name}: 64 images, 1 layers -> {out / name}"]


def test_probe_with_progress_draws_its_bar_even_into_a_file(digits_lenet_run, tmp_path, capsys):
    args = ["probe", str(digits_lenet_run.path), "--limit", "64", "--layers", "conv1"]
    assert main([*args, "--out", str(tmp_path / "p"), "--no-projections", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "\r" in captured.err and "64/64" in captured.err
    assert len(captured.out.splitlines()) == 1


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize("flag", [None, "--progress"])
@pytest.mark.parametrize("verb", ["visualize", "dream", "invert"])
def test_synthesis_bars_follow_the_flags(verb, flag, photo, tmp_path, capsys):
    args = {
        "visualize": ["--layer", "conv1", "--units", "0-3"],
        "dream": ["--image", str(photo), "--layers", "conv2", "--octaves", "1"],
        "invert": ["--image", str(photo), "--layer", "conv2"],
    }[verb]
    argv = [verb, "--model", "lenet", "--steps", "2", "--out", str(tmp_path), *args]
    assert main(argv + ([flag] if flag else [])) == 0
    captured = capsys.readouterr()
    assert ("\r" in captured.err) == (flag == "--progress")  # capsys' stderr is no terminal
    assert captured.out.startswith("wrote ")


@pytest.mark.parametrize("verb", LONG_VERBS)
def test_progress_with_quiet_is_one_line(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([verb, "RUN", "--progress", "--quiet"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"error: convlens {verb}: argument --quiet: not allowed with argument --progress "
        f"(see `convlens {verb} --help`)\n"
    )


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "flags", "wanted"),
    [
        (True, [], True),
        (False, [], False),
        (False, ["--progress"], True),
        (True, ["--quiet"], False),
        (True, ["--no-progress"], False),  # train's older spelling of --quiet
    ],
)
def test_bars_are_drawn_on_a_terminal_or_on_request(tty, flags, wanted, monkeypatch):
    args = build_parser().parse_args(["train", "--out", "RUN", *flags])
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    assert bars_wanted(args) is wanted


def _failing_probe(*args, progress, **kwargs):
    """A probe that draws part of its bar, then meets bad data."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc="probe", file=sys.stderr, disable=not progress)
    bar.update(30)
    raise DataError("label 12 of image 40 is out of range: expected 0..9; fix the labels")


@pytest.mark.parametrize("flag", [None, "--progress"])
def test_an_error_after_a_bar_starts_on_a_fresh_line(flag, digits_lenet_run, monkeypatch, capsys):
    monkeypatch.setattr(convlens.probe, "run", _failing_probe)
    argv = ["probe", str(digits_lenet_run.path), *([flag] if flag else [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    line = "error: label 12 of image 40 is out of range: expected 0..9; fix the labels\n"
    if flag is None:
        assert err == line  # no bar, nothing before the error
    else:
        assert "30/100" in err and err.endswith("\n" + line)
