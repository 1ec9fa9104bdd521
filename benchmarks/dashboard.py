"""Dashboard benchmark: open a run with 100,000 logged steps.

Writes (once, into ``--run-dir``) a run whose log holds 100,000 steps of
``train/loss`` and ``train/acc``, weight and gradient summaries of four
parameters every 50 steps (2,000 x 8 summaries) and five checkpoints, written
through the Recorder's log writer. Then, each repetition on a fresh server (cold
caches), it measures:

- API time: ``GET /api/dashboard/runs`` then both curves (600 buckets) over
  loopback HTTP, against the physical limit, the plain read of both curves from
  ``log.sqlite`` with :class:`convlens.record.LogReader`;
- time to first frame in headless Chromium: navigation start -> both curve charts
  drawn (``window.dashboard.firstFrameMs``, measured from ``performance.timeOrigin``);
- bytes on the wire against the same curves as a JSON list of numbers.

    .venv/bin/python benchmarks/dashboard.py [--quick] [--run-dir /tmp/dashboard-100k]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import torch

from convlens.explorer.dashboard import serve_dashboard
from convlens.record import Cadence, Recorder, RunInfo, open_log, summarize

STEPS = 100_000
TAGS = ("train/loss", "train/acc")
CHROMIUM = "/usr/bin/chromium"


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3)
        self.fc = torch.nn.Linear(8 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv1(x)).flatten(1))


def write_run(path: Path) -> None:
    """100,000 steps of two curves, histograms every 50 steps, 5 checkpoints."""
    if (path / "log.sqlite").exists():
        return
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    model = Tiny()
    rec = Recorder(model, path, input_shape=(1, 8, 8), cadence=Cadence(None, None),
                   info=RunInfo(training={"lr": 0.01}), overwrite=True,
                   normalization="none")  # fmt: skip
    steps = np.arange(1, STEPS + 1)
    loss = 2.3 * np.exp(-steps / 8000) + 0.05 + rng.gamma(2, 0.03, STEPS)
    acc = np.clip(1 - loss / 2.5 + rng.normal(0, 0.02, STEPS), 0, 1)
    wall = time.time()
    for s, a, b in zip(steps.tolist(), loss.tolist(), acc.tolist(), strict=True):
        rec.log.scalar("train/loss", s, a, wall=wall + s * 0.01)
        rec.log.scalar("train/acc", s, b, wall=wall + s * 0.01)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    for s in range(50, STEPS + 1, 50):
        for name, shape in shapes.items():
            spread = 0.1 * (1 + s / STEPS)
            rec.log.histogram(name, "weight", s, summarize(rng.normal(0, spread, shape)))
            rec.log.histogram(name, "grad", s, summarize(rng.normal(0, 0.01, shape)))
    for s in np.linspace(1, STEPS, 5).astype(int):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        rec.snapshot(int(s))
    rec.close()
    print(f"wrote {path} in {time.perf_counter() - started:.1f} s")


def api_once(path: Path) -> tuple[float, float, int]:
    """(API seconds on a fresh server, direct log read seconds, bytes)."""
    with serve_dashboard([path]) as server:
        base = server.url.replace("/dashboard/", "/api/dashboard")
        with httpx.Client() as client:
            t0 = time.perf_counter()
            client.get(f"{base}/runs").raise_for_status()
            size = 0
            for tag in TAGS:
                r = client.get(f"{base}/runs/0/scalars.bin", params={"tag": tag, "points": 600})
                r.raise_for_status()
                size += len(r.content)
            api = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open_log(path) as log:
        for tag in TAGS:
            log.scalars(tag)
    return api, time.perf_counter() - t0, size


def browser_once(page, path: Path) -> float:
    """Seconds from navigation start to the first drawn frame of the curves."""
    with serve_dashboard([path]) as server:
        page.goto(server.url)
        page.wait_for_function("window.dashboard && window.dashboard.firstFrameMs !== null")
        ms = page.evaluate("window.dashboard.firstFrameMs")
        errors = page.evaluate("window.dashboard.errors")
        if errors:
            raise RuntimeError(f"dashboard errors: {errors}")
        page.goto("about:blank")
    return ms / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 7")
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/convlens-dashboard-100k"))
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    write_run(args.run_dir)
    with open_log(args.run_dir) as log:
        json_bytes = sum(len(json.dumps(log.scalars(t).value.tolist())) for t in TAGS)
        json_bytes += sum(len(json.dumps(log.scalars(t).step.tolist())) for t in TAGS)

    from playwright.sync_api import sync_playwright

    api, raw, frame, size = [], [], [], 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for _ in range(reps):  # interleaved: API, direct read, browser
            a, r, size = api_once(args.run_dir)
            api.append(a)
            raw.append(r)
            frame.append(browser_once(page, args.run_dir))
        browser.close()
    med = statistics.median
    print(f"run: {STEPS:,} steps x {len(TAGS)} curves, 2,000 x 8 histogram summaries")
    print(f"API (runs + 2 curves, cold server): median {med(api) * 1000:.0f} ms "
          f"(min {min(api) * 1000:.0f}, max {max(api) * 1000:.0f})")  # fmt: skip
    print(f"direct LogReader read of both curves: median {med(raw) * 1000:.0f} ms; "
          f"API / read = {med(api) / med(raw):.2f}")  # fmt: skip
    print(f"first drawn frame in Chromium: median {med(frame) * 1000:.0f} ms "
          f"(min {min(frame) * 1000:.0f}, max {max(frame) * 1000:.0f}); limit 1000 ms")  # fmt: skip
    print(f"bytes: {size:,} binary vs {json_bytes:,} as full JSON lists "
          f"({json_bytes / size:.0f}x smaller)")  # fmt: skip


if __name__ == "__main__":
    main()
