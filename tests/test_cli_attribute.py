"""``convlens attribute``: exact lines, exit codes, files."""

from __future__ import annotations

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
        f"wrote {out} (2 images x 2 methods)",
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
    # 4 px scale -> 112 px tiles under a 12 px label band; 2 rows, 3 columns, 2 px padding
    assert picture.shape == (2 * (112 + 12) + 3 * 2, 3 * 112 + 4 * 2, 3)


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
    assert capsys.readouterr().out == f"wrote {out} (1 images x 1 methods)\n"

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
        "error: target 11 is out of range: class index 11 does not exist in an output with "
        "10 classes; expected an index in 0..9\n"
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
            "fc1",
            "-o",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.startswith("error: layer 'fc1' has output of shape (1, 500)")
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
