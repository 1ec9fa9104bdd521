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

from _record_helpers import TinyNet
from convlens import open_run
from convlens.errors import InputShapeError, RunError
from convlens.record import EXTERNAL, LogReader, Recorder, log_schedule, open_log
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
rec = Recorder(model, out, input_shape=(1, 28, 28), classes=list("0123456789"))
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
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 1, 28, 28, generator=g), torch.arange(8) % 10) for _ in range(n)]


def test_recorder_needs_at_most_five_added_lines(tmp_path) -> None:
    diff = difflib.ndiff(PLAIN_LOOP.strip().splitlines(), RECORDED_LOOP.strip().splitlines())
    added = [d for d in diff if d.startswith("+ ")]
    removed = [d for d in difflib.ndiff(PLAIN_LOOP.splitlines(), RECORDED_LOOP.splitlines())
               if d.startswith("- ")]  # fmt: skip
    assert len(added) <= 5 and not removed, added

    loader = _loader()
    plain: dict = {"loader": loader, "losses": [], "make_model": lambda: _seeded(TinyNet)}
    exec(textwrap.dedent(PLAIN_LOOP), plain)
    out = tmp_path / "mine"
    recorded = {"loader": loader, "losses": [], "make_model": lambda: _seeded(TinyNet), "out": out}
    exec(textwrap.dedent(RECORDED_LOOP), recorded)
    assert recorded["losses"] == plain["losses"]  # the recorder changes nothing

    run = open_run(out)
    assert run.manifest.data == {"spec": EXTERNAL, "format": EXTERNAL, "val": None}
    assert run.manifest.model["spec"] == "_record_helpers:TinyNet"
    assert run.input_shape == (1, 28, 28) and run.classes == list("0123456789")
    assert [c.step for c in run.checkpoints] == [1, 2, 5, 10, 20, 23]
    final = recorded["model"].state_dict()
    for k, v in run.model().state_dict().items():
        torch.testing.assert_close(v, final[k], rtol=0, atol=0)
    with open_log(run) as log:
        s = log.scalars("loss")
        assert s.step.tolist() == list(range(1, 24))
        np.testing.assert_allclose(s.value, recorded["losses"], rtol=1e-7)
        assert log.tags() == ["loss"] and log.last_step() == 23
        assert log.histograms("fc", "grad").step.tolist() == [1]
        assert log.meta()["status"] == "finished"


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
    rec = Recorder(model, tmp_path / "r", input_shape=(3,), hist_every=2, snapshots=None)
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

    rec = Recorder(create("lenet"), tmp_path / "d", data="digits", model_spec="lenet",
                   val=(1500, 1797))  # fmt: skip
    rec.close()
    m = json.loads((tmp_path / "d" / "run.json").read_text())
    assert m["data"] == {"spec": "digits", "format": "digits", "val": [1500, 1797]}
    assert m["model"]["spec"] == "lenet" and m["model"]["input_shape"] == [1, 28, 28]
    assert m["classes"] == [str(i) for i in range(10)]
    ds = open_run(tmp_path / "d").dataset("train")
    mean = ds.images.astype(np.float64).mean() / 255
    assert m["normalization"]["mean"][0] == pytest.approx(mean)  # fitted on the train rows


def test_bad_recorder_arguments_raise_one_line(tmp_path) -> None:
    with pytest.raises(InputShapeError) as err:
        Recorder(torch.nn.Linear(2, 2), tmp_path / "x")
    assert str(err.value) == (
        "Recorder needs input_shape for model 'torch.nn.modules.linear:Linear': expected "
        "(C, H, W) of one input without the batch dimension; pass input_shape=(1, 28, 28) "
        "for example"
    )
    Recorder(torch.nn.Linear(2, 2), tmp_path / "x", input_shape=(2,)).close()
    with pytest.raises(RunError) as err:
        Recorder(torch.nn.Linear(2, 2), tmp_path / "x", input_shape=(2,))
    assert str(err.value) == (
        f"{str(tmp_path / 'x')!r} already holds a run: expected a new or empty directory; "
        "resume it (--resume), start again (--overwrite), or choose another output"
    )
    Recorder(torch.nn.Linear(2, 2), tmp_path / "x", input_shape=(2,), overwrite=True).close()
    with pytest.raises(RunError, match="has no training log"):
        open_log(tmp_path)


def test_log_schedule() -> None:
    assert log_schedule(1) == [1]
    assert log_schedule(250) == [1, 2, 5, 10, 20, 50, 100, 200, 250]
    assert log_schedule(200) == [1, 2, 5, 10, 20, 50, 100, 200]
    assert log_schedule()[:7] == [1, 2, 5, 10, 20, 50, 100]
