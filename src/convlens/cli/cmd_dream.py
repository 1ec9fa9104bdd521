"""``convlens dream``: DeepDream on a photo, a zoom sequence, or a class drawn from noise.

Writes ``OUT/dream.png`` (titled, captioned with the layers it enhanced) and
``OUT/dream.json`` (the spec and the dream settings, which ``--spec`` reads
back, time, change); with ``--zoom N`` also ``OUT/dream_frames/frame_0000.png``
... each with its sidecar, and ``OUT/dream.gif``; with ``--class K`` (no photo)
``OUT/dream_class_K.png``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._progress import add_progress_arguments, bars_wanted
from ._synthesis_args import (
    add_model_arguments,
    class_names,
    load,
    number,
    record,
    spec_from,
    whole,
)

#: the largest photo accepted by default (pixels); the library's MAX_PIXELS
MAX_PIXELS_TEXT = "64,000,000"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "dream",
        help="DeepDream: enhance what layers see in a photo (octaves, tiles, zoom frames)",
        description="DeepDream (Mordvintsev et al. 2015) with octaves and tiled gradients.",
    )
    add_model_arguments(p)
    p.add_argument("--image", help="the photo (PNG or JPEG)")
    p.add_argument("--layers", help="comma-separated layer names to enhance")
    p.add_argument("--octaves", type=whole(1), help="octaves (default 4; 3 with --class)")
    p.add_argument("--octave-scale", type=number(1), help="octave ratio (default 1.4)")
    p.add_argument("--steps", type=whole(1), help="steps per octave (default 10; 30 with --class)")
    p.add_argument(
        "--step-size",
        type=number(0, strict=True),
        help="step in pixel units 0..1 (default 0.01; 0.02 with --class)",
    )
    p.add_argument(
        "--jitter",
        type=whole(0),
        help="largest random roll in pixels (default 32; 1 with --class)",
    )
    p.add_argument(
        "--tile",
        type=whole(1),
        help="tile side for gradients, bounds memory (default 512; whole image with --class)",
    )
    p.add_argument(
        "--max-pixels",
        type=whole(1),
        help=f"largest photo accepted, in pixels (default {MAX_PIXELS_TEXT})",
    )
    p.add_argument(
        "--zoom", type=whole(0), default=0, help="write N zoom frames and a GIF (default 0: none)"
    )
    p.add_argument(
        "--zoom-factor", type=number(1), default=1.05, help="zoom per frame (default 1.05)"
    )
    p.add_argument(
        "--class",
        dest="class_index",
        type=whole(0),
        help="draw this class from noise (default: dream on --image)",
    )
    p.add_argument(
        "--prior",
        type=number(0),
        help="smoothness prior weight, a TV step (default 0; 0.1 with --class)",
    )
    p.add_argument("--size", type=whole(1), help="image side (default: the photo's or model's)")
    add_progress_arguments(p)
    p.set_defaults(func=run)


def build_specs(args: argparse.Namespace) -> tuple[Any, Any]:
    """The :class:`~convlens.synthesize.Synthesis` and :class:`Dream` these flags ask for."""
    from ..synthesize import DREAM, DREAM_CLASS, Dream

    drawing = args.class_index is not None
    spec = spec_from(
        args,
        DREAM_CLASS if drawing else DREAM,
        {"tv": args.prior},
        steps=args.steps,
        lr=args.step_size,
        transforms=None if args.jitter is None else f"roll({args.jitter})",
        size=args.size,
    )
    dream = _recorded_dream(args.spec) or (Dream(octaves=3, tile=None) if drawing else Dream())
    changes = {
        k: v
        for k, v in {
            "octaves": args.octaves,
            "octave_scale": args.octave_scale,
            "tile": args.tile,
        }.items()
        if v is not None
    }
    return spec, dream.replace(**changes) if changes else dream


def run(args: argparse.Namespace) -> int:
    from .. import synthesize as S
    from ..data.images import MAX_PIXELS, load_image
    from ..errors import InputShapeError
    from ..synthesize._render import labelled_grid, save_frames, save_sidecar

    if args.class_index is None and not args.image:
        raise InputShapeError("give --image PATH (a photo to dream on) or --class K (from noise)")
    layers = [name for name in (args.layers or "").split(",") if name]
    if args.class_index is None and not layers:
        raise InputShapeError("give --layers NAME[,NAME...]; list layers with `convlens layers`")
    spec, dream = build_specs(args)
    loaded = load(args, need_data=False)
    started = time.perf_counter()
    data = loaded.normalization
    if args.class_index is not None:
        if spec.size is None:
            spec = spec.replace(size=tuple(loaded.input_shape[1:]))
        res = S.dream_class(
            loaded.model, args.class_index, spec, dream=dream, data=data, progress=bars_wanted(args)
        )
        names = class_names(loaded)
        k = args.class_index
        caption = f"class {k}" + (f": {names[k]}" if names and k < len(names) else "")
        caption += f", p={res.params['probability']:.2f}"
        picture = labelled_grid(res.pixels()[None], [caption], f"class {k} from noise")
        png = args.out / f"dream_class_{k}.png"
        _finish(args, png, picture, res, started, [caption])
        print(f"class {k}: probability {res.params['probability']:.3f}")
        return 0
    c = loaded.input_shape[0]
    photo = load_image(
        args.image,
        channels=c if c in (1, 3) else None,
        max_pixels=args.max_pixels or MAX_PIXELS,
    )
    caption = " + ".join(layers)
    title = f"DeepDream: {dream.octaves} octaves x {spec.steps} steps"
    if args.zoom > 0:
        import numpy as np

        frames, results = [], []
        zoom = S.zoom_frames(
            loaded.model, photo, layers, args.zoom, args.zoom_factor, spec, dream=dream, data=data
        )
        for res in zoom:
            frame = np.transpose(res.pixels(), (1, 2, 0))
            frames.append(frame[..., 0] if c == 1 else frame[..., :3])
            results.append(res)
        paths = save_frames(args.out / "dream_frames", frames, args.out / "dream.gif")
        for i, (path, res) in enumerate(zip(paths, results, strict=True)):
            save_sidecar(path, _record(args, res, [caption], frame=i, zoom_factor=args.zoom_factor))
        title += f", frame {args.zoom} of a zoom by {args.zoom_factor:g}"
        picture = labelled_grid(res.pixels()[None], [caption], title, min_side=1)
        _finish(args, args.out / "dream.png", picture, res, started, [caption])
        print(
            f"wrote {len(paths)} frames to {args.out / 'dream_frames'} and {args.out / 'dream.gif'}"
        )
        return 0
    res = S.deepdream(
        loaded.model, photo, layers, spec, dream=dream, data=data, progress=bars_wanted(args)
    )
    picture = labelled_grid(res.pixels()[None], [caption], title, min_side=1)
    _finish(args, args.out / "dream.png", picture, res, started, [caption])
    return 0


def _recorded_dream(path: str | None) -> Any:
    """The :class:`Dream` recorded in a sidecar (``"dream"``), or None."""
    if not path:
        return None
    import json
    from pathlib import Path

    from ..synthesize import Dream

    try:
        recorded = json.loads(Path(path).with_suffix(".json").read_text()).get("dream")
    except (OSError, ValueError, AttributeError):
        return None  # load_spec has already said what is wrong with the file
    return Dream.from_dict(recorded) if isinstance(recorded, dict) else None


def _record(args: argparse.Namespace, res: Any, labels: list[str], **extra: Any) -> dict:
    return record(
        args,
        "dream",
        image=args.image,
        spec=res.spec.to_dict(),
        dream=res.dream.to_dict(),
        params=dict(res.params, **extra),
        labels=labels,
    )


def _finish(args, png, picture, res, started, labels) -> None:
    from ..synthesize._render import save_figure

    side = _record(args, res, labels)
    side["figures"] = dict(res.figures(), seconds=round(time.perf_counter() - started, 3))
    png, sidecar = save_figure(png, picture, side)
    print(f"wrote {png} and {sidecar.name} (change {side['figures']['change']:.4f})")
