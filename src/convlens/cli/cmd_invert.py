"""``convlens invert``: reconstruct an image from one layer, or from every layer in a strip.

Writes ``OUT/invert_<layer>.png`` (the original, then one reconstruction per
random start) or, with ``--all-layers``, ``OUT/invert_all_layers.png`` (the
original, then one reconstruction per layer, shallow to deep), each with a JSON
sidecar of parameters and the normalised errors.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import DataError, InputShapeError
from ._progress import add_progress_arguments, bars_wanted
from ._synthesis_args import add_model_arguments, load

if TYPE_CHECKING:
    import numpy as np
    import torch


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "invert",
        help="reconstruct an image from a layer's representation (Mahendran & Vedaldi 2015)",
        description="Invert a representation: find images the layer cannot tell apart.",
    )
    add_model_arguments(p)
    p.add_argument("--image", help="image file to invert (resized to the model input)")
    p.add_argument("--index", type=int, help="row of the run's data to invert (default 0)")
    p.add_argument("--layer", help="the layer to invert from (or --all-layers)")
    p.add_argument("--all-layers", action="store_true", help="one reconstruction per layer")
    p.add_argument("--samples", type=int, default=1, help="random starts (default 1)")
    p.add_argument("--steps", type=int, default=300, help="steps (default 300)")
    p.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    p.add_argument("--alpha", type=float, default=6.0, help="alpha of the alpha-norm (default 6)")
    p.add_argument("--beta", type=float, default=2.0, help="beta of the TV prior (default 2)")
    p.add_argument(
        "--lambda-alpha", type=float, default=1e-5, help="alpha-norm weight (default 1e-5)"
    )
    p.add_argument("--lambda-tv", type=float, default=1e-3, help="TV weight (default 1e-3)")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .. import synthesize as S
    from ..synthesize._render import save_grid, save_sidecar

    if not args.all_layers and not args.layer:
        raise InputShapeError(
            "give --layer NAME or --all-layers; list layers with `convlens layers`"
        )
    loaded = load(args)
    image = _image(args, loaded)
    options = {
        "steps": args.steps,
        "lr": args.lr,
        "alpha": args.alpha,
        "beta": args.beta,
        "lambda_alpha": args.lambda_alpha,
        "lambda_tv": args.lambda_tv,
        "normalization": loaded.normalization,
        "data": loaded.data,
        "seed": args.seed,
        "progress": bars_wanted(args),
    }
    if args.all_layers:
        results = S.invert_layers(loaded.model, image, samples=1, **options)
        original = loaded.normalization.to_uint8(results[0].original[None])
        strip = np.concatenate([original] + [r.pixels()[:1] for r in results])
        png = save_grid(args.out / "invert_all_layers.png", strip, ncols=len(strip))
        figures = {r.layer: r.figures() for r in results}
        params = dict(results[0].params, layer=[r.layer for r in results], samples=1)
    else:
        res = S.invert(loaded.model, image, args.layer, args.samples, **options)
        results = [res]
        original = loaded.normalization.to_uint8(res.original[None])
        png = save_grid(
            args.out / f"invert_{args.layer.replace('.', '_')}.png",
            np.concatenate([original, res.pixels()]),
        )
        figures = res.figures()
        params = res.params
    record = {
        "command": "invert",
        "run": str(args.run) if args.run else None,
        "model": args.model,
        "image": args.image,
        "index": args.index,
        "params": params,
        "figures": figures,
    }
    sidecar = save_sidecar(png, record)
    print(f"wrote {png} and {sidecar.name}")
    for r in results:
        print(
            f"{r.layer}: error {float(r.errors.min()):.4f}, "
            f"image error {float(r.image_error.min()):.4f}, "
            f"correlation {float(r.correlation.max()):.3f}"
        )
    return 0


def _image(args: argparse.Namespace, loaded: Any) -> torch.Tensor | np.ndarray:
    from ..data.images import load_image

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
