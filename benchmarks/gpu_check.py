"""Does convlens run on a GPU? Times each job on CUDA and checks it against the CPU.

Run on a CUDA machine with only ``PYTHONPATH=src`` (numpy, scipy, safetensors,
scikit-learn, pillow, imageio, tqdm, torch; zarr optional)::

    PYTHONPATH=src python benchmarks/gpu_check.py            # full sizes on CUDA
    PYTHONPATH=src python benchmarks/gpu_check.py --quick    # small sizes (works on CPU)

Each section first runs a small case on the CPU and on the device and checks the
results agree within float tolerance (skipped when the device is the CPU), then
times the full-size job on the device and checks its results are finite:

- ``channels`` on lenet conv2 (50 units, 64 steps);
- ``deepdream`` on a random 1100 x 622 photo with smallvgg;
- ``convlens.probe.run`` of a random lenet over 10,000 random 28 x 28 uint8 images
  (skipped with a message when ``import zarr`` fails);
- the attribution methods on resnet8.

Exit status 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from convlens import zoo
from convlens.data import Normalization
from convlens.data.dataset import ImageDataset

FAILURES: list[str] = []


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[[], object]) -> tuple[object, float]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILURES.append(name)


def close(name: str, got, want, atol: float, rtol: float) -> None:
    got = np.asarray(got.cpu() if torch.is_tensor(got) else got, np.float64)
    want = np.asarray(want.cpu() if torch.is_tensor(want) else want, np.float64)
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    ok = got.shape == want.shape and np.allclose(got, want, atol=atol, rtol=rtol)
    check(name, ok, f"max |device - cpu| = {err:.2e} (atol {atol:g}, rtol {rtol:g})")


def finite(name: str, *tensors) -> None:
    ok = all(bool(np.isfinite(np.asarray(t.cpu() if torch.is_tensor(t) else t)).all())
             for t in tensors)  # fmt: skip
    check(f"{name} finite", ok)


def pair(name: str, device: torch.device, seed: int = 0):
    """The same random zoo model on the CPU and on ``device``, in eval mode."""
    torch.manual_seed(seed)
    cpu = zoo.create(name).eval()
    dev = zoo.create(name).eval()
    dev.load_state_dict(cpu.state_dict())
    return cpu, dev.to(device)


def section(title: str, fn: Callable[[], None]) -> None:
    print(f"\n== {title}", flush=True)
    try:
        fn()
    except Exception:
        traceback.print_exc()
        FAILURES.append(title)


def run_channels(device: torch.device, quick: bool) -> None:
    from convlens.synthesize import MAXIMISE, channels

    norm = Normalization((0.1307,), (0.3081,))
    cpu, dev = pair("lenet", device)
    if device.type != "cpu":
        spec = MAXIMISE.replace(steps=8, size=28, seed=1)
        a = channels(cpu, "conv2", range(6), spec, data=norm)
        b = channels(dev, "conv2", range(6), spec, data=norm)
        # Adam steps by ~lr * sign(gradient): pixels whose gradient is ~0 can move apart
        # by float rounding, so the images are compared as a whole, the scores closely
        rel = float((b.images - a.images).norm() / a.images.norm())
        check("channels small: images", rel < 2e-2, f"|device - cpu| / |cpu| = {rel:.2e}")
        close("channels small: scores", b.scores, a.scores, 2e-3, 1e-3)
    units, steps = (range(8), 16) if quick else (range(50), 64)
    spec = MAXIMISE.replace(steps=steps, size=28, seed=0)
    channels(dev, "conv2", range(2), spec.replace(steps=2), data=norm)  # warm-up
    res, sec = timed(device, lambda: channels(dev, "conv2", units, spec, data=norm))
    print(f"  channels lenet conv2: {len(res.units)} units x {steps} steps: {sec:.2f} s")
    check("channels result on the CPU", res.images.device.type == "cpu")
    finite("channels images/scores", res.images, res.scores)


def run_deepdream(device: torch.device, quick: bool) -> None:
    from convlens.synthesize import DREAM, Dream, deepdream

    norm = Normalization((0.48, 0.46, 0.41), (0.23, 0.23, 0.23))
    cpu, dev = pair("smallvgg", device)
    rng = np.random.default_rng(0)
    if device.type != "cpu":
        small = rng.integers(0, 256, (3, 60, 90), dtype=np.uint8)
        spec = DREAM.replace(steps=3, transforms="roll(8)")
        a = deepdream(cpu, small, ["features.conv2_1"], spec, dream=Dream(octaves=2), data=norm)
        b = deepdream(dev, small, ["features.conv2_1"], spec, dream=Dream(octaves=2), data=norm)
        close("deepdream small", b.image, a.image, 1e-3, 1e-3)
    h, w = (156, 275) if quick else (622, 1100)
    photo = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    spec = DREAM.replace(steps=2 if quick else 10)
    res, sec = timed(device, lambda: deepdream(dev, photo, ["features.conv3_1"], spec, data=norm))
    print(f"  deepdream smallvgg {w}x{h}, 4 octaves x {spec.steps} steps: {sec:.2f} s")
    check("deepdream result on the CPU", res.image.device.type == "cpu")
    finite("deepdream image", res.image)


def run_probe(device: torch.device, quick: bool) -> None:
    try:
        import zarr  # noqa: F401
    except ImportError:
        print("  skipped: `import zarr` failed; the probe store needs zarr (pip install zarr)")
        return
    from convlens.probe import run as probe_run

    n = 1000 if quick else 10_000
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    ds = ImageDataset(images, labels, [str(i) for i in range(10)])
    cpu, dev = pair("lenet", device)
    with tempfile.TemporaryDirectory() as tmp:
        if device.type != "cpu":
            small = ds.subset(np.arange(500))
            a = probe_run(cpu, small, out=Path(tmp) / "cpu", projections=())
            b = probe_run(dev, small, out=Path(tmp) / "dev-small", projections=())
            close("probe small: logits", b.outputs, a.outputs, 1e-3, 1e-3)
            close("probe small: conv2 top-k values", b.topk("conv2")[0], a.topk("conv2")[0],
                  1e-2, 1e-2)  # fmt: skip
        res, sec = timed(device, lambda: probe_run(dev, ds, out=Path(tmp) / "dev", progress=False))
        print(f"  probe lenet over {n} images (all layers, PCA): {sec:.2f} s ({n / sec:.0f} img/s)")
        finite("probe logits", res.outputs)
        where = next(dev.parameters()).device
        check("probe left the model on its device", where.type == device.type, str(where))


def run_attribution(device: torch.device, quick: bool) -> None:
    from convlens import attribute as A

    cpu, dev = pair("resnet8", device)
    n = 8 if quick else 64
    x = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    jobs = {
        "saliency": (A.saliency, {}),
        "input_x_gradient": (A.input_x_gradient, {}),
        "guided_backprop": (A.guided_backprop, {}),
        "deconvnet": (A.deconvnet, {}),
        "integrated_gradients": (A.integrated_gradients, {"steps": 16}),
        "smoothgrad": (A.smoothgrad, {"samples": 8}),
        "occlusion": (A.occlusion, {"window": 8, "stride": 4}),
        "grad_cam": (A.grad_cam, {"layer": "layer3"}),
        "guided_grad_cam": (A.guided_grad_cam, {"layer": "layer3"}),
        "cam": (A.cam, {}),
    }
    for name, (fn, kw) in jobs.items():
        try:
            if device.type != "cpu" and name != "smoothgrad":  # smoothgrad draws noise
                a = fn(cpu, x[:2], 0, **kw)
                b = fn(dev, x[:2].to(device), 0, **kw)
                close(f"{name} small", b, a, 1e-3, 1e-3)
            xd = x.to(device)
            fn(dev, xd[:2], 0, **kw)  # warm-up
            out, sec = timed(device, lambda fn=fn, kw=kw, xd=xd: fn(dev, xd, "predicted", **kw))
            print(f"  {name}: {n} images: {sec * 1000:.1f} ms")
            finite(name, out)
        except Exception as exc:
            check(name, False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (minutes on a CPU)")
    p.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto (default)")
    p.add_argument("--only", nargs="+", choices=("channels", "deepdream", "probe", "attribution"))
    args = p.parse_args(argv)
    from convlens.model import resolve_device

    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}; quick={args.quick}")
    if device.type == "cpu":
        print("no CUDA device: timing on the CPU, CPU-vs-device comparisons skipped")
    sections = {
        "channels": run_channels,
        "deepdream": run_deepdream,
        "probe": run_probe,
        "attribution": run_attribution,
    }
    for key, fn in sections.items():
        if args.only is None or key in args.only:
            section(key, lambda fn=fn: fn(device, args.quick))
    print(f"\n{'all checks passed' if not FAILURES else 'FAILED: ' + ', '.join(FAILURES)}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
