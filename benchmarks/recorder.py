"""Cost of the Recorder: training lenet with it (histograms every 50 steps) vs without.

    .venv/bin/python benchmarks/recorder.py [--quick] [--data PATH]

Both loops are the same plain PyTorch loop (Adam, batch 64) over the same batches;
the recorded one adds ``rec.step(step, loss=..., acc=...)`` every step: scalars,
weight and gradient histograms of every parameter every 50 steps (and at step 1),
and snapshots at steps 1, 2, 5, 10, 20, 50, ... . Repeats are interleaved (the
order alternates) and the median of the per-pair ratios is printed; acceptance is
<= 1.10x. A second part times reading a 100,000-step log, as the dashboard does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from convlens.data import load_dataset
from convlens.record import Cadence, Recorder, open_log
from convlens.record.logdb import LogWriter
from convlens.zoo import create

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def batches(data: str, steps: int, batch: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    ds = load_dataset(data, size=(28, 28))
    order = np.random.default_rng(0).permutation(len(ds))
    out = []
    while len(out) < steps:
        for b in ds.batches(batch, order):
            if len(b.labels) == batch and len(out) < steps:
                out.append((b.inputs, b.labels))
    return out


def train(data: list, out: Path | None) -> tuple[float, float]:
    """(seconds of the whole loop, seconds spent inside ``rec.step``/``close``)."""
    torch.manual_seed(0)
    model = create("lenet")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rec = None
    if out:
        rec = Recorder(model, out, cadence=Cadence(50), overwrite=True, normalization="none")
    inside = 0.0
    t0 = time.perf_counter()
    for step, (x, y) in enumerate(data, start=1):
        opt.zero_grad()
        scores = model(x)
        loss = F.cross_entropy(scores, y)
        loss.backward()
        opt.step()
        if rec is not None:
            t1 = time.perf_counter()
            rec.step(step, loss=loss, acc=(scores.argmax(1) == y).float().mean())
            inside += time.perf_counter() - t1
    if rec is not None:
        t1 = time.perf_counter()
        rec.close()
        inside += time.perf_counter() - t1
    return time.perf_counter() - t0, inside


def read_speed(tmp: Path, steps: int = 100_000) -> tuple[float, float]:
    """Seconds to read one tag, and four tags, of a ``steps``-step log."""
    w = LogWriter(tmp / "big.sqlite", max_rows=50_000)
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc"):
        for s in range(1, steps + 1):
            w.scalar(tag, s, 1.0 / s)
    w.close()
    log = open_log(tmp / "big.sqlite")
    t0 = time.perf_counter()
    one = log.scalars("train/loss")
    t1 = time.perf_counter()
    for tag in log.tags():
        log.scalars(tag)
    t2 = time.perf_counter()
    assert len(one.step) == steps
    return t1 - t0, t2 - t1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (~30 s)")
    p.add_argument("--data", help="MNIST folder (default ../shared/data/mnist, else digits)")
    p.add_argument("--steps", type=int)
    p.add_argument("--repeats", type=int)
    args = p.parse_args()
    data_spec = args.data or (str(MNIST) if MNIST.exists() else "digits")
    steps = args.steps or (100 if args.quick else 200)
    repeats = args.repeats or (3 if args.quick else 5)
    data = batches(data_spec, steps)
    print(f"lenet, batch 64, {steps} steps on {data_spec}; {repeats} interleaved repeats")
    with tempfile.TemporaryDirectory() as tmp:
        train(data[:10], None)  # warm-up
        ratios, plain_t, rec_t, inside_t = [], [], [], []
        for r in range(repeats):
            out = Path(tmp) / f"run{r}"
            if r % 2 == 0:
                (a, _), (b, inside) = train(data, None), train(data, out)
            else:
                (b, inside), (a, _) = train(data, out), train(data, None)
            plain_t.append(a)
            rec_t.append(b)
            inside_t.append(inside)
            ratios.append(b / a)
            print(
                f"  repeat {r + 1}: plain {a:.2f} s, recorded {b:.2f} s (of which in the "
                f"recorder {inside:.3f} s), ratio {b / a:.3f}"
            )
        ratio = statistics.median(ratios)
        plain, inside = statistics.median(plain_t), statistics.median(inside_t)
        direct = (plain + inside) / plain
        print(
            f"median: plain {plain:.2f} s, recorded {statistics.median(rec_t):.2f} s -> "
            f"recorder cost {ratio:.3f}x (acceptance <= 1.10x: "
            f"{'PASS' if ratio <= 1.10 else 'FAIL'})"
        )
        print(
            f"time inside the recorder: median {inside:.3f} s -> (plain + recorder) / plain "
            f"= {direct:.3f}x (less sensitive to a shared CPU)"
        )
        one, four = read_speed(Path(tmp))
        print(
            f"reading a 100,000-step log: one tag {one * 1000:.0f} ms, "
            f"four tags {four * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
