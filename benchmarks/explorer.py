"""Explorer benchmark in headless Chromium (SwiftShader WebGL2 on this CPU-only machine).

Trains the MNIST siamese network of seed 004 (contrastive loss, Hadsell et al. 2006)
once into ``--run-dir``, probes all 10,000 MNIST test images, serves the explorer and
measures, in one browser session:

- time to first frame (page navigation -> first matrix frame drawn, data loaded);
- frame time of fc1 with a 50-dimension window (2,500 cells x 10,000 images), at the
  software default budget of 1M point draws (and the full 25M with ``--full``);
- frame time of conv1 (20 dims x 5.76M positions = 400 cells) at 1M (16M with ``--full``);
- lasso-to-highlight on every layer, split in (a) the JavaScript work: polygon test over
  every point of the cell and the selection linked to all layers and panes, (b) the
  first highlighted frame drawn (GPU finished) and presented (next animation frame),
  at the interactive level-of-detail budget, and (c) the refined full-budget frame;
- the A/B view (siamese with and without its ReLU, trained by ``convlens.record.train``
  and probed on 2,000 images at three snapshots): first frame, selection latency across
  both panes, and one timeline step.

Takes about 3 minutes once the runs exist (they are cached under ``--run-dir``'s
folder); ``--full`` repeats more and adds the 25M / 16M draws.
``--screenshots DIR`` also saves the case studies and the Explorer II views as PNGs.

    .venv/bin/python benchmarks/explorer.py [--full] [--screenshots docs/img]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import convlens
import convlens.probe
from convlens.data import load_dataset
from convlens.data.normalize import Normalization
from convlens.explorer import explore

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]


def contrastive(a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, margin: float = 1.0):
    d = (a - b).pow(2).sum(1).clamp_min(1e-12).sqrt()
    return (same * d.pow(2) + (1 - same) * (margin - d).clamp_min(0).pow(2)).mean() / 2


def siamese_run(path: Path, epochs: int) -> convlens.Run:
    """The seed 004 network: trained on the first 8,000 MNIST test images, pairs by label."""
    if (path / "run.json").exists() and convlens.open_run(path).checkpoints:
        return convlens.open_run(path)
    ds = load_dataset(str(MNIST))
    run = convlens.Run.create(
        path,
        model="siamese",
        data=str(MNIST),
        classes=ds.classes,
        normalization=Normalization.fit(ds.images[:8000]),
        input_shape=(1, 28, 28),
        task="embed",
        val=(8000, 10000),
    )
    torch.manual_seed(0)
    model = run.build_model()
    train = run.dataset("train")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    step = 0
    for _ in range(epochs):
        model.train()
        first = torch.randperm(len(train), generator=g).numpy()
        second = torch.randperm(len(train), generator=g).numpy()
        for s in range(0, len(first), 64):
            a = train.batches(64, first[s : s + 64])
            b = train.batches(64, second[s : s + 64])
            (ba,), (bb,) = list(a), list(b)
            same = (ba.labels == bb.labels).float()
            loss = contrastive(model(ba.inputs), model(bb.inputs), same)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        print(f"siamese epoch loss {loss.item():.4f}", file=sys.stderr)
    run.save_checkpoint(model.eval(), step)
    return run


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms"


def lasso(page, cell: tuple[int, int], box: tuple[float, float, float, float]) -> dict:
    """Drag a freehand lasso (an 12-gon inside ``box`` of normalised coordinates) on a cell."""
    x0, y0, x1, y1 = box
    pts = []
    for k in range(12):
        a = 2 * np.pi * k / 12
        tx = (x0 + x1) / 2 + (x1 - x0) / 2 * np.cos(a)
        ty = (y0 + y1) / 2 + (y1 - y0) / 2 * np.sin(a)
        pts.append(page.evaluate(f"window.convlens.cellToClient({cell[0]}, {cell[1]}, {tx}, {ty})"))
    page.evaluate("window.convlens.setTool('lasso')")
    page.evaluate("window.convlens.app.lastHighlight = null")
    page.mouse.move(pts[0]["x"], pts[0]["y"])
    page.mouse.down()
    for p in pts[1:]:
        page.mouse.move(p["x"], p["y"])
    page.mouse.up()
    page.evaluate("window.convlens.setTool('pan')")
    page.wait_for_function(
        "window.convlens.timings().lastHighlight && "
        "window.convlens.timings().lastHighlight.presentedMs !== null"
    )
    return page.evaluate("window.convlens.timings().lastHighlight")


def record_run(path: Path, relu: bool, model: str = "siamese") -> convlens.Run:
    """A run trained by ``convlens.record.train`` (1 epoch, cached), probed on 2,000 images
    at its first, a middle and its last snapshot (for the timeline)."""
    from convlens.record import TrainConfig, train

    if not (path / "run.json").exists() or not convlens.open_run(path).checkpoints:
        options = {"relu": relu} if model == "siamese" else {}
        train(TrainConfig(model, str(MNIST), epochs=1, model_options=options), path, overwrite=True)
    run = convlens.open_run(path)
    names = [c.name for c in run.checkpoints]
    for name in dict.fromkeys([names[0], names[len(names) // 2], names[-1]]):
        convlens.probe.run(run, checkpoint=name, limit=2000)
    return run


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1500, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function("window.convlens && window.convlens.app.firstFrameMs !== null")
    return page, errors, (time.perf_counter() - t) * 1000


def highlight_line(name: str, h: dict, refined: float | None = None) -> str:
    line = (
        f"{name}: (a) selection + linking {h['selectMs']:.1f} ms, (b) first highlighted frame "
        f"drawn {h['drawnMs']:.0f} ms, presented {h['presentedMs']:.0f} ms at "
        f"{h['budget']:,} draws ({h['images']} images selected, {h['panes']} pane(s))"
    )
    return line + (f"; refined frame at {h['fullBudget']:,}: {refined:.0f} ms" if refined else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="/tmp/convlens-bench/siamese")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="more repeats, 25M and 16M draws")
    parser.add_argument("--screenshots", default=None, help="folder for the PNGs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    run = siamese_run(Path(args.run_dir), args.epochs)
    convlens.probe.run(run, progress=True)
    root = Path(args.run_dir).parent
    ab = [record_run(root / "siamese-relu", True), record_run(root / "siamese-norelu", False)]
    lenet = record_run(root / "lenet-record", True, model="lenet")
    print(f"runs ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    repeats = 5 if args.full else 2
    cv = "window.convlens"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with explore(run) as ex:
            first = [open_page(browser, ex.url) for _ in range(repeats)]
            for page, _, _ in first[:-1]:
                page.close()
            page, errors, _ = first[-1]
            print(
                "time to first frame (MNIST siamese, feat 2-D, 10,000 images): "
                f"{median_ms([f[2] for f in first])}"
            )
            if args.screenshots:
                shots(page, Path(args.screenshots))
            page.evaluate(f"{cv}.selectRows([])")
            page.evaluate(f"{cv}.setLayer('fc1')")
            page.evaluate(f"{cv}.setWindow(0, 0, 50)")
            for budget in (25_000_000, 1_000_000) if args.full else (1_000_000,):
                page.evaluate(f"{cv}.setBudget({budget})")
                r = page.evaluate(f"{cv}.benchFrames({repeats})")
                draws = r["drawn"]["all"] * r["drawn"]["cells"]
                print(
                    f"fc1 50-dim window, 2,500 cells, {draws:,} point draws: "
                    f"{r['median']:.0f} ms/frame"
                )
            page.evaluate(f"{cv}.setLayer('conv1')")
            for budget in (1_000_000, 16_000_000) if args.full else (1_000_000,):
                page.evaluate(f"{cv}.setBudget({budget})")
                r = page.evaluate(f"{cv}.benchFrames({repeats})")
                draws = r["drawn"]["all"] * r["drawn"]["cells"]
                print(
                    f"conv1 20 dims x 5,760,000 positions (400 cells), {draws:,} point draws: "
                    f"{r['median']:.0f} ms/frame"
                )
            page.evaluate(f"{cv}.setBudget(1000000)")
            for layer in page.evaluate(f"{cv}.state().runs[0].layers.map(l => l.name)"):
                page.evaluate(f"{cv}.setLayer('{layer}')")
                page.evaluate(f"{cv}.setWindow(0, 0, 20)")
                cell = (0, 1) if page.evaluate(f"{cv}.view().grid") > 1 else (0, 0)
                runs = []
                for _ in range(max(1, repeats // 2)):
                    h = lasso(page, cell, (0.2, 0.2, 0.8, 0.8))
                    refined = page.evaluate(f"{cv}.settle().then(() => {cv}.benchFrames(1))")
                    runs.append((h, refined["median"]))
                h, refined = sorted(runs, key=lambda r: r[0]["presentedMs"])[len(runs) // 2]
                print(highlight_line(f"lasso-to-highlight {layer}", h, refined))
            if errors:
                print("page errors:", errors)
            page.close()
        with explore(*ab) as ex:
            page, errors, first_ms = open_page(browser, ex.url)
            print(
                "A/B view (siamese with | without ReLU, 2,000 images): "
                f"first frame {first_ms:.0f} ms"
            )
            page.evaluate(f"{cv}.setLayer('feat')")
            h = page.evaluate(f"{cv}.selectClass(8).then(() => {cv}.timings().lastHighlight)")
            print(highlight_line("A/B select class 8 (both panes)", h))
            page.evaluate(f"{cv}.setLayer('fc1')")
            t = time.perf_counter()
            page.evaluate(f"{cv}.setSnapshot(0)")
            print(
                "timeline step to the first snapshot, fc1, animation included: "
                f"{(time.perf_counter() - t) * 1000:.0f} ms"
            )
            if args.screenshots:
                ab_shots(page, Path(args.screenshots))
            if errors:
                print("page errors:", errors)
            page.close()
        if args.screenshots:
            with explore(lenet) as ex:
                page, errors, _ = open_page(browser, ex.url)
                panel_shots(page, Path(args.screenshots))
                if errors:
                    print("page errors:", errors)
        browser.close()
    print(f"benchmark done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


def shots(page, folder: Path) -> None:
    """The seed 004 section 4 case studies, as screenshots."""
    folder.mkdir(parents=True, exist_ok=True)
    cv = "window.convlens"
    page.evaluate(f"{cv}.setLayer('feat')")
    page.evaluate(f"{cv}.setBudget(1000000)")
    page.evaluate(f"{cv}.showTab('guide')")
    page.wait_for_function(f"{cv}.guide() && {cv}.guide().layer === 'feat'", timeout=120_000)
    page.screenshot(path=str(folder / "explorer-output-embedding.png"))
    page.evaluate(f"{cv}.setLayer('pool2')")
    page.evaluate(f"{cv}.setWindow(0, 0, 50)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(folder / "explorer-pool2-matrix.png"))
    # the guide: pool2's pairs ranked; the first one, with the 1s selected
    page.wait_for_function(f"{cv}.guide() && {cv}.guide().layer === 'pool2'", timeout=120_000)
    top = page.evaluate(f"{cv}.guide().header.pairs.slice(0, 3)")
    page.evaluate(f"{cv}.selectClass(1)")
    page.locator("#guide-list tr").nth(1).click()
    page.evaluate(f"{cv}.settle()")
    page.wait_for_timeout(500)
    page.screenshot(path=str(folder / "explorer-pool2-guide.png"))
    print("pool2 ranking, first pairs:", top)
    page.evaluate(f"{cv}.showTab('maps')")
    page.evaluate(f"{cv}.setWindow(0, 0, 50)")
    page.wait_for_timeout(2500)
    page.screenshot(path=str(folder / "explorer-ones-average.png"))
    # the fc1 dimension on which the 1s are brightest relative to the rest
    dim = page.evaluate(
        """async () => {
        const cv = window.convlens;
        await cv.setLayer('fc1');
        const c = cv.data.cloudOf(cv.state(), 0), lab = cv.data.labelsOf(cv.state(), 0).labels;
        const n = c.nImages;
        let best = 0, bestGap = -Infinity;
        for (let d = 0; d < c.dims; d++) {
          const t = c.coord(d); let a = 0, na = 0, b = 0;
          for (let i = 0; i < n; i++) { if (lab[i] === 1) { a += t(i); na++; } else b += t(i); }
          const gap = a / na - b / (n - na);
          if (gap > bestGap) { bestGap = gap; best = d; }
        }
        return best;
      }"""
    )
    page.evaluate(f"{cv}.selectRows([])")
    page.evaluate(f"{cv}.goToDiagonal({dim})")
    i = dim - page.evaluate(f"{cv}.view().rowStart")
    lasso(page, (i, i), (0.8, 0.02, 1.02, 0.98))
    page.wait_for_timeout(2500)
    page.screenshot(path=str(folder / "explorer-fc1-slant.png"))
    chosen = page.evaluate(
        f"(() => {{ const rows = {cv}.selection(0);"
        f" const lab = {cv}.data.labelsOf({cv}.state(), 0).labels;"
        " return [rows.length, rows.filter((r) => lab[r] === 1).length]; })()"
    )
    print(f"fc1 slant lasso: {chosen[0]} images, {chosen[1]} of them 1s")
    # the overview of all 500 x 500 dims of fc1: the ranking's heat map, the window's box
    page.evaluate(f"{cv}.selectRows([])")
    page.evaluate(f"{cv}.fit()")
    page.evaluate(f"{cv}.showTab('guide')")
    page.wait_for_function(f"{cv}.overview() && {cv}.overview().heat", timeout=120_000)
    page.wait_for_function(f"{cv}.guide() && {cv}.guide().layer === 'fc1'", timeout=120_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(folder / "explorer-overview-fc1.png"))
    page.evaluate(f"{cv}.showTab('maps')")
    print(f"screenshots in {folder} (fc1 dimension {dim})")


def ab_shots(page, folder: Path) -> None:
    """Seed 004 section 4.4: the siamese network with and without its ReLU, side by side."""
    cv = "window.convlens"
    page.evaluate(f"{cv}.setSnapshot(999, false)")  # the last one (probed)
    page.evaluate(f"{cv}.setLayer('feat')")
    page.evaluate(f"{cv}.selectClass(8)")
    page.evaluate("document.getElementById('displacement').click()")
    page.evaluate(f"{cv}.settle()")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(folder / "explorer-ab-siamese-relu.png"))
    # seed 004 §4.4 again, a layer per pane: A's relu1 beside B's fc1
    page.evaluate("document.getElementById('displacement').click()")
    page.evaluate(f"{cv}.selectRows([])")
    page.select_option(".pane[data-pane='0'] .pane-layer", "relu1")
    page.select_option(".pane[data-pane='1'] .pane-layer", "fc1")
    page.evaluate(f"{cv}.loaded()")
    page.evaluate(f"{cv}.setWindow(0, 0, 6, 0)")
    page.evaluate(f"{cv}.setWindow(0, 0, 6, 1)")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(folder / "explorer-ab-layers.png"))


def panel_shots(page, folder: Path) -> None:
    """The confusion matrix, the method panel (Grad-CAM) and a channel panel of MNIST lenet."""
    cv = "window.convlens"
    page.evaluate(f"{cv}.setLayer('fc1')")
    page.evaluate(f"{cv}.showTab('confusion')")
    page.wait_for_selector("#confusion td[data-t]")
    cells = page.evaluate(
        """() => [...document.querySelectorAll('#confusion td[data-t]')]
        .filter(td => td.dataset.t !== td.dataset.p)
        .map(td => [+td.textContent || 0, td.dataset.t, td.dataset.p])
        .sort((a, b) => b[0] - a[0])[0]"""
    )
    page.locator(f"#confusion td[data-t='{cells[1]}'][data-p='{cells[2]}']").click()
    print(f"confusion cell clicked: true {cells[1]}, predicted {cells[2]}, {cells[0]} images")
    page.evaluate(f"{cv}.settle()")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(folder / "explorer-confusion.png"))
    row = page.evaluate(f"{cv}.selection(0)[0]")
    page.evaluate(f"{cv}.showTab('image')")
    page.evaluate(f"{cv}.click({row})")
    page.select_option("#attr-method", "grad_cam")
    page.select_option("#attr-layer", "conv2")
    page.wait_for_function("document.getElementById('attr-info').textContent.includes('at conv2')")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(folder / "explorer-method-panel.png"))
    page.evaluate(f"{cv}.showChannel('conv2', 7)")
    page.evaluate(f"{cv}.showTab('channel')")
    page.wait_for_selector("#channel-synth img", timeout=120_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(folder / "explorer-channel-panel.png"))
    print(f"Explorer II screenshots in {folder}")


if __name__ == "__main__":
    raise SystemExit(main())
