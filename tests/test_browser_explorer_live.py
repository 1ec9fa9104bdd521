"""The live explorer in a real headless Chromium, on one run that is written while the page
is open: the first probe runs in the background while the page says what it waits for; a
checkpoint written later joins the timeline and is probed without a reload; a store being
probed again and a failed background probe each show a message, draw nothing stale and
log no console error."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import convlens
import convlens.probe
from _browser import BROWSER_MARKS, WEBGL_ARGS, chromium, open_page
from conftest import make_run, train_quick
from convlens.explorer import explore, live
from convlens.model.factory import build_model

pytestmark = BROWSER_MARKS

CV = "window.convlens"
LIMIT = 120
SLOW = 240_000  # ms: a background probe starts a Python process (slow on a busy machine)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    run = make_run(tmp_path_factory.mktemp("live") / "lenet", "lenet", "digits", (1500, 1797))
    train_quick(run, build_model("lenet"), epochs=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(live, "POLL_S", 0.3)
        with explore(run, probe_limit=LIMIT) as ex, chromium(WEBGL_ARGS) as browser:
            page, console = open_page(browser, ex.url, f"{CV} && {CV}.started")
            yield run, page, console


def _ready(page) -> None:
    page.wait_for_function(f"{CV}.view().status === 'ready'", timeout=SLOW)
    page.evaluate(f"{CV}.settle()")


def test_first_probe_runs_in_the_background_and_the_page_says_so(served):
    run, page, console = served
    # the page opened before any probe result existed, and says what it waits for
    first = page.evaluate(f"{CV}.view()")
    if first["status"] != "ready":  # (on a fast machine the probe may be done already)
        assert first["status"] == "waiting" and first["missingShown"] and not first["drawing"]
        assert first["message"].startswith(f"run '{run.name}': ")
        assert page.evaluate(f"{CV}.ink(0)") == {"points": 0, "overlay": 0}
    _ready(page)
    view = page.evaluate(f"{CV}.view()")
    assert view["layer"] == "fc2" and view["drawn"]["all"] == LIMIT
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_a_new_checkpoint_joins_the_timeline_and_is_probed_without_reload(served):
    run, page, console = served
    _ready(page)
    before = page.locator("#snapshot option").count()
    model = run.model()
    with torch.no_grad():
        model.fc2.weight.mul_(2.0)
    step = run.checkpoints[-1].step + 100
    new = run.save_checkpoint(model, step).name
    page.wait_for_function(
        f"[...document.querySelectorAll('#snapshot option')].some(o => o.text.startsWith('{new}'))",
        timeout=30_000,
    )
    assert page.locator("#snapshot option").count() == before + 1
    page.wait_for_function(
        f"{CV}.live().runs[0].checkpoints.some(c => c.name === '{new}' && c.state === 'probed')",
        timeout=SLOW,
    )
    assert page.locator("#snapshot option").last.text_content() == f"{new} (step {step})"
    page.evaluate(f"{CV}.setSnapshot({before}, false)")
    view = page.evaluate(f"{CV}.view()")
    assert (view["checkpoint"], view["status"]) == (new, "ready")
    drawn = np.asarray(page.evaluate(f"{CV}.drawnPositions(1, 3, {LIMIT})")).reshape(-1, 3)
    emb = run.probe(new).embeddings("fc2").astype(np.float32)
    lo, hi = emb.min(0), emb.max(0)
    want = ((emb - lo) / (hi - lo))[:, [3, 1]]
    np.testing.assert_allclose(drawn[:, :2], want, atol=2e-6)
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_a_store_being_probed_again_shows_a_message_and_then_the_new_store(served):
    run, page, console = served
    _ready(page)
    name = page.evaluate(f"{CV}.view()")["checkpoint"]
    store = run.path / "probe" / name
    manifest = json.loads((store / "manifest.json").read_text())
    # a probe starting anew writes an unfinished manifest first (convlens.probe.run)
    (store / "manifest.json").write_text(json.dumps({**manifest, "finished": False}))
    page.wait_for_function(f"{CV}.view().status !== 'ready'", timeout=30_000)
    view = page.evaluate(f"{CV}.view()")
    assert view["missingShown"] and not view["drawing"]
    assert "being probed again" in view["message"]
    assert page.evaluate(f"{CV}.ink(0)") == {"points": 0, "overlay": 0}
    assert "being probed again" in page.locator("#live-info").text_content()
    # the probe finishes with other options (top-5): the page shows the new store
    convlens.probe.run(run, checkpoint=name, limit=LIMIT, topk=5, projections=())
    _ready(page)
    assert page.evaluate(f"{CV}.view()")["drawn"]["all"] == LIMIT
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_a_failed_background_probe_shows_its_error(served):
    run, page, console = served
    _ready(page)
    count = page.locator("#snapshot option").count()
    bad = run.path / "checkpoints" / f"step-{run.checkpoints[-1].step + 50:08d}.safetensors"
    shutil.copyfile(run.checkpoints[-1].path, bad)
    with bad.open("r+b") as fh:  # damaged: the header says more bytes than the file has
        fh.truncate(200)
    page.wait_for_function(
        f"{CV}.live().runs[0].checkpoints.some(c => c.state === 'failed')", timeout=SLOW
    )
    line = page.locator("#live-info").text_content()
    assert f"probe of {run.name}/{bad.stem} failed: checkpoint file" in line
    assert "is corrupt or truncated" in line
    assert page.locator("#live-info").is_visible()
    assert page.locator("#snapshot option").count() == count + 1
    # stepping onto it: the pane says why and draws nothing
    page.evaluate(f"{CV}.setSnapshot({count}, false)")
    view = page.evaluate(f"{CV}.view()")
    assert (view["checkpoint"], view["status"]) == (bad.stem, "waiting")
    assert view["message"].startswith(f"the probe of {bad.stem} of run {run.name} failed: ")
    assert view["missingShown"] and not view["drawing"]
    assert page.evaluate(f"{CV}.ink(0)") == {"points": 0, "overlay": 0}
    page.evaluate(f"{CV}.setSnapshot(0, false)")
    assert page.evaluate(f"{CV}.view()")["status"] == "ready"
    assert page.evaluate(f"{CV}.errors") == [] and console == []
