"""Attribution speed: ours vs the physical limit (raw forward+backward) and vs captum.

    .venv/bin/python benchmarks/attribution.py [--quick] [--repeats R] [--device cuda]

resnet8 at 64x64, batch 64, eval mode. Every timing is repeated R times,
interleaved (ours, raw, captum, ours, raw, captum, ...), and the minimum (best
of R) is reported, so load from other processes hits all contestants alike; the
medians are printed after each line.

- gradient methods: ours / raw (one forward + one input-gradient backward);
- the same methods in captum (on an nn.ReLU twin of resnet8, since captum
  cannot see F.relu): ours / captum;
- integrated gradients, n steps: ours / (n raw passes), and ours / captum;
- deletion + insertion curves: a per-image, per-step loop / ours (batched).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from convlens import zoo
from convlens.attribute import (
    deconvnet,
    grad_cam,
    guided_backprop,
    input_x_gradient,
    integrated_gradients,
    saliency,
)
from convlens.attribute.metrics import perturbation_curve


def module_twin(model: nn.Module) -> nn.Module:
    from _attribute_helpers import resnet8_module_twin

    return resnet8_module_twin(copy.deepcopy(model))


DEVICE = torch.device("cpu")


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object]) -> float:
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - start


def interleaved(contestants: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    for fn in contestants.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in contestants}
    for _ in range(repeats):
        for k, fn in contestants.items():
            times[k].append(timed(fn))
    # the minimum is the run least disturbed by other processes on a shared machine;
    # the median is printed too, to show how noisy the machine was
    interleaved.medians = {k: statistics.median(v) for k, v in times.items()}  # type: ignore[attr-defined]
    return {k: min(v) for k, v in times.items()}


def _medians() -> str:
    med = interleaved.medians  # type: ignore[attr-defined]
    return "medians " + " ".join(f"{k} {v:.3f}" for k, v in med.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller loop")
    ap.add_argument("--repeats", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (timings synchronise)")
    ap.add_argument("--batch", type=int, default=0, help="batch size (default 64; 16 quick)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    repeats = args.repeats or (3 if args.quick else 5)
    batch = args.batch or (16 if args.quick else 64)
    warnings.simplefilter("ignore")
    from captum.attr import (
        Deconvolution,
        GuidedBackprop,
        InputXGradient,
        IntegratedGradients,
        LayerGradCam,
        Saliency,
    )

    torch.manual_seed(0)
    model = zoo.create("resnet8").eval().to(DEVICE)
    twin = module_twin(model)
    x = torch.randn(batch, 3, 64, 64, device=DEVICE)
    target = 3

    def raw() -> None:
        xi = x.detach().requires_grad_(True)
        torch.autograd.grad(model(xi)[:, target].sum(), [xi])

    where = torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu"
    print(
        f"torch {torch.__version__} on {where}, threads {torch.get_num_threads()}, "
        f"repeats {repeats}"
    )
    print(f"resnet8 64x64 batch {batch}; best-of-{repeats} seconds; ratio = ours / reference\n")
    rows = [
        (
            "saliency",
            lambda: saliency(model, x, target),
            lambda: Saliency(twin).attribute(x, target=target, abs=False),
        ),
        (
            "guided_backprop",
            lambda: guided_backprop(model, x, target),
            lambda: GuidedBackprop(twin).attribute(x, target=target),
        ),
        (
            "deconvnet",
            lambda: deconvnet(model, x, target),
            lambda: Deconvolution(twin).attribute(x, target=target),
        ),
        (
            "input_x_gradient",
            lambda: input_x_gradient(model, x, target),
            lambda: InputXGradient(twin).attribute(x, target=target),
        ),
        (
            "grad_cam",
            lambda: grad_cam(model, x, target, layer="layer3", upsample=False),
            lambda: LayerGradCam(twin, twin.layer3).attribute(x, target=target),
        ),
    ]
    print(f"{'method':<22}{'ours':>8}{'raw':>8}{'captum':>8}{'ours/raw':>10}{'ours/captum':>13}")
    for name, ours, theirs in rows:
        t = interleaved({"ours": ours, "raw": raw, "captum": theirs}, repeats)
        print(
            f"{name:<22}{t['ours']:8.3f}{t['raw']:8.3f}{t['captum']:8.3f}"
            f"{t['ours'] / t['raw']:10.3f}{t['ours'] / t['captum']:13.3f}"
        )

    steps = 4
    t = interleaved(
        {
            "ours": lambda: integrated_gradients(model, x, target, steps=steps),
            "raw": lambda: [raw() for _ in range(steps)],
            "captum": lambda: IntegratedGradients(twin).attribute(
                x, target=target, n_steps=steps, internal_batch_size=64
            ),
        },
        3,
    )
    print(
        f"{'integrated_gradients':<22}{t['ours']:8.3f}{t['raw']:8.3f}{t['captum']:8.3f}"
        f"{t['ours'] / t['raw']:10.3f}{t['ours'] / t['captum']:13.3f}"
        f"   ({steps} steps vs {steps} raw passes)"
    )

    # deletion + insertion: batched rows vs one image and one step at a time
    n, curve_steps = (4, 8) if args.quick else (8, 8)
    for label, net, xs in (
        ("resnet8 64x64", model, x[:n]),
        (
            "lenet 28x28",
            zoo.create("lenet").eval().to(DEVICE),
            torch.randn(n, 1, 28, 28, device=DEVICE),
        ),
    ):
        maps = saliency(net, xs, abs=True)

        def batched(net=net, xs=xs, maps=maps) -> None:
            for mode in ("deletion", "insertion"):
                perturbation_curve(net, xs, maps, mode=mode, steps=curve_steps, batch_size=256)

        def loop(net=net, xs=xs, maps=maps) -> None:
            for mode in ("deletion", "insertion"):
                for i in range(len(xs)):
                    perturbation_curve(
                        net,
                        xs[i : i + 1],
                        maps[i : i + 1],
                        mode=mode,
                        steps=curve_steps,
                        batch_size=1,
                    )

        t = interleaved({"batched": batched, "loop": loop}, 3)
        print(
            f"deletion+insertion {label}, {n} images x {curve_steps + 1} steps: "
            f"loop {t['loop']:.3f} s, batched {t['batched']:.3f} s, "
            f"speed-up {t['loop'] / t['batched']:.1f}x"
        )


if __name__ == "__main__":
    main()
