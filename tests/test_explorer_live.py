"""The live workspace through an in-process client: the status of every checkpoint, probes
asked for and run in a child process, a store being probed again answering 409 until it is
done, and one-line errors for bad requests and a failing probe job."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import convlens
import convlens.probe
from _http import InProcessClient
from convlens import probe_job
from convlens.explorer import create_app
from convlens.explorer.binary import unpack
from convlens.explorer.live import Workspace, wait_until


@pytest.fixture
def run(digits_lenet_run, tmp_path) -> convlens.Run:
    """A copy of the two-checkpoint digits run; only the last checkpoint is probed."""
    path = tmp_path / "run"
    shutil.copytree(digits_lenet_run.path, path, ignore=shutil.ignore_patterns("probe"))
    run = convlens.open_run(path)
    convlens.probe.run(run, limit=80, projections=())
    return run


def test_status_names_every_checkpoint_and_its_probe_state(run):
    ws = Workspace([run], live=False).start()
    try:
        client = InProcessClient(create_app(ws))
        body = client.get("/api/live").json()
        first, last = (c.name for c in run.checkpoints)
        (entry,) = body["runs"]
        assert (entry["name"], entry["ready"], entry["checkpoint"]) == (run.name, True, last)
        states = {c["name"]: c["state"] for c in entry["checkpoints"]}
        assert states == {first: "unprobed", last: "probed"}
        assert [c["step"] for c in entry["checkpoints"]] == [c.step for c in run.checkpoints]
        bad = client.post("/api/runs/0/probe?checkpoint=step-9")
        assert bad.status_code == 404
        assert bad.json()["error"] == (
            f"checkpoint 'step-9' is not in run {run.name!r}: expected one of {first}, {last}"
        )
        assert client.post("/api/runs/3/probe?checkpoint=x").json()["error"] == (
            "run 3 is not open: expected a run index from 0 to 0"
        )
    finally:
        ws.stop()


@pytest.mark.slow
def test_a_requested_probe_runs_in_the_background_with_the_opened_options(run):
    ws = Workspace([run], live=False).start()
    try:
        client = InProcessClient(create_app(ws))
        first = run.checkpoints[0].name
        reply = client.post(f"/api/runs/0/probe?checkpoint={first}").json()
        assert {c["name"]: c["state"] for c in reply["checkpoints"]}[first] in ("queued", "probing")

        def probed() -> bool:
            ws.poll()
            states = {c["name"]: c["state"] for c in ws.status()["runs"][0]["checkpoints"]}
            return states[first] == "probed"

        assert wait_until(probed, timeout=240)
        other = run.probe(first)
        assert len(other) == 80 and other.layers == run.probe().layers  # the same options
        head, arrays = unpack(client.get(f"/api/runs/0/labels.bin?checkpoint={first}").content)
        assert head["checkpoint"] == first
        np.testing.assert_array_equal(arrays["predictions"], other.predictions)
    finally:
        ws.stop()


def test_a_store_being_probed_again_answers_409_until_it_is_done(run):
    ws = Workspace([run], live=False).start()
    try:
        client = InProcessClient(create_app(ws))
        name = run.checkpoints[-1].name
        url = "/api/runs/0/layers/fc2/points.bin"
        assert client.get(url).status_code == 200
        path = run.path / "probe" / name / "manifest.json"
        manifest = json.loads(path.read_text())
        path.write_text(json.dumps({**manifest, "finished": False}))
        ws.poll()
        reply = client.get(url)
        assert reply.status_code == 409
        assert reply.json()["error"] == (
            f"checkpoint {name!r} of run {run.name!r} is being probed again; it is read afresh "
            "when that probe is done"
        )
        entry = ws.status()["runs"][0]
        assert entry["ready"] is False and entry["message"] == reply.json()["error"]
        state = {c["name"]: c for c in entry["checkpoints"]}[name]
        assert (state["state"], state["version"]) == ("reprobing", 0)
        convlens.probe.run(run, limit=50, projections=())  # other options: a new store
        ws.poll()
        state = {c["name"]: c for c in ws.status()["runs"][0]["checkpoints"]}[name]
        assert (state["state"], state["version"]) == ("probed", 1)
        head, _ = unpack(client.get(url).content)
        assert head["n_images"] == 50  # read afresh, not the cached 80
    finally:
        ws.stop()


def test_the_probe_job_ends_in_one_error_line(tmp_path, capsys):
    assert probe_job.main([str(tmp_path / "nope"), "--checkpoint", "step-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: run directory {str(tmp_path / 'nope')!r} does not exist; check the "
        "path, or create one with `convlens train`"
    ]
