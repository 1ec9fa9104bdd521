"""Synthesis benchmark: batching pays, and DeepDream on a 1100x622 photo in bounded memory.

Run:  .venv/bin/python benchmarks/synthesis.py [--quick] [--steps N] [--repeats R] [--no-dream]

Measured side by side in one run (medians over interleaved repeats):

1. all 50 conv2 channels of lenet in ONE ``channels`` call, against 50
   single-channel calls with the same steps, and against the physical limit:
   the same number of raw forward (to conv2) + backward passes on a batch of 50;
2. Lucent's one-at-a-time rendering, when ``lucent`` imports (it needs
   torchvision, which convlens does not install, so it is reported as absent);
3. DeepDream on a 1100x622 RGB photo (scikit-learn's bundled ``china.jpg``,
   resized) with smallvgg: wall time and peak resident memory, each in a fresh
   subprocess, tiled (512) and untiled.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from convlens.data import Normalization
from convlens.model import forward_until
from convlens.synthesize import channels
from convlens.zoo import create

MNIST = Normalization((0.1307,), (0.3081,))


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def batching(steps: int, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = create("lenet").eval()
    opts = {"steps": steps, "size": 28, "reference": 0, "normalization": MNIST}

    def batched() -> None:
        channels(model, "conv2", range(50), **opts)

    def singles() -> None:
        for k in range(50):
            channels(model, "conv2", [k], **opts)

    def limit() -> None:
        x = torch.randn(50, 1, 28, 28, requires_grad=True)
        for _ in range(steps):
            out = forward_until(model, x, ["conv2"], detach=False, clone=False)["conv2"]
            torch.autograd.grad(out.mean((2, 3)).diagonal().sum(), x)

    times: dict[str, list[float]] = {"batched": [], "singles": [], "limit": []}
    batched()  # warm up
    for _ in range(repeats):
        times["limit"].append(_time(limit))
        times["batched"].append(_time(batched))
        times["singles"].append(_time(singles))
    return {k: statistics.median(v) for k, v in times.items()}


def lucent_available() -> str | None:
    try:
        import lucent.optvis.render  # noqa: F401
    except Exception as exc:  # ImportError, or torchvision missing inside lucent
        return f"{type(exc).__name__}: {exc}"
    return None


DREAM = """
import json, resource, time, numpy as np, torch
from PIL import Image
from sklearn.datasets import load_sample_image
from convlens.data import Normalization
from convlens.synthesize import deepdream
from convlens.zoo import create
photo = Image.fromarray(load_sample_image("china.jpg"))
photo = photo.resize((1100, 622), Image.Resampling.BILINEAR)
photo = np.ascontiguousarray(np.asarray(photo).transpose(2, 0, 1))
torch.manual_seed(0)
model = create("smallvgg").eval()
norm = Normalization((0.45, 0.45, 0.45), (0.25, 0.25, 0.25))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
res = deepdream(model, photo, ["features.conv2_2", "features.conv3_1"], octaves={octaves},
                steps={steps}, tile={tile}, normalization=norm)
dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": dt, "peak_mb": peak / 1024, "before_mb": base / 1024,
                  "shape": list(res.image.shape), "finite": bool(torch.isfinite(res.image).all()),
                  "change": res.change}}))
"""


def dream(tile: int | None, octaves: int, steps: int) -> dict:
    code = DREAM.format(tile=tile, octaves=octaves, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (~2 min)")
    ap.add_argument("--steps", type=int, help="optimiser steps per call")
    ap.add_argument("--repeats", type=int, help="interleaved repeats")
    ap.add_argument("--no-dream", action="store_true", help="skip the DeepDream part")
    args = ap.parse_args()
    steps = args.steps or (16 if args.quick else 64)
    repeats = args.repeats or (3 if args.quick else 5)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    t = batching(steps, repeats)
    print(f"\n1. lenet conv2, 50 channels, {steps} steps each (median of {repeats})")
    print(f"   one batched call       {t['batched']:8.3f} s")
    print(f"   50 single-unit calls   {t['singles']:8.3f} s")
    print(f"   raw fwd+bwd limit      {t['limit']:8.3f} s  (batch 50, {steps} passes)")
    print(f"   speed-up of batching   {t['singles'] / t['batched']:8.1f} x")
    print(f"   batched / limit        {t['batched'] / t['limit']:8.2f} x")

    why = lucent_available()
    print("\n2. Lucent one-at-a-time rendering")
    print("   not run: " + why if why else "   lucent imports; compare with render_vis per unit")

    if not args.no_dream:
        octaves, dsteps = (2, 3) if args.quick else (4, 10)
        print(f"\n3. DeepDream 1100x622 RGB, smallvgg, {octaves} octaves x {dsteps} steps")
        for tile in (512, None):
            r = dream(tile, octaves, dsteps)
            print(
                f"   tile={tile!s:5} {r['seconds']:7.1f} s  peak RSS {r['peak_mb']:7.0f} MB "
                f"(after imports {r['before_mb']:.0f} MB)  shape {r['shape']}  "
                f"finite {r['finite']}  change {r['change']:.3f}"
            )


if __name__ == "__main__":
    main()
