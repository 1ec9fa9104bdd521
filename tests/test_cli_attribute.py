"""``convlens attribute``: exact lines, exit codes, files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convlens.attribute import grad_cam, saliency
from convlens.cli.main import main


@pytest.mark.slow
def test_attribute_index_grid_and_npy(digits_lenet_run, tmp_path: Path, capsys) -> None:
    out = tmp_path / "maps.png"
    code = main(
        [
            "attribute",
            str(digits_lenet_run.path),
            "--index",
            "0,5",
            "--method",
            "saliency,grad_cam",
            "--layer",
            "conv2",
            "--target",
            "label",
            "-o",
            str(out),
            "--save-npy",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines == [
        f"wrote {out} (2 images x 2 methods) and maps.json",
        f"wrote {tmp_path / 'maps.saliency.npy'} (2, 1, 28, 28) float32",
        f"wrote {tmp_path / 'maps.grad_cam.npy'} (2, 1, 28, 28) float32",
    ]
    ds = digits_lenet_run.dataset()
    x = ds.preprocess(ds.images[[0, 5]])
    model = digits_lenet_run.model()
    labels = [int(ds.labels[0]), int(ds.labels[5])]
    np.testing.assert_allclose(
        np.load(tmp_path / "maps.saliency.npy"), saliency(model, x, labels).numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "maps.grad_cam.npy"),
        grad_cam(model, x, labels, layer="conv2").numpy(),
        rtol=1e-5,
        atol=1e-7,
    )
    picture = np.asarray(Image.open(out))
    # 4 px scale -> 112 px tiles; a 12 px header, a 12 px caption above each of the 2 rows
    # (the captions fit on one line of the 344 px wide figure), 2 px padding
    assert picture.shape == (12 + 2 * (12 + 112) + 3 * 2, 3 * 112 + 4 * 2, 3)
    caption = picture[12 : 12 + 12, 2:-2]
    assert (caption < 128).any()  # text in the row's caption band
    first = picture[12 + 12 + 2 : 12 + 12 + 2 + 112, 2 : 2 + 112, 0]
    np.testing.assert_array_equal(first[::4, ::4], ds.images[0][0])  # the input tile
    # the sidecar names what each row and column shows; predictions are the model's
    side = json.loads((tmp_path / "maps.json").read_text())
    assert side["columns"] == ["input", "saliency", "grad_cam conv2"]
    assert [m["options"] for m in side["methods"]] == [{}, {"layer": "conv2"}]
    with torch.no_grad():
        probs = model(x).softmax(1)
    for row, label, p in zip(side["rows"], labels, probs, strict=True):
        assert row["target"]["class"] == label and row["label"] == label
        assert row["prediction"]["class"] == int(p.argmax())
        assert abs(row["prediction"]["probability"] - float(p.max())) < 1e-3
        assert row["text"].startswith(f"target label {label} | predicted {int(p.argmax())}")


@pytest.mark.slow
def test_attribute_image_files_and_errors(digits_lenet_run, tmp_path: Path, capsys) -> None:
    img = tmp_path / "seven.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30), np.uint8)).save(img)
    out = tmp_path / "files.png"
    code = main(
        [
            "attribute",
            str(digits_lenet_run.path),
            "--image",
            str(img),
            "--method",
            "guided_backprop",
            "--target",
            "3",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out == f"wrote {out} (1 images x 1 methods) and files.json\n"
    row = json.loads(out.with_suffix(".json").read_text())["rows"][0]
    assert row["input"] == "seven.png" and row["target"]["class"] == 3 and "label" not in row

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    code = main(
        [
            "attribute",
            str(digits_lenet_run.path),
            "--image",
            str(bad),
            "--method",
            "saliency",
            "-o",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: image {str(bad)!r}") and err.count("\n") == 1

    code = main(
        [
            "attribute",
            str(digits_lenet_run.path),
            "--index",
            "1",
            "--method",
            "saliency",
            "--target",
            "11",
            "-o",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err == (
        "error: target 11 is out of range: class index 11 does not exist in a model output of "
        "shape (1, 10) with 10 classes; expected an index in 0..9\n"
    )
    code = main(
        [
            "attribute",
            str(digits_lenet_run.path),
            "--index",
            "1",
            "--method",
            "grad_cam",
            "--layer",
            "conv9",
            "-o",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.startswith("error: unknown layer 'conv9'")
    code = main(
        [
            "attribute",
            str(digits_lenet_run.path),
            "--index",
            "1",
            "--method",
            "salency",
            "-o",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.startswith("error: unknown attribution method 'salency'")
    code = main(
        [
            "attribute",
            str(digits_lenet_run.path),
            "--index",
            "99999",
            "--method",
            "saliency",
            "-o",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err == (
        "error: --index 99999 is out of range: the run's dataset has 1797 rows (0..1796)\n"
    )
    torch.manual_seed(0)


def test_cli_module_imports_neither_torch_nor_numpy_at_module_level() -> None:
    import convlens.cli.cmd_attribute as cmd
    from convlens.attribute._registry import METHODS
    from convlens.render.figure import STYLES

    tree = ast.parse(Path(cmd.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name.split(".")[0] for n in top for a in n.names} | {
        (n.module or "").split(".")[0] for n in top if isinstance(n, ast.ImportFrom)
    }
    assert not names & {"torch", "numpy", "PIL"}
    assert cmd.STYLES == STYLES  # the copies kept for a light import agree
    assert ", ".join(METHODS) == cmd.METHOD_NAMES
