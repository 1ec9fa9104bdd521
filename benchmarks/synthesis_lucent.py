"""Activation maximisation vs Lucent: time per channel, measured side by side in one run.

    python benchmarks/synthesis_lucent.py [--device auto|cpu|cuda] [--steps 64] [--lucent-units 10]

Ours: all 50 conv2 channels of lenet in ONE ``convlens.synthesize.channels`` call
(one image per unit, a separate random transform per sample). Lucent: its
one-unit-at-a-time ``render_vis`` (an objective closure per channel), with the
same number of steps, on the same model and device. Both use 28x28 one-channel
Fourier images, jitter/scale/rotate transforms and Adam. Lucent is timed on
``--lucent-units`` channels and its time per channel is compared with ours.

Lucent needs torchvision, which convlens does not install; where it cannot be
imported the script says why and exits 0. Lucent picks CUDA by itself whenever a
GPU is visible, so ``--device auto`` follows it. A fresh copy of the model is
given to each Lucent call, because Lucent leaves its hooks on the model.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings

import torch

from convlens.data import Normalization
from convlens.synthesize import channels
from convlens.zoo import create

MNIST = Normalization((0.1307,), (0.3081,))


def _import_lucent() -> tuple[object, object] | str:
    try:
        import kornia

        # kornia >= 0.6 dropped these top-level names that Lucent 0.1.8 still calls
        for name in ("get_rotation_matrix2d", "warp_affine"):
            if not hasattr(kornia, name):
                setattr(kornia, name, getattr(kornia.geometry.transform, name))
        from lucent.optvis import param, render
    except Exception as exc:  # ImportError, or torchvision missing inside lucent
        return f"{type(exc).__name__}: {exc}"
    return param, render


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--lucent-units", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    lucent = _import_lucent()
    if isinstance(lucent, str):
        print(f"Lucent not run: it cannot be imported here ({lucent})")
        return 0
    param, render = lucent
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    model = create("lenet").eval().to(device)
    opts = {"steps": args.steps, "size": 28, "reference": 0, "normalization": MNIST}

    def ours() -> None:
        channels(model, "conv2", range(50), **opts)

    copies = [copy.deepcopy(model) for _ in range(args.lucent_units * (args.repeats + 1))]

    def theirs() -> None:
        for k in range(args.lucent_units):
            render.render_vis(
                copies.pop(),
                f"conv2:{k}",
                lambda: param.image(28, channels=1),
                thresholds=(args.steps,),
                show_image=False,
                progress=False,
                preprocess=False,
                fixed_image_size=28,
            )

    def timed(fn) -> float:
        sync()
        t = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t

    ours(), theirs()  # warm-up
    t_ours, t_theirs = [], []
    for _ in range(args.repeats):
        t_ours.append(timed(ours) / 50)
        t_theirs.append(timed(theirs) / args.lucent_units)
    per_ours, per_theirs = statistics.median(t_ours), statistics.median(t_theirs)
    where = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(
        f"torch {torch.__version__} on {where}; lenet conv2, {args.steps} steps, "
        f"median of {args.repeats}"
    )
    print(f"convlens, 50 channels in one call: {per_ours * 1e3:8.2f} ms per channel")
    print(f"Lucent, one channel per call:      {per_theirs * 1e3:8.2f} ms per channel")
    print(f"speed-up per channel: {per_theirs / per_ours:.1f}x (acceptance: >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
