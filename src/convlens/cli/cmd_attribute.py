"""``convlens attribute RUN (--index I[,J...] | --image FILE...) --method NAME[,NAME...]``.

Explains the run's model on a few inputs and saves one PNG: one row per input,
the input first, then one picture per method. Options: ``--target`` (predicted,
label, a class, one class per input, or an output index like ``(1,)``),
``--layer`` (Grad-CAM), ``--checkpoint``, ``--style``, ``--save-npy``.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConvlensError, DataError, TargetError
from ._common import LibraryChoices, int_list

if TYPE_CHECKING:
    import numpy as np
    import torch


def _description() -> str:
    from ..attribute._registry import METHODS

    return (
        "Compute attribution maps for dataset images (--index) or image files "
        "(--image) and save a grid of images x methods as PNG. Methods: " + ", ".join(METHODS)
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attribute",
        help="explain single decisions: saliency, guided backprop, Grad-CAM, ...",
        description=_description,
    )
    p.add_argument("run", metavar="RUN", help="a run directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--index", type=int_list, metavar="I[,J...]", help="dataset rows")
    src.add_argument("--image", nargs="+", metavar="FILE", help="image files (PNG, JPEG)")
    p.add_argument("--method", required=True, metavar="NAME[,NAME...]", help="method name(s)")
    p.add_argument(
        "--target",
        default="predicted",
        help="predicted (default), label (the dataset label), a class index, one index per "
        "input (3,1,4), or an output index tuple like '(1,)'",
    )
    p.add_argument("--layer", help="layer for grad_cam / guided_grad_cam")
    p.add_argument("--checkpoint", help="checkpoint name or step (default: last)")
    p.add_argument("--data", help="the run's data at another location")
    p.add_argument(
        "--style",
        choices=LibraryChoices("convlens.render.figure", "STYLES"),
        default="heat",
        metavar="STYLE",
        help="how to draw input-shaped maps: %(choices)s (default: %(default)s)",
    )
    p.add_argument("--steps", type=int, default=32, help="integrated_gradients steps (default 32)")
    p.add_argument("--samples", type=int, default=16, help="smoothgrad samples (default 16)")
    p.add_argument("--scale", type=int, default=0, help="enlarge tiles (default: to >= 96 px)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="PNG to write")
    p.add_argument("--save-npy", action="store_true", help="also save each method's maps")
    p.set_defaults(func=run)


def parse_target(text: str, n: int, labels: np.ndarray | None) -> Any:
    """The --target text as a library target."""
    text = text.strip()
    if text == "predicted":
        return "predicted"
    if text == "label":
        if labels is None:
            raise TargetError("--target label needs --index (image files have no label)")
        return [int(v) for v in labels]
    m = re.fullmatch(r"\(\s*(-?\d+(?:\s*,\s*-?\d+)*)\s*,?\s*\)", text)
    if m:
        return tuple(int(v) for v in m.group(1).split(","))
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise TargetError(
            f"--target {text!r} is not understood: expected predicted, label, a class index, "
            "one index per input (3,1,4) or an output index like '(1,)'"
        ) from None
    return values[0] if len(values) == 1 else values


def _inputs(args: argparse.Namespace, run: Any) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    import numpy as np

    from ..data import load_image

    c, h, w = run.input_shape
    if args.index is not None:
        ds = run.dataset(data=args.data)
        bad = [i for i in args.index if not 0 <= i < len(ds)]
        if bad:
            raise DataError(
                f"--index {bad[0]} is out of range: the run's dataset has {len(ds)} rows "
                f"(0..{len(ds) - 1})"
            )
        rows = np.asarray(args.index)
        return ds.images[rows], np.asarray(ds.labels)[rows], [f"#{i}" for i in args.index]
    images = [load_image(path, size=(h, w), channels=c) for path in args.image]
    return np.stack(images), None, [Path(p).name for p in args.image]


def _picture(name: str, maps: torch.Tensor, images: np.ndarray, style: str) -> np.ndarray:
    from ..attribute._registry import LAYER_MAPS
    from ..render import attribution_image, heatmap, overlay

    hwc = images.transpose(0, 2, 3, 1)
    if name in LAYER_MAPS:
        values = maps[:, 0].detach().numpy()
        return overlay(hwc, heatmap(values), alpha=0.6)
    return attribution_image(maps, hwc, style=style)


def _save_npy(path: Path, maps: torch.Tensor) -> None:
    import numpy as np

    from .._atomic import write_bytes

    buf = io.BytesIO()
    np.save(buf, maps.detach().numpy().astype(np.float32))
    write_bytes(path, buf.getvalue())


def run(args: argparse.Namespace) -> int:
    from ..attribute._registry import NEEDS_LAYER, get_method
    from ..render import method_grid, save_png
    from ..rundir import open_run

    names = [m.strip() for m in args.method.split(",") if m.strip()]
    methods = {name: get_method(name) for name in names}
    if not names:
        raise ConvlensError("--method is empty: give a method name, e.g. --method saliency")
    r = open_run(args.run)
    model = r.model(args.checkpoint)
    images, labels, _ = _inputs(args, r)
    x = r.preprocess(images)
    target = parse_target(args.target, len(x), labels)
    pictures: dict[str, np.ndarray] = {}
    out = Path(args.output)
    saved: list[str] = []
    for name, fn in methods.items():
        options: dict[str, Any] = {}
        if name in NEEDS_LAYER:
            options["layer"] = args.layer
        if name == "integrated_gradients":
            options["steps"] = args.steps
        if name == "smoothgrad":
            options["samples"] = args.samples
        maps = fn(model, x, target, **options)
        pictures[name] = _picture(name, maps, images, args.style)
        if args.save_npy:
            npy = out.with_name(f"{out.stem}.{name}.npy")
            _save_npy(npy, maps)
            saved.append(f"wrote {npy} {tuple(maps.shape)} float32")
    scale = args.scale or max(1, -(-96 // images.shape[-1]))
    save_png(out, method_grid(images.transpose(0, 2, 3, 1), pictures, scale=scale))
    sys.stdout.write(f"wrote {out} ({len(x)} images x {len(names)} methods)\n")
    for line in saved:
        sys.stdout.write(line + "\n")
    return 0
