"""The Recorder in a user's own loop, the log format, and reading while writing."""

from __future__ import annotations

import difflib
import json
import sqlite3
import textwrap
import time

import numpy as np
import pytest
import torch

import convlens.probe
from _http import InProcessClient
from _record_helpers import TinyNet
from convlens import open_run
from convlens.data import load_dataset
from convlens.errors import ConvlensWarning, InputShapeError, ModelError, RunError
from convlens.explorer.app import create_app
from convlens.explorer.session import RunView
from convlens.record import Cadence, LogReader, Recorder, RunInfo, log_schedule, open_log
from convlens.record.logdb import LogWriter

PLAIN_LOOP = """
import torch
import torch.nn.functional as F
model = make_model()
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step, (x, y) in enumerate(loader, start=1):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
"""

RECORDED_LOOP = """
import torch
import torch.nn.functional as F
from convlens.record import Recorder
model = make_model()
rec = Recorder(model, out, input_shape=(1, 28, 28), data="digits",
               normalization=(0.1, 0.3))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step, (x, y) in enumerate(loader, start=1):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    rec.step(step, loss=loss)
    losses.append(loss.item())
rec.close()
"""


def _loader(n: int = 23) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of 8 digits at 28x28, normalised as the recorded loop says: (x - 0.1) / 0.3."""
    ds = load_dataset("digits", size=(28, 28))
    x = (torch.from_numpy(ds.images[: n * 8]).float() / 255 - 0.1) / 0.3
    y = torch.from_numpy(ds.labels[: n * 8])
    return [(x[i : i + 8], y[i : i + 8]) for i in range(0, n * 8, 8)]


def test_recorder_needs_at_most_six_added_lines(tmp_path) -> None:
    diff = difflib.ndiff(PLAIN_LOOP.strip().splitlines(), RECORDED_LOOP.strip().splitlines())
    added = [d for d in diff if d.startswith("+ ")]
    removed = [d for d in difflib.ndiff(PLAIN_LOOP.splitlines(), RECORDED_LOOP.splitlines())
               if d.startswith("- ")]  # fmt: skip
    assert len(added) <= 6 and not removed, added

    loader = _loader()
    plain: dict = {"loader": loader, "losses": [], "make_model": lambda: _seeded(TinyNet)}
    exec(textwrap.dedent(PLAIN_LOOP), plain)
    out = tmp_path / "mine"
    recorded = {"loader": loader, "losses": [], "make_model": lambda: _seeded(TinyNet), "out": out}
    exec(textwrap.dedent(RECORDED_LOOP), recorded)
    assert recorded["losses"] == plain["losses"]  # the recorder changes nothing

    run = open_run(out)
    assert run.manifest.data == {"spec": "digits", "format": "digits", "val": None}
    assert run.manifest.model["spec"] == "_record_helpers:TinyNet"
    assert run.input_shape == (1, 28, 28) and run.classes == [str(d) for d in range(10)]
    assert run.manifest.normalization == {"mean": [0.1], "std": [0.3], "kind": "given"}
    assert [c.step for c in run.checkpoints] == [1, 2, 5, 10, 20, 23]
    final = recorded["model"].state_dict()
    for k, v in run.model().state_dict().items():
        torch.testing.assert_close(v, final[k], rtol=0, atol=0)
    # the run reloads its data with the loop's normalisation: the model input is the same
    torch.testing.assert_close(run.dataset().preprocess(run.dataset().images[:8]), loader[0][0])
    with open_log(run) as log:
        s = log.scalars("loss")
        assert s.step.tolist() == list(range(1, 24))
        np.testing.assert_allclose(s.value, recorded["losses"], rtol=1e-7)
        assert log.tags() == ["loss"] and log.last_step() == 23
        assert log.histograms("fc", "grad").step.tolist() == [1]
        assert log.meta()["status"] == "finished"
    # probe and explore open it as they are
    res = convlens.probe.run(out, limit=64, batch_size=32)
    assert len(res) == 64 and res.classes == run.classes
    client = InProcessClient(create_app([RunView(open_run(out))]))
    body = client.get("/api/runs").json()
    assert body["runs"][0]["n_images"] == 64


def test_recorder_without_normalization_says_so(tmp_path) -> None:
    with pytest.warns(ConvlensWarning, match="records 'none'"):
        rec = Recorder(TinyNet(), tmp_path / "r", input_shape=(1, 28, 28),
                       cadence=Cadence(snapshots=None))  # fmt: skip
    rec.close()
    assert open_run(tmp_path / "r").manifest.normalization["kind"] == "none"


def test_main_factory_is_refused_at_once(tmp_path) -> None:
    Net = type("Net", (torch.nn.Linear,), {"__module__": "__main__"})
    with pytest.raises(ModelError) as err:
        Recorder(Net(2, 2), tmp_path / "r", input_shape=(2,), normalization="none")
    assert str(err.value) == (
        "Recorder: model class Net is defined in the training script (__main__), which "
        "later commands cannot import; move it into a module (say nets.py, then `from nets "
        "import Net`), or pass info=RunInfo(model_spec='path/to/file.py:Net')"
    )
    assert not (tmp_path / "r").exists()


def test_input_shape_that_does_not_fit_is_refused(tmp_path) -> None:
    with pytest.raises(InputShapeError, match=r"input_shape=\(3, 28, 28\) does not fit TinyNet"):
        Recorder(TinyNet(), tmp_path / "r", input_shape=(3, 28, 28), normalization="none")
    assert not (tmp_path / "r").exists()


LINEAR_3_2 = {"in_features": 3, "out_features": 2}
LINEAR_2_2 = {"in_features": 2, "out_features": 2}
LINEAR = {"info": RunInfo(model_options=LINEAR_2_2), "normalization": "none"}


def _seeded(cls):
    torch.manual_seed(3)
    return cls()


def test_log_is_wal_and_readable_within_a_second_while_writing(tmp_path) -> None:
    writer = LogWriter(tmp_path / "log.sqlite", flush_seconds=0.5)
    try:
        con = sqlite3.connect(tmp_path / "log.sqlite")
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        con.close()
        reader = open_log(tmp_path / "log.sqlite")
        assert isinstance(reader, LogReader) and reader.writing() is True
        for step in range(1, 4):
            writer.scalar("train/loss", step, 1.0 / step)
        t0 = time.monotonic()
        while reader.last_step() != 3 and time.monotonic() - t0 < 2.0:
            time.sleep(0.02)
        assert reader.last_step() == 3 and time.monotonic() - t0 < 1.0
        writer.scalar("train/loss", 4, 0.2)
        writer.flush()
        s = reader.scalars("train/loss", since_step=2)
        assert s.step.tolist() == [3, 4]
        np.testing.assert_allclose(s.value, [1 / 3, 0.2])
        assert reader.scalars("no/such/tag").step.size == 0
        reader.close()
    finally:
        writer.close()


def test_nan_values_are_kept_and_rewind_drops_later_rows(tmp_path) -> None:
    model = torch.nn.Linear(3, 2)
    rec = Recorder(model, tmp_path / "r", input_shape=(3,), cadence=Cadence(2, None),
                   info=RunInfo(model_options=LINEAR_3_2), normalization="none")  # fmt: skip
    for step in range(1, 7):
        rec.step(step, {"train/loss": float("nan") if step == 3 else step})
    rec.snapshot(4)
    rec.snapshot(6)
    rec.rewind(4)
    rec.close()
    with open_log(tmp_path / "r") as log:
        s = log.scalars("train/loss")
        assert s.step.tolist() == [1, 2, 3, 4] and np.isnan(s.value[2])
        assert log.histograms("weight").step.tolist() == [1, 2, 4]
        assert log.last_step() == 4
    assert [c.step for c in open_run(tmp_path / "r").checkpoints] == [4]


def test_manifest_of_a_convlens_dataset_is_complete(tmp_path) -> None:
    from convlens.zoo import create

    rec = Recorder(create("lenet"), tmp_path / "d", data="digits", normalization="fit",
                   info=RunInfo(model_spec="lenet", val=(1500, 1797)))  # fmt: skip
    rec.close()
    m = json.loads((tmp_path / "d" / "run.json").read_text())
    assert m["data"] == {"spec": "digits", "format": "digits", "val": [1500, 1797]}
    assert m["model"]["spec"] == "lenet" and m["model"]["input_shape"] == [1, 28, 28]
    assert m["classes"] == [str(i) for i in range(10)]
    ds = open_run(tmp_path / "d").dataset("train")
    mean = ds.images.astype(np.float64).mean() / 255
    assert m["normalization"]["mean"][0] == pytest.approx(mean)  # fitted on the train rows
    assert m["normalization"]["kind"] == "fit"


def test_bad_recorder_arguments_raise_one_line(tmp_path) -> None:
    with pytest.raises(InputShapeError) as err:
        Recorder(torch.nn.Linear(2, 2), tmp_path / "x", info=RunInfo(model_options=LINEAR_2_2))
    assert str(err.value) == (
        "Recorder needs input_shape for model 'torch.nn.modules.linear:Linear': expected "
        "(C, H, W) of one input without the batch dimension; pass input_shape=(1, 28, 28) "
        "for example"
    )
    Recorder(torch.nn.Linear(2, 2), tmp_path / "x", input_shape=(2,), **LINEAR).close()
    with pytest.raises(RunError) as err:
        Recorder(torch.nn.Linear(2, 2), tmp_path / "x", input_shape=(2,), **LINEAR)
    assert str(err.value) == (
        f"{str(tmp_path / 'x')!r} already holds a run: expected a new or empty directory; "
        "resume it (--resume), start again (--overwrite), or choose another output"
    )
    linear = torch.nn.Linear(2, 2)
    Recorder(linear, tmp_path / "x", input_shape=(2,), overwrite=True, **LINEAR).close()
    with pytest.raises(RunError, match="has no training log"):
        open_log(tmp_path)


def test_log_schedule() -> None:
    assert log_schedule(1) == [1]
    assert log_schedule(250) == [1, 2, 5, 10, 20, 50, 100, 200, 250]
    assert log_schedule(200) == [1, 2, 5, 10, 20, 50, 100, 200]
    assert log_schedule()[:7] == [1, 2, 5, 10, 20, 50, 100]


def test_specs_of_the_wrong_kind_are_refused_in_one_line(tmp_path) -> None:
    """``info=`` and ``cadence=`` take their specs; a dict (the old keywords) is named."""
    for kwargs, spec in (
        ({"info": {"model_spec": "lenet"}}, "RunInfo"),
        ({"cadence": {"hist_every": 2}}, "Cadence"),
    ):
        with pytest.raises(TypeError) as err:
            Recorder(TinyNet(), tmp_path / "r", input_shape=(1, 28, 28), **kwargs)
        assert str(err.value).count("\n") == 0
        assert f"expected a convlens.record.{spec}" in str(err.value)
        assert "got dict" in str(err.value)
        assert not (tmp_path / "r").exists()  # nothing was made


def test_recorder_takes_at_most_nine_parameters() -> None:
    """The house rule (about 8, grouped in specs): model, out and seven keywords."""
    import inspect

    assert len(inspect.signature(Recorder).parameters) <= 9
