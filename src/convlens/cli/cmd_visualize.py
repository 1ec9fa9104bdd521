"""``convlens visualize``: images that drive each unit of a layer (activation maximisation).

Writes ``OUT/visualize_<layer>.png`` (one image per unit, in a grid) and a JSON
sidecar with the parameters and, per image, the activation reached and its
ratio to the unit's highest activation on the run's data.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, InputShapeError
from ._common import int_list
from ._progress import add_progress_arguments, bars_wanted
from ._synthesis_args import add_model_arguments, load

if TYPE_CHECKING:
    import numpy as np


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "visualize",
        help="synthesize images that maximise units of a layer (all units in one batch)",
        description="Activation maximisation: one image per unit, optimised in one batch.",
    )
    add_model_arguments(p)
    p.add_argument("--layer", default="", help="layer name (not needed for --kind class)")
    p.add_argument(
        "--kind",
        choices=["channel", "neuron", "class", "direction"],
        default="channel",
        help="what to maximise (default channel: a channel's mean activation)",
    )
    p.add_argument("--units", type=int_list, help="unit indices like 0-9,12 (default: all)")
    p.add_argument("--position", type=int_list, help="ROW,COL of the neuron (default centre)")
    p.add_argument(
        "--vectors", type=Path, help=".npy file (K, C) of directions for --kind direction"
    )
    p.add_argument("--steps", type=int, default=256, help="optimiser steps (default 256)")
    p.add_argument("--size", type=int, help="image side (default: the model's input size)")
    p.add_argument(
        "--param",
        choices=["fourier", "pixel"],
        default="fourier",
        help="image parameterisation: fourier (default) or pixel",
    )
    p.add_argument("--no-decorrelate", action="store_true", help="no colour decorrelation")
    p.add_argument("--no-transforms", action="store_true", help="no random pad/jitter/scale/rotate")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (default 0.05)")
    p.add_argument(
        "--tv", type=float, default=0.0, help="weight of a total-variation penalty (default 0)"
    )
    p.add_argument("--l2", type=float, default=0.0, help="weight of an L2 penalty (default 0)")
    p.add_argument(
        "--blur-every", type=int, default=0, help="blur the image every K steps (default 0: never)"
    )
    p.add_argument("--images-per-unit", type=int, default=1, help="images per unit (default 1)")
    p.add_argument(
        "--diversity", type=float, default=0.0, help="weight of the diversity term (default 0)"
    )
    p.add_argument(
        "--reference", type=int, default=1000, help="data images for the ratio (default 1000)"
    )
    p.add_argument("--chunk", type=int, help="images per batch (default: fit 1 GiB)")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import synthesize as S
    from ..synthesize._render import save_grid, save_sidecar

    loaded = load(args)
    penalty = None
    if args.tv:
        penalty = args.tv * S.total_variation()
    if args.l2:
        term = args.l2 * S.l2()
        penalty = term if penalty is None else penalty + term
    options: dict[str, Any] = {
        "steps": args.steps,
        "size": args.size or tuple(loaded.input_shape[1:]),
        "param": args.param,
        "decorrelate": not args.no_decorrelate,
        "transforms": None if args.no_transforms else "standard",
        "lr": args.lr,
        "penalty": penalty,
        "blur_every": args.blur_every,
        "images_per_unit": args.images_per_unit,
        "diversity": args.diversity,
        "seed": args.seed,
        "chunk": args.chunk,
        "reference": args.reference,
        "normalization": loaded.normalization,
        "data": loaded.data,
        "progress": bars_wanted(args),
    }
    if args.kind != "class" and not args.layer:
        raise InputShapeError(
            f"--layer is needed for --kind {args.kind}; list layers with `convlens layers`"
        )
    if args.kind == "channel":
        res = S.channels(loaded.model, args.layer, args.units, **options)
    elif args.kind == "neuron":
        pos = tuple(args.position) if args.position else None
        if pos is not None and len(pos) != 2:
            raise InputShapeError(f"--position {args.position!r}: expected ROW,COL")
        res = S.neurons(loaded.model, args.layer, args.units, position=pos, **options)
    elif args.kind == "class":
        res = S.classes(loaded.model, args.units, **options)
    else:
        if args.vectors is None:
            raise InputShapeError("--kind direction needs --vectors FILE.npy holding (K, C) floats")
        res = S.directions(loaded.model, args.layer, _read_vectors(args.vectors), **options)
    name = f"visualize_{(args.layer or 'output').replace('.', '_')}"
    if args.kind != "channel":
        name += f"_{args.kind}"
    png = save_grid(args.out / f"{name}.png", res.pixels(), ncols=min(10, len(res.units)))
    record = {
        "command": "visualize",
        "run": str(args.run) if args.run else None,
        "model": args.model,
        "objective": res.objective,
        "params": res.params,
        "figures": res.figures(),
    }
    sidecar = save_sidecar(png, record)
    c, h, w = res.images.shape[1:]
    print(f"wrote {png} ({len(res.units)} images, {c}x{h}x{w}) and {sidecar.name}")
    figures = res.figures()
    if res.ratio is not None:
        above = round(figures["fraction_above_data"] * len(res.units))
        print(
            f"quality: {above}/{len(res.units)} images drive their unit above its maximum on "
            f"{args.reference} data images (median ratio {figures['median_ratio']:.2f})"
        )
    else:
        print("quality: no data given, so no ratio to real images (pass --data)")
    return 0


def _read_vectors(path: Path) -> np.ndarray:
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"--vectors {str(path)!r} does not exist; give a .npy file") from None
    except Exception as exc:
        raise DataError(f"--vectors {str(path)!r} cannot be read as .npy ({exc})") from None
