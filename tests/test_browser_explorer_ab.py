"""Explorer II in a real headless Chromium: the A/B view (a layer per pane), the timeline and
the confusion matrix, on two small probed runs served side by side (one browser)."""

from __future__ import annotations

import numpy as np
import pytest

from _browser import BROWSER_MARKS, WEBGL_ARGS, chromium, open_page
from _explorer_helpers import probed_timeline_runs
from convlens.explorer import explore

pytestmark = BROWSER_MARKS

CV = "window.convlens"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    a, b = probed_timeline_runs(tmp_path_factory.mktemp("explorer-timeline"))
    with explore(a, b) as ex, chromium(WEBGL_ARGS) as browser:
        page, console = open_page(
            browser,
            ex.url,
            f"{CV} && ({CV}.app.firstFrameMs !== null || {CV}.errors.length)",
            width=1500,
        )
        yield (a, b), page, console


def test_two_runs_load_side_by_side_without_errors(served):
    _, page, console = served
    assert page.evaluate(f"{CV}.errors") == [] and console == []
    names = page.locator(".pane-name").all_text_contents()
    assert names == ["A: lenet-a", "B: lenet-b"]
    page.evaluate(f"{CV}.loaded()")
    assert page.evaluate(f"{CV}.view(1).layer") == "fc2"
    # A/B-only controls show in A/B (in single view they are hidden: test_browser_explorer)
    assert page.locator("#ab-controls").is_visible()
    assert page.locator(".pane-layer").nth(1).is_visible()


def test_each_pane_shows_its_own_layer(served):
    """Seed 004 §4.4: A's relu1 beside B's pool2 (a layer per pane), both drawn."""
    _, page, console = served
    page.select_option(".pane[data-pane='0'] .pane-layer", "relu1")
    page.select_option(".pane[data-pane='1'] .pane-layer", "pool2")
    page.evaluate(f"{CV}.loaded()")
    a, b = page.evaluate(f"{CV}.view(0)"), page.evaluate(f"{CV}.view(1)")
    assert (a["layer"], b["layer"]) == ("relu1", "pool2")
    assert a["status"] == b["status"] == "ready"
    assert a["drawn"]["all"] > 0 and b["drawn"]["all"] > 0
    assert not a["missingShown"] and not b["missingShown"]
    # the panes navigate apart: a window moved in A leaves B where it was
    page.evaluate(f"{CV}.setWindow(40, 60, 10, 0)")
    a, b = page.evaluate(f"{CV}.view(0)"), page.evaluate(f"{CV}.view(1)")
    assert (a["colStart"], a["rowStart"], a["grid"]) == (40, 60, 10)
    assert (b["colStart"], b["rowStart"]) == (0, 0)
    # the same layer again: the panes are linked
    page.evaluate(f"{CV}.setLayer('fc2')")
    page.evaluate(f"{CV}.setWindow(2, 3, 5, 0)")
    b = page.evaluate(f"{CV}.view(1)")
    assert (b["layer"], b["colStart"], b["rowStart"], b["grid"]) == ("fc2", 2, 3, 5)
    page.evaluate(f"{CV}.setWindow(0, 0, 20, 0)")
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_a_pane_whose_run_lacks_the_layer_shows_only_the_message(served):
    _, page, console = served
    page.evaluate(f"{CV}.setLayer('fc2')")
    page.evaluate(f"{CV}.dispatch({{type: 'layer', layer: 'conv9', pane: 1}})")
    page.evaluate(f"{CV}.loaded()")
    b = page.evaluate(f"{CV}.view(1)")
    assert b["status"] == "missing" and b["missingShown"] and not b["drawing"]
    assert b["drawn"] == {"all": 0, "selected": 0, "cells": 0}
    message = page.locator(".pane[data-pane='1'] .missing")
    assert message.is_visible()
    assert message.text_content().startswith("run lenet-b has no layer conv9")
    # nothing stale: B's point canvas is the background colour, its overlay empty
    assert page.evaluate(f"{CV}.ink(1)") == {"points": 0, "overlay": 0}
    assert page.evaluate(f"{CV}.ink(0)")["points"] > 0.02
    page.evaluate(f"{CV}.setLayer('fc2')")
    assert page.evaluate(f"{CV}.view(1)")["status"] == "ready"
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_selecting_class_8_in_run_a_highlights_the_same_images_in_run_b(served):
    (a, b), page, _ = served
    page.evaluate(f"{CV}.setLayer('fc2')")
    page.locator("#legend li").nth(8).click()
    page.evaluate(f"{CV}.settle()")
    in_a = np.flatnonzero(a.probe().labels == 8)
    # run B's rows holding the same dataset images (found by dataset index)
    index_b = {int(d): r for r, d in enumerate(b.probe().indices)}
    in_b = sorted(index_b[int(d)] for d in a.probe().indices[in_a])
    assert page.evaluate(f"{CV}.selection(0)") == in_a.tolist()
    assert page.evaluate(f"{CV}.selection(1)") == in_b
    assert page.evaluate(f"{CV}.view(1)")["drawn"]["selected"] == len(in_b)  # drawn on top in B
    # and a selection made in B comes back to A
    page.evaluate(f"{CV}.selectRows([5, 9], 'replace', 1)")
    back = sorted(int(np.flatnonzero(a.probe().indices == b.probe().indices[r])[0]) for r in (5, 9))
    assert page.evaluate(f"{CV}.selection(0)") == back


def _expected_cell(probe, layer: str, xdim: int, ydim: int, count: int) -> np.ndarray:
    """What cell (xdim, ydim) should show for the first points: normalised (tx, ty)."""
    values = probe.embeddings(layer).astype(np.float32).reshape(-1, probe.layer_shape(layer)[-1])
    lo, hi = values.min(0), values.max(0)
    t = (values - lo) / (hi - lo)
    return np.stack([t[:count, xdim], t[:count, ydim]], 1).astype(np.float64)


def test_timeline_moves_every_view_to_the_stored_snapshot(served):
    (a, _), page, _ = served
    page.evaluate(f"{CV}.selectRows([])")
    page.evaluate(f"{CV}.setLayer('fc2')")
    page.evaluate(f"{CV}.setSnapshot(0, false)")
    first, last = a.checkpoints[0].name, a.checkpoints[-1].name
    assert page.evaluate(f"{CV}.snapshot()")["checkpoints"][0] == first
    # the header names the snapshot shown, not the one the page opened with
    assert page.locator("#run-name").text_content().startswith(f"lenet-a · {first}")
    count = 300  # cell (1, 3): dimension 3 on x, 1 on y
    at_first = np.asarray(page.evaluate(f"{CV}.drawnPositions(1, 3, {count})")).reshape(-1, 3)
    np.testing.assert_array_equal(at_first[:, 2], np.arange(count))
    want_first = _expected_cell(a.probe(first), "fc2", 3, 1, count)
    np.testing.assert_allclose(at_first[:, :2], want_first, atol=2e-6)
    # step to the last snapshot with the animation: halfway, points lie between the two
    page.evaluate("document.getElementById('snap-next').click()")
    page.wait_for_function(f"{CV}.snapshot().mix > 0.2 && {CV}.snapshot().mix < 0.8", polling=10)
    mid = page.evaluate(
        f"(() => {{ const m = {CV}.snapshot().mix;"
        f" return [m, {CV}.drawnPositions(1, 3, {count}, 0, m)]; }})()"
    )
    want_last = _expected_cell(a.probe(last), "fc2", 3, 1, count)
    mix, mid_xy = mid[0], np.asarray(mid[1]).reshape(-1, 3)[:, :2]
    between = (1 - mix) * want_first + mix * want_last
    np.testing.assert_allclose(mid_xy, between, atol=1e-5)
    page.wait_for_function(f"{CV}.snapshot().mix === 1")
    page.evaluate(f"{CV}.settle()")
    assert page.evaluate(f"{CV}.snapshot()")["checkpoints"][0] == last
    assert page.locator("#run-name").text_content().startswith(f"lenet-a · {last}")
    at_last = np.asarray(page.evaluate(f"{CV}.drawnPositions(1, 3, {count})")).reshape(-1, 3)
    np.testing.assert_allclose(at_last[:, :2], want_last, atol=2e-6)
    assert np.abs(want_last - want_first).max() > 0.05  # the view really changed


def test_clicking_a_confusion_cell_selects_exactly_those_images(served):
    (a, _), page, _ = served
    page.evaluate(f"{CV}.setSnapshot(1, false)")
    page.evaluate(f"{CV}.showTab('confusion')")
    page.wait_for_selector("#confusion td[data-t]")
    probe = a.probe()
    confusion = probe.confusion()
    off = np.argwhere((confusion > 0) & ~np.eye(10, dtype=bool))
    t, p = (int(v) for v in off[0]) if len(off) else (4, 4)
    page.locator(f"#confusion td[data-t='{t}'][data-p='{p}']").click()
    page.evaluate(f"{CV}.settle()")
    want = np.flatnonzero((probe.labels == t) & (probe.predictions == p)).tolist()
    assert len(want) == confusion[t, p] > 0
    assert page.evaluate(f"{CV}.selection(0)") == want
    assert page.locator("#confusion td.selected").count() == 1
