"""The explorer serves the training dashboard of the runs that have a training log."""

from __future__ import annotations

import pytest

import convlens
from _explorer_helpers import probed_digits_run
from _http import InProcessClient
from convlens.explorer import RunView, create_app
from convlens.record import TrainConfig, train


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> convlens.Run:
    out = tmp_path_factory.mktemp("logged") / "lenet"
    run = train(TrainConfig("lenet", "digits", epochs=1), out, progress=False).run
    convlens.probe.run(run, limit=120)
    return run


def test_a_logged_run_gets_the_dashboard(logged):
    client = InProcessClient(create_app([RunView(logged)]))
    assert client.get("/api/runs").json()["dashboard"] is True
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    (desc,) = client.get("/api/dashboard/runs").json()["runs"]
    last = len(logged.dataset("train")) // 64 + 1  # one epoch of batches of 64
    assert (desc["name"], desc["model"], desc["last_step"]) == ("lenet", "lenet", last)
    assert {"train/loss", "val/loss", "val/acc"} <= set(desc["tags"])


def test_a_run_without_log_has_no_dashboard(tmp_path):
    run = probed_digits_run(tmp_path)
    assert not run.log_path.exists()
    client = InProcessClient(create_app([RunView(run)]))
    assert client.get("/api/runs").json()["dashboard"] is False
    assert client.get("/dashboard/").status_code == 404
