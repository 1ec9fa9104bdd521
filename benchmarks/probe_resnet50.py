"""ResNet-50 at 224 px: store size, peak memory and throughput of a default probe.

    .venv/bin/python benchmarks/probe_resnet50.py [--images 1000] [--repeats 1]

convlens's own ResNet-50 (``zoo.create("resnet50")``, torchvision's layout, random
weights, 1,000 classes) on synthetic 224x224 RGB images (seeded uint8 noise, labels
cycling through the 1,000 classes, ImageNet normalisation). Default options: the
default layers (every bottleneck block's output and the stem, pool and head stages),
the default batch size, the 2 GiB budget, PCA in the pass. Every timed run is a fresh
process that builds the model and data first (not timed): the raw forward pass at the
batch size the probe chose, then the probe; they alternate when ``--repeats`` > 1.
Goals: store <= 2 GiB, peak memory of the probe process <= 4 GiB, >= 0.6x the raw pass.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIB = 2**30


def _data(n: int):
    import numpy as np

    from convlens.data import ImageDataset, Normalization

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 3, 224, 224), dtype=np.uint8)
    labels = np.arange(n) % 1000
    norm = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return ImageDataset(images, labels, [str(c) for c in range(1000)], normalization=norm)


def child(kind: str, n: int, out: str) -> None:
    import torch

    import convlens.probe
    from convlens.zoo import create

    torch.manual_seed(0)
    model = create("resnet50").eval()
    ds = _data(n)
    if kind == "raw":
        batch = convlens.probe.plan(model, ds).batch_size  # the batch size the probe takes
        t, c = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            for s in range(0, n, batch):
                model(ds.normalization.apply(ds.images[s : s + batch]))
        report = {
            "seconds": time.perf_counter() - t,
            "cpu": time.process_time() - c,
            "batch": batch,
        }
    else:
        t, c = time.perf_counter(), time.process_time()
        res = convlens.probe.run(model, data=ds, out=out)
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
        files = [p for p in Path(out).rglob("*") if p.is_file()]
        report = {
            "seconds": seconds,
            "cpu": cpu,
            "batch": res.config["batch_size"],
            "layers": len(res.layers),
            "store_bytes": sum(p.stat().st_size for p in files),
            "fractions": {name: round(res.fraction(name), 4) for name in res.layers},
        }
    report["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report))


def spawn(kind: str, n: int, out: Path) -> dict:
    argv = [sys.executable, __file__, "--child", kind, "--images", str(n), "--out", str(out)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--child", choices=("raw", "probe"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.images, args.out)
        return
    n = args.images
    with tempfile.TemporaryDirectory() as d:
        raw, probe = [], []
        for i in range(args.repeats):
            raw.append(spawn("raw", n, Path(d) / f"raw{i}"))
            probe.append(spawn("probe", n, Path(d) / f"p{i}"))
    r = statistics.median(x["seconds"] for x in raw)
    q = statistics.median(x["seconds"] for x in probe)
    last = probe[-1]
    ratios = [a["seconds"] / b["seconds"] for a, b in zip(raw, probe, strict=True)]
    print(
        f"ResNet-50, 224 px, {n:,} images, default options (batch {last['batch']}, "
        f"{last['layers']} default layers, 2 GiB budget, PCA), fresh processes, "
        f"median of {args.repeats}"
    )
    print(f"raw forward   {r:8.1f} s  ({n / r:.1f} img/s)")
    print(f"probe         {q:8.1f} s  ({n / q:.1f} img/s)")
    print(
        f"ratio         {r / q:8.2f}x of raw (pairs {min(ratios):.2f}x..{max(ratios):.2f}x; "
        "goal >= 0.6x)"
    )
    cpu = [a["cpu"] / b["cpu"] for a, b in zip(raw, probe, strict=True)]
    print(
        f"CPU-time ratio{statistics.median(cpu):8.2f}x (pairs {min(cpu):.2f}x..{max(cpu):.2f}x; "
        "all threads, steadier than wall time on a busy machine)"
    )
    print(
        f"store         {last['store_bytes'] / GIB:8.3f} GiB ({last['store_bytes']:,} bytes; "
        f"goal <= 2 GiB = {2 * GIB:,})"
    )
    peak = max(x["maxrss_kib"] for x in probe) / 2**20
    print(
        f"peak memory   {peak:8.2f} GiB, probe process (raw pass: "
        f"{max(x['maxrss_kib'] for x in raw) / 2**20:.2f} GiB; goal <= 4 GiB)"
    )
    kept = ", ".join(f"{k} {100 * v:.1f}%" for k, v in last["fractions"].items())
    print(f"positions kept per layer: {kept}")


if __name__ == "__main__":
    main()
