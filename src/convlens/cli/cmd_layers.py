"""``convlens layers RUN | --model NAME|module:factory [--input-shape C,H,W] [--json]``.

Prints the layer table: name, type, output shape, own parameters and, for
spatial layers, the receptive field size, stride and offset (rows, columns); a
``*`` in the last column marks the default layers (what tools take when no layer
is named: block outputs, see ``docs/layers.md``). ``--json`` gives each row a
boolean ``default``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import ConvlensError, InputShapeError
from ._common import model_and_shape, shape

if TYPE_CHECKING:
    from ..model.layers import LayerInfo

HEADER = ("name", "type", "output", "params", "rf size", "rf stride", "rf offset", "default")
RIGHT = {"params"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "layers",
        help="print the layer table: shapes, parameters, receptive fields",
        description="Print every layer of a model with its output shape, its own parameter "
        "count and, for spatial layers, its receptive field on the input (size, stride, and "
        "offset = input coordinate of the centre of position (0, 0), as rows x columns). "
        "A * marks the default layers: the block and stage outputs that probe, explore and "
        "invert --all-layers take when no layer is named.",
    )
    p.add_argument("run", metavar="RUN", nargs="?", help="a run directory")
    p.add_argument(
        "--model", help="a zoo name (lenet, siamese, ...) or module:factory, instead of RUN"
    )
    p.add_argument(
        "--input-shape",
        type=shape,
        metavar="C,H,W",
        help="the model's input shape (default: the run's or the zoo model's)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list (each row with a boolean 'default') instead of a table",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model.factory import build_model, default_input_shape
    from ..model.layers import layer_table

    if args.run and args.model:
        raise ConvlensError(
            f"got both RUN {args.run!r} and --model {args.model!r}; give one of them"
        )
    if args.model:
        # Build first, so that a factory that does not import says so before
        # a missing input shape does.
        model = build_model(args.model).eval()
        input_shape = args.input_shape or default_input_shape(args.model)
        if input_shape is None:
            raise InputShapeError(
                f"model {args.model!r} has no known input shape; pass --input-shape C,H,W"
            )
    else:
        model, input_shape, _ = model_and_shape(args.run, None, args.input_shape)
    table = layer_table(model, input_shape)
    if args.json:
        objects = ",\n  ".join(json.dumps(info.to_json()) for info in table)
        sys.stdout.write(f"[\n  {objects}\n]\n")
        return 0
    for line in format_table(table):
        sys.stdout.write(line + "\n")
    return 0


def _dims(values: Sequence[float] | None, sep: str = "x") -> str:
    if values is None:
        return "-"
    return sep.join(f"{v:g}" for v in values)


def format_table(table: list[LayerInfo]) -> list[str]:
    """The table as aligned lines, then the total parameter count and any notes."""
    rows = [
        (
            info.name,
            info.type,
            _dims(info.output_shape),
            f"{info.params:,}",
            _dims(info.rf_size),
            _dims(info.rf_stride),
            _dims(info.rf_offset, ","),
            "*" if info.default else "",
        )
        for info in table
    ]
    widths = [max(len(r[c]) for r in [HEADER, *rows]) for c in range(len(HEADER))]

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(w) if head in RIGHT else cell.ljust(w)
            for cell, w, head in zip(row, widths, HEADER, strict=True)
        ]
        return "  ".join(cells).rstrip()

    lines = [line(HEADER), *(line(r) for r in rows)]
    lines.append(f"total parameters: {sum(info.params for info in table):,}")
    chosen = sum(info.default for info in table)
    lines.append(f"default layers (*): {chosen} of {len(table)}, taken when no layer is named")
    lines.extend(f"note: {info.name}: {info.rf_note}" for info in table if info.rf_note)
    return lines
