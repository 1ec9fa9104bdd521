"""The dashboard API through an in-process client, on runs recorded with the Recorder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from _dashboard_helpers import TinyNet, ema_reference, record_run
from _http import InProcessClient
from convlens.explorer.dashboard import create_dashboard_app, weight_image
from convlens.record import Cadence, Recorder, open_log


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("dashboard-api")
    record_run(root / "lr-small", lr=0.05, steps=60)
    record_run(root / "lr-large", lr=5.0, steps=60)
    return [root / "lr-small", root / "lr-large"]


@pytest.fixture(scope="module")
def client(runs: list[Path]) -> InProcessClient:
    return InProcessClient(create_dashboard_app(runs, allowed_hosts=["127.0.0.1"]))


def test_runs_describe_tags_params_progress_and_checkpoints(client):
    body = client.get("/api/dashboard/runs").json()
    small, large = body["runs"]
    assert (small["id"], small["label"], large["label"]) == (0, "lr-small", "lr-large")
    assert small["tags"] == ["train/acc", "train/loss"]
    assert small["params"] == ["conv1.weight", "conv1.bias", "fc.weight", "fc.bias"]
    assert (small["last_step"], small["hist_step"], small["writing"]) == (60, 60, False)
    assert small["status"] == "finished"
    assert small["checkpoints"] == [1, *range(5, 61, 5)]
    assert (small["training"]["lr"], large["training"]["lr"]) == (0.05, 5.0)


def test_full_curve_is_the_logged_values_and_their_debiased_ema(client, runs):
    header, a = client.binary("/api/dashboard/runs/1/scalars.bin", tag="train/loss", smooth=0.8)
    log = open_log(runs[1]).scalars("train/loss")
    assert (header["count"], header["buckets"], header["last_step"]) == (60, 0, 60)
    np.testing.assert_array_equal(a["raw_step"], log.step)
    np.testing.assert_array_equal(a["raw_value"], log.value.astype(np.float32))
    np.testing.assert_allclose(a["smooth_value"], ema_reference(log.value, 0.8), rtol=1e-6)


def test_downsampled_curve_keeps_each_buckets_min_and_max(client, runs):
    log = open_log(runs[0]).scalars("train/acc")
    header, a = client.binary("/api/dashboard/runs/0/scalars.bin", tag="train/acc", points=16)
    assert (header["buckets"], header["in_range"]) == (16, 60)
    for b in range(16):  # brute force: 16 buckets of steps 1..60 (span 60)
        inside = [i for i, s in enumerate(log.step) if b * 60 <= (s - 1) * 16 < (b + 1) * 60]
        kept = [i for i, s in enumerate(a["raw_step"]) if s in log.step[inside]]
        got = a["raw_value"][kept]
        assert got.min() == np.float32(log.value[inside].min())
        assert got.max() == np.float32(log.value[inside].max())
        assert len(kept) <= 2
    smooth = ema_reference(log.value, 0.6)
    assert a["smooth_value"].max() == np.float32(smooth.max())


def test_since_step_returns_exactly_the_later_points(client, runs):
    log = open_log(runs[0]).scalars("train/loss")
    header, a = client.binary(
        "/api/dashboard/runs/0/scalars.bin", tag="train/loss", since_step=52, smooth=0.6
    )
    assert a["raw_step"].tolist() == list(range(53, 61))
    np.testing.assert_array_equal(a["raw_value"], log.value[52:].astype(np.float32))
    np.testing.assert_allclose(a["smooth_value"], ema_reference(log.value, 0.6)[52:], rtol=1e-6)
    assert header["since_step"] == 52


def test_zoomed_curve_covers_only_the_step_range(client):
    _, a = client.binary(
        "/api/dashboard/runs/0/scalars.bin", tag="train/loss", start=10, end=19, points=16
    )
    assert a["raw_step"].tolist() == list(range(10, 20))


def test_percentile_bands_match_numpy_on_the_checkpointed_weights(client, runs):
    header, a = client.binary("/api/dashboard/runs/1/bands.bin", param="conv1.weight")
    assert a["step"].tolist() == [1, *range(5, 61, 5)]
    assert header["buckets"] == 0 and header["count"] == 13
    levels = a["levels"].astype(np.float64)
    for t, step in enumerate(a["step"].astype(int)):
        w = load_file(str(runs[1] / "checkpoints" / f"step-{step:08d}.safetensors"))
        ref = np.percentile(w["conv1.weight"].astype(np.float64), levels)
        np.testing.assert_allclose(a["percentiles"][t], ref, rtol=1e-5, atol=1e-6)
        assert a["mean"][t] == pytest.approx(w["conv1.weight"].mean(dtype=np.float64), abs=1e-6)


def test_gradient_bands_are_served_too_and_a_layer_name_means_its_weight(client, runs):
    header, a = client.binary("/api/dashboard/runs/0/bands.bin", param="fc", kind="grad")
    assert header["param"] == "fc.weight"
    h = open_log(runs[0]).histograms("fc.weight", "grad")
    np.testing.assert_array_equal(a["percentiles"], h.percentiles)


def test_ridgeline_rows_are_each_runs_histograms_on_common_bins(client, runs):
    header, a = client.binary(
        "/api/dashboard/ridgeline.bin", runs="0,1", param="fc.weight", rows=4, bins=30
    )
    assert header["runs"] == [0, 1]
    assert a["targets"].tolist() == [1.0, 20.0, 40.0, 60.0]
    assert a["steps"].tolist() == [[1, 20, 40, 60], [1, 20, 40, 60]]
    edges, density = a["edges"], a["density"]
    for r, run in enumerate(runs):
        w = load_file(str(run / "checkpoints" / "step-00000040.safetensors"))["fc.weight"]
        assert edges[0] <= w.min() and w.max() <= edges[-1]
        # every value is inside the common bins, so each row holds all its mass
        assert density[r, 2].sum() == pytest.approx(1.0, abs=1e-5)
        # mass in the central half matches the raw weights within one stored bin of spread
        mid = (edges[0] + edges[-1]) / 2
        assert density[r, 2, :15].sum() == pytest.approx((w < mid).mean(), abs=0.05)


def test_heatmaps_show_the_checkpointed_weights_in_their_layout(client, runs):
    header, a = client.binary(
        "/api/dashboard/runs/0/heatmaps.bin", param="conv1.weight", snapshots=4
    )
    assert a["steps"].tolist() == [1, 20, 40, 60]
    assert header["shape"] == [4, 1, 3, 3] and header["factor"] == 1
    scale = 0.0
    for s, step in enumerate([1, 20, 40, 60]):
        w = load_file(str(runs[0] / "checkpoints" / f"step-{step:08d}.safetensors"))
        ref = weight_image(w["conv1.weight"])
        np.testing.assert_allclose(a["images"][s].astype(np.float32), ref, rtol=1e-3, atol=1e-4)
        scale = max(scale, float(np.abs(w["conv1.weight"]).max()))
        for o in range(4):  # 4 single-input kernels in a 2 x 2 grid with 1-pixel gaps
            r, c = divmod(o, 2)
            tile = a["images"][s, r * 4 : r * 4 + 3, c * 4 : c * 4 + 3].astype(np.float32)
            np.testing.assert_allclose(tile, w["conv1.weight"][o, 0], rtol=1e-3, atol=1e-4)
    assert header["scale"] == pytest.approx(scale)


def test_large_matrices_are_block_averaged(client, runs):
    header, a = client.binary("/api/dashboard/runs/0/heatmaps.bin", param="fc.weight", side=64)
    assert header["factor"] == 3 and a["images"].shape[1:] == (4, 48)
    w = load_file(str(runs[0] / "checkpoints" / "step-00000060.safetensors"))["fc.weight"]
    assert float(a["images"][-1, 0, 0]) == pytest.approx(w[:3, :3].mean(), abs=1e-3)


def test_the_front_end_is_served(client):
    page = client.get("/dashboard/")
    assert page.status_code == 200 and 'src="static/main.js"' in page.text
    js = client.get("/dashboard/static/main.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert client.get("/").headers["location"] == "/dashboard/"


ERRORS = [
    ("/api/dashboard/runs/2/scalars.bin?tag=train/loss", 404,
     "run 2 is not open: expected a run index from 0 to 1"),
    ("/api/dashboard/runs/0/scalars.bin?tag=train/los", 404,
     "tag 'train/los' is not logged in run 'lr-small': expected one of its scalar tags; "
     "closest tags: train/loss, train/acc"),
    ("/api/dashboard/runs/0/scalars.bin?tag=train/loss&points=3", 400,
     "query parameter 'points' is 3: expected 16..20000"),
    ("/api/dashboard/runs/0/scalars.bin?tag=train/loss&smooth=1", 400,
     "query parameter 'smooth' is 1.0: expected 0..0.999"),
    ("/api/dashboard/runs/0/scalars.bin", 422, "query tag: Field required (got None)"),
    ("/api/dashboard/runs/zero/bands.bin?param=fc.weight", 422,
     "path rid: Input should be a valid integer, unable to parse string as an integer "
     "(got 'zero')"),
    ("/api/dashboard/runs/0/bands.bin?param=fc.weight&kind=grads", 400,
     "query parameter 'kind' is 'grads': expected 'weight' or 'grad'"),
    ("/api/dashboard/runs/0/bands.bin?param=fc.wieght", 404,
     "parameter 'fc.wieght' has no histograms in run 'lr-small': expected a parameter name "
     "like 'conv1.weight'; closest parameters: fc.weight, conv1.weight, fc.bias"),
    ("/api/dashboard/runs/0/bands.bin?param=fc.weight&rows=0", 400,
     "query parameter 'rows' is 0: expected 1..20000"),
    ("/api/dashboard/ridgeline.bin?runs=0;1&param=fc.weight", 400,
     "query parameter 'runs' is '0;1': expected run indices separated by commas, like 0,1"),
    ("/api/dashboard/ridgeline.bin?runs=,&param=fc.weight", 400,
     "query parameter 'runs' is empty: expected indices like 0,1"),
    ("/api/dashboard/ridgeline.bin?runs=0&param=fc.weight&bins=1", 400,
     "bins 1 is out of range: expected 2..512"),
    ("/api/dashboard/runs/0/heatmaps.bin?param=conv2.weight", 404,
     "parameter 'conv2.weight' is not in checkpoint 'step-00000001.safetensors': expected a "
     "tensor name; closest tensors: conv1.weight, fc.weight, conv1.bias"),
    ("/api/dashboard/runs/0/heatmaps.bin?param=fc.weight&side=4", 400,
     "side 4 is out of range: expected 8..1024 pixels"),
    ("/api/dashboard/runs/0/heatmaps.bin?param=fc.weight&snapshots=0", 400,
     "snapshots 0 is out of range: expected 1..64"),
    ("/dashboard/static/../../run.json", 404, "no such page: /run.json"),
    ("/dashboard/static/secret.txt", 404,
     "no dashboard file 'secret.txt': the dashboard ships only its own files"),
]  # fmt: skip


@pytest.mark.parametrize("url,status,message", ERRORS)
def test_bad_requests_get_one_line_4xx_errors(client, url, status, message):
    response = client.get(url)
    assert (response.status_code, response.json()) == (status, {"error": message})


def test_another_host_header_is_refused(client):
    response = client.get("/api/dashboard/runs", headers={"host": "evil.example:80"})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "host 'evil.example' is not served here: expected 127.0.0.1; open the URL the "
        "dashboard printed"
    )


def test_a_run_being_written_is_followed(tmp_path):
    rec = Recorder(TinyNet(), tmp_path / "live", input_shape=(1, 8, 8), normalization="none",
                   cadence=Cadence(None, None, flush_seconds=0.1))  # fmt: skip
    rec.step(1, loss=2.0)
    rec.flush()
    client = InProcessClient(create_dashboard_app([tmp_path / "live"]))
    (desc,) = client.get("/api/dashboard/runs").json()["runs"]
    assert (desc["tags"], desc["last_step"], desc["writing"]) == (["loss"], 1, True)
    assert desc["checkpoints"] == [] and desc["hist_step"] is None
    _, first = client.binary("/api/dashboard/runs/0/scalars.bin", tag="loss")
    for step in range(2, 6):
        rec.step(step, loss=2.0 / step)
    rec.flush()
    _, new = client.binary("/api/dashboard/runs/0/scalars.bin", tag="loss", since_step=1)
    assert first["raw_step"].tolist() == [1]
    assert new["raw_step"].tolist() == [2, 3, 4, 5]
    np.testing.assert_allclose(new["raw_value"], [1.0, 2 / 3, 0.5, 0.4], rtol=1e-6)
    _, full = client.binary("/api/dashboard/runs/0/scalars.bin", tag="loss")  # cache extended
    assert full["raw_step"].tolist() == [1, 2, 3, 4, 5]
    response = client.get("/api/dashboard/runs/0/heatmaps.bin?param=fc.weight")
    assert response.json()["error"] == (
        "this run has no checkpoints yet: expected weight snapshots in checkpoints/; the "
        "Recorder writes them at its snapshot steps"
    )
    rec.close()
    (desc,) = client.get("/api/dashboard/runs").json()["runs"]
    assert (desc["writing"], desc["status"]) == (False, "finished")
