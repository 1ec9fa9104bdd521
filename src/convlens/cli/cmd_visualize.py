"""``convlens visualize``: images that drive each unit of a layer (activation maximisation).

Writes ``OUT/visualize_<layer>.png`` (one image per unit, in a grid, each
captioned with its layer and unit, the figure titled with the job) and a JSON
sidecar with the spec (``load_spec`` reads it back, ``--spec`` starts from it),
the target and, per image, the activation reached and its ratio to the unit's
highest activation on the data. With ``--param maco`` also
``OUT/visualize_<layer>_transparency.png`` (and its sidecar): each image shown
with the transparency map of Fel et al. 2023 as opacity.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._progress import add_progress_arguments, bars_wanted
from ._synthesis_args import (
    add_model_arguments,
    class_names,
    given_data,
    int_list,
    load,
    number,
    record,
    spec_from,
    whole,
)

KINDS = ("channel", "neuron", "class", "direction")


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
        choices=KINDS,
        default="channel",
        help="what to maximise (default channel: a channel's mean activation)",
    )
    p.add_argument("--units", type=int_list, help="unit indices like 0-9,12 (default: all)")
    p.add_argument("--position", type=int_list, help="ROW,COL of the neuron (default centre)")
    p.add_argument(
        "--vectors", type=Path, help=".npy file (K, C) of directions for --kind direction"
    )
    p.add_argument("--steps", type=whole(1), help="optimiser steps (default 256)")
    p.add_argument("--size", type=whole(1), help="image side (default: the model's input size)")
    p.add_argument(
        "--param",
        choices=["fourier", "pixel", "maco"],
        help="parameterisation: fourier (1/f spectrum), pixel, or maco (phase only, magnitude "
        "of the data's spectrum; Fel et al. 2023) (default fourier)",
    )
    p.add_argument(
        "--maco-spectrum",
        metavar="DATA",
        help="dataset whose spectrum MaCo keeps, or 'natural' for 1/f "
        "(default: the --data or RUN's data, else natural)",
    )
    p.add_argument(
        "--no-decorrelate",
        action="store_true",
        help="no colour decorrelation (default: a colour basis fitted on the data; none for maco)",
    )
    p.add_argument(
        "--no-transforms",
        action="store_true",
        help="no random pad/jitter/scale/rotate (default: the standard transforms)",
    )
    p.add_argument(
        "--optimiser", choices=["adam", "sgd", "normalized"], help="optimiser (default adam)"
    )
    p.add_argument(
        "--lr", type=number(0, strict=True), help="learning rate (default 0.05; 0.2 for maco)"
    )
    p.add_argument("--tv", type=number(0), help="weight of a total-variation penalty (default 0)")
    p.add_argument("--l2", type=number(0), help="weight of an L2 penalty (default 0)")
    p.add_argument(
        "--blur-every", type=whole(0), help="blur the image every K steps (default 0: never)"
    )
    p.add_argument(
        "--images-per-unit", type=whole(1), help="images drawn for each unit (default 1)"
    )
    p.add_argument(
        "--diversity",
        type=number(0),
        help="weight of the diversity term between a unit's images (default 0)",
    )
    p.add_argument(
        "--reference",
        type=whole(0),
        default=1000,
        help="data images for the quality ratio, the colour basis and the spectrum "
        "(default 1000; 0: no data)",
    )
    p.add_argument("--chunk", type=whole(1), help="images per batch (default: fit 1 GiB)")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def build_spec(args: argparse.Namespace) -> Any:
    """The :class:`~convlens.synthesize.Synthesis` these flags ask for."""
    from ..synthesize import MAXIMISE

    return spec_from(
        args,
        MAXIMISE,
        {"tv": args.tv, "l2": args.l2, "blur_every": args.blur_every, "diversity": args.diversity},
        param=args.param,
        spectrum=args.maco_spectrum,
        decorrelate=False if args.no_decorrelate else None,
        transforms="identity" if args.no_transforms else None,
        optimiser=args.optimiser,
        lr=args.lr,
        steps=args.steps,
        size=args.size,
        samples=args.images_per_unit,
        batch=args.chunk,
    )


def run(args: argparse.Namespace) -> int:
    from .. import synthesize as S
    from ..errors import InputShapeError
    from ..synthesize._render import labelled_grid, save_figure, with_alpha

    if args.kind != "class" and not args.layer:
        raise InputShapeError(
            f"--layer is needed for --kind {args.kind}; list layers with `convlens layers`"
        )
    pos = tuple(args.position) if args.position else None
    if pos is not None and len(pos) != 2:
        raise InputShapeError(f"--position {args.position!r}: expected ROW,COL")
    if args.kind == "direction" and args.vectors is None:
        raise InputShapeError("--kind direction needs --vectors FILE.npy holding (K, C) floats")
    spec = build_spec(args)
    loaded = load(args)
    if spec.size is None:
        spec = spec.replace(size=tuple(loaded.input_shape[1:]))
    data = given_data(loaded, args.reference, spec.seed or 0)
    opts = {"data": data, "progress": bars_wanted(args)}
    if args.kind == "channel":
        res = S.channels(loaded.model, args.layer, args.units, spec, **opts)
    elif args.kind == "neuron":
        res = S.neurons(loaded.model, args.layer, args.units, pos, spec, **opts)
    elif args.kind == "class":
        res = S.classes(loaded.model, args.units, spec, **opts)
    else:
        res = S.directions(loaded.model, args.layer, _read_vectors(args.vectors), spec, **opts)
    layer = res.layer or "output"
    captions = _captions(res, class_names(loaded))
    title = f"visualize {layer}: {res.kind} per image, {res.spec.param}, {res.spec.steps} steps"
    name = f"visualize_{layer.replace('.', '_')}"
    if args.kind != "channel":
        name += f"_{args.kind}"
    ncols = min(10, len(res.units))
    target = {
        "layer": res.layer,
        "kind": res.kind,
        "units": res.units,
        "position": res.params.get("position"),
    }
    head = record(args, "visualize", objective=res.objective, spec=res.spec.to_dict())
    picture = labelled_grid(res.pixels(), captions, title, ncols)
    side = {**head, "target": target, "title": title, "labels": captions}
    png, sidecar = save_figure(
        args.out / f"{name}.png", picture, {**side, "figures": res.figures()}
    )
    c, h, w = res.images.shape[1:]
    print(f"wrote {png} ({len(res.units)} images, {c}x{h}x{w}) and {sidecar.name}")
    figures = res.figures()
    if res.ratio is not None:
        above = round(figures["fraction_above_data"] * len(res.units))
        print(
            f"quality: {above}/{len(res.units)} images drive their unit above its maximum on "
            f"{res.params['reference']} data images (median ratio {figures['median_ratio']:.2f})"
        )
    else:
        print("quality: no data given, so no ratio to real images (pass --data)")
    if res.spec.param == "maco":
        shown = with_alpha(res.pixels(), res.alpha())
        t_title = f"{title}; opacity: transparency map (accumulated |gradient|, Fel et al. 2023)"
        t_png, t_side = save_figure(
            args.out / f"{name}_transparency.png",
            labelled_grid(shown, captions, t_title, ncols),
            {**side, "title": t_title, "shows": "transparency", "figures": figures},
        )
        print(f"wrote {t_png} (each image with its transparency map as opacity) and {t_side.name}")
    return 0


def _captions(res: Any, names: list[str] | None) -> list[str]:
    """One caption per image: layer and unit (channel, neuron position, class, direction)."""
    layer = res.layer or "output"
    per_unit = res.spec.samples
    position = res.params.get("position")
    out = []
    for i, unit in enumerate(res.units):
        if res.kind == "class":
            text = f"class {unit}" + (f": {names[unit]}" if names and unit < len(names) else "")
        elif res.kind == "direction":
            text = f"{layer} dir {unit}"
        elif res.kind == "neuron" and position:
            text = f"{layer} ch {unit} @{position[0]},{position[1]}"
        else:
            text = f"{layer} ch {unit}"
        out.append(text + (f" #{i % per_unit}" if per_unit > 1 else ""))
    return out


def _read_vectors(path: Path) -> Any:
    import numpy as np

    from ..errors import DataError

    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"--vectors {str(path)!r} does not exist; give a .npy file") from None
    except Exception as exc:
        raise DataError(f"--vectors {str(path)!r} cannot be read as .npy ({exc})") from None
