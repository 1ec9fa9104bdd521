"""The probe on a dask LocalCluster against the same probe in one process: per-image overhead.

    .venv/bin/python benchmarks/probe_dask.py [--repeats 3]

lenet (random weights, saved as a run directory), its default layers, the first 2,000
and all 10,000 MNIST test images, default probe options. Timed, side by side in this
process, alternating:

- **one process**: ``probe.run(run)`` as ``convlens probe RUN`` does it (torch's default
  threads: 2 here);
- **LocalCluster, 1 worker**: ``probe.run(run, client=...)``; the worker runs torch with
  the driver's threads, so against one process this is the cost of the cluster itself
  (planning and fitting on the driver, shipping the shards, shard stores, the merge);
- **LocalCluster, 2 workers** (each with the driver's threads: 4 threads on 2 cores).

The cluster's start (worker processes importing torch) is timed once and printed apart.
A machine of 2 cores cannot show a speed-up: the figures are the cluster's fixed cost per
probe and its overhead per image, from the two sizes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def make_run(folder: Path) -> Path:
    import torch

    from convlens.data import load_dataset
    from convlens.rundir import DataEntry, ModelEntry, Run
    from convlens.zoo import create

    torch.manual_seed(0)
    ds = load_dataset(str(MNIST))
    norm = type(ds.normalization).fit(ds.images)
    spec = str(MNIST)
    run = Run.create(
        folder / "lenet",
        ModelEntry("lenet", (1, 28, 28)),
        DataEntry(spec, ds.classes, norm),
    )
    run.save_checkpoint(create("lenet").eval(), 0, epoch=0)
    return run.path


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


SIZES = (2_000, 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    import convlens.probe as probe
    from convlens.probe.distributed import cluster

    work = Path(tempfile.mkdtemp(prefix="convlens-dask-bench-"))
    try:
        run = make_run(work)
        threads = torch.get_num_threads()
        count = [0]

        def one(n: int, client=None) -> None:
            count[0] += 1
            out = work / f"p{count[0]}"
            res = probe.run(run, out=out, client=client, limit=n)
            assert len(res) == n
            shutil.rmtree(out)

        one(SIZES[0])  # warm: data cache, compiled loops
        times: dict[tuple[str, int], list[float]] = {}
        plain = f"one process ({threads} threads)"
        for workers in (1, 2):
            began = time.perf_counter()
            with cluster(workers=workers) as client:
                start = time.perf_counter() - began
                one(SIZES[0], client)  # warm: the workers' imports and compiled loops
                key = f"LocalCluster, {workers} worker{'s' if workers > 1 else ''}"
                for _ in range(args.repeats):
                    for n in SIZES:
                        times.setdefault((plain, n), []).append(timed(lambda n=n: one(n)))
                        times.setdefault((key, n), []).append(timed(lambda n=n: one(n, client)))
            print(f"LocalCluster of {workers}: started in {start:.1f} s (not in the table)")
        med = {k: statistics.median(v) for k, v in times.items()}
        print("\nlenet, default layers and options, MNIST test images, medians of runs\n")
        print("| how | images | seconds | vs one process |")
        print("|---|---|---|---|")
        for (how, n), t in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"| {how} | {n:,} | {t:.2f} | {med[(plain, n)] / t:.2f}x |")
        # the cluster's own cost, 1 worker against one process: fixed + per image
        small, big = SIZES
        extra = {n: med[("LocalCluster, 1 worker", n)] - med[(plain, n)] for n in SIZES}
        per_image = (extra[big] - extra[small]) / (big - small)
        fixed = extra[small] - per_image * small
        base = med[(plain, big)] / big
        print(
            f"\nthe cluster's own cost (1 worker against one process): {fixed:.2f} s per probe "
            f"+ {per_image * 1e6:.0f} µs per image; one process takes {base * 1e6:.0f} µs per "
            f"image, so the per-image overhead ratio is {(base + per_image) / base:.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
