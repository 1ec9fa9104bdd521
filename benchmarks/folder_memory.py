"""Peak memory of probing an image folder: 2,000 JPEGs against 200, and the decode rate.

    .venv/bin/python benchmarks/folder_memory.py [--images 2000] [--small 200]

Makes (seeded) a folder of JPEGs of varying sizes (300-640 px a side, smooth noise, 10
class folders, like ImageNet's validation images) and its first ``--small`` images as a
second folder; makes a run from each with ``convlens runs create`` (the zoo's resnet8,
random weights, ``--input-size 224,224 --normalize imagenet``); then probes each with
``convlens probe RUN`` and its default options, in a fresh process, and prints its peak
resident memory (``ru_maxrss``) and that of its largest image-decoding worker process
(the small folder is decoded at once, in the process; the large one on demand, by
workers). Goal (issue 13): the large folder's peak within 15% of the small one's.

Also prints the decode rate of one core (JPEG decode, resize and centre crop to 224 px,
as the pass does), the figure ``docs/scaling.md`` uses for a CPU data loader.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent
MIB = 2**20


def make_folder(root: Path, count: int, seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = (int(v) for v in rng.integers(300, 641, size=2))
        small = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"img{i:05d}.jpg", quality=90)
    return root


def first_images(src: Path, dest: Path, count: int) -> Path:
    files = sorted(src.rglob("*.jpg"), key=lambda p: p.name)[:count]
    for f in files:
        (dest / f.parent.name).mkdir(parents=True, exist_ok=True)
        os.link(f, dest / f.parent.name / f.name)
    return dest


def make_run(folder: Path, out: Path, weights: Path) -> Path:
    argv = [
        str(BIN / "convlens"),
        "runs",
        "create",
        "--model",
        "resnet8",
        "--weights",
        str(weights),
        "--data",
        str(folder),
        "--input-size",
        "224,224",
        "--normalize",
        "imagenet",
        "--out",
        str(out),
    ]
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return out


def probe_peak(run: Path) -> dict[str, float]:
    """Probe ``run`` in a fresh process: its peak RSS, its largest worker's, and the time."""
    code = (
        "import resource, sys; from convlens.cli.main import main; "
        f"rc = main(['probe', {str(run)!r}]); "
        "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
    )
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"probe of {run} failed: {done.stderr.strip()[-500:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("maxrss"))
    main_kib, child_kib = (int(v) for v in line.split()[1:])
    return {
        "main": main_kib / 1024,
        "worker": child_kib / 1024,
        "seconds": time.perf_counter() - began,
    }


def decode_rate(folder: Path, count: int = 300) -> float:
    """Images per second one core decodes, resizes and crops to 224 px."""
    from convlens.data import load_dataset

    ds = load_dataset(str(folder), size=(224, 224), channels=3)
    rows = np.arange(min(count, len(ds)))
    began = time.perf_counter()
    for i in rows:  # one at a time, in this process: one core's rate
        ds.images[int(i)]
    return len(rows) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--small", type=int, default=200)
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file

    from convlens.zoo import create

    work = Path(tempfile.mkdtemp(prefix="convlens-folder-bench-"))
    try:
        big = make_folder(work / "big", args.images)
        small = first_images(big, work / "small", args.small)
        size = sum(f.stat().st_size for f in big.rglob("*.jpg"))
        print(f"{args.images:,} JPEGs, {size / MIB:.0f} MiB on disk; the first {args.small:,}")
        torch.manual_seed(0)
        weights = work / "w.safetensors"
        save_file(create("resnet8").state_dict(), str(weights))
        rate = decode_rate(big)
        print(f"decode + resize + centre crop to 224 px, one core: {rate:.0f} images/s")
        rows = {}
        for name, folder, n in (("small", small, args.small), ("big", big, args.images)):
            run = make_run(folder, work / f"run-{name}", weights)
            rows[name] = (n, probe_peak(run))
        print("\n| images | decoded pixels | probe s | peak RSS, probe | largest worker |")
        print("|---|---|---|---|---|")
        for n, r in rows.values():
            pixels = n * 3 * 224 * 224 / MIB
            print(
                f"| {n:,} | {pixels:.0f} MiB | {r['seconds']:.1f} | {r['main']:.0f} MiB | "
                f"{r['worker']:.0f} MiB |"
            )
        ratio = rows["big"][1]["main"] / rows["small"][1]["main"]
        print(
            f"\npeak RSS ratio {args.images:,} / {args.small:,} images: {ratio:.3f} (goal <= 1.15)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
