"""Figures that name what they show: the report's charts and the top-k figure (labels read
back from the matplotlib figures, numbers from their JSON sidecars against the probe), and
the projection method chosen when a model has no max-pool."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import convlens
import convlens.probe
from convlens.attribute import project_units
from convlens.cli.main import main
from convlens.probe.figures import has_max_pool, projection_rule, topk_figure
from convlens.probe.report import LayerReport, accuracy_chart, confusion_chart
from convlens.rundir import DataEntry, ModelEntry


@pytest.fixture(scope="module")
def probe(digits_lenet_run, tmp_path_factory):
    """A copy of the digits lenet run, probed on its first 200 images."""
    path = tmp_path_factory.mktemp("fig") / "run"
    shutil.copytree(digits_lenet_run.path, path)
    return convlens.probe.run(convlens.open_run(path), limit=200, projections=())


@pytest.fixture(scope="module")
def resnet_run(digits_lenet_run, tmp_path_factory) -> convlens.Run:
    """resnet8 (no max-pool) on 1-channel digits, untrained, probed on 60 images."""
    torch.manual_seed(0)
    run = convlens.Run.create(
        tmp_path_factory.mktemp("resnet") / "resnet8",
        ModelEntry("resnet8", (1, 28, 28), options={"in_channels": 1}),
        DataEntry("digits", digits_lenet_run.classes, digits_lenet_run.normalization),
    )
    run.save_checkpoint(run.build_model(), 0)
    convlens.probe.run(run, limit=60, layers=["layer2", "fc"], projections=())
    return run


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(match=lambda a: hasattr(a, "get_text"))]


def test_accuracy_chart_has_axes_title_and_the_value_on_each_bar(probe):
    rows = [
        LayerReport("conv2", (8, 8, 50), 800, 0.99, 0.912),
        LayerReport("fc2", (10,), 10, 0.97, 0.956),
    ]
    fig, record = accuracy_chart(probe, rows)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "layer"
    assert ax.get_ylabel() == "linear-probe accuracy (fraction correct)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv2", "fc2"]
    assert f"checkpoint {probe.checkpoint}" in ax.get_title()
    assert "0.912" in _texts(fig) and "0.956" in _texts(fig)
    heights = [p.get_height() for p in ax.patches]
    assert heights == [0.912, 0.956]
    counts = probe.class_counts()
    assert record["chance"] == pytest.approx(counts.max() / counts.sum())
    assert record["layers"][0] == {"layer": "conv2", "features": 800, "train": 0.99, "test": 0.912}


def test_confusion_chart_labels_classes_and_shows_every_count(probe):
    matrix = probe.confusion()
    fig, record = confusion_chart(probe, matrix)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    names = [str(c) for c in probe.classes]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    cells = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    assert cells == {(t, p): str(matrix[t, p]) for t in range(10) for p in range(10)}
    assert record["matrix"] == matrix.tolist()
    assert record["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())


def test_report_writes_both_charts_with_sidecars(probe, tmp_path, capsys):
    out = tmp_path / "rep"
    argv = [
        "report",
        str(probe.run.path),
        "--layers",
        "fc2",
        "--inversion-steps",
        "0",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    for name in ("accuracy", "confusion"):
        png, sidecar = out / f"{name}.png", out / f"{name}.json"
        with Image.open(png) as image:
            assert image.size[0] > 400  # a real chart, not a strip of bars
        assert json.loads(sidecar.read_text())["figure"] == name
    record = json.loads((out / "accuracy.json").read_text())
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed == f"fc2          linear probe test accuracy {record['layers'][0]['test']:.3f}"


def test_topk_figure_names_layer_channels_and_method(probe):
    fig, record = topk_figure(probe, "conv2", [0, 3])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["channel 0", "channel 3"]
    assert fig._suptitle.get_text() == (
        f"{probe.run.name} · layer conv2 · top-9 of each channel · checkpoint {probe.checkpoint}"
    )
    assert ax.get_title() == "deconvnet projections (Zeiler & Fergus; the model max-pools)"
    assert "their deconvnet projections (right)" in ax.get_xlabel()
    values, images, positions = probe.topk("conv2")
    assert record["method"] == "deconvnet" and record["channels"] == [0, 3]
    np.testing.assert_array_equal(record["values"], values[[0, 3]].astype(np.float64))
    assert record["images"] == images[[0, 3]].tolist()
    assert record["positions"] == positions[[0, 3]].tolist()


def test_cli_topk_writes_the_figure_and_its_sidecar(probe, tmp_path, capsys):
    out = tmp_path / "t.png"
    argv = ["topk", str(probe.run.path), "--layer", "relu1", "--channels", "2", "-o", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out == (
        f"wrote {out} and t.json (deconvnet projections (Zeiler & Fergus; the model max-pools))\n"
    )
    assert json.loads(out.with_suffix(".json").read_text())["channels"] == [2]
    with Image.open(out) as image:
        assert image.size[0] > 600


def test_without_max_pool_projections_default_to_guided_backprop(resnet_run, tmp_path, capsys):
    res = resnet_run.probe()
    fig, record = topk_figure(res, "layer2", [1])
    assert record["method"] == "guided"
    assert fig.axes[0].get_title().startswith("guided backprop projections: the model has no")
    # why: deconvnet's projections of one unit are the same for every image here
    _, images, positions = res.topk("layer2")
    ds = res.dataset()
    rows = [int(np.flatnonzero(ds.indices == i)[0]) for i in images[1, :4]]
    x = ds.normalization.apply(ds.images[rows])
    pos = np.repeat(positions[1, :1], 4, 0)
    for rule, same in (("deconvnet", True), ("guided", False)):
        p = project_units(resnet_run.model(), x, "layer2", 1, pos, rule=rule).reshape(4, -1)
        p = p / p.norm(dim=1, keepdim=True)
        assert bool(((p @ p.T).min() > 0.9999).item()) is same
    # an explicit --method deconvnet still gives deconvnet, and says it was asked for
    out = tmp_path / "d.png"
    argv = ["topk", str(resnet_run.path), "--layer", "layer2", "--channels", "1"]
    assert main([*argv, "--method", "deconvnet", "-o", str(out)]) == 0
    assert capsys.readouterr().out.endswith("(deconvnet projections (as asked))\n")
    assert json.loads(out.with_suffix(".json").read_text())["method"] == "deconvnet"


class _FunctionalPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.conv(x), 2)


def test_max_pool_is_found_as_a_module_or_a_functional_call():
    x = torch.zeros(1, 1, 8, 8)
    assert has_max_pool(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveMaxPool2d(1)))
    assert not has_max_pool(_FunctionalPool())  # a call is only seen with an input
    assert has_max_pool(_FunctionalPool(), x)
    assert not has_max_pool(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2)), x)
    assert projection_rule(_FunctionalPool(), x)[0] == "deconvnet"
    with pytest.raises(convlens.errors.DataError, match="projection method 'sharp': expected"):
        projection_rule(_FunctionalPool(), x, "sharp")


def test_the_channel_panel_says_which_projection_it_shows(resnet_run):
    from _http import InProcessClient
    from convlens.explorer import RunView, create_app

    client = InProcessClient(create_app([RunView(resnet_run)]))
    head, arrays = client.binary("/api/runs/0/layers/layer2/channels/1/topk.bin")
    assert head["method"] == "guided"
    assert head["method_note"].startswith("guided backprop projections: the model has no max-pool")
    res = resnet_run.probe()
    x = resnet_run.preprocess(res.dataset().images[arrays["rows"].copy()])
    pos = arrays["positions"].copy()
    want = project_units(resnet_run.model(), x, "layer2", 1, pos, rule="guided")
    np.testing.assert_allclose(arrays["projections"], want.numpy(), rtol=1e-5, atol=1e-7)
