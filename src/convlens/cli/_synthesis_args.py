"""The model, data and output arguments shared by the synthesis verbs (visualize, dream,
invert), and :func:`load`, which resolves them into a :class:`Loaded`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConvlensError
from ._common import model_and_shape, shape

if TYPE_CHECKING:
    from torch import nn

    from ..data import Normalization


@dataclass
class Loaded:
    """Model, normalisation, input shape and (optional) data for a synthesis verb."""

    model: nn.Module
    normalization: Normalization
    input_shape: tuple[int, ...]
    data: Any
    run: Any


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", nargs="?", help="a run directory (model, data, weights)")
    p.add_argument("--model", help="zoo name or module:factory, when no RUN is given")
    p.add_argument(
        "--input-shape",
        type=shape,
        help="C,H,W of the model input (default: the run's or the zoo model's)",
    )
    p.add_argument("--checkpoint", help="checkpoint name or step (default: last)")
    p.add_argument(
        "--data", help="dataset for the colour basis and reference activations (default: the run's)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("."), help="output folder (default .)")


def load(args: argparse.Namespace, need_data: bool = True) -> Loaded:
    """Resolve RUN or --model into a :class:`Loaded`."""
    from ..data import Normalization, check_fits, load_dataset

    model, input_shape, run = model_and_shape(
        args.run, args.model, args.input_shape, args.checkpoint
    )
    if run is not None:
        norm = run.normalization
    else:
        norm = Normalization((0.0,) * input_shape[0], (1.0,) * input_shape[0])
    data = None
    if need_data and (args.data or run is not None):
        if args.data:
            c, h, w = input_shape
            data = check_fits(load_dataset(args.data, size=(h, w), channels=c), input_shape)
            data = data.with_normalization(norm) if run is not None else data
            norm = data.normalization
        else:
            try:
                val = run.dataset("val")
                data = val if len(val) else run.dataset()
            except ConvlensError:  # data absent on this machine: no quality figure
                data = None
    return Loaded(model, norm, tuple(input_shape), data, run)
