"""``convlens attribute RUN (--index I[,J...] | --image FILE...) --method NAME[,NAME...]``.

Explains the run's model on a few inputs and saves one PNG: one row per input,
the input first, then one picture per method. Each column is headed by its
method (and layer), each row by its input, target and the model's prediction;
a JSON sidecar beside the PNG records the same. Options: ``--target``
(predicted, label, a class, one class per input, or an output index like
``(1,)``), ``--layer`` (Grad-CAM), ``--checkpoint``, ``--style``, ``--save-npy``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import ConvlensError, DataError, TargetError
from ._common import int_list, whole

STYLES = ("heat", "diverging", "overlay", "grey", "pca")  # as convlens.render.figure.STYLES
METHOD_NAMES = (
    "saliency, guided_backprop, deconvnet, input_x_gradient, integrated_gradients, "
    "smoothgrad, occlusion, grad_cam, guided_grad_cam, cam"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attribute",
        help="explain single decisions: saliency, guided backprop, Grad-CAM, ...",
        description="Compute attribution maps for dataset images (--index) or image files "
        "(--image) and save a grid of images x methods as PNG, each row labelled with its "
        "target and the model's prediction, with a JSON sidecar. Methods: " + METHOD_NAMES,
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
        "--style", choices=STYLES, default="heat", help="how to draw input maps (default: heat)"
    )
    p.add_argument(
        "--steps", type=whole(1), default=32, help="integrated_gradients steps (default 32)"
    )
    p.add_argument(
        "--samples",
        type=whole(1),
        default=16,
        help="smoothgrad: noisy copies per input (default 16; each image's noise is fixed "
        "by seed 0 and its dataset index, so a row does not change with the others)",
    )
    p.add_argument("--scale", type=whole(0), default=0, help="enlarge tiles (default: to >= 96 px)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.png",
        help="PNG to write; OUT.json beside it records methods, targets and predictions",
    )
    p.add_argument("--save-npy", action="store_true", help="also save each method's maps")
    p.set_defaults(func=run)


def parse_target(text: str, n: int, labels: Any) -> Any:
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


def _inputs(args: argparse.Namespace, run: Any) -> tuple[Any, Any, list[str], list[int]]:
    """(uint8 images (N, C, H, W), labels or None, row names, sample ids)."""
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
        names = [f"#{i}" for i in args.index]
        return ds.images[rows], np.asarray(ds.labels)[rows], names, list(args.index)
    images = [load_image(path, size=(h, w), channels=c) for path in args.image]
    return np.stack(images), None, [Path(p).name for p in args.image], list(range(len(images)))


def _picture(name: str, maps: Any, images: Any, style: str) -> Any:
    from ..attribute._registry import LAYER_MAPS
    from ..render import attribution_image, heatmap, overlay

    hwc = images.transpose(0, 2, 3, 1)
    if name in LAYER_MAPS:
        values = maps[:, 0].detach().numpy()
        return overlay(hwc, heatmap(values), alpha=0.6)
    return attribution_image(maps, hwc, style=style)


def _save_npy(path: Path, maps: Any) -> None:
    import io

    import numpy as np

    from .._atomic import write_bytes

    buf = io.BytesIO()
    np.save(buf, maps.detach().numpy().astype(np.float32))
    write_bytes(path, buf.getvalue())


def _options(name: str, args: argparse.Namespace, ids: list[int]) -> dict[str, Any]:
    from ..attribute import Noise
    from ..attribute._registry import NEEDS_LAYER

    options: dict[str, Any] = {}
    if name in NEEDS_LAYER or (name == "grad_cam" and args.layer):
        options["layer"] = args.layer
    if name == "integrated_gradients":
        options["steps"] = args.steps
    if name == "smoothgrad":
        options["noise"] = Noise(samples=args.samples)
        options["sample_ids"] = ids
    return options


def run(args: argparse.Namespace) -> int:
    import torch

    from .._atomic import write_json
    from ..attribute._registry import get_method
    from ..attribute._rows import describe_rows
    from ..render import method_grid, save_png
    from ..rundir import open_run

    names = [m.strip() for m in args.method.split(",") if m.strip()]
    if not names:
        raise ConvlensError("--method is empty: give a method name, e.g. --method saliency")
    methods = {name: get_method(name) for name in names}
    r = open_run(args.run)
    model = r.model(args.checkpoint)
    images, labels, row_names, ids = _inputs(args, r)
    x = r.preprocess(images)
    target = parse_target(args.target, len(x), labels)
    pictures: dict[str, Any] = {}
    headers: dict[str, str] = {}
    record: list[dict[str, Any]] = []
    out = Path(args.output)
    saved: list[str] = []
    for name, fn in methods.items():
        options = _options(name, args, ids)
        maps = fn(model, x, target, **options)
        pictures[name] = _picture(name, maps, images, args.style)
        headers[name] = f"{name} {options['layer']}" if options.get("layer") else name
        shown = {k: v for k, v in options.items() if k not in ("noise", "sample_ids")}
        if name == "smoothgrad":
            shown["samples"] = args.samples
        record.append({"name": name, "options": shown, "shape": list(maps.shape)})
        if args.save_npy:
            npy = out.with_name(f"{out.stem}.{name}.npy")
            _save_npy(npy, maps)
            saved.append(f"wrote {npy} {tuple(maps.shape)} float32")
    with torch.no_grad():
        output = model(x)
    rows = describe_rows(output, len(x), args.target, target, labels, r.classes, r.task)
    texts = [f"{row_name}: {row['text']}" for row_name, row in zip(row_names, rows, strict=True)]
    scale = args.scale or max(1, -(-96 // images.shape[-1]))
    picture = method_grid(
        images.transpose(0, 2, 3, 1), pictures, scale=scale, row_labels=texts, headers=headers
    )
    save_png(out, picture)
    sidecar = out.with_suffix(".json")
    write_json(
        sidecar,
        {
            "figure": "attribution grid: one row per input, one column per method",
            "run": str(r.path),
            "checkpoint": r.checkpoint(args.checkpoint).name,
            "target": args.target,
            "style": args.style,
            "columns": ["input", *(headers[n] for n in names)],
            "methods": record,
            "rows": [
                {"input": row_name, **row} for row_name, row in zip(row_names, rows, strict=True)
            ],
            "tile_px": int(images.shape[-1] * scale),
        },
    )
    sys.stdout.write(f"wrote {out} ({len(x)} images x {len(names)} methods) and {sidecar.name}\n")
    for line in saved:
        sys.stdout.write(line + "\n")
    return 0
