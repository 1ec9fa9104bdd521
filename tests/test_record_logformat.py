"""``log.sqlite`` read the way ``docs/log-format.md`` tells another tool to read it: plain
sqlite3 and little-endian numpy arrays, checked against the logged tensors themselves."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
import torch

from convlens.record import Cadence, Recorder, open_log
from convlens.record.histograms import summarize
from convlens.record.logdb import LogWriter


@pytest.fixture
def logged(tmp_path):
    """A 4 x 3 linear layer set to known weights at steps 1..3, and a NaN loss at step 3."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 4))
    rng = np.random.default_rng(0)
    weights = {}
    with Recorder(
        model,
        tmp_path / "run",
        input_shape=(3,),
        normalization="none",
        cadence=Cadence(hist_every=1, snapshots=None),
    ) as rec:
        for step in (1, 2, 3):
            w = rng.normal(size=(4, 3)).astype(np.float32)
            with torch.no_grad():
                model[0].weight.copy_(torch.from_numpy(w))
            weights[step] = w
            rec.step(step, {"loss": float("nan") if step == 3 else 1.0 / step})
    return tmp_path / "run" / "log.sqlite", weights


def test_blobs_decode_as_documented(logged):
    path, weights = logged
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    meta = dict(con.execute("SELECT key, value FROM meta"))
    assert meta["schema"] == "convlens-log/1" and meta["status"] == "finished"
    levels = [float(v) for v in meta["percentiles"].split(",")]
    bins = int(meta["bins"])
    rows = con.execute(
        "SELECT h.step, h.count, h.nonfinite, h.min, h.max, h.percentiles, h.edges, h.counts "
        "FROM histograms h JOIN params p ON p.id = h.param_id "
        "WHERE p.name = '0.weight' AND h.kind = 'weight' ORDER BY h.step"
    ).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3]
    for step, count, nonfinite, lo, hi, pct, edges, counts in rows:
        w = weights[step].reshape(-1)
        assert (count, nonfinite) == (12, 0) and (lo, hi) == (w.min(), w.max())
        assert len(edges) == 8 * (bins + 1)  # float64, not float32
        ref_counts, ref_edges = np.histogram(w, bins=bins, range=(float(w.min()), float(w.max())))
        np.testing.assert_array_equal(np.frombuffer(edges, "<f8"), ref_edges)
        np.testing.assert_array_equal(np.frombuffer(counts, "<u4"), ref_counts)
        np.testing.assert_allclose(
            np.frombuffer(pct, "<f4"), np.percentile(w.astype(np.float64), levels), rtol=1e-6
        )
    loss = con.execute(
        "SELECT s.step, s.value FROM scalars s JOIN tags t ON t.id = s.tag_id "
        "WHERE t.name = 'loss' ORDER BY s.step"
    ).fetchall()
    assert loss == [(1, 1.0), (2, 0.5), (3, None)]  # NaN is stored as NULL
    with open_log(path.parent) as log:  # convlens' own reader agrees
        h = log.histograms("0.weight")
        np.testing.assert_array_equal(h.edges[0], np.frombuffer(rows[0][6], "<f8"))
        assert math.isnan(log.scalars("loss").value[-1])


def test_a_summary_of_no_finite_value_has_empty_blobs_and_reads_back(tmp_path):
    writer = LogWriter(tmp_path / "log.sqlite")
    for step, values in ((1, np.arange(10.0)), (2, np.full(10, np.nan)), (3, np.arange(5.0))):
        writer.histogram("fc.weight", "grad", step, summarize(values))
    writer.close()
    con = sqlite3.connect(tmp_path / "log.sqlite")
    sizes = con.execute(
        "SELECT count, min, length(percentiles), length(edges), length(counts) FROM histograms "
        "ORDER BY step"
    ).fetchall()
    p, b = 4 * 9, 64
    assert sizes == [(10, 0.0, p, 8 * (b + 1), 4 * b), (0, None, p, 0, 0), (5, 0.0, p, 520, 256)]
    with open_log(tmp_path / "log.sqlite") as log:
        h = log.histograms("fc.weight", "grad")
    assert h.count.tolist() == [10, 0, 5] and h.nonfinite.tolist() == [0, 10, 0]
    assert h.edges.shape == (3, b + 1) and np.isnan(h.edges[1]).all()
    assert h.counts[1].sum() == 0 and h.counts[[0, 2]].sum(1).tolist() == [10, 5]
    np.testing.assert_array_equal(h.edges[2], np.histogram(np.arange(5.0), bins=b)[1])
