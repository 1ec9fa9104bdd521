"""Synthesis benchmark: batching pays, MaCo against Fourier, DeepDream in bounded memory.

Run:  .venv/bin/python benchmarks/synthesis.py [--quick] [--only batching,maco,dream]
          [--steps N] [--repeats R] [--maco-steps N] [--maco-units N] [--cache DIR]
          [--seed S] [--figures DIR]

Measured side by side in one run (medians over interleaved repeats):

1. all 50 conv2 channels of lenet in ONE ``channels`` call, against 50
   single-channel calls with the same steps, and against the physical limits:
   the same number of raw forward (to conv2) + backward passes on a batch of 50,
   and 50 times that many on a batch of 1 (no single-unit calls can beat that,
   so limit1 / limit bounds what batching can gain);
2. Lucent's one-at-a-time rendering, when ``lucent`` imports (it needs
   torchvision, which convlens does not install, so it is reported as absent);
3. MaCo against Fourier: resnet8 and smallvgg trained on ``photo-patches-10``
   (32x32 patches of scikit-learn's two bundled photos, ``china.jpg`` and
   ``flower.jpg``; class = which photo and which fifth of it, left to right;
   5,000 to train, 1,000 to validate; nothing is downloaded). For every unit of
   the last conv stage (resnet8 ``layer3``, smallvgg ``features.relu3_1``):
   the share of units driven above their best validation image, and the median
   ratio (reached - mean) / (best - mean), for each parameterisation at its
   defaults. ``--figures DIR`` writes the side-by-side picture of the first 8
   units (Fourier, MaCo, MaCo with its transparency map), with sidecars;
4. DeepDream on a 1100x622 RGB photo (scikit-learn's bundled ``china.jpg``,
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
from pathlib import Path

import numpy as np
import torch

from convlens.data import ImageDataset, Normalization
from convlens.model import forward_until
from convlens.synthesize import MAXIMISE, channels
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
    spec = MAXIMISE.replace(steps=steps, size=28)  # no data: only the optimisation is timed

    def batched() -> None:
        channels(model, "conv2", range(50), spec, data=MNIST)

    def singles() -> None:
        for k in range(50):
            channels(model, "conv2", [k], spec, data=MNIST)

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


# ------------------------------------------------------------------ MaCo vs Fourier
#: the last conv stage's output as ``convlens.model.default_layers`` names it: the rectified
#: output of resnet8's last residual stage, and of smallvgg's last conv block (before its pool)
STAGES = {"resnet8": "layer3", "smallvgg": "features.relu3_1"}
EPOCHS = {"resnet8": 4, "smallvgg": 4}


def photo_patches(per_class: int, seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``photo-patches-10``: uint8 (N, 3, 32, 32) patches of the two photos bundled with
    scikit-learn (resized to 320 x 214), labels 0..9 = photo x fifth (left to right)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for p, image in enumerate(load_sample_images().images):
        photo = np.asarray(Image.fromarray(image).resize((320, 214), Image.Resampling.BILINEAR))
        h, w, _ = photo.shape
        for fifth in range(5):
            x0, x1 = fifth * w // 5, (fifth + 1) * w // 5
            for _ in range(per_class):
                x = rng.integers(max(0, x0 - size // 2), min(w - size, x1 - size // 2) + 1)
                y = rng.integers(0, h - size + 1)
                patch = photo[y : y + size, x : x + size]
                xs.append((patch[:, ::-1] if rng.random() < 0.5 else patch).transpose(2, 0, 1))
                ys.append(p * 5 + fifth)
    order = rng.permutation(len(xs))
    return np.ascontiguousarray(np.stack(xs))[order], np.asarray(ys)[order]


def trained(
    name: str, x: np.ndarray, y: np.ndarray, norm: Normalization, cache: Path | None, seed: int = 0
):
    """``name`` trained with Adam for EPOCHS[name] epochs (seeded; weights cached)."""
    from safetensors.torch import load_file, save_file

    model = create(name)
    tag = "" if seed == 0 else f"-seed{seed}"
    path = cache / f"{name}-photo-patches-10-{EPOCHS[name]}ep{tag}.safetensors" if cache else None
    if path is not None and path.exists():
        model.load_state_dict(load_file(str(path)))
        return model.eval(), 0.0
    torch.manual_seed(seed)
    started = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    inputs, labels = norm.apply(x), torch.as_tensor(y)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(EPOCHS[name]):
        order = torch.randperm(len(inputs), generator=g)
        for i in range(0, len(inputs), 64):
            rows = order[i : i + 64]
            loss = torch.nn.functional.cross_entropy(model(inputs[rows]), labels[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model.eval(), time.perf_counter() - started


def maco_vs_fourier(
    steps: int, units: int | None, cache: Path | None, figures: Path | None, seed: int = 0
):
    x, y = photo_patches(600)
    norm = Normalization.fit(x[:5000])
    val = ImageDataset(x[5000:], y[5000:], normalization=norm, source="photo-patches-10 val")
    rows = {}
    for name, layer in STAGES.items():
        model, took = trained(name, x[:5000], y[:5000], norm, cache, seed)
        with torch.no_grad():
            acc = float(
                (model(norm.apply(val.images)).argmax(1) == torch.as_tensor(val.labels))
                .float()
                .mean()
            )
        print(f"   {name}: validation accuracy {acc:.3f} (trained in {took:.0f} s; 0 = cached)")
        results = {}
        for param in ("fourier", "maco"):
            started = time.perf_counter()
            picked = None if units is None else range(units)
            spec = MAXIMISE.replace(param=param, steps=steps)
            res = channels(model, layer, picked, spec, data=val)
            f = res.figures()
            results[param] = res
            print(
                f"   {name:8s} {layer:16s} {param:7s} {len(res.units):3d} units: "
                f"{f['fraction_above_data'] * 100:5.1f}% above their best real image, "
                f"median ratio {f['median_ratio']:.2f}  ({time.perf_counter() - started:.0f} s, "
                f"lr {res.spec.lr:g}, decorrelate {res.spec.decorrelate})"
            )
            rows[(name, param)] = f
        if figures is not None:
            _side_by_side(figures, name, layer, results, steps)
    return rows


def _side_by_side(folder: Path, name: str, layer: str, results: dict, steps: int) -> None:
    from convlens.synthesize._render import labelled_grid, save_figure, with_alpha

    k = min(8, len(results["fourier"].units))
    four, maco = results["fourier"], results["maco"]
    pixels = np.concatenate(
        [four.pixels()[:k], maco.pixels()[:k], with_alpha(maco.pixels()[:k], maco.alpha()[:k])]
    )
    captions = [
        f"{what} ch {u}" for what in ("fourier", "maco", "maco+alpha") for u in four.units[:k]
    ]
    title = (
        f"{name} {layer}, photo-patches-10: Fourier (top), MaCo (middle), MaCo with its "
        f"transparency map (bottom), {steps} steps"
    )
    png = folder / f"synthesis-maco-{name}.png"
    record = {
        "command": "benchmarks/synthesis.py",
        "model": name,
        "title": title,
        "labels": captions,
        "spec": {"fourier": four.spec.to_dict(), "maco": maco.spec.to_dict()},
        "figures": {"fourier": four.figures(), "maco": maco.figures()},
    }
    save_figure(png, labelled_grid(pixels, captions, title, ncols=k), record)
    print(f"   wrote {png}")


DREAM = """
import json, resource, time, numpy as np, torch
from PIL import Image
from sklearn.datasets import load_sample_image
from convlens.data import Normalization
from convlens.synthesize import DREAM, Dream, deepdream
from convlens.zoo import create
photo = Image.fromarray(load_sample_image("china.jpg"))
photo = photo.resize((1100, 622), Image.Resampling.BILINEAR)
photo = np.ascontiguousarray(np.asarray(photo).transpose(2, 0, 1))
torch.manual_seed(0)
model = create("smallvgg").eval()
norm = Normalization((0.45, 0.45, 0.45), (0.25, 0.25, 0.25))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
res = deepdream(model, photo, ["features.conv2_2", "features.conv3_1"],
                DREAM.replace(steps={steps}), dream=Dream(octaves={octaves}, tile={tile}),
                data=norm)
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
    ap.add_argument("--quick", action="store_true", help="fewer steps, repeats and units")
    ap.add_argument("--only", help="comma-separated parts: batching, maco, dream (default all)")
    ap.add_argument("--steps", type=int, help="optimiser steps per batching call (default 64)")
    ap.add_argument("--repeats", type=int, help="interleaved repeats (default 5)")
    ap.add_argument("--maco-steps", type=int, help="steps of MaCo and Fourier (default 256)")
    ap.add_argument("--maco-units", type=int, help="units of the last stage (default: all)")
    ap.add_argument("--cache", type=Path, help="folder keeping the trained weights (default none)")
    ap.add_argument("--figures", type=Path, help="folder for the side-by-side pictures")
    ap.add_argument("--seed", type=int, default=0, help="seed of the MaCo part's training (0)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda for the batching part")
    ap.add_argument("--no-dream", action="store_true", help="skip the DeepDream part")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    parts = set((args.only or "batching,maco,dream").split(","))
    if args.no_dream:
        parts.discard("dream")
    steps = args.steps or (16 if args.quick else 64)
    repeats = args.repeats or (3 if args.quick else 5)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    if "batching" in parts:
        batching_report(steps, repeats)

    if "maco" in parts:
        msteps = args.maco_steps or (64 if args.quick else 256)
        units = args.maco_units or (8 if args.quick else None)
        print(f"\n3. MaCo vs Fourier, last conv stage, photo-patches-10, {msteps} steps")
        maco_vs_fourier(msteps, units, args.cache, args.figures, args.seed)

    if "dream" in parts:
        octaves, dsteps = (2, 3) if args.quick else (4, 10)
        print(f"\n4. DeepDream 1100x622 RGB, smallvgg, {octaves} octaves x {dsteps} steps")
        for tile in (512, None):
            r = dream(tile, octaves, dsteps)
            print(
                f"   tile={tile!s:5} {r['seconds']:7.1f} s  peak RSS {r['peak_mb']:7.0f} MB "
                f"(after imports {r['before_mb']:.0f} MB)  shape {r['shape']}  "
                f"finite {r['finite']}  change {r['change']:.3f}"
            )


def batching_report(steps: int, repeats: int) -> None:
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


if __name__ == "__main__":
    main()
