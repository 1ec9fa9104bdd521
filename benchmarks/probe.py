"""Probe throughput against the raw forward pass, and peak memory against the data size.

    .venv/bin/python benchmarks/probe.py [--repeats 3] [--batch-size 256] [--quick]

- throughput: lenet, every layer, the 10,000 MNIST test images; the probe writes
  embeddings, outputs, top-k, ranges and class means (PCA timed apart). The limit is
  the raw forward pass (with input normalisation) at the same batch size. Runs are
  interleaved and the median of ``--repeats`` is taken.
- memory: peak RSS of a child process probing 10,000 vs 2,000 images (``--limit``).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def _setup():
    from convlens.data import load_dataset
    from convlens.zoo import create

    torch.manual_seed(0)
    return create("lenet").eval(), load_dataset(str(MNIST))


def raw_forward(model, ds, batch_size: int) -> float:
    t = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(ds), batch_size):
            model(ds.normalization.apply(ds.images[s : s + batch_size]))
    return time.perf_counter() - t


def probe_once(
    model, ds, batch_size: int, out: Path, limit: int | None = None, pca: bool = False
) -> float:
    """Seconds for one probe into ``out``, a new folder (the caller removes it later)."""
    from convlens.probe import run

    t = time.perf_counter()
    run(
        model,
        data=ds,
        out=out,
        batch_size=batch_size,
        limit=limit,
        projections=("pca",) if pca else (),
    )
    return time.perf_counter() - t


def child(limit: int, batch_size: int) -> None:
    model, ds = _setup()
    with tempfile.TemporaryDirectory() as d:
        probe_once(model, ds, batch_size, Path(d) / "s", limit=limit)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def peak_rss(limit: int, batch_size: int) -> int:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(limit), "--batch-size", str(batch_size)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--quick", action="store_true", help="one repeat")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.batch_size)
        return
    repeats = 1 if args.quick else args.repeats
    model, ds = _setup()
    n, b = len(ds), args.batch_size
    # The stores are removed at the end, not between runs: on a filesystem without a
    # journal, ext4 skips inodes freed in the last minutes when it makes a file, so a
    # store removed just before would tax the next run's file creation.
    with tempfile.TemporaryDirectory() as d:
        stores = (Path(d) / f"s{i}" for i in range(repeats + 2))
        raw_forward(model, ds, b)  # warm up
        probe_once(model, ds, b, next(stores), limit=2 * b)  # imports, compiled loops
        raw, probe = [], []
        for _ in range(repeats):
            raw.append(raw_forward(model, ds, b))
            probe.append(probe_once(model, ds, b, next(stores)))
        r, p = statistics.median(raw), statistics.median(probe)
        with_pca = probe_once(model, ds, b, next(stores), pca=True)
    print(
        f"lenet, all 8 layers, {n} MNIST images, batch {args.batch_size}, "
        f"{torch.get_num_threads()} torch threads, median of {repeats}"
    )
    print(f"raw forward      {r:7.2f} s  {n / r:9.0f} img/s")
    print(f"probe (no PCA)   {p:7.2f} s  {n / p:9.0f} img/s   ratio {r / p:.2f}x of raw")
    print(
        f"probe with PCA   {with_pca:7.2f} s  {n / with_pca:9.0f} img/s   "
        f"ratio {r / with_pca:.2f}x of raw"
    )
    big, small = peak_rss(10_000, args.batch_size), peak_rss(2_000, args.batch_size)
    print(
        f"peak RSS 10,000 images {big / 1024:7.1f} MiB, 2,000 images {small / 1024:7.1f} MiB, "
        f"ratio {big / small:.3f} (goal <= 1.15)"
    )


if __name__ == "__main__":
    main()
