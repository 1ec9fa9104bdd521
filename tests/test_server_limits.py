"""Server limits: what a hostile or careless request cannot make the explorer or dashboard do."""

from __future__ import annotations

import json
import resource
import socket
import warnings

import httpx
import pytest

import convlens
from _explorer_helpers import probed_digits_run
from _http import InProcessClient
from convlens.errors import ConvlensWarning
from convlens.explorer import RunView, create_app, explore
from convlens.explorer._http import MAX_IMAGES
from convlens.explorer._serving import MAX_BODY, loopback_hosts, new_app


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> convlens.Run:
    return probed_digits_run(tmp_path_factory.mktemp("limits"))


@pytest.fixture(scope="module")
def served(run):
    with explore(run, live=False) as ex:
        yield ex


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_two_megabyte_body_is_refused_before_it_is_read(served) -> None:
    body = b'{"rows": [' + b"1," * (1 << 20) + b"1]}"
    assert len(body) > 2 * MAX_BODY
    before = _peak_mib()
    reply = httpx.post(
        served.url + "api/runs/0/maps",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 413
    assert reply.json()["error"].startswith("request body of 2,097,")
    assert "over the limit of 1,048,576 bytes" in reply.json()["error"]
    assert _peak_mib() - before < 64


def test_a_body_without_length_is_cut_at_the_limit(served) -> None:
    def chunks():
        for _ in range(40):
            yield b" " * 65536  # 2.5 MiB of blanks, sent chunked

    reply = httpx.post(served.url + "api/runs/0/maps", content=chunks(), timeout=60)
    assert reply.status_code == 413
    assert "over the limit" in reply.json()["error"]


def test_two_million_rows_are_refused_at_once_with_flat_memory(served) -> None:
    body = json.dumps({"rows": list(range(2_000_000))}).encode()
    before = _peak_mib()
    reply = httpx.post(
        served.url + "api/runs/0/maps",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 413 and "error" in reply.json()
    assert _peak_mib() - before < 64


def test_too_many_distinct_images_under_the_body_cap(run) -> None:
    client = InProcessClient(create_app([RunView(run)]))
    rows = list(range(MAX_IMAGES + 1))
    reply = client.post("/api/runs/0/maps", json={"rows": rows})
    assert reply.status_code == 413
    assert reply.json()["error"].startswith(
        f"a selection of {MAX_IMAGES + 1:,} images is above the {MAX_IMAGES:,} whose feature maps"
    )
    # repeats count once
    reply = client.post("/api/runs/0/maps", json={"rows": [3] * (MAX_IMAGES + 5)})
    assert reply.status_code == 200


def test_unexpected_errors_are_json_not_plain_text() -> None:
    app = new_app("test", None, "explorer")

    @app.get("/boom")
    def boom() -> dict:
        raise KeyError("oops")

    reply = InProcessClient(app, raise_server_exceptions=False).get("/boom")
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"].startswith("the explorer failed on /boom (KeyError: 'oops')")


def test_text_that_is_not_utf8_is_sent_as_json_escapes() -> None:
    app = new_app("test", None, "explorer")

    @app.get("/path")
    def path() -> dict:
        return {"path": "/runs/run-\udcff"}

    reply = InProcessClient(app).get("/path")
    assert reply.status_code == 200 and reply.content == b'{"path":"/runs/run-\\udcff"}'


def test_wildcard_host_warns_and_still_checks_the_host(run) -> None:
    allowed = loopback_hosts("0.0.0.0")
    assert {"127.0.0.1", "localhost", socket.gethostname()} <= set(allowed)
    assert loopback_hosts("192.0.2.7") == ["127.0.0.1", "localhost", "::1", "192.0.2.7"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with explore(run, host="0.0.0.0", live=False) as ex:
            port = ex.port
            ok = httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=30)
            evil = httpx.get(
                f"http://127.0.0.1:{port}/api/runs", headers={"Host": "evil.example"}, timeout=30
            )
    assert ok.status_code == 200 and evil.status_code == 400
    assert "is not served here" in evil.json()["error"]
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvlensWarning)]
    assert any("listens on 0.0.0.0" in m and "anyone who can reach it" in m for m in messages)
