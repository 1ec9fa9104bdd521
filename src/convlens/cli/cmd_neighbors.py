"""``convlens neighbors RUN --index I --layer L``: the nearest images at a layer."""

from __future__ import annotations

import argparse

from ._common import add_run_argument, whole


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "neighbors",
        help="nearest images to one image at a layer",
        description="The probed images nearest to one image at a layer (Euclidean distance "
        "between whole flattened feature maps), printed as a table and optionally drawn as a "
        "strip. Needs `convlens probe RUN` first.",
    )
    add_run_argument(p)
    p.add_argument(
        "--index", type=int, required=True, help="dataset index of the query image (required)"
    )
    p.add_argument("--layer", required=True, help="probed layer name, e.g. conv2 (required)")
    p.add_argument("-k", type=whole(1), default=10, help="how many neighbours (default 10)")
    p.add_argument("--checkpoint", help="probed checkpoint (default: last probed)")
    p.add_argument("-o", "--output", help="also write a PNG strip, query first (default: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..probe import open_probe
    from ..probe.figures import nearest, neighbor_strip
    from ..render import save_png

    res = open_probe(args.run, args.checkpoint)
    indices, dist = nearest(res, args.index, args.layer, args.k)
    labels = dict(zip(res.indices.tolist(), res.labels.tolist(), strict=True))
    classes = res.classes
    print(f"image {args.index} (label {classes[labels[args.index]]}) at {args.layer}:")
    print("rank  index  label  distance")
    for rank, (i, d) in enumerate(zip(indices.tolist(), dist.tolist(), strict=True), 1):
        print(f"{rank:>4}  {i:>5}  {classes[labels[i]]:>5}  {d:.4f}")
    if args.output:
        print(f"wrote {save_png(args.output, neighbor_strip(res, args.index, indices))}")
    return 0
