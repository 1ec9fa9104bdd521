"""Your own network and data: `runs create`, then every verb, from anywhere, no PYTHONPATH."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _browser import CHROMIUM, WEBGL_ARGS, chromium, open_page
from _byo_helpers import tree_hash, write_jpegs, write_model
from convlens import open_run
from convlens.cli.main import main
from convlens.data import load_image_folder

CONVLENS = [sys.executable, "-m", "convlens"]


def _cli(args: list[str], cwd: Path, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """convlens in a fresh process, in ``cwd``, with no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_extra or {})
    return subprocess.run(
        [*CONVLENS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def their_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, Path]:
    root = tmp_path_factory.mktemp("byo")
    path, weights, family = write_model(root / "code")
    images = write_jpegs(root / "images", n=200)
    return path, weights, family, images


@pytest.mark.slow
def test_runs_create_then_every_verb_from_elsewhere(their_model, tmp_path) -> None:
    model_file, weights, _, images = their_model
    before = tree_hash(images), tree_hash(model_file.parent)
    made_in, elsewhere = model_file.parent, tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = tmp_path / "run"
    created = _cli(
        ["runs", "create", "--model", "their_net.py:build", "--weights", str(weights),
         "--data", str(images), "--normalize", "imagenet", "--input-size", "64,64",
         "--output", "logits", "--out", str(run)],
        cwd=made_in,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["model"]["spec"] == f"{model_file}:build"
    assert manifest["model"]["output"] == "logits"
    assert manifest["data"]["crop"] == {"mode": "resize-centre-crop", "resize": None}
    assert manifest["normalization"]["kind"] == "imagenet"
    assert manifest["classes"] == ["cat", "dog", "fox"]

    # every verb, in another working directory, in fresh processes
    layers = _cli(["layers", str(run), "--json"], cwd=elsewhere)
    assert layers.returncode == 0, layers.stderr
    rows = json.loads(layers.stdout)
    convs = [r["name"] for r in rows if r["type"] == "Conv2d"]
    block = next(r["name"] for r in rows if r["type"] in ("ResNetStage", "Block"))
    figures = elsewhere / "figures"
    verbs = [
        ["attribute", str(run), "--index", "0,1", "--method", "saliency,grad_cam",
         "--layer", convs[-1], "-o", str(figures / "maps.png")],
        ["visualize", str(run), "--layer", convs[-1], "--units", "0-1", "--steps", "8",
         "--out", str(figures)],
        ["probe", str(run), "--layers", convs[0], block, "--batch-size", "64"],
        ["topk", str(run), "--layer", block, "-o", str(figures / "top.png")],
    ]  # fmt: skip
    for verb in verbs:
        done = _cli(verb, cwd=elsewhere)
        assert done.returncode == 0, (verb, done.stderr)
        assert "Traceback" not in done.stderr
    assert (figures / "maps.png").exists() and (figures / "top.png").exists()

    # what the probe stored is the model's own output on the centre-cropped images
    res = open_run(run, trust_code=False).probe()
    ds = load_image_folder(images, size=(64, 64), channels=3, crop=open_run(run).crop)
    model = open_run(run).model()
    x = open_run(run).preprocess(ds.images[:5])
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(torch.from_numpy(res.outputs[:5]), expected, rtol=1e-4, atol=1e-4)
    assert (tree_hash(images), tree_hash(model_file.parent)) == before

    # the explorer draws the run in Chromium with no console error
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium for the explorer page")
    from convlens.explorer import explore

    with explore(open_run(run)) as ex, chromium(WEBGL_ARGS) as browser:
        page, console = open_page(
            browser,
            ex.url,
            "window.convlens && (window.convlens.app.firstFrameMs !== null"
            " || window.convlens.errors.length)",
        )
        assert page.evaluate("window.convlens.errors") == [] and console == []


def test_state_dict_pt_with_prefix_and_nesting(their_model, tmp_path, capsys) -> None:
    model_file, weights, _, _ = their_model
    from safetensors.torch import load_file

    state = load_file(str(weights))
    pt = tmp_path / "w.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, pt)
    data = tmp_path / "imgs"
    write_jpegs(data, n=6)
    argv = ["runs", "create", "--model", f"{model_file}:build", "--weights", str(pt), "--data",
            str(data), "--normalize", "0.5,0.25", "--input-size", "32,32", "--output", "logits",
            "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    loaded = open_run(tmp_path / "run").model().state_dict()
    for k, v in state.items():
        torch.testing.assert_close(loaded[k], v, rtol=0, atol=0)
    assert open_run(tmp_path / "run").normalization.mean == (0.5, 0.5, 0.5)


class _Marker:
    """A pickle that writes a file when unpickled by a full unpickler."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _bad_create(tmp_path: Path, model_file: Path, weights: Path, images: Path) -> dict:
    """Bad inputs of `runs create`: argv -> a fragment of the one error line."""
    marker = tmp_path / "MARKER"
    hostile = tmp_path / "hostile.pt"
    with open(hostile, "wb") as f:
        pickle.dump({"w": _Marker(str(marker))}, f)
    torch.save({"w": torch.zeros(2)}, tmp_path / "wrong.pt")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    (tmp_path / "raises.py").write_text("def build():\n    raise RuntimeError('no GPU here')\n")
    corrupt = tmp_path / "corrupt"
    write_jpegs(corrupt, n=3)
    (corrupt / "cat" / "0000.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    spec = f"{model_file}:build"
    base = ["--data", str(images), "--input-size", "32,32", "--output", "logits",
            "--normalize", "imagenet"]  # fmt: skip
    return {
        "hostile pickle": (["--model", spec, "--weights", str(hostile), *base],
                           "cannot be read as a state dict without running code"),
        "wrong weights": (["--model", spec, "--weights", str(tmp_path / "wrong.pt"), *base],
                          "does not fit the model (missing "),
        "garbage safetensors": (["--model", spec, "--weights",
                                 str(tmp_path / "garbage.safetensors"), *base],
                                "is not a readable safetensors file"),
        "missing weights": (["--model", spec, "--weights", str(tmp_path / "nope.pt"), *base],
                            "does not exist"),
        "spec file missing": (["--model", f"{tmp_path / 'gone.py'}:build", "--weights",
                               str(weights), *base], "gone.py' does not exist"),
        "factory raising": (["--model", f"{tmp_path / 'raises.py'}:build", "--weights",
                             str(weights), *base], "raised RuntimeError: no GPU here"),
        "output absent": (["--model", spec, "--weights", str(weights), *base[:4],
                           "--output", "scores", "--normalize", "imagenet"],
                          "model output has no 'scores'"),
        "no output given": (["--model", spec, "--weights", str(weights), *base[:4],
                             "--normalize", "imagenet"], "pass --output NAME"),
        "corrupt image": (["--model", spec, "--weights", str(weights), "--data", str(corrupt),
                           "--input-size", "32,32", "--output", "logits", "--normalize",
                           "imagenet"], "0000.jpg' cannot be read"),
        "folder without size": (["--model", spec, "--weights", str(weights), "--data",
                                 str(images), "--output", "logits"], "give --input-size H,W"),
        "bad normalize": (["--model", spec, "--weights", str(weights), *base[:-1], "0.5,x"],
                          "its std should be 1 or 3 finite numbers"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        "hostile pickle",
        "wrong weights",
        "garbage safetensors",
        "missing weights",
        "spec file missing",
        "factory raising",
        "output absent",
        "no output given",
        "corrupt image",
        "folder without size",
        "bad normalize",
    ],
)
def test_bad_input_of_runs_create(their_model, tmp_path, capsys, case) -> None:
    model_file, weights, _, images = their_model
    argv, fragment = _bad_create(tmp_path, model_file, weights, images)[case]
    inputs = tree_hash(images), tree_hash(model_file.parent), weights.read_bytes()
    out = tmp_path / "run"
    assert main(["runs", "create", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], err
    assert not [line for line in err if not line.startswith(("error: ", "warning: "))]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]  # no temp left
    assert not (tmp_path / "MARKER").exists()
    assert (tree_hash(images), tree_hash(model_file.parent), weights.read_bytes()) == inputs


def test_out_that_holds_a_run_is_kept(their_model, tmp_path, capsys) -> None:
    model_file, weights, _, images = their_model
    argv = ["runs", "create", "--model", f"{model_file}:build", "--weights", str(weights),
            "--data", str(images), "--input-size", "32,32", "--output", "logits",
            "--normalize", "imagenet", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    before = tree_hash(tmp_path / "run")
    capsys.readouterr()
    assert main(argv) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert tree_hash(tmp_path / "run") == before
    (tmp_path / "file").write_text("x")
    assert main([*argv[:-1], str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_corrupt_image_met_by_the_probe_is_named(their_model, tmp_path, capsys) -> None:
    """A folder read on demand: the probe stops at the damaged file, naming it."""
    model_file, weights, _, _ = their_model
    data = tmp_path / "imgs"
    write_jpegs(data, n=30)
    argv = ["runs", "create", "--model", f"{model_file}:build", "--weights", str(weights),
            "--data", str(data), "--input-size", "32,32", "--output", "logits",
            "--normalize", "imagenet", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    bad = data / "fox" / "0026.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    capsys.readouterr()
    assert main(["probe", str(tmp_path / "run"), "--batch-size", "8"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and f"{str(bad)!r} cannot be read" in err[0], err


def test_folder_read_on_demand_equals_folder_in_memory(tmp_path) -> None:
    write_jpegs(tmp_path, n=12)
    eager = load_image_folder(tmp_path, size=(24, 20), channels=3, lazy=False)
    lazy = load_image_folder(tmp_path, size=(24, 20), channels=3, lazy=True)
    assert lazy.images.shape == eager.images.shape == (12, 3, 24, 20)
    np.testing.assert_array_equal(lazy.images[np.arange(12)], eager.images)
    np.testing.assert_array_equal(lazy.images[5], eager.images[5])
    batches = list(lazy.image_batches(np.arange(12), 5))
    assert [len(b) for b in batches] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate(batches), eager.images)
    np.testing.assert_array_equal(lazy.subset([3, 1]).images[1], eager.images[1])


def test_centre_crop_keeps_the_aspect_ratio(tmp_path) -> None:
    """A 40x80 image to 20x20: scaled to 20x40, the middle 20 columns kept."""
    (tmp_path / "a").mkdir()
    img = np.zeros((40, 80), np.uint8)
    img[:, 20:60] = 255  # the middle half is white
    Image.fromarray(img).save(tmp_path / "a" / "x.png")
    from convlens.data import Crop

    ds = load_image_folder(tmp_path, size=(20, 20), channels=1, crop=Crop())
    assert ds.images.shape == (1, 1, 20, 20)
    assert ds.images[0, 0, :, 1:-1].min() >= 250  # all white: the centre of the image
    stretched = load_image_folder(tmp_path, size=(20, 20), channels=1)
    assert stretched.images[0, 0, :, 0].max() <= 5  # stretched: the black border stays


def test_any_torch_dataset_is_probed(tmp_path) -> None:
    from convlens.data import from_torch
    from convlens.probe import run as probe

    class Squares(torch.utils.data.Dataset):
        classes = ("dark", "light")

        def __len__(self) -> int:
            return 40

        def __getitem__(self, i: int):
            x = torch.full((1, 12, 12), 0.2 if i % 2 == 0 else 0.8)
            x[0, i % 12, :] = 1.0
            return x, i % 2

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(300, 2))  # fmt: skip
    res = probe(model, data=Squares(), out=tmp_path / "store", batch_size=16, projections=())
    assert res.classes == ["dark", "light"] and len(res) == 40
    ds = from_torch(Squares())
    expected = model(ds.preprocess(ds.images[np.arange(40)])).detach().numpy()
    np.testing.assert_allclose(res.outputs, expected, rtol=1e-5, atol=1e-5)
    assert res.labels.tolist() == [i % 2 for i in range(40)]


def test_normalized_torch_dataset_is_refused() -> None:
    from convlens.data import from_torch
    from convlens.errors import DataError

    class Normed(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int):
            return torch.full((3, 4, 4), -1.5), 0

    with pytest.raises(DataError, match=r"outside \[0, 1\].*ToTensor without Normalize"):
        from_torch(Normed())
