"""The explorer's front end in a real headless Chromium (SwiftShader WebGL2)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from _browser import BROWSER_MARKS, WEBGL_ARGS, chromium, open_page
from _explorer_helpers import decode_points, inside_polygon, probed_digits_run
from convlens.explorer import explore
from convlens.model import rf_box

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    run = probed_digits_run(tmp_path_factory.mktemp("explorer-browser"))
    with explore(run) as ex, chromium(WEBGL_ARGS) as browser:
        page, console = open_page(
            browser,
            ex.url,
            "window.convlens && (window.convlens.app.firstFrameMs !== null"
            " || window.convlens.errors.length)",
        )
        yield run, ex, page, console


def points(ex, layer: str) -> tuple[dict, np.ndarray]:
    import httpx

    return decode_points(
        httpx.get(f"{ex.url}api/runs/0/layers/{layer}/points.bin", timeout=60).content
    )


def test_page_loads_without_console_errors_and_draws_the_matrix(served):
    _, _, page, console = served
    assert page.evaluate("window.convlens.errors") == []
    assert console == []
    view = page.evaluate("window.convlens.view()")
    assert (view["layer"], view["grid"], view["cells"]) == ("fc2", 10, [0, 0, 10, 10])
    shot = np.asarray(Image.open(io.BytesIO(page.locator("#gl").screenshot())).convert("RGB"))
    background = np.array([0.08, 0.09, 0.1]) * 255
    differs = np.abs(shot.astype(float) - background).sum(-1) > 30
    assert differs.mean() > 0.05  # points cover more than 5% of the view


def test_scripted_lasso_selects_what_point_in_polygon_selects(served):
    _, ex, page, _ = served
    page.evaluate("window.convlens.setLayer('fc2')")
    cell = (1, 3)  # dimension 3 on x, dimension 1 on y
    poly_t = [(0.15, 0.2), (0.7, 0.1), (0.85, 0.55), (0.5, 0.9), (0.3, 0.6), (0.1, 0.75)]
    page.evaluate("window.convlens.setTool('lasso')")
    corners = [
        page.evaluate(f"window.convlens.cellToClient({cell[0]}, {cell[1]}, {x}, {y})")
        for x, y in poly_t
    ]
    page.mouse.move(corners[0]["x"], corners[0]["y"])
    page.mouse.down()
    for c in [*corners[1:], corners[0]]:
        page.mouse.move(c["x"], c["y"], steps=3)
    page.mouse.up()
    page.evaluate("window.convlens.setTool('pan')")
    used = page.evaluate("window.convlens.lastLasso()")
    assert (used["xdim"], used["ydim"]) == (3, 1)
    header, values = points(ex, "fc2")
    lo, hi = np.asarray(header["lo"]), np.asarray(header["hi"])
    tx = (values[3] - lo[3]) / (hi[3] - lo[3])
    ty = (values[1] - lo[1]) / (hi[1] - lo[1])
    expected = np.flatnonzero(inside_polygon(tx, ty, used["polygon"]))
    got = page.evaluate("window.convlens.selection()")
    assert len(expected) > 20
    assert got == expected.tolist()


def test_hover_on_a_spatial_layer_shows_the_patch_and_its_receptive_field(served):
    run, ex, page, _ = served
    page.evaluate("window.convlens.selectRows([])")
    page.evaluate("window.convlens.setLayer('pool1')")
    page.evaluate("window.convlens.goToDiagonal(2)")
    view = page.evaluate("window.convlens.view()")
    i = 2 - view["rowStart"]
    header, values = points(ex, "pool1")
    # a drawn point: the first sampled one is point 0 only without sampling; pick the point
    # with the largest value on dimension 2 among the first 2,000 (all drawn at this zoom)
    assert view["drawn"]["all"] == header["n_images"] * header["positions"]
    pid = int(np.argmax(values[2]))
    t = (values[2, pid] - header["lo"][2]) / (header["hi"][2] - header["lo"][2])
    jitter = page.evaluate(f"import('/static/points.js').then(m => m.jitter({pid}))")
    at = page.evaluate(f"window.convlens.cellToClient({i}, {i}, {t}, {jitter})")
    page.mouse.move(at["x"] + 1, at["y"])
    page.wait_for_function(
        "window.convlens.hover() !== null && window.convlens.hover() !== undefined"
    )
    hover = page.evaluate("window.convlens.hover()")
    assert page.locator("#hover").is_visible()
    positions = header["positions"]
    assert hover["row"] == pid // positions
    info = next(x for x in run.layers() if x.name == "pool1")
    pos = hover["pid"] % positions
    want = rf_box(info, pos // 12, pos % 12, clip=(28, 28))
    assert [round(v) for v in hover["box"]] == list(want)
    card = np.asarray(
        Image.open(io.BytesIO(page.locator("#hover-image").screenshot())).convert("RGB")
    )
    yellow = (card[..., 0] > 200) & (card[..., 1] > 170) & (card[..., 2] < 80)
    assert yellow.sum() > 20  # the box is drawn


def test_clicking_a_class_selects_its_images_in_every_layer(served):
    run, _, page, _ = served
    page.evaluate("window.convlens.setLayer('conv2')")
    page.locator("#legend li").nth(4).click()
    labels = run.probe().labels
    expected = np.flatnonzero(labels == 4).tolist()
    assert page.evaluate("window.convlens.selection()") == expected
    page.evaluate("window.convlens.setLayer('relu1')")
    page.evaluate("window.convlens.settle()")
    view = page.evaluate("window.convlens.view()")
    assert page.evaluate("window.convlens.selection()") == expected
    assert view["drawn"]["selected"] == len(expected)  # drawn on top in the other layer
    page.wait_for_function("document.querySelectorAll('#maps canvas').length > 0")
    title = page.locator("#maps-title").text_content()
    assert title == f"Average of {len(expected)} images"


def test_controls_hidden_in_single_view_stay_hidden(served):
    """A CSS display rule no longer overrides `hidden`."""
    _, _, page, _ = served
    assert not page.locator("#ab-controls").is_visible()
    assert not page.locator(".pane-layer").first.is_visible()
    page.evaluate("window.convlens.click(5)")
    page.evaluate("window.convlens.showTab('image')")
    page.wait_for_selector("#image-panel", state="visible")
    assert not page.locator("#attr-layer-label").is_visible()  # saliency needs no layer
    page.select_option("#attr-method", "grad_cam")
    assert page.locator("#attr-layer-label").is_visible()
    page.select_option("#attr-method", "saliency")
    assert not page.locator("#attr-layer-label").is_visible()
    page.evaluate("window.convlens.showTab('maps')")


def test_fully_connected_maps_have_tiles_big_enough_to_click(served):
    _, _, page, console = served
    page.evaluate("window.convlens.selectRows([7])")
    page.wait_for_selector("#maps canvas")
    names = page.locator("#maps .layer-name").all_text_contents()
    fc = page.locator("#maps canvas").nth(names.index("relu1  (500)"))
    tw, th, cols = (int(v) for v in fc.get_attribute("data-tile").split("x"))
    assert tw - 2 >= 10 and th - 2 >= 10  # at least 10 px per dimension
    d = cols + 2  # second row, third tile
    fc.click(position={"x": (d % cols + 0.5) * tw, "y": (d // cols + 0.5) * th})
    page.evaluate("window.convlens.loaded()")
    view = page.evaluate("window.convlens.settle()")
    assert view["layer"] == "relu1"
    assert (view["colStart"] + view["cam"]["cx"], view["rowStart"] + view["cam"]["cy"]) == (
        d + 0.5,
        d + 0.5,
    )
    assert page.evaluate("window.convlens.state().channel") == {"pane": 0, "layer": "relu1", "c": d}
    assert console == []


def test_selected_points_are_large_when_few_and_plain_when_many(served):
    _, _, page, _ = served
    page.evaluate("window.convlens.setLayer('pool1')")
    dpr = page.evaluate("devicePixelRatio")
    size = page.evaluate("window.convlens.state().view.pointSize") * dpr
    page.evaluate("window.convlens.selectRows([3])")
    drawn = page.evaluate("window.convlens.view()")["drawn"]
    assert drawn["selected"] == 144 and drawn["selectedSize"] == pytest.approx(1.4 * size)
    page.evaluate("window.convlens.setLayer('fc2')")
    drawn = page.evaluate("window.convlens.view()")["drawn"]
    assert drawn["selected"] == 1 and drawn["selectedSize"] >= 7 * dpr  # one image: visible
    page.evaluate("window.convlens.setLayer('pool1')")
    page.evaluate("window.convlens.selectClass(4)")
    drawn = page.evaluate("window.convlens.view()")["drawn"]
    assert drawn["selected"] > 2000 and drawn["selectedSize"] == pytest.approx(size)
    page.evaluate("window.convlens.selectRows([])")


def test_a_layer_opens_at_its_first_dimensions_with_enough_points_per_cell(served):
    _, _, page, _ = served
    page.evaluate("window.convlens.setLayer('relu1')")
    page.evaluate("window.convlens.setWindow(5, 9, 6)")
    page.evaluate("window.convlens.setLayer('fc2')")
    page.evaluate("window.convlens.setLayer('pool1')")
    view = page.evaluate("window.convlens.view()")
    assert (view["colStart"], view["rowStart"]) == (0, 0)
    # 600 images x 144 positions: the default window keeps >= 5,000 points in every cell
    assert view["grid"] == 14 and view["drawn"]["all"] >= 5000
