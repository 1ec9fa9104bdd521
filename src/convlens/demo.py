"""``make demo`` (``python -m convlens.demo``): train small networks on digits, explore them.

Trains ``lenet`` (a classifier), ``siamese`` (a 2-D embedding learnt from pairs with
a contrastive loss) and ``siamese-norelu`` (the same without its one ReLU, for the
A/B experiment of Seein' In, section 4.4) on the embedded scikit-learn digits, into
``demo-runs/`` (or ``--out``), prints where the runs are and what to run next, then
probes ``siamese`` and serves the explorer on it until Ctrl-C. ``--no-browser``
does not open a browser (CI); ``--no-serve`` stops after training. Running it again
replaces the runs. It needs no network; training takes well under 2 minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import ConvlensError
from .record import TrainConfig, train

DEMO_RUNS = (
    # name, model, epochs, what its val/acc means
    ("lenet", "lenet", 5, "val acc"),
    ("siamese", "siamese", 5, "val nearest-centroid acc (2-D embedding)"),
    ("siamese-norelu", "siamese", 5, "val nearest-centroid acc (2-D embedding)"),
)
OPTIONS = {"siamese-norelu": {"relu": False}}


def next_steps(out: Path) -> list[str]:
    """The commands the demo suggests, one per line."""
    lenet, siamese = out / "lenet", out / "siamese"
    steps = [
        f"convlens explore {siamese} {out / 'siamese-norelu'}   # A/B: with and without ReLU",
        f"convlens explore {lenet} --timeline   # every checkpoint, confusion matrix",
        f"convlens dashboard {lenet} {siamese}",
        f"convlens attribute {lenet} --index 0,1,2 --method guided_backprop -o gbp.png",
        f"convlens visualize {lenet} --layer conv2 --out figures",
        f"convlens runs show {lenet}",
        f"convlens layers {lenet}",
        f"convlens layers {siamese} --json",
        f"convlens export tensorboard {lenet} {out / 'tensorboard' / 'lenet'}",
    ]
    return steps


def run_demo(out: Path, epochs: int | None = None, progress: bool | None = None) -> list[str]:
    """Train the demo runs into ``out`` and return the lines to print."""
    started = time.perf_counter()
    lines = [
        "convlens demo: lenet, siamese and siamese-norelu on the embedded digits "
        "(1,797 scans, 28x28)"
    ]
    for name, model, default_epochs, meaning in DEMO_RUNS:
        cfg = TrainConfig(
            model,
            "digits",
            epochs=epochs or default_epochs,
            seed=0,
            model_options=OPTIONS.get(name, {}),
        )
        result = train(cfg, out / name, overwrite=True, progress=progress)
        acc = result.metrics.get("val/acc", float("nan"))
        lines.append(
            f"  {name:<8} -> {out / name}  {meaning} {acc:.4f}, "
            f"{len(result.run.checkpoints)} checkpoints, {result.seconds:.0f} s"
        )
    lines.append(f"Done in {time.perf_counter() - started:.0f} s. Runs are in {out}/.")
    lines.append("Next:")
    lines.extend(f"  {step}" for step in next_steps(out))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlens.demo", description=__doc__)
    parser.add_argument("--out", default="demo-runs", help="folder for the runs (demo-runs)")
    parser.add_argument("--epochs", type=int, help="epochs for both runs (default: 5 each)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-browser", action="store_true", help="serve, but open no browser")
    parser.add_argument("--no-serve", action="store_true", help="stop after training")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        lines = run_demo(out, args.epochs, False if args.no_progress else None)
        print("\n".join(lines), flush=True)
        if not args.no_serve:
            serve(out / "siamese", open_browser=not args.no_browser)
    except ConvlensError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


def serve(run: Path, open_browser: bool) -> None:
    """Probe ``run`` if needed and serve the explorer on it until Ctrl-C."""
    from .explorer import explore

    explorer = explore(run, open_browser=open_browser)
    print(f"convlens explorer on {run}: {explorer.url} (Ctrl-C to stop)", flush=True)
    try:
        explorer.wait()
    except KeyboardInterrupt:
        pass
    finally:
        explorer.stop()


if __name__ == "__main__":
    raise SystemExit(main())
