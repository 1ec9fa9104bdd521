"""The trust model of run directories: opening a run runs no code the user has not trusted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convlens import open_run
from convlens.cli.main import main
from convlens.data import Normalization
from convlens.errors import ModelError, RunError, UntrustedCodeError
from convlens.rundir import DataEntry, ModelEntry, Run, trust
from convlens.rundir.checkpoints import save_state

NORM = Normalization((0.5,), (0.25,))
SHAPE = (1, 8, 8)

# A model module whose import and whose factory each leave a file behind: the
# markers prove whether any of its code ran.
MODULE = """
from pathlib import Path
from torch import nn

Path({marker!r}).with_suffix(".imported").touch()


def make(width=4):
    Path({marker!r}).with_suffix(".called").touch()
    return nn.Sequential(nn.Conv2d(1, width, 3), nn.Flatten(), nn.LazyLinear(3))


def leaves():
    import sys
    sys.exit(0)
"""


@pytest.fixture
def own_trust(tmp_path, monkeypatch) -> Path:
    """An empty trust file of this test only."""
    path = tmp_path / "trust" / "trusted.json"
    monkeypatch.setenv(trust.TRUST_ENV, str(path))
    return path


def _hostile_run(path: Path, spec: str, options: dict) -> Path:
    """A run directory as someone else could send it: run.json written by hand."""
    path.mkdir(parents=True)
    manifest = {
        "model": {"spec": spec, "options": options, "input_shape": list(SHAPE)},
        "data": {"spec": "digits", "format": "digits"},
        "classes": ["a", "b", "c"],
        "normalization": NORM.to_json(),
    }
    (path / "run.json").write_text(json.dumps(manifest))
    save_state(path / "checkpoints" / "step-00000001.safetensors", {"w": torch.zeros(1)}, {})
    return path


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        ("os:system", {"command": "touch {marker}"}),
        ("posix:system", {"command": "touch {marker}"}),
        ("subprocess:call", {"args": ["touch", "{marker}"]}),
    ],
)
def test_hostile_spec_runs_nothing(tmp_path, own_trust, capsys, spec, options) -> None:
    marker = tmp_path / "MARKER"
    filled = json.loads(json.dumps(options).replace("{marker}", str(marker)))
    run = _hostile_run(tmp_path / "run", spec, filled)
    before = (run / "run.json").read_bytes()
    attribute = ["attribute", str(run), "--index", "0", "--method", "saliency"]
    for verb in (["layers", str(run)], ["probe", str(run)], [*attribute, "-o", str(tmp_path)]):
        assert main(verb) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("error: run ")
        assert f"names model code {spec!r}" in err[0] and "--trust-code" in err[0]
    with pytest.raises(UntrustedCodeError, match="not in your trust file"):
        open_run(run).model()
    with pytest.raises(UntrustedCodeError):
        open_run(run).layers()
    assert not marker.exists()
    assert (run / "run.json").read_bytes() == before
    assert not own_trust.exists()


def test_error_names_the_call(tmp_path, own_trust) -> None:
    run = _hostile_run(tmp_path / "run", "os:system", {"command": "touch X"})
    with pytest.raises(UntrustedCodeError) as info:
        open_run(run).build_model()
    message = str(info.value)
    assert "import module 'os'" in message
    assert "call system(command='touch X')" in message
    assert f"convlens runs trust {run}" in message


def _module(tmp_path: Path, name: str = "own_nets") -> tuple[Path, Path]:
    folder = tmp_path / "code"
    folder.mkdir(exist_ok=True)
    marker = tmp_path / "marker"
    (folder / f"{name}.py").write_text(MODULE.format(marker=str(marker)))
    return folder, marker


def _made_here(tmp_path: Path, spec: str) -> Run:
    return Run.create(
        tmp_path / "mine",
        ModelEntry(spec, SHAPE, {"width": 2}),
        DataEntry("digits", ["a", "b", "c"], NORM),
    )


def test_runs_made_here_open(tmp_path, own_trust, monkeypatch) -> None:
    folder, marker = _module(tmp_path)
    monkeypatch.chdir(folder)  # found in the working directory, no PYTHONPATH
    run = _made_here(tmp_path, "own_nets:make")
    assert not marker.with_suffix(".imported").exists()  # recording imports nothing
    entries = json.loads(own_trust.read_text())["trusted"]
    assert [e["spec"] for e in entries] == ["own_nets:make"]
    assert entries[0]["file"] == str(folder / "own_nets.py")
    monkeypatch.chdir(tmp_path)  # another working directory: the recorded root is used
    model = open_run(run.path).build_model()
    assert model[0].out_channels == 2
    assert marker.with_suffix(".called").exists()


def test_run_from_elsewhere_needs_trust(tmp_path, own_trust, monkeypatch, capsys) -> None:
    folder, marker = _module(tmp_path)
    run = _made_here(tmp_path, f"{folder / 'own_nets.py'}:make")
    own_trust.unlink()  # as on another machine: nothing trusted
    expected = r"run file '.*own_nets\.py' and call make\(width=2\)"
    with pytest.raises(UntrustedCodeError, match=expected):
        open_run(run.path).build_model()
    assert not marker.with_suffix(".imported").exists()
    # one call with trust
    assert open_run(run.path, trust_code=True).build_model()[0].out_channels == 2
    # the CLI flag, then trusting it for good
    assert main(["runs", "trust", str(run.path)]) == 0
    assert "trusted model code" in capsys.readouterr().out
    assert open_run(run.path).build_model()[0].out_channels == 2


def test_changed_file_is_named(tmp_path, own_trust) -> None:
    folder, marker = _module(tmp_path)
    run = _made_here(tmp_path, f"{folder / 'own_nets.py'}:make")
    source = folder / "own_nets.py"
    source.write_text(source.read_text() + "\n# edited\n")
    with pytest.raises(UntrustedCodeError, match="has changed since the run was made"):
        open_run(run.path).build_model()
    assert not marker.with_suffix(".imported").exists()


def test_moved_file_is_named(tmp_path, own_trust) -> None:
    folder, _ = _module(tmp_path)
    run = _made_here(tmp_path, f"{folder / 'own_nets.py'}:make")
    shutil.move(folder, tmp_path / "elsewhere")
    with pytest.raises(ModelError, match=r"own_nets\.py' does not exist"):
        open_run(run.path).build_model()


def test_trust_code_flag_on_cli(tmp_path, own_trust, capsys) -> None:
    folder, marker = _module(tmp_path)
    run = _hostile_run(tmp_path / "run", f"{folder / 'own_nets.py'}:make", {"width": 3})
    shutil.rmtree(run / "checkpoints")  # layers then builds the model with fresh weights
    assert main(["layers", str(run)]) == 2
    assert not marker.with_suffix(".imported").exists()
    capsys.readouterr()
    assert main(["layers", str(run), "--trust-code"]) == 0
    assert "Conv2d" in capsys.readouterr().out
    assert marker.with_suffix(".called").exists()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"width": {"__class__": "x"}}, "is not a JSON scalar or list"),
        ({"bad name": 1}, "is not a parameter name"),
    ],
)
def test_options_checked_before_import(tmp_path, own_trust, options, match) -> None:
    folder, marker = _module(tmp_path)
    run = _hostile_run(tmp_path / "run", f"{folder / 'own_nets.py'}:make", options)
    with pytest.raises(ModelError, match=match):
        open_run(run, trust_code=True).build_model()
    assert not marker.with_suffix(".imported").exists()


def test_options_checked_against_signature(tmp_path, own_trust) -> None:
    folder, marker = _module(tmp_path)
    run = _hostile_run(tmp_path / "run", f"{folder / 'own_nets.py'}:make", {"depth": 3})
    expected = r"does not take options \['depth'\].*parameters are: width"
    with pytest.raises(ModelError, match=expected):
        open_run(run, trust_code=True).build_model()
    assert not marker.with_suffix(".called").exists()


def test_factory_calling_exit_is_an_error(tmp_path, own_trust) -> None:
    folder, _ = _module(tmp_path)
    run = _hostile_run(tmp_path / "run", f"{folder / 'own_nets.py'}:leaves", {})
    with pytest.raises(ModelError, match=r"raised SystemExit"):
        open_run(run, trust_code=True).build_model()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("42", "holds int '42', expected a JSON object"),
        ("null", "holds NoneType"),
        ('{"model": 1}', "lacks data, classes, normalization"),
        (
            '{"model": {"spec": "lenet", "input_shape": [1, -28]}, "data": {"spec": "digits"},'
            ' "classes": [], "normalization": {"mean": [0], "std": [1]}}',
            "'model.input_shape' is",
        ),
        ("\xff\xfe not json", "is not valid JSON"),
        (
            '{"model": {"spec": "x:y", "options": [1], "input_shape": [1, 8, 8]}, "data": '
            '{"spec": "digits"}, "classes": [], "normalization": {"mean": [0], "std": [1]}}',
            r"'model.options' is \[1\], expected an object",
        ),
    ],
)
def test_damaged_manifest_one_line(tmp_path, capsys, content, match) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(RunError, match=match):
        open_run(run)
    assert main(["layers", str(run)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "restore it" in err[0]


def test_manifest_that_is_a_directory(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    (run / "run.json").mkdir(parents=True)
    assert main(["runs", "show", str(run)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "cannot be read" in err[0]


def test_train_resume_checks_trust(tmp_path, own_trust, capsys) -> None:
    """`train --resume` on a run from elsewhere builds nothing it names."""
    marker = tmp_path / "MARKER"
    run = _hostile_run(tmp_path / "run", "os:system", {"command": f"touch {marker}"})
    manifest = json.loads((run / "run.json").read_text())
    manifest["training"] = {"model": "os:system", "data": "digits",
                            "model_options": {"command": f"touch {marker}"}}  # fmt: skip
    (run / "run.json").write_text(json.dumps(manifest))
    assert main(["train", "--out", str(run), "--resume"]) == 2
    assert "names model code 'os:system'" in capsys.readouterr().err
    assert not marker.exists()


def test_untrusted_run_in_a_fresh_process(tmp_path) -> None:
    """The whole CLI, as a user runs it: no marker, one line, exit 2."""
    marker = tmp_path / "MARKER"
    run = _hostile_run(tmp_path / "run", "os:system", {"command": f"touch {marker}"})
    env = {"CONVLENS_TRUST_FILE": str(tmp_path / "t.json"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "convlens", "layers", str(run)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_zoo_runs_need_no_trust(digits_lenet_run, own_trust) -> None:
    model = open_run(digits_lenet_run.path).model()
    assert isinstance(model, torch.nn.Module) and not own_trust.exists()
