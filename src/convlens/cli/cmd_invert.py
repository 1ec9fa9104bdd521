"""``convlens invert``: reconstruct an image from one layer, or from every layer in a strip.

Writes ``OUT/invert_<layer>.png`` (the original, then one reconstruction per
random start) or, with ``--all-layers``, ``OUT/invert_all_layers.png`` (the
original, then one reconstruction per layer, shallow to deep). Each image is
captioned with its layer (and start), the figure titled; the JSON sidecar holds
the spec (``--spec`` starts from it) and the normalised errors.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._progress import add_progress_arguments, bars_wanted
from ._synthesis_args import (
    add_model_arguments,
    load,
    number,
    record,
    spec_from,
    whole,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "invert",
        help="reconstruct an image from a layer's representation (Mahendran & Vedaldi 2015)",
        description="Invert a representation: find images the layer cannot tell apart.",
    )
    add_model_arguments(p)
    p.add_argument("--image", help="image file to invert (resized to the model input)")
    p.add_argument("--index", type=whole(0), help="row of the run's data to invert (default 0)")
    p.add_argument("--layer", help="the layer to invert from")
    p.add_argument(
        "--all-layers",
        action="store_true",
        help="one reconstruction per default layer (block and stage outputs, as "
        "`convlens layers` marks them; default: off)",
    )
    p.add_argument("--samples", type=whole(1), help="random starts (default 1)")
    p.add_argument("--steps", type=whole(1), help="steps (default 300)")
    p.add_argument("--lr", type=number(0, strict=True), help="learning rate (default 0.5)")
    p.add_argument(
        "--alpha", type=number(0, strict=True), help="power alpha of the alpha-norm (default 6)"
    )
    p.add_argument(
        "--beta", type=number(0, strict=True), help="power beta of the TV prior (default 2)"
    )
    p.add_argument("--lambda-alpha", type=number(0), help="alpha-norm weight (default 1e-5)")
    p.add_argument("--lambda-tv", type=number(0), help="TV weight (default 1e-3)")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def build_spec(args: argparse.Namespace) -> Any:
    """The :class:`~convlens.synthesize.Synthesis` these flags ask for."""
    from ..synthesize import INVERSION

    weights = {"alpha": args.lambda_alpha, "alpha_power": args.alpha, "tv": args.lambda_tv}
    return spec_from(
        args,
        INVERSION,
        {**weights, "tv_beta": args.beta},
        samples=1 if args.all_layers else args.samples,
        steps=args.steps,
        lr=args.lr,
    )


def run(args: argparse.Namespace) -> int:
    from .. import synthesize as S
    from ..errors import InputShapeError
    from ..synthesize._render import labelled_grid, save_figure

    if not args.all_layers and not args.layer:
        raise InputShapeError(
            "give --layer NAME or --all-layers; list layers with `convlens layers`"
        )
    if args.all_layers and args.samples not in (None, 1):
        raise InputShapeError(
            f"--samples {args.samples} with --all-layers: the strip draws one reconstruction "
            "per layer; give --layer NAME for several random starts"
        )
    spec = build_spec(args)
    loaded = load(args)
    image = _image(args, loaded)
    data = loaded.data if loaded.data is not None else loaded.normalization
    if args.all_layers:
        results = S.invert_layers(
            loaded.model, image, None, spec, data=data, progress=bars_wanted(args)
        )
        pictures = [r.pixels()[:1] for r in results]
        captions = ["original", *(r.layer for r in results)]
        title = f"invert every layer, shallow to deep: {spec.steps} steps"
        name = "invert_all_layers"
        figures = {r.layer: r.figures() for r in results}
        target = {"layer": [r.layer for r in results]}
    else:
        res = S.invert(loaded.model, image, args.layer, spec, data=data, progress=bars_wanted(args))
        results = [res]
        pictures = [res.pixels()]
        starts = res.spec.samples
        captions = ["original"] + [
            res.layer + (f" #{i}" if starts > 1 else "") for i in range(starts)
        ]
        title = f"invert {res.layer}: {starts} start(s), {spec.steps} steps"
        name = f"invert_{args.layer.replace('.', '_')}"
        figures = res.figures()
        target = {"layer": res.layer}
    import numpy as np

    original = loaded.normalization.to_uint8(results[0].original[None])
    strip = np.concatenate([original, *pictures])
    picture = labelled_grid(strip, captions, title, ncols=len(strip))
    side = record(
        args,
        "invert",
        image=args.image,
        index=args.index,
        spec=results[0].spec.to_dict(),
        target=target,
        title=title,
        labels=captions,
        figures=figures,
    )
    png, sidecar = save_figure(args.out / f"{name}.png", picture, side)
    print(f"wrote {png} and {sidecar.name}")
    for r in results:
        print(
            f"{r.layer}: error {float(r.errors.min()):.4f}, "
            f"image error {float(r.image_error.min()):.4f}, "
            f"correlation {float(r.correlation.max()):.3f}"
        )
    return 0


def _image(args: argparse.Namespace, loaded: Any) -> Any:
    from ..data.images import load_image
    from ..errors import DataError

    c, h, w = loaded.input_shape
    if args.image:
        return load_image(args.image, size=(h, w), channels=c if c in (1, 3) else None)
    data = loaded.run.dataset() if loaded.run is not None and not args.data else loaded.data
    if data is None:
        raise DataError("give --image PATH, or a RUN (or --data) and --index I to pick an image")
    index = args.index or 0
    if not 0 <= index < len(data):
        raise DataError(
            f"--index {index} is out of range: the data has {len(data)} images "
            f"(0..{len(data) - 1}); pick one of them"
        )
    return data.images[index]
