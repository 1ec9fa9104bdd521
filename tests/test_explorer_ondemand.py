"""Per-image views computed on request: feature maps of a layer stored at under 5% of its
positions equal a direct forward pass, for one image and for 1,000; the cap and the
memory limit answer in one line; sampled point clouds say where each point sits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _explorer_helpers import decode_points
from _http import InProcessClient
from convlens import open_run
from convlens.explorer import RunView, create_app
from convlens.explorer.binary import unpack
from convlens.model import capture
from convlens.probe import run as probe_run


@pytest.fixture(scope="module")
def view(digits_lenet_run, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("ondemand") / "run"
    shutil.copytree(digits_lenet_run.path, path, ignore=shutil.ignore_patterns("probe"))
    run = open_run(path)
    res = probe_run(run, budget="9MB")  # all 1,797 digits
    assert len(res) == 1797 and res.fraction("conv1") < 0.05
    return RunView(run)


@pytest.fixture(scope="module")
def client(view):
    return InProcessClient(create_app([view]))


def _direct(view, rows):
    """float64 mean of each probed layer's output over probe rows, by a plain forward pass."""
    ds = view.run.dataset()
    at = [int(np.flatnonzero(ds.indices == view.probe.indices[r])[0]) for r in rows]
    model = view.run.model()
    with torch.no_grad(), capture(model, view.layer_names) as seen:
        model(ds.normalization.apply(ds.images[at]))
    return {n: seen[n].double().mean(0).numpy() for n in view.layer_names}


@pytest.mark.parametrize("rows", [[1234], list(range(700, 1700))], ids=["one", "1000"])
def test_maps_of_a_sampled_layer_equal_a_direct_forward_pass(client, view, rows):
    header, arrays = unpack(client.post("/api/runs/0/maps", json={"rows": rows}).content)
    assert header["rows"] == len(rows) and header["computed"] == "on request"
    want = _direct(view, rows)
    for name in view.layer_names:
        ref = want[name] if want[name].ndim == 3 else want[name][:, None, None]
        got = arrays[name].astype(np.float64)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=2**-10, atol=1e-5 * (1 + np.abs(ref).max()))
    assert view.probe.is_sampled("conv1")  # the panel covers every position all the same


def test_a_selection_above_the_cap_gets_one_line(client):
    """Distinct rows count: 10,001 copies of one row are one image."""
    assert client.post("/api/runs/0/maps", json={"rows": [0] * 10_001}).status_code == 200
    reply = client.post("/api/runs/0/maps", json={"rows": list(range(10_001))})
    assert reply.status_code == 413
    assert reply.json()["error"] == (
        "a selection of 10,001 images is above the 10,000 whose feature maps the explorer "
        "computes on request; select fewer images (the probe's class means cover whole classes)"
    )


def test_a_request_beyond_the_memory_limit_is_refused_before_it_runs(client, monkeypatch):
    import convlens.explorer.ondemand as ondemand

    monkeypatch.setattr(ondemand, "MAP_MEMORY", 100_000)
    reply = client.post("/api/runs/0/maps", json={"rows": [3, 4]})
    assert reply.status_code == 413
    assert "above the 0 MiB a request may use; probe fewer layers" in reply.json()["error"]


def test_a_sampled_point_cloud_carries_each_points_position(client, view):
    header, values = decode_points(client.get("/api/runs/0/layers/conv1/points.bin").content)
    points, _, positions = view.probe.points("conv1")
    m = view.probe.storage("conv1")["points_per_image"]
    assert (header["positions"], header["grid_positions"], header["sampled"]) == (m, 576, True)
    np.testing.assert_array_equal(values, points.T.astype(np.float64))
    from convlens.explorer.binary import unpack as raw

    _, arrays = raw(client.get("/api/runs/0/layers/conv1/points.bin").content)
    np.testing.assert_array_equal(arrays["position"], positions[:, 0] * 24 + positions[:, 1])
    desc = client.get("/api/runs").json()["runs"][0]["layers"][0]
    assert desc["name"] == "conv1" and desc["sampled"] is True
    assert desc["stored_points"] == 1797 * m and desc["total_points"] == 1797 * 576
