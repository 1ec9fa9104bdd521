"""Explorer II API: snapshots, confusion, neighbours, cross-layer values, weights and the
method panels, checked against the probe reader, brute force and convlens.attribute."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import convlens
import convlens.attribute as attribute
from _explorer_helpers import decode_points, probed_timeline_runs
from _http import InProcessClient
from convlens.explorer import RunView, create_app, session
from convlens.explorer.binary import unpack
from convlens.explorer.server import Explorer
from convlens.model import capture
from convlens.rundir.checkpoints import read_state

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[convlens.Run, convlens.Run]:
    return probed_timeline_runs(tmp_path_factory.mktemp("explorer-timeline"))


@pytest.fixture(scope="module")
def client(runs) -> InProcessClient:
    return InProcessClient(create_app([RunView(r) for r in runs]))


def dataset_inputs(run: convlens.Run, rows: list[int]) -> torch.Tensor:
    """Model inputs of probe rows, found through dataset indices (independent of the app)."""
    ds, probe = run.dataset(), run.probe()
    at = [int(np.flatnonzero(ds.indices == probe.indices[r])[0]) for r in rows]
    return run.preprocess(ds.images[at])


def test_summary_lists_probed_snapshots(client, runs):
    a, b = runs
    body = client.get("/api/runs").json()["runs"]
    assert [c["name"] for c in body[0]["checkpoints"]] == [c.name for c in a.checkpoints]
    assert [c["step"] for c in body[0]["checkpoints"]] == [c.step for c in a.checkpoints]
    assert body[0]["checkpoint"] == a.checkpoints[-1].name
    assert [c["name"] for c in body[1]["checkpoints"]] == [b.checkpoints[-1].name]
    assert body[0]["has_confusion"] is True


def test_points_and_predictions_follow_the_chosen_snapshot(client, runs):
    a, _ = runs
    first = a.checkpoints[0].name
    header, values = decode_points(
        client.get(f"/api/runs/0/layers/fc2/points.bin?checkpoint={first}").content
    )
    emb = a.probe(first).embeddings("fc2").astype(np.float64)
    assert header["checkpoint"] == first
    np.testing.assert_array_equal(values, emb.T)
    last = a.probe().embeddings("fc2").astype(np.float64)
    assert np.abs(last - emb).max() > 0.1  # the snapshots really differ
    head, arrays = unpack(client.get(f"/api/runs/0/labels.bin?checkpoint={first}").content)
    assert head["checkpoint"] == first
    np.testing.assert_array_equal(arrays["predictions"], a.probe(first).predictions)


def test_confusion_matrix_is_the_probe_confusion_of_the_snapshot(client, runs):
    a, _ = runs
    for c in a.checkpoints:
        body = client.get(f"/api/runs/0/confusion?checkpoint={c.name}").json()
        probe = a.probe(c.name)
        brute = np.zeros((10, 10), int)
        np.add.at(brute, (probe.labels, probe.predictions), 1)
        assert body["matrix"] == brute.tolist() == probe.confusion().tolist()


def test_neighbours_are_the_brute_force_nearest_images(client, runs):
    a, _ = runs
    emb = a.probe().embeddings("pool1").astype(np.float64).reshape(300, -1)
    for row in (0, 17):
        body = client.get(f"/api/runs/0/layers/pool1/neighbours/{row}?k=5").json()
        dist = np.sqrt(((emb - emb[row]) ** 2).sum(1))
        dist[row] = np.inf
        want = np.argsort(dist, kind="stable")[:5]
        assert body["rows"] == want.tolist()
        np.testing.assert_allclose(body["distances"], dist[want], rtol=1e-4)


def test_cross_layer_values_are_per_image_channel_means(client, runs):
    a, _ = runs
    head, arrays = unpack(client.get("/api/runs/0/scatter.bin?axes=conv2:7,relu1:3,fc2:0").content)
    probe = a.probe()
    model = a.model()
    with torch.no_grad(), capture(model, ["conv2"]) as seen:
        model(dataset_inputs(a, list(range(300))))
    # the exact mean over every position of the float32 output, not of the stored float16
    conv2 = seen["conv2"][:, 7].double().mean((1, 2)).numpy()
    assert head["axes"] == ["conv2:7", "relu1:3", "fc2:0"]
    np.testing.assert_allclose(arrays["values"][0], conv2, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(arrays["values"][1], probe.embeddings("relu1")[:, 3])
    np.testing.assert_array_equal(arrays["values"][2], probe.embeddings("fc2")[:, 0])


def test_weights_at_two_snapshots_are_the_checkpoint_tensors(client, runs):
    a, _ = runs
    got = []
    for c in a.checkpoints:
        _, arrays = unpack(
            client.get(f"/api/runs/0/layers/conv1/weights.bin?checkpoint={c.name}").content
        )
        want = read_state(c.path)["conv1.weight"].numpy()
        np.testing.assert_array_equal(arrays["weights"], want)
        got.append(arrays["weights"])
    assert np.abs(got[0] - got[1]).max() > 0


@pytest.mark.parametrize("method", ["saliency", "guided_backprop", "deconvnet", "grad_cam"])
def test_attribution_panel_equals_convlens_attribute(client, runs, method):
    a, _ = runs
    row, target = 11, 4
    layer = "&layer=conv2" if method == "grad_cam" else ""
    reply = client.get(
        f"/api/runs/0/images/{row}/attribution.bin?method={method}&target={target}{layer}"
    )
    head, arrays = unpack(reply.content)
    model, x = a.model(), dataset_inputs(a, [row])
    fn = getattr(attribute, method)
    want = fn(model, x, target, layer="conv2") if method == "grad_cam" else fn(model, x, target)
    assert head["target"] == target
    np.testing.assert_allclose(arrays["map"], want[0].numpy(), rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        np.testing.assert_allclose(arrays["scores"], model(x)[0].numpy(), rtol=1e-5, atol=1e-6)
    assert arrays["picture"].shape == (28, 28, 3) and arrays["picture"].dtype == np.uint8
    assert arrays["picture"].std() > 0  # a picture, not a blank


def test_predicted_target_is_the_arg_max(client, runs):
    a, _ = runs
    head, arrays = unpack(client.get("/api/runs/0/images/3/attribution.bin").content)
    assert head["target"] == int(np.argmax(arrays["scores"])) == a.probe().predictions[3]


def test_channel_topk_with_deconvnet_projections(client, runs):
    a, _ = runs
    layer, channel = "conv2", 5
    head, arrays = unpack(
        client.get(f"/api/runs/0/layers/{layer}/channels/{channel}/topk.bin").content
    )
    assert head["method"] == "deconvnet"  # lenet max-pools: Zeiler & Fergus's deconvnet
    assert head["method_note"] == "deconvnet projections (Zeiler & Fergus; the model max-pools)"
    probe = a.probe()
    values, image_index, position = probe.topk(layer)
    np.testing.assert_array_equal(probe.indices[arrays["rows"]], image_index[channel])
    np.testing.assert_array_equal(arrays["values"], values[channel])
    np.testing.assert_array_equal(arrays["boxes"], probe.topk_boxes(layer)[channel])
    x = dataset_inputs(a, arrays["rows"].tolist())
    want = attribute.project_units(
        a.model(), x, layer, channel, positions=position[channel], rule="deconvnet"
    )
    np.testing.assert_allclose(arrays["projections"], want.numpy(), rtol=1e-5, atol=1e-7)


def test_channel_synthesis_is_the_synthesize_result(client, runs):
    from convlens import synthesize

    a, _ = runs
    reply = client.get("/api/runs/0/layers/conv1/channels/2/synthesis.png?scale=1")
    assert reply.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(reply.content)))
    spec = synthesize.MAXIMISE.replace(steps=64, size=(28, 28), seed=0)
    res = synthesize.channels(a.model(), "conv1", [2], spec, data=a.normalization)
    np.testing.assert_array_equal(got, res.pixels()[0, 0])


def test_atlas_travels_in_pages(runs, monkeypatch):
    a, _ = runs
    monkeypatch.setattr(session, "ATLAS_PAGE_BYTES", 784 * 128)
    client = InProcessClient(create_app([RunView(a)]))
    first, arrays = unpack(client.get("/api/runs/0/images.bin?page=0").content)
    assert (first["pages"], first["page_size"], first["start"]) == (3, 128, 0)
    pages = [arrays["pixels"]]
    for p in (1, 2):
        head, more = unpack(client.get(f"/api/runs/0/images.bin?page={p}").content)
        assert head["start"] == 128 * p
        pages.append(more["pixels"])
    pixels = np.concatenate(pages)
    ds, probe = a.dataset(), a.probe()
    at = [int(np.flatnonzero(ds.indices == i)[0]) for i in probe.indices]
    np.testing.assert_array_equal(pixels, ds.images[at].transpose(0, 2, 3, 1))
    reply = client.get("/api/runs/0/images.bin?page=3")
    assert reply.status_code == 404
    assert reply.json()["error"] == "atlas page 3 does not exist: expected a page from 0 to 2"


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        (
            "/api/runs/0/layers/fc2/points.bin?checkpoint=step-00000999",
            404,
            "checkpoint 'step-00000999' of run 'lenet-a' has no probe results: expected one of "
            "step-00000024, step-00000048; run `convlens probe ",
        ),
        ("/api/runs/0/confusion?checkpoint=nope", 404, "checkpoint 'nope' of run 'lenet-a'"),
        (
            "/api/runs/0/layers/relu1/neighbours/300",
            404,
            "image row 300 does not exist: expected 0..299",
        ),
        (
            "/api/runs/0/layers/relu1/neighbours/0?k=0",
            400,
            "query parameter 'k' is 0: expected 1..100",
        ),
        (
            "/api/runs/0/scatter.bin?axes=relu1",
            400,
            "axis 'relu1' is not 'layer:dimension': expected for example 'fc1:3'",
        ),
        (
            "/api/runs/0/scatter.bin?axes=fc2:10",
            400,
            "axis 'fc2:10': layer 'fc2' has 10 dimensions, expected 0..9",
        ),
        (
            "/api/runs/0/scatter.bin?axes=relu1:0,relu1:1,relu1:2,relu1:3",
            400,
            "query parameter 'axes' names 4 axes: expected 1 to 3",
        ),
        (
            "/api/runs/0/scatter.bin?axes=fc9:0",
            404,
            "layer 'fc9' was not probed in run 'lenet-a'",
        ),
        (
            "/api/runs/0/layers/pool1/weights.bin",
            404,
            "layer 'pool1' has no weights in run 'lenet-a': expected a layer with a weight",
        ),
        (
            "/api/runs/0/images/0/attribution.bin?method=lime",
            400,
            "query parameter 'method' is 'lime': expected one of 'saliency', "
            "'guided_backprop', 'deconvnet', 'grad_cam'",
        ),
        (
            "/api/runs/0/images/0/attribution.bin?target=10",
            400,
            "query parameter 'target' is '10': expected 'predicted' or an output index 0..9",
        ),
        (
            "/api/runs/0/images/0/attribution.bin?method=grad_cam&layer=fc1",
            400,
            "query parameter 'layer' is 'fc1': Grad-CAM needs a spatial layer, expected one of "
            "conv1, pool1, conv2, pool2",
        ),
        (
            "/api/runs/0/images/999/attribution.bin",
            404,
            "image row 999 does not exist: expected 0..299",
        ),
        (
            "/api/runs/0/layers/conv2/channels/50/topk.bin",
            400,
            "channel 50 of layer 'conv2' does not exist: expected 0..49",
        ),
        (
            "/api/runs/0/layers/conv2/channels/3/synthesis.png?scale=0",
            400,
            "query parameter 'scale' is 0: expected 1..16",
        ),
    ],
)
def test_bad_panel_requests_get_one_line_errors(client, url, status, message):
    reply = client.get(url)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"].startswith(message)


def test_explorer_shows_inline_in_jupyter_as_an_iframe(runs):
    a, b = runs
    ex = Explorer([RunView(a), RunView(b)], port=0)
    try:
        assert ex._repr_html_() == (
            f'<iframe src="http://127.0.0.1:{ex.port}/" width="100%" height="720" '
            'style="border: 1px solid #30343a" title="convlens explorer: lenet-a, lenet-b">'
            "</iframe>"
        )
    finally:
        ex.stop()
