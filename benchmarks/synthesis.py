"""Synthesis benchmark: batching pays, and DeepDream on a 1100x622 photo in bounded memory.

Run:  .venv/bin/python benchmarks/synthesis.py [--quick] [--steps N] [--repeats R] [--no-dream]

Measured side by side in one run (medians over interleaved repeats):

1. all 50 conv2 channels of lenet in ONE ``channels`` call, against 50
   single-channel calls with the same steps, and against the physical limits:
   the same number of raw forward (to conv2) + backward passes on a batch of 50,
   and 50 times that many on a batch of 1 (no single-unit calls can beat that,
   so limit1 / limit bounds what batching can gain);
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


DEVICE = torch.device("cpu")


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def _time(fn) -> float:
    _sync()
    t = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - t


def batching(steps: int, repeats: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    model = create("lenet").eval().to(DEVICE)
    opts = {"steps": steps, "size": 28, "reference": 0, "normalization": MNIST}

    def batched() -> None:
        channels(model, "conv2", range(50), **opts)

    def singles() -> None:
        for k in range(50):
            channels(model, "conv2", [k], **opts)

    def raw(batch: int) -> None:
        # the model's parameters out of the graph: only the image's gradient is computed
        model.requires_grad_(False)
        try:
            x = torch.randn(batch, 1, 28, 28, requires_grad=True, device=DEVICE)
            for _ in range(steps):
                out = forward_until(model, x, ["conv2"], detach=False, clone=False)["conv2"]
                torch.autograd.grad(out.mean((2, 3))[:, :batch].diagonal().sum(), x)
        finally:
            model.requires_grad_(True)

    def limit() -> None:
        raw(50)

    def limit_singles() -> None:
        for _ in range(50):
            raw(1)

    runs = {"batched": batched, "singles": singles, "limit": limit, "limit1": limit_singles}
    times: dict[str, list[float]] = {k: [] for k in runs}
    batched()  # warm up
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(_time(fn))
    return times


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
    ap.add_argument("--device", default="cpu", help="cpu or cuda for the batching part")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    steps = args.steps or (16 if args.quick else 64)
    repeats = args.repeats or (3 if args.quick else 5)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    times = batching(steps, repeats)
    t = {k: statistics.median(v) for k, v in times.items()}
    m = {k: min(v) for k, v in times.items()}
    print(f"\n1. lenet conv2, 50 channels, {steps} steps each ({repeats} repeats: min / median)")
    print(f"   one batched call       {m['batched']:8.3f} / {t['batched']:.3f} s")
    print(f"   50 single-unit calls   {m['singles']:8.3f} / {t['singles']:.3f} s")
    print(f"   raw fwd+bwd, batch 50  {m['limit']:8.3f} / {t['limit']:.3f} s  ({steps} passes)")
    print(
        f"   raw fwd+bwd, 50 x b=1  {m['limit1']:8.3f} / {t['limit1']:.3f} s  (50 x {steps} passes)"
    )

    def ratio(top: str, bottom: str, digits: int) -> str:
        return f"{m[top] / m[bottom]:8.{digits}f} / {t[top] / t[bottom]:.{digits}f} x"

    print(f"   speed-up of batching   {ratio('singles', 'batched', 1)}")
    print(f"   batched / limit        {ratio('batched', 'limit', 2)}")
    print(f"   raw bound on speed-up  {ratio('limit1', 'limit', 1)}  (50 x b=1 / b=50 passes)")

    why = lucent_available()
    print("\n2. Lucent one-at-a-time rendering")
    print(
        "   not run here: " + why
        if why
        else "   Lucent imports: benchmarks/synthesis_lucent.py measures it side by side"
    )
    print("   (benchmarks/synthesis_lucent.py runs it where Lucent and torchvision install)")

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
