"""The probe verbs: exact printed lines, exit codes, one-line errors, figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convlens import open_run
from convlens.cli.main import main
from convlens.probe import open_probe
from convlens.probe import run as probe_run


@pytest.fixture(scope="module")
def probed(digits_lenet_run, tmp_path_factory) -> Path:
    """A copy of the digits lenet run with both checkpoints probed (first 400 images)."""
    path = tmp_path_factory.mktemp("cli") / "run"
    shutil.copytree(digits_lenet_run.path, path)
    assert main(["probe", str(path), "--checkpoints", "all", "--limit", "400"]) == 0
    return path


def test_probe_prints_one_line_per_checkpoint(digits_lenet_run, tmp_path, capsys):
    out = tmp_path / "p"
    code = main(
        [
            "probe",
            str(digits_lenet_run.path),
            "--limit",
            "60",
            "--layers",
            "conv2",
            "fc1",
            "--out",
            str(out),
            "--no-projections",
        ]
    )
    assert code == 0
    name = digits_lenet_run.checkpoints[-1].name
    assert capsys.readouterr().out == (f"probed {name}: 60 images, 2 layers -> {out / name}\n")
    assert open_probe(out / name).layers == ["conv2", "fc1"]


def test_probe_store_opens_through_the_run(probed):
    run = open_run(probed)
    first, last = (c.name for c in run.checkpoints)
    assert run.probe().checkpoint == last
    assert run.probe("first").checkpoint == first
    assert len(run.probe()) == 400


def test_topk_montage_has_patches_and_projections(probed, tmp_path, capsys):
    from convlens.probe.figures import topk_montage

    montage = topk_montage(open_run(probed).probe(), "conv2", [0, 3])
    # 2 channels x (9 patches + 9 projections), 14x14 crops, 1 px padding, upscaled x3
    assert montage.shape == (3 * (2 * 15 + 1), 3 * (18 * 15 + 1), 3)
    out = tmp_path / "m.png"  # the CLI writes it as a labelled figure (test_probe_figures)
    argv = ["topk", str(probed), "--layer", "conv2", "--channels", "1", "--method", "guided"]
    assert main([*argv, "-o", str(out)]) == 0
    assert (
        capsys.readouterr().out
        == f"wrote {out} and m.json (guided backprop projections (as asked))\n"
    )


def test_evolution_has_one_column_per_snapshot(probed, tmp_path, capsys):
    out = tmp_path / "e.png"
    assert (
        main(["evolution", str(probed), "--layer", "conv1", "--channels", "0-2", "-o", str(out)])
        == 0
    )
    names = [c.name for c in open_run(probed).checkpoints]
    assert capsys.readouterr().out == (f"wrote {out}: 2 snapshots ({', '.join(names)})\n")
    img = np.asarray(Image.open(out))
    assert img.shape == (3 * (3 * 6 + 1), 3 * (2 * 6 + 1), 3)  # conv1 boxes are 5x5


def test_neighbors_prints_the_nearest_images(probed, tmp_path, capsys):
    res = open_run(probed).probe()
    emb = res.embeddings("relu1").astype(np.float32)
    dist = np.sqrt(((emb - emb[5]) ** 2).sum(1))
    dist[5] = np.inf
    order = np.argsort(dist, kind="stable")[:3]
    png = tmp_path / "n.png"
    argv = ["neighbors", str(probed), "--index", "5", "--layer", "relu1", "-k", "3"]
    assert main([*argv, "-o", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"image 5 (label {res.labels[5]}) at relu1:"
    assert lines[1] == "rank  index  label  distance"
    for rank, row in enumerate(order, 1):
        want = f"{rank:>4}  {res.indices[row]:>5}  {res.labels[row]:>5}  {dist[row]:.4f}"
        assert lines[1 + rank] == want
    assert lines[-1] == f"wrote {png}"


def test_report_writes_accuracy_per_layer(probed, tmp_path, capsys):
    out = tmp_path / "rep"
    assert (
        main(
            [
                "report",
                str(probed),
                "--layers",
                "pool2",
                "fc2",
                "-o",
                str(out),
                "--inversion-steps",
                "0",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("pool2        linear probe test accuracy ")
    assert lines[-1] == f"wrote {out / 'report.md'} and {out / 'report.html'}"
    acc = float(lines[1].rsplit(" ", 1)[1])
    assert acc > 0.8  # the class scores of a trained net separate the digits linearly
    md = (out / "report.md").read_text()
    assert "| fc2 | 10 | 10 |" in md
    assert (out / "accuracy.png").exists() and (out / "confusion.png").exists()


# ----------------------------------------------------------------- bad input
def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err.strip()


def test_unknown_layer_is_one_line(digits_lenet_run, tmp_path, capsys):
    err = _error(
        capsys, ["probe", str(digits_lenet_run.path), "--layers", "conv9", "--out", str(tmp_path)]
    )
    assert err.startswith("error: unknown layer 'conv9': expected one of the model's 8 layer")
    assert "closest names: conv2, conv1" in err


def test_checkpoint_not_in_run_is_one_line(digits_lenet_run, probed, capsys):
    err = _error(capsys, ["topk", str(probed), "--layer", "conv1", "--checkpoint", "step-9"])
    assert err.startswith("error: checkpoint 'step-9' is not in run ")


def test_mismatched_images_are_one_line(digits_lenet_run, tmp_path, capsys):
    bad = tmp_path / "rgb.npz"
    np.savez(bad, x=np.zeros((4, 3, 32, 32), np.uint8), y=np.zeros(4, np.int64))
    err = _error(
        capsys,
        ["probe", str(digits_lenet_run.path), "--data", str(bad), "--out", str(tmp_path / "o")],
    )
    assert "has images of shape (3, 32, 32) (C, H, W), but the model expects (1, 28, 28)" in err


def test_empty_dataset_is_one_line(digits_lenet_run, tmp_path, capsys):
    empty = tmp_path / "empty.npz"
    np.savez(empty, x=np.zeros((0, 1, 28, 28), np.uint8), y=np.zeros(0, np.int64))
    err = _error(
        capsys,
        ["probe", str(digits_lenet_run.path), "--data", str(empty), "--out", str(tmp_path / "o")],
    )
    assert "is empty: expected at least one image" in err


def test_too_little_disk_space_is_one_line(digits_lenet_run, tmp_path, monkeypatch):
    import convlens.probe._target as target
    from convlens.errors import DataError

    monkeypatch.setattr(target, "free_bytes", lambda path: 1_000_000)
    with pytest.raises(DataError) as info:
        probe_run(digits_lenet_run, out=tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"not enough disk space for the probe in '{tmp_path}")
    # per image: float16 points + float16 PCA coordinates of the 6 default layers (53,860 B),
    # per-image channel means of the 4 spatial ones and image coordinates of the 2 others
    # (576 B), outputs and labels (64 B): 1797 x 54,500 B = 97.9 MB, + class means, top-k,
    # input means and the partial state (0.9 MB), metadata and manifest (0.7 MB) = 99.5 MB
    assert "it needs about 99.5 MB but 1.0 MB is free" in msg
    assert not (tmp_path / digits_lenet_run.checkpoints[-1].name).exists()


def test_unprobed_checkpoint_says_how_to_probe_it(digits_lenet_run, capsys):
    err = _error(
        capsys,
        [
            "neighbors",
            str(digits_lenet_run.path),
            "--index",
            "0",
            "--layer",
            "fc1",
            "--checkpoint",
            "first",
        ],
    )
    name = digits_lenet_run.checkpoints[0].name
    assert err == (
        f"error: checkpoint {name!r} of run {str(digits_lenet_run.path)!r} was not probed; "
        f"run `convlens probe {digits_lenet_run.path} --checkpoints all` first"
    )


def test_nan_activations_are_one_line(tmp_path):
    import torch

    from convlens.data import load_dataset
    from convlens.errors import DataError
    from convlens.zoo import create

    model = create("lenet").eval()
    with torch.no_grad():
        model.conv2.bias[3] = float("nan")
    ds = load_dataset("digits").subset(range(40))
    with pytest.raises(DataError) as info:
        probe_run(model, data=ds, out=tmp_path / "p", batch_size=16)
    assert str(info.value) == (
        "layer 'conv2' produced NaN or infinite values (channel 3, in the batch of dataset "
        "images 0..15): expected finite activations; check the checkpoint's weights "
        "(a diverged run?)"
    )
    from convlens.errors import RunError

    with pytest.raises(RunError, match=r"is incomplete \(interrupted\?\)"):
        open_probe(tmp_path / "p")  # nothing half-written is listed as complete


def test_figures_draw_the_images_the_probe_ran_on(digits_lenet_run, mnist_dir, tmp_path):
    """A digits run probed on MNIST (--data): the top-k patches are MNIST's pixels."""
    from convlens.data import load_dataset
    from convlens.probe.figures import _patch, topk_montage
    from convlens.render import as_rgb

    res = probe_run(
        digits_lenet_run,
        data=str(mnist_dir),
        limit=50,
        layers=["conv1"],
        out=tmp_path / "p",
        projections=(),
    )
    mnist = load_dataset(str(mnist_dir), size=(28, 28))
    np.testing.assert_array_equal(res.dataset().images, mnist.images)
    montage = topk_montage(res, "conv1", [0], scale=1)
    boxes = res.topk_boxes("conv1")
    size = (int((boxes[..., 2] - boxes[..., 0]).max()), int((boxes[..., 3] - boxes[..., 1]).max()))
    first = int(res.topk("conv1")[1][0, 0])
    want = as_rgb(_patch(mnist.images[first].transpose(1, 2, 0), boxes[0, 0], size)[None])[0]
    np.testing.assert_array_equal(montage[1 : 1 + size[0], 1 : 1 + size[1]], want)
    digits = digits_lenet_run.dataset().images[first].transpose(1, 2, 0)
    assert not np.array_equal(want, as_rgb(_patch(digits, boxes[0, 0], size)[None])[0])


def test_figures_refuse_a_probe_whose_images_cannot_be_reloaded(digits_lenet_run, tmp_path):
    """A run probed on arrays given in memory, and a bare model: one-line RunErrors."""
    from convlens.data import ImageDataset
    from convlens.errors import RunError
    from convlens.probe.figures import topk_montage

    own = digits_lenet_run.dataset()
    arrays = ImageDataset(own.images[:20], own.labels[:20], own.classes)  # no source
    res = probe_run(
        digits_lenet_run, data=arrays, layers=["fc1"], out=tmp_path / "a", projections=()
    )
    with pytest.raises(RunError, match=r"ran on data given in memory, so its images cannot"):
        topk_montage(res, "fc1", [0])
    bare = probe_run(
        digits_lenet_run.model(),
        data=own.subset(slice(0, 20)),
        layers=["fc1"],
        out=tmp_path / "b",
        projections=(),
    )
    with pytest.raises(RunError, match=r"cannot be reloaded; probe with a dataset path"):
        bare.dataset()
