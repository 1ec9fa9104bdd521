"""The explorer's API through an in-process client, against the probe reader as reference."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

import convlens
from _explorer_helpers import PROBE_LIMIT, decode_points, probed_digits_run
from _http import InProcessClient
from convlens.cli.main import main
from convlens.explorer import RunView, create_app
from convlens.explorer.binary import unpack
from convlens.explorer.live import wait_until
from convlens.model import rf_box
from convlens.rundir import DataEntry, ModelEntry


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> convlens.Run:
    return probed_digits_run(tmp_path_factory.mktemp("explorer-api"))


@pytest.fixture(scope="module")
def client(run: convlens.Run) -> InProcessClient:
    return InProcessClient(create_app([RunView(run)]))


def test_runs_describe_probed_layers_with_receptive_fields(client, run):
    body = client.get("/api/runs").json()
    (desc,) = body["runs"]
    probe = run.probe()
    assert desc["n_images"] == PROBE_LIMIT
    assert desc["classes"] == run.classes
    assert [layer["name"] for layer in desc["layers"]] == list(probe.layers)
    table = {info.name: info for info in run.layers()}
    pool1 = next(layer for layer in desc["layers"] if layer["name"] == "pool1")
    assert (pool1["dims"], pool1["grid"], pool1["positions"]) == (20, [12, 12], 144)
    assert pool1["rf_size"] == list(table["pool1"].rf_size)
    assert pool1["rf_stride"] == list(table["pool1"].rf_stride)
    assert pool1["rf_offset"] == list(table["pool1"].rf_offset)
    fc1 = next(layer for layer in desc["layers"] if layer["name"] == "relu1")
    assert (fc1["dims"], fc1["spatial"], "rf_size" in fc1) == (500, False, False)
    assert (pool1["sampled"], pool1["fraction"], pool1["stored_points"]) == (False, 1.0, 600 * 144)


@pytest.mark.parametrize("dtype", ["f16", "u8"])
def test_points_are_dimension_major_and_decode_to_the_embeddings(client, run, dtype):
    reply = client.get(f"/api/runs/0/layers/pool1/points.bin?dtype={dtype}")
    assert reply.headers["content-type"] == "application/octet-stream"
    header, values = decode_points(reply.content)
    emb = run.probe().embeddings("pool1").astype(np.float64)  # (N, H, W, C)
    n, h, w, c = emb.shape
    assert (header["dims"], header["positions"], header["n_images"]) == (c, h * w, n)
    # point p = image p // (H*W) at position p % (H*W), dimension-major
    expected = emb.reshape(n * h * w, c).T
    if dtype == "f16":
        np.testing.assert_array_equal(values, expected)
    else:
        step = (np.asarray(header["hi"]) - np.asarray(header["lo"]))[:, None] / 255
        assert np.all(np.abs(values - expected) <= step / 2 + 1e-3 * (1 + np.abs(expected)))
        np.testing.assert_allclose(header["lo"], expected.min(1), rtol=1e-6)
        np.testing.assert_allclose(header["hi"], expected.max(1), rtol=1e-6)


def test_pca_points_match_the_probe_projection(client, run):
    header, values = decode_points(
        client.get("/api/runs/0/layers/relu1/points.bin?proj=pca").content
    )
    proj = run.probe().projection("relu1", method="pca").astype(np.float64)
    assert header["projection"] == "pca" and header["dims"] == proj.shape[-1]
    np.testing.assert_allclose(values, proj.T, rtol=1e-3, atol=1e-3 * np.abs(proj).max())


def test_labels_and_images_follow_probe_rows(client, run):
    _, arrays = unpack(client.get("/api/runs/0/labels.bin").content)
    probe = run.probe()
    np.testing.assert_array_equal(arrays["labels"], probe.labels)
    np.testing.assert_array_equal(arrays["indices"], probe.indices)
    _, images = unpack(client.get("/api/runs/0/images.bin").content)
    ds = run.dataset()
    rows = [int(np.flatnonzero(ds.indices == i)[0]) for i in probe.indices[:50]]
    np.testing.assert_array_equal(images["pixels"][:50], ds.images[rows].transpose(0, 2, 3, 1))
    png = client.get("/api/runs/0/images/3.png?scale=2")
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"


def test_maps_average_every_layer_and_the_input(client, run):
    rows = [0, 5, 17, 300]
    header, arrays = unpack(client.post("/api/runs/0/maps", json={"rows": rows}).content)
    probe = run.probe()
    assert [layer["name"] for layer in header["layers"]] == ["input", *probe.layers]
    assert header["computed"] == "on request"
    for name in probe.layers:
        emb = probe.embeddings(name).astype(np.float64)[rows].mean(0)
        want = emb.transpose(2, 0, 1) if emb.ndim == 3 else emb[:, None, None]
        got = arrays[name].astype(np.float64)
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * np.abs(want).max())
        layer = next(item for item in header["layers"] if item["name"] == name)
        assert layer["lo"] == pytest.approx(want.min(), rel=1e-3, abs=1e-4)
    _, images = unpack(client.get("/api/runs/0/images.bin").content)
    mean_input = images["pixels"][rows].astype(np.float64).mean(0).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(arrays["input"].astype(np.float64), mean_input, atol=1e-3)


def test_receptive_field_box_of_the_contract(run):
    info = next(i for i in run.layers() if i.name == "pool2")
    assert rf_box(info, 0, 0, clip=(28, 28))[:2] == (0, 0)


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        (
            "/api/runs/3/labels.bin",
            404,
            "run 3 is not open: expected a run index from 0 to 0",
        ),
        (
            "/api/runs/0/layers/pool9/points.bin",
            404,
            "layer 'pool9' was not probed in run 'digits-lenet': expected a probed layer "
            "(closest layers: pool2, pool1)",
        ),
        (
            "/api/runs/0/layers/relu1/points.bin?proj=tsne",
            400,
            "query parameter 'proj' is 'tsne': expected one of 'raw', 'pca'",
        ),
        (
            "/api/runs/0/layers/relu1/points.bin?dtype=f64",
            400,
            "query parameter 'dtype' is 'f64': expected one of 'auto', 'u8', 'f16'",
        ),
        ("/api/runs/0/images/600.png", 404, "image row 600 does not exist: expected 0..599"),
        ("/api/runs/0/images/1.png?scale=99", 400, "query parameter 'scale' is 99: expected 1..16"),
        ("/api/runs/x/labels.bin", 422, "path rid: Input should be a valid integer"),
        ("/static/app.py", 404, "no static file 'app.py': the explorer ships only its own files"),
        ("/static/../app.py", 404, "no such page: /app.py"),
        ("/static/%2e%2e/app.py", 404, "no static file '../app.py'"),
        ("/static/..%2fsession.py", 404, "no static file '../session.py'"),
        ("/etc/passwd", 404, "no such page: /etc/passwd"),
    ],
)
def test_bad_requests_get_one_line_json_errors(client, url, status, message):
    reply = client.get(url)
    assert reply.status_code == status
    assert reply.json()["error"].startswith(message)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"rows": []}, 400, "'rows' is empty: expected at least one image row"),
        (
            {"rows": [1, 600, -1]},
            400,
            "'rows' holds 2 row(s) outside 0..599 (first: 600); rows are probe rows, "
            "not dataset indices",
        ),
        ({"rows": ["a"]}, 422, "body rows 0: Input should be a valid integer"),
        ({}, 422, "body rows: Field required"),
    ],
)
def test_bad_map_requests(client, body, status, message):
    reply = client.post("/api/runs/0/maps", json=body)
    assert reply.status_code == status
    assert reply.json()["error"].startswith(message)


def test_static_front_end_is_served_from_the_package(client):
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/main.js">' in page.text
    js = client.get("/static/gl.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "drawArraysInstanced" in js.text


def test_foreign_host_header_is_refused(run):
    app = create_app([RunView(run)], allowed_hosts=["127.0.0.1", "localhost"])
    reply = InProcessClient(app, base_url="http://evil.example").get("/api/runs")
    assert reply.status_code == 400
    assert reply.json()["error"] == (
        "host 'evil.example' is not served here: expected 127.0.0.1 or localhost; "
        "open the URL the explorer printed"
    )


def test_explore_binds_loopback_probes_a_fresh_run_in_the_background_and_stops(tmp_path, run):
    fresh = convlens.Run.create(
        tmp_path / "fresh",
        ModelEntry("lenet", run.input_shape),
        DataEntry("digits", run.classes, run.normalization),
    )
    fresh.save_checkpoint(fresh.build_model(), 0)
    with convlens.explore(fresh, probe_limit=40) as ex:
        assert ex.url.startswith("http://127.0.0.1:")
        # the page opens at once and says what it waits for
        first = httpx.get(ex.url + "api/runs", timeout=30).json()["runs"][0]
        assert first["ready"] is False
        assert first["message"].startswith("run 'fresh': ")
        points = httpx.get(ex.url + "api/runs/0/layers/fc1/points.bin", timeout=30)
        assert points.status_code == 503
        assert points.json()["error"].startswith("run 'fresh': ")

        def ready() -> bool:
            return httpx.get(ex.url + "api/live", timeout=30).json()["runs"][0]["ready"]

        assert wait_until(ready, timeout=120)
        body = httpx.get(ex.url + "api/runs", timeout=30).json()
        assert body["runs"][0]["n_images"] == 40
        assert httpx.get(ex.url, timeout=30, headers={"Host": "evil.example"}).status_code == 400
    with pytest.raises(httpx.ConnectError):
        httpx.get(ex.url + "api/runs", timeout=5)


def test_cli_reports_bad_runs_and_ports_in_one_line(capsys, run):
    assert main(["explore", "/nonexistent/run", "--no-browser"]) == 2
    assert capsys.readouterr().err == (
        "error: run directory '/nonexistent/run' does not exist; check the path, "
        "or create one with `convlens train`\n"
    )
    assert main(["explore", str(run.path), "--port", "70000", "--no-browser"]) == 2
    assert capsys.readouterr().err == (
        "error: port 70000 is out of range: expected 0..65535 (0 = any free port)\n"
    )
