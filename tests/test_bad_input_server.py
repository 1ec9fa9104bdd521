# ruff: noqa: E501 (the case table: one case per line)
"""The bad-input suite, explorer HTTP API: a hostile or careless request, or a probe store
damaged under the running app, is answered with a JSON 4xx naming the problem (never a
plain-text 500 or a traceback), and leaves the run's files as they were."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import _bad_input as B
from _bad_input import World, remove, truncate, write
from _http import InProcessClient
from convlens.explorer import RunView, create_app


@dataclass(frozen=True)
class Request:
    id: str
    category: str
    method: str
    url: str
    body: object = None  # JSON body, or bytes sent as they are
    damage: object = None  # Callable[[World], None], applied after the app is up
    status: tuple[int, ...] = (400, 404, 409, 413, 422)


ACT = "run/probe/*/embeddings/{layer}/activation/c*"
REQUESTS = [
    # ------------------------------------------------------------- hostile requests
    Request("http-run-missing", "hostile request", "GET", "/api/runs/7/labels.bin"),
    Request("http-run-negative", "hostile request", "GET", "/api/runs/-1/labels.bin"),
    Request("http-run-not-int", "hostile request", "GET", "/api/runs/abc/labels.bin"),
    Request("http-run-huge", "hostile request", "GET", "/api/runs/99999999999999999999999/labels.bin"),
    Request("http-layer-unknown", "hostile request", "GET", "/api/runs/0/layers/nosuch/points.bin"),
    Request("http-layer-traversal", "hostile request", "GET", "/api/runs/0/layers/..%2F..%2Frun.json/points.bin"),
    Request("http-static-traversal", "hostile request", "GET", "/static/..%2F..%2F..%2Fetc%2Fpasswd"),
    Request("http-proj-unknown", "hostile request", "GET", "/api/runs/0/layers/conv1/points.bin?proj=evil"),
    Request("http-dtype-unknown", "hostile request", "GET", "/api/runs/0/layers/conv1/points.bin?dtype=f64x"),
    Request("http-image-row-big", "hostile request", "GET", "/api/runs/0/images/100000.png"),
    Request("http-image-row-negative", "hostile request", "GET", "/api/runs/0/images/-3.png"),
    Request("http-image-scale-big", "hostile request", "GET", "/api/runs/0/images/0.png?scale=100000"),
    Request("http-images-page", "hostile request", "GET", "/api/runs/0/images.bin?page=-5"),
    Request("http-checkpoint-unknown", "hostile request", "GET", "/api/runs/0/labels.bin?checkpoint=..%2F..%2Fetc"),
    Request("http-maps-not-json", "hostile request", "POST", "/api/runs/0/maps", b"{rows: [1, 2"),
    Request("http-maps-rows-not-list", "hostile request", "POST", "/api/runs/0/maps", {"rows": "all"}),
    Request("http-maps-rows-strings", "hostile request", "POST", "/api/runs/0/maps", {"rows": ["a", "b"]}),
    Request("http-maps-rows-negative", "hostile request", "POST", "/api/runs/0/maps", {"rows": [-1]}),
    Request("http-maps-rows-out-of-range", "hostile request", "POST", "/api/runs/0/maps", {"rows": [10**6]}),
    Request("http-maps-rows-bigint", "hostile request", "POST", "/api/runs/0/maps", {"rows": [2**70]}),
    Request("http-maps-rows-float", "hostile request", "POST", "/api/runs/0/maps", {"rows": [1.5]}),
    Request("http-maps-no-rows", "hostile request", "POST", "/api/runs/0/maps", {}),
    Request("http-maps-two-million", "hostile request", "POST", "/api/runs/0/maps", {"rows": list(range(2_000_000))}),
    Request("http-maps-two-megabytes", "hostile request", "POST", "/api/runs/0/maps", b'{"rows": [' + b"1," * (1 << 20) + b"1]}"),
    Request("http-neighbours-row", "hostile request", "GET", "/api/runs/0/layers/fc2/neighbours/5000"),
    Request("http-scatter-axes", "hostile request", "GET", "/api/runs/0/scatter.bin?axes=nosuch:0,conv1:999"),
    Request("http-weights-layer", "hostile request", "GET", "/api/runs/0/layers/nosuch/weights.bin"),
    Request("http-topk-channel", "hostile request", "GET", "/api/runs/0/layers/conv1/channels/999/topk.bin"),
    Request("http-attribution-row", "hostile request", "GET", "/api/runs/0/images/99999/attribution.bin"),
    # ------------------------------------------------------------- a store damaged under the app
    Request("http-store-chunk-deleted", "probe store", "GET", "/api/runs/0/layers/relu1/points.bin", damage=remove(ACT.format(layer="relu1"))),
    Request("http-store-chunk-truncated", "probe store", "GET", "/api/runs/0/layers/conv1/points.bin", damage=truncate(ACT.format(layer="conv1"), 0.3)),
    Request("http-store-zarr-json-broken", "probe store", "GET", "/api/runs/0/layers/fc2/points.bin", damage=write("run/probe/{step}/embeddings/fc2/activation/zarr.json", "{broken")),
    Request("http-store-labels-deleted", "probe store", "GET", "/api/runs/0/labels.bin", damage=remove("run/probe/*/outputs/label/c*")),
    Request("http-store-maps-chunk-deleted", "probe store", "POST", "/api/runs/0/maps", {"rows": [0, 1]}, damage=remove("run/probe/*/outputs/image/c*")),
    Request("http-store-topk-deleted", "probe store", "GET", "/api/runs/0/layers/conv1/channels/0/topk.bin", damage=remove("run/probe/*/summary/conv1/topk_image/c*")),
    Request("http-store-confusion-deleted", "probe store", "GET", "/api/runs/0/confusion", damage=remove("run/probe/*/classes/confusion/c*")),
    Request("http-store-neighbours-deleted", "probe store", "GET", "/api/runs/0/layers/fc2/neighbours/3", damage=remove(ACT.format(layer="fc2"))),
    Request("http-store-pca-deleted", "probe store", "GET", "/api/runs/0/layers/conv2/points.bin?proj=pca", damage=remove("run/probe/*/embeddings/conv2/pca/c*")),
]
B.register("server", [r.id for r in REQUESTS])


@pytest.fixture
def world(tmp_path, bad_input_source) -> World:
    return B.make_world(tmp_path, bad_input_source)


@pytest.mark.parametrize("req", REQUESTS, ids=[r.id for r in REQUESTS])
def test_server_bad_input(world: World, req: Request) -> None:
    from convlens.rundir import open_run

    app = create_app([RunView(open_run(world.run))])
    if req.damage is not None:
        req.damage(world)
    before = B.tree_hashes(world.root)
    client = InProcessClient(app, raise_server_exceptions=False)
    kw = {"content": req.body, "headers": {"content-type": "application/json"}} if isinstance(req.body, bytes) else {"json": req.body} if req.body is not None else {}
    reply = client.request(req.method, req.url, **kw)
    changes = B.check_untouched(before, B.tree_hashes(world.root), lambda rel: False)
    is_json = reply.headers.get("content-type", "").startswith("application/json")
    B.TALLY["cases"] += 1
    B.count(["500"] if reply.status_code >= 500 or not is_json else [], "tracebacks")
    B.count(["accepted"] if reply.status_code < 400 else [], "silent accepts")
    B.count(changes, "corruptions")
    B.log_line(req.id, reply.status_code, f"error: {reply.text[:300]}")
    assert reply.status_code in req.status, (reply.status_code, reply.text[:300])
    assert is_json, reply.headers.get("content-type")
    error = reply.json().get("error") or reply.json().get("detail")
    assert error, reply.json()
    assert "Traceback" not in reply.text
    assert not changes, changes
