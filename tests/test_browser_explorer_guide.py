"""The explorer's guide and scales in a real headless Chromium: the pair ranking (a planted
class cluster ranks first; clicking it centres its cell), the overview of a 500-dim layer,
tick labels and zero lines, and the shared-scale switch. One server holds two runs; each
test opens the one it needs (``?runs=K``)."""

from __future__ import annotations

import numpy as np
import pytest

from _browser import BROWSER_MARKS, WEBGL_ARGS, chromium, open_page
from _explorer_helpers import PLANTED, PLANTED_CLASS, planted_run, probed_digits_run
from convlens.explorer import explore

pytestmark = BROWSER_MARKS

CV = "window.convlens"
READY = f"{CV} && ({CV}.app.firstFrameMs !== null || {CV}.errors.length)"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("explorer-guide")
    planted = planted_run(root / "p")
    digits = probed_digits_run(root / "d")
    with explore(planted, digits) as ex, chromium(WEBGL_ARGS) as browser:
        yield ex, browser, planted, digits


@pytest.fixture(scope="module")
def planted_page(served):
    ex, browser, planted, _ = served
    page, console = open_page(browser, ex.url + "?runs=0", READY)
    yield page, console, planted
    page.close()


@pytest.fixture(scope="module")
def digits_page(served):
    ex, browser, _, digits = served
    page, console = open_page(browser, ex.url + "?runs=1", READY)
    yield page, console, digits
    page.close()


def test_planted_cluster_ranks_first_and_clicking_it_centres_its_cell(planted_page):
    page, console, run = planted_page
    page.evaluate(f"{CV}.setLayer('feat')")
    assert page.evaluate(f"{CV}.view().dims") == 40
    page.evaluate(f"{CV}.showTab('guide')")
    page.wait_for_function(f"{CV}.guide() && {CV}.guide().layer === 'feat'", timeout=120_000)
    guide = page.evaluate(f"{CV}.guide()")
    assert guide["sortBy"] == "separation"
    assert tuple(guide["pairs"][0]) == PLANTED
    best = guide["header"]["pairs"][0]
    assert best["best_class"] == PLANTED_CLASS and best["class_lift"] > 0.9
    assert len(guide["header"]["pairs"]) == 40 * 39 // 2  # every pair of 40 dims measured
    # the list row shows the pair and clicking it centres that cell, zoomed in
    first = page.locator("#guide-list tr").nth(1)
    assert first.locator("td").nth(1).text_content() == f"{PLANTED[0]}, {PLANTED[1]}"
    first.click()
    view = page.evaluate(f"{CV}.settle()")
    x = view["colStart"] + view["cam"]["cx"]
    y = view["rowStart"] + view["cam"]["cy"]
    assert (int(x), int(y)) == PLANTED  # the view's centre lies in cell (x=7, y=31)
    assert abs(x - PLANTED[0] - 0.5) < 1e-6 and abs(y - PLANTED[1] - 0.5) < 1e-6
    assert view["cam"]["scale"] > 0.6 * min(view["css"]["w"], view["css"]["h"])  # a big cell
    # the cell shows the cluster: class 2's points sit where pixels 7 and 31 are 198..202
    i, j = PLANTED[1] - view["rowStart"], PLANTED[0] - view["colStart"]
    drawn = np.asarray(page.evaluate(f"{CV}.drawnPositions({i}, {j}, 1500)")).reshape(-1, 3)
    labels = run.probe().labels
    emb = run.probe().embeddings("feat").astype(np.float64)
    lo, hi = emb.min(0), emb.max(0)
    want = (emb[:, list(PLANTED)] - lo[list(PLANTED)]) / (hi - lo)[list(PLANTED)]
    np.testing.assert_allclose(drawn[:, :2], want, atol=2e-6)
    assert np.ptp(drawn[labels == PLANTED_CLASS, :2], axis=0).max() < 0.03
    # sorting by another measure reorders the list by it
    page.locator("#guide-list td[data-sort='linear']").click()
    page.wait_for_function(f"{CV}.guide().sortBy === 'linear'")
    guide = page.evaluate(f"{CV}.guide()")
    top = max(guide["header"]["pairs"], key=lambda p: p["linear"])
    assert tuple(guide["pairs"][0]) == (top["x"], top["y"])
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_overview_of_a_500_dim_layer_spans_all_of_it_and_drags_the_window(digits_page):
    page, console, _ = digits_page
    page.evaluate(f"{CV}.setLayer('relu1')")
    page.wait_for_function(f"{CV}.overview() && {CV}.overview().heat", timeout=120_000)
    ov = page.evaluate(f"{CV}.overview()")
    assert (ov["dims"], ov["span"], ov["mode"], ov["layer"]) == (500, [0, 500], "score", "relu1")
    view = page.evaluate(f"{CV}.view()")
    g = view["grid"]
    assert ov["box"] == [0, 0, g, g]  # the window of dims 0..g-1, all of it in view
    # the heat map covers the whole canvas (every pair has a colour, the diagonal grey)
    shot = page.evaluate(
        """(() => { const c = document.getElementById('overview');
        const d = c.getContext('2d').getImageData(0, 0, 200, 200).data; const out = [];
        for (let i = 0; i < d.length; i += 4) out.push(d[i] + d[i + 1] + d[i + 2]);
        return out; })()"""
    )
    shot = np.asarray(shot).reshape(200, 200)
    assert (shot > 60).mean() > 0.9 and np.std(shot) > 10
    # dragging in the overview moves the window there
    box = page.locator("#overview").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.9, steps=4)
    page.mouse.up()
    view = page.evaluate(f"{CV}.settle()")
    centre = (view["colStart"] + view["cam"]["cx"], view["rowStart"] + view["cam"]["cy"])
    assert abs(centre[0] - 400) < 2 and abs(centre[1] - 450) < 2
    ov = page.evaluate(f"{CV}.overview()")
    assert ov["box"][0] > 380 and ov["box"][1] > 430
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_tick_labels_and_zero_lines_are_drawn(digits_page):
    page, console, run = digits_page
    page.evaluate(f"{CV}.setLayer('fc2')")
    page.evaluate(f"{CV}.fit()")
    axes = page.evaluate(f"{CV}.axes()")
    view = page.evaluate(f"{CV}.view()")
    emb = run.probe().embeddings("fc2").astype(np.float32)
    lo, hi = emb.min(0), emb.max(0)
    xs = [t for t in axes["ticks"] if t["axis"] == "x"]
    ys = [t for t in axes["ticks"] if t["axis"] == "y"]
    assert {t["dim"] for t in xs} == set(range(10)) and {t["dim"] for t in ys} == set(range(10))
    for t in xs + ys:
        assert float(t["text"]) == pytest.approx(t["value"], abs=1e-9)
        assert lo[t["dim"]] - 1e-3 <= t["value"] <= hi[t["dim"]] + 1e-3
    # a tick sits where its value is drawn: cell (0, d) on x, the same mapping as the points
    t = next(t for t in xs if t["value"] != 0)
    frac = (t["value"] - lo[t["dim"]]) / (hi[t["dim"]] - lo[t["dim"]])
    at = page.evaluate(f"{CV}.cellToClient(0, {t['dim']}, {frac}, 0)")
    left = page.locator("#overlay").bounding_box()["x"]
    assert at["x"] - left == pytest.approx(t["at"], abs=0.5)
    # a zero line in every visible cell whose dimension spans zero
    spans = {d for d in range(10) if lo[d] < 0 < hi[d]}
    assert spans
    zx = {(tuple(z["cell"]), z["dim"]) for z in axes["zero"] if z["axis"] == "x"}
    assert zx == {((i, j), j) for i in range(10) for j in range(10) if j in spans}
    z = next(z for z in axes["zero"] if z["axis"] == "x")
    ink = page.evaluate(
        f"""(() => {{ const c = document.getElementById('overlay'), r = devicePixelRatio;
        const x = Math.round({z["at"]} * r), d = c.getContext('2d');
        const y = Math.round(d.canvas.height * 0.5), w = Math.round(4 * r) + 1;
        const row = d.getImageData(x, y, w, 1).data; return [row[3], row[4 * (w - 1) + 3]]; }})()"""
    )
    assert ink[0] > 40 and ink[1] < ink[0]  # the line is drawn; beside it, not
    # zoomed into one cell: ticks inside it too
    page.evaluate(f"{CV}.goToCell(3, 1)")
    inner = [t for t in page.evaluate(f"{CV}.axes()")["ticks"] if "cell" in t]
    assert {t["axis"] for t in inner} == {"x", "y"}
    assert view["drawn"]["all"] > 0
    assert page.evaluate(f"{CV}.errors") == [] and console == []


def test_shared_scale_puts_every_dimension_on_one_scale(digits_page):
    page, console, run = digits_page
    page.evaluate(f"{CV}.setLayer('fc2')")
    page.evaluate(f"{CV}.fit()")
    page.evaluate(f"{CV}.set('sharedScale', true)")
    emb = run.probe().embeddings("fc2").astype(np.float32)
    low, high = float(emb.min()), float(emb.max())
    drawn = np.asarray(page.evaluate(f"{CV}.drawnPositions(1, 3, 200)")).reshape(-1, 3)
    want = (emb[:200][:, [3, 1]] - low) / (high - low)
    np.testing.assert_allclose(drawn[:, :2], want, atol=2e-6)
    ticks = [t for t in page.evaluate(f"{CV}.axes()")["ticks"] if t["axis"] == "x"]
    assert ticks and not any("cell" in t for t in ticks)  # the outer cells' ticks
    by_dim = {}
    for t in ticks:
        by_dim.setdefault(t["dim"], []).append(t["text"])
    assert len({tuple(v) for v in by_dim.values()}) == 1  # one scale: the same ticks
    assert "one scale for every dimension" in page.evaluate(f"{CV}.view()")["lod"]
    page.evaluate(f"{CV}.set('sharedScale', false)")
    drawn = np.asarray(page.evaluate(f"{CV}.drawnPositions(1, 3, 200)")).reshape(-1, 3)
    lo, hi = emb.min(0), emb.max(0)
    np.testing.assert_allclose(drawn[:, :2], ((emb - lo) / (hi - lo))[:200][:, [3, 1]], atol=2e-6)
    assert page.evaluate(f"{CV}.errors") == [] and console == []
