"""The dashboard in a real headless Chromium: drawing, controls and live updates."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from _browser import BROWSER_MARKS, CANVAS_ARGS, chromium, open_page
from _dashboard_helpers import TinyNet, digits, record_run
from convlens.explorer.dashboard import serve_dashboard
from convlens.record import Cadence, Recorder

LIVE_LIMIT_S = 5.0
READY = "window.dashboard && (window.dashboard.ready || window.dashboard.errors.length)"

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def browser():
    with chromium(CANVAS_ARGS) as b:
        yield b


def open_dashboard(browser, url: str):
    return open_page(browser, url, READY, height=1000)


def colour_fraction(png: bytes, hex_colour: str) -> float:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return float((np.abs(rgb - target).sum(-1) < 60).mean())


def test_two_runs_are_overlaid_in_every_view(browser, tmp_path):
    record_run(tmp_path / "lr-small", lr=0.05, steps=40)
    record_run(tmp_path / "lr-large", lr=5.0, steps=40)
    with serve_dashboard([tmp_path / "lr-small", tmp_path / "lr-large"]) as server:
        page, problems = open_dashboard(browser, server.url)
        assert page.evaluate("window.dashboard.errors") == [] and problems == []
        assert page.locator("#db-legend li").count() == 2
        titles = page.locator("#db-curves .chart").evaluate_all("cs => cs.map(c => c.dataset.tag)")
        assert titles == ["train/loss", "train/acc"]
        drawn = page.evaluate("window.dashboard.drawn")
        assert drawn == {
            "0|train/loss": 40,
            "1|train/loss": 40,
            "0|train/acc": 40,
            "1|train/acc": 40,
        }
        shot = page.locator("#db-curves .chart").first.screenshot()
        assert colour_fraction(shot, "#4e9bea") > 0.002  # run 0's curve
        assert colour_fraction(shot, "#f0625d") > 0.002  # run 1's curve
        dist = page.evaluate("window.dashboard.distributions")
        assert dist["runs"] == [0, 1] and dist["headers"][0]["param"] == "conv1.weight"
        heat = page.evaluate("window.dashboard.heatmaps")
        assert heat["runs"] == [0, 1] and heat["headers"][1]["shape"] == [4, 1, 3, 3]
        assert page.locator("#db-heatmaps canvas").count() == 2 * 8
        # each run on its own colour scale by default: a large-lr run cannot blank the other
        assert heat["scales"] == [h["scale"] for h in heat["headers"]]
        assert not page.locator("#db-shared").is_checked()
        before = heat["at"]
        page.locator("#db-shared").check()
        page.wait_for_function(f"window.dashboard.heatmaps.at > {before}")
        shared = page.evaluate("window.dashboard.heatmaps")
        top = max(h["scale"] for h in shared["headers"])
        assert shared["scales"] == [top, top]
        small = min(h["scale"] for h in shared["headers"])
        warned = page.locator("#db-heatmaps .heat-info.warn").count()
        assert warned == (1 if small < top / 10 else 0)
        page.locator("#db-shared").uncheck()
        before = page.evaluate("window.dashboard.distributions.at")
        page.select_option("#db-view", "ridgeline")
        page.wait_for_function(f"window.dashboard.distributions.at > {before}")
        ridge = page.evaluate("window.dashboard.distributions.headers[0]")
        assert (ridge["runs"], ridge["param"]) == ([0, 1], "conv1.weight")
        page.locator("#db-legend li").nth(1).click()  # hide run 1
        page.wait_for_timeout(300)
        shot = page.locator("#db-curves .chart").first.screenshot()
        assert colour_fraction(shot, "#f0625d") < 0.0005
        assert page.evaluate("window.dashboard.errors") == [] and problems == []
        page.close()


def test_points_logged_while_training_appear_within_5_seconds(browser, tmp_path):
    torch.manual_seed(0)
    model = TinyNet()
    x, y = digits()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = Recorder(model, tmp_path / "live", input_shape=(1, 8, 8), normalization="none",
                   cadence=Cadence(10, [1, 20, 40], flush_seconds=0.5))  # fmt: skip
    logged: dict[int, float] = {}

    def train_step(step: int) -> None:
        rows = torch.arange(step * 32, step * 32 + 32) % len(x)
        loss = F.cross_entropy(model(x[rows]), y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(step, loss=loss)
        logged[step] = time.time()

    train_step(1)
    rec.flush()
    with serve_dashboard([tmp_path / "live"]) as server:
        page, problems = open_dashboard(browser, server.url)
        assert page.evaluate("window.dashboard.drawn") == {"0|loss": 1}

        def keep_training() -> None:
            for step in range(2, 41):
                train_step(step)
                time.sleep(0.15)
            rec.close()

        writer = threading.Thread(target=keep_training)
        writer.start()
        writer.join()
        page.wait_for_function("window.dashboard.drawn['0|loss'] === 40", timeout=15_000)
        log = page.evaluate("window.dashboard.drawLog.filter(e => e[1] === 'loss')")
        latencies = []
        for step in range(2, 41):
            shown = min(ms for _, _, s, ms in log if s >= step) / 1000.0
            latencies.append(shown - logged[step])
        print(f"live latency: median {np.median(latencies):.2f} s, max {max(latencies):.2f} s")
        assert max(latencies) < LIVE_LIMIT_S
        assert min(latencies) > -0.05  # nothing is drawn before it was logged
        # the weight heatmaps follow the new checkpoints too
        page.wait_for_function(
            "window.dashboard.heatmaps && window.dashboard.heatmaps.headers[0].param"
            " && document.querySelectorAll('#db-heatmaps canvas').length === 3",
            timeout=15_000,
        )
        assert page.evaluate("window.dashboard.errors") == [] and problems == []
        page.close()
