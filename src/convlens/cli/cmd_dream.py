"""``convlens dream``: DeepDream on a photo, a zoom sequence, or a class drawn from noise.

Writes ``OUT/dream.png`` and ``OUT/dream.json`` (parameters, time, change);
with ``--zoom N`` also ``OUT/dream_frames/frame_0000.png ...`` and ``OUT/dream.gif``;
with ``--class K`` (no photo) ``OUT/dream_class_K.png``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import InputShapeError
from ._progress import add_progress_arguments, bars_wanted
from ._synthesis_args import add_model_arguments, load


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "dream",
        help="DeepDream: enhance what layers see in a photo (octaves, tiles, zoom frames)",
        description="DeepDream (Mordvintsev et al. 2015) with octaves and tiled gradients.",
    )
    add_model_arguments(p)
    p.add_argument("--image", help="the photo (PNG or JPEG)")
    p.add_argument("--layers", help="comma-separated layer names to enhance")
    p.add_argument("--octaves", type=int, default=4, help="octaves (default 4)")
    p.add_argument("--octave-scale", type=float, default=1.4, help="octave ratio (default 1.4)")
    p.add_argument("--steps", type=int, default=10, help="steps per octave (default 10)")
    p.add_argument(
        "--step-size", type=float, default=0.01, help="step in pixel units 0..1 (default 0.01)"
    )
    p.add_argument(
        "--jitter", type=int, default=32, help="largest random roll in pixels (default 32)"
    )
    p.add_argument("--tile", type=int, default=512, help="tile side for gradients (default 512)")
    p.add_argument(
        "--max-pixels", type=int, help="largest photo accepted, in pixels (default 64,000,000)"
    )
    p.add_argument(
        "--zoom", type=int, default=0, help="write N zoom frames and a GIF (default 0: none)"
    )
    p.add_argument("--zoom-factor", type=float, default=1.05, help="zoom per frame (default 1.05)")
    p.add_argument(
        "--class",
        dest="class_index",
        type=int,
        help="draw this class from noise instead of a photo",
    )
    p.add_argument(
        "--prior", type=float, default=0.1, help="neighbour prior weight for --class (default 0.1)"
    )
    p.add_argument("--size", type=int, help="image side for --class (default: model input)")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .. import synthesize as S
    from ..data.images import MAX_PIXELS, load_image
    from ..synthesize._render import save_frames, save_grid, save_sidecar

    loaded = load(args, need_data=False)
    started = time.perf_counter()
    if args.class_index is not None:
        res = S.dream_class(
            loaded.model,
            args.class_index,
            size=args.size or tuple(loaded.input_shape[1:]),
            octaves=args.octaves,
            octave_scale=args.octave_scale,
            steps=args.steps,
            prior=args.prior,
            normalization=loaded.normalization,
            seed=args.seed,
            progress=bars_wanted(args),
        )
        png = save_grid(args.out / f"dream_class_{args.class_index}.png", res.pixels()[None])
        _finish(args, png, res.params, res.figures(), started, save_sidecar)
        print(f"class {args.class_index}: probability {res.params['probability']:.3f}")
        return 0
    if not args.image:
        raise InputShapeError("give --image PATH (a photo to dream on) or --class K (from noise)")
    layers = [name for name in (args.layers or "").split(",") if name]
    if not layers:
        raise InputShapeError("give --layers NAME[,NAME...]; list layers with `convlens layers`")
    c = loaded.input_shape[0]
    max_pixels = MAX_PIXELS if args.max_pixels is None else args.max_pixels
    photo = load_image(args.image, channels=c if c in (1, 3) else None, max_pixels=max_pixels)
    options = {
        "octaves": args.octaves,
        "octave_scale": args.octave_scale,
        "steps": args.steps,
        "step_size": args.step_size,
        "jitter": args.jitter,
        "tile": args.tile,
        "normalization": loaded.normalization,
        "progress": bars_wanted(args),
    }
    if args.zoom > 0:
        frames = []
        for res in S.zoom_frames(
            loaded.model, photo, layers, args.zoom, args.zoom_factor, seed=args.seed, **options
        ):
            frame = np.transpose(res.pixels(), (1, 2, 0))
            frames.append(frame[..., 0] if c == 1 else frame[..., :3])
        paths = save_frames(args.out / "dream_frames", frames, args.out / "dream.gif")
        params = dict(res.params, frames=args.zoom, zoom_factor=args.zoom_factor)
        png = save_grid(args.out / "dream.png", res.pixels()[None], min_side=1)
        _finish(args, png, params, res.figures(), started, save_sidecar)
        print(
            f"wrote {len(paths)} frames to {args.out / 'dream_frames'} and {args.out / 'dream.gif'}"
        )
        return 0
    res = S.deepdream(loaded.model, photo, layers, seed=args.seed, **options)
    png = save_grid(args.out / "dream.png", res.pixels()[None], min_side=1)
    _finish(args, png, res.params, res.figures(), started, save_sidecar)
    return 0


def _finish(args, png, params, figures, started, save_sidecar) -> None:
    seconds = time.perf_counter() - started
    record = {
        "command": "dream",
        "run": str(args.run) if args.run else None,
        "model": args.model,
        "image": args.image,
        "params": params,
        "figures": dict(figures, seconds=round(seconds, 3)),
    }
    sidecar = save_sidecar(png, record)
    print(f"wrote {png} and {sidecar.name} (change {figures['change']:.4f})")
