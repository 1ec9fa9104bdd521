"""The run directory is the only contract: readers import no writer."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["convlens.rundir", "convlens.explorer"])
def test_readers_import_nothing_that_writes_a_probe(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m == 'convlens.probe' or "
        "m.startswith('convlens.probe.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_budget_too_small_is_one_cli_line(digits_lenet_run, tmp_path, capsys):
    from convlens.cli.main import main

    argv = ["probe", str(digits_lenet_run.path), "--out", str(tmp_path), "--budget", "50KB"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "error: budget=50.0 KB cannot hold one point per image of every probed layer: "
        "1,797 images need at least "
    )
    assert "give a budget of " in err
    assert not any(tmp_path.iterdir())
