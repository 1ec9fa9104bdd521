"""Attribution speed: ours vs the physical limit (raw forward+backward) and vs captum.

    .venv/bin/python benchmarks/attribution.py [--quick] [--rounds R] [--device cuda]

resnet8 at 64x64, batch 64, eval mode, each method called with the defaults a
user gets (Grad-CAM: layer3, rectified and upsampled to 64x64). Every round times
ours, raw and captum once each, in an order that rotates from round to round, so
load from other processes on a shared machine hits all three alike; each round
gives its own ratios, and the script prints their median and range over the
rounds (the figure to quote), with the median seconds.

- raw: one forward pass and one ``torch.autograd.grad`` of the target score with
  respect to the inputs, the physical limit of every gradient method;
- captum runs on an nn.ReLU twin of resnet8 with the same weights and no in-place
  ReLU (the same computation), since captum cannot see F.relu (on resnet8 itself
  its guided backprop would be wrong);
- integrated gradients, n steps: ours / (n raw passes), and ours / captum;
- deletion + insertion curves: a per-image, per-step loop / ours (batched).

Targets (issue 17): guided backprop, deconvnet and Grad-CAM at most 1.05x captum
and at most 1.10x raw.
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

DEVICE = torch.device("cpu")
GOALS = {"guided_backprop": (1.10, 1.05), "deconvnet": (1.10, 1.05), "grad_cam": (1.10, 1.05)}


def module_twin(model: nn.Module) -> nn.Module:
    """resnet8 with nn.ReLU modules (captum hooks modules), none in place: the very
    computation of resnet8's out-of-place F.relu calls."""
    from _attribute_helpers import resnet8_module_twin

    twin = resnet8_module_twin(copy.deepcopy(model))
    for m in twin.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return twin


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


CLOCK = time.perf_counter


def timed(fn: Callable[[], object]) -> float:
    _sync()
    start = CLOCK()
    fn()
    _sync()
    return CLOCK() - start


def rounds(contestants: dict[str, Callable[[], object]], count: int) -> dict[str, list[float]]:
    """Seconds per contestant per round; the order rotates every round."""
    names = list(contestants)
    for fn in contestants.values():  # one warm-up call each
        fn()
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(count):
        order = names[r % len(names) :] + names[: r % len(names)]
        for k in order:
            times[k].append(timed(contestants[k]))
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> tuple[float, float, float]:
    """(median, min, max) over the rounds of the per-round ratio a / b."""
    per = [x / y for x, y in zip(times[a], times[b], strict=True)]
    return statistics.median(per), min(per), max(per)


def _fmt(r: tuple[float, float, float]) -> str:
    return f"{r[0]:5.2f} ({r[1]:.2f}-{r[2]:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, smaller batch")
    ap.add_argument("--rounds", type=int, default=0, help="rounds per method (default 9)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (timings synchronise)")
    ap.add_argument("--batch", type=int, default=0, help="batch size (default 64; 16 quick)")
    ap.add_argument("--only", default="", help="comma-separated methods to time (default all)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time (default), or this process's CPU time, steadier on a shared machine "
        "(use with --threads 1)",
    )
    args = ap.parse_args()
    global DEVICE, CLOCK
    DEVICE = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu":
        if DEVICE.type == "cuda":
            ap.error("--clock cpu measures the CPU; use wall time on cuda")
        CLOCK = time.process_time
    count = args.rounds or (3 if args.quick else 9)
    batch = args.batch or (16 if args.quick else 64)
    warnings.simplefilter("ignore")
    from captum.attr import (
        Deconvolution,
        GuidedBackprop,
        InputXGradient,
        IntegratedGradients,
        LayerAttribution,
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

    def captum_grad_cam() -> None:
        cam = LayerGradCam(twin, twin.layer3).attribute(x, target=target, relu_attributions=True)
        LayerAttribution.interpolate(cam, (64, 64), "bilinear")

    where = torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu"
    print(
        f"torch {torch.__version__} on {where}, threads {torch.get_num_threads()}, "
        f"{args.clock} clock"
    )
    print(
        f"resnet8 64x64 batch {batch}, {count} rounds per method; ratios per round, "
        "shown as median (min-max); seconds are medians\n"
    )
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
        ("grad_cam", lambda: grad_cam(model, x, target, layer="layer3"), captum_grad_cam),
    ]
    only = {m for m in args.only.split(",") if m}
    head = f"{'method':<18}{'ours s':>8}{'raw s':>8}{'captum s':>9}"
    print(f"{head}{'ours/raw':>20}{'ours/captum':>20}  goal (raw, captum)")
    verdicts = []
    for name, ours, theirs in rows:
        if only and name not in only:
            continue
        t = rounds({"ours": ours, "raw": raw, "captum": theirs}, count)
        med = {k: statistics.median(v) for k, v in t.items()}
        to_raw, to_captum = ratio(t, "ours", "raw"), ratio(t, "ours", "captum")
        goal = GOALS.get(name)
        verdict = ""
        if goal:
            ok = to_raw[0] <= goal[0] and to_captum[0] <= goal[1]
            verdict = f"  <= {goal[0]:.2f}, <= {goal[1]:.2f}: {'met' if ok else 'NOT met'}"
            verdicts.append((name, ok))
        print(
            f"{name:<18}{med['ours']:8.3f}{med['raw']:8.3f}{med['captum']:9.3f}"
            f"{_fmt(to_raw):>20}{_fmt(to_captum):>20}{verdict}"
        )
    if only and "integrated_gradients" not in only:
        return
    steps = 4
    t = rounds(
        {
            "ours": lambda: integrated_gradients(model, x, target, steps=steps),
            "raw": lambda: [raw() for _ in range(steps)],
            "captum": lambda: IntegratedGradients(twin).attribute(
                x, target=target, n_steps=steps, internal_batch_size=batch
            ),
        },
        max(3, count // 3),
    )
    med = {k: statistics.median(v) for k, v in t.items()}
    print(
        f"{'integrated_grads':<18}{med['ours']:8.3f}{med['raw']:8.3f}{med['captum']:9.3f}"
        f"{_fmt(ratio(t, 'ours', 'raw')):>20}{_fmt(ratio(t, 'ours', 'captum')):>20}"
        f"  ({steps} steps vs {steps} raw passes)"
    )
    if only:
        return
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

        t = rounds({"batched": batched, "loop": loop}, 3)
        r = ratio(t, "loop", "batched")
        print(
            f"deletion+insertion {label}, {n} images x {curve_steps + 1} steps: loop "
            f"{statistics.median(t['loop']):.3f} s, batched {statistics.median(t['batched']):.3f}"
            f" s, speed-up {_fmt(r)}x"
        )
    print()
    for name, ok in verdicts:
        print(f"goal {name}: {'met' if ok else 'NOT met'} (medians of per-round ratios)")


if __name__ == "__main__":
    main()
