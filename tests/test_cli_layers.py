"""``convlens layers``: exact table lines, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from convlens.cli.main import main
from convlens.data import Normalization
from convlens.rundir import DataEntry, ModelEntry, Run

LENET_TABLE = [
    "name     type       output     params  rf size  rf stride  rf offset  default",
    "conv1    Conv2d     20x24x24      520  5x5      1x1        2,2        *",
    "pool1    MaxPool2d  20x12x12        0  6x6      2x2        2.5,2.5    *",
    "conv2    Conv2d     50x8x8     25,050  14x14    2x2        6.5,6.5    *",
    "pool2    MaxPool2d  50x4x4          0  16x16    4x4        7.5,7.5    *",
    "flatten  Flatten    800             0  -        -          -",
    "fc1      Linear     500       400,500  -        -          -",
    "relu1    ReLU       500             0  -        -          -          *",
    "fc2      Linear     10          5,010  -        -          -          *",
    # 20*1*5*5+20 + 50*20*5*5+50 + 800*500+500 + 500*10+10
    "total parameters: 431,080",
    # flatten only reshapes; fc1's stage ends with its activation, relu1
    "default layers (*): 6 of 8, taken when no layer is named",
]


def test_lenet_table_exact(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", "--model", "lenet"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == LENET_TABLE
    assert err == ""


def test_lenet_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", "--model", "lenet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {
        "name": "conv1",
        "type": "Conv2d",
        "output_shape": [20, 24, 24],
        "params": 520,
        "rf_size": [5, 5],
        "rf_stride": [1, 1],
        "rf_offset": [2.0, 2.0],
        "default": True,
    }
    assert rows[3]["rf_size"] == [16, 16] and rows[3]["rf_offset"] == [7.5, 7.5]
    assert rows[5] == {
        "name": "fc1",
        "type": "Linear",
        "output_shape": [500],
        "params": 400500,
        "default": False,
    }
    assert [r["name"] for r in rows if r["default"]] == [
        "conv1", "pool1", "conv2", "pool2", "relu1", "fc2",
    ]  # fmt: skip
    assert [r["name"] for r in rows] == [
        "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "relu1", "fc2",
    ]  # fmt: skip


def test_run_directory_gives_the_same_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Run.create(
        tmp_path / "run",
        ModelEntry("lenet", (1, 28, 28)),
        DataEntry("digits", [str(d) for d in range(10)], Normalization((0.1,), (0.3,))),
    )
    assert main(["layers", str(run.path)]) == 0
    assert capsys.readouterr().out.splitlines() == LENET_TABLE


def test_factory_with_input_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_nets_layers.py").write_text(
        "from torch import nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.AvgPool2d(2))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["layers", "--model", "my_nets_layers:make", "--input-shape", "3,10,12"]
    assert main(argv) == 0
    # conv 3x3 d2 p2: -2..2 -> 5/1, centre 0; pool 2/2: -2..3 -> 6/2, centre 0.5.
    assert capsys.readouterr().out.splitlines() == [
        "name  type       output   params  rf size  rf stride  rf offset  default",
        "0     Conv2d     4x10x12     112  5x5      1x1        0,0        *",
        "1     AvgPool2d  4x5x6         0  6x6      2x2        0.5,0.5    *",
        "total parameters: 112",
        "default layers (*): 2 of 2, taken when no layer is named",
    ]
    sys.modules.pop("my_nets_layers", None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--model", "lenett"],
            "error: unknown model 'lenett': expected a zoo name or module:factory; "
            "closest zoo models: lenet, resnet8, resnet50",
        ),
        (
            ["--model", "no_such_pkg.nets:make"],
            "error: model spec 'no_such_pkg.nets:make': module 'no_such_pkg.nets' is found "
            "neither on the Python path nor in the working directory; give "
            "path/to/file.py:make, or install the module",
        ),
        (
            ["--model", "json:no_such_factory"],
            "error: model factory 'json:no_such_factory': 'json' has no callable "
            "'no_such_factory'; name a function or class that returns an nn.Module",
        ),
        (
            ["--model", "torch.nn:Identity"],
            "error: model 'torch.nn:Identity' has no known input shape; pass --input-shape C,H,W",
        ),
        (
            ["--model", "lenet", "--input-shape", "1,10,10"],
            "error: a dry forward pass of LeNet on input shape (1, 10, 10) failed (RuntimeError: "
            "Calculated padded input size per channel: (3 x 3). Kernel size: (5 x 5). Kernel "
            "size can't be greater than actual input size); pass the input shape (C, H, W) the "
            "model expects",
        ),
        ([], "error: give a RUN directory or --model NAME|module:factory"),
        (
            ["some_run", "--model", "lenet"],
            "error: got both RUN 'some_run' and --model 'lenet'; give one of them",
        ),
    ],
)
def test_bad_input_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["layers", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [message]


def test_missing_run_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["layers", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: run directory {str(missing)!r} does not exist; check the path, "
        "or create one with `convlens train`"
    ]
