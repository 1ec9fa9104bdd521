"""What the synthesis verbs (visualize, dream, invert) share: the model, data and output
arguments, checked numbers, the spec built from flags, and :func:`load`, which
resolves the model and data into a :class:`Loaded`.

Every numeric flag is checked by its argparse type, so ``--steps -5`` is one
line naming the flag; the spec checks the same values again in the library.
Spec flags default to None ("not given"): the spec is the verb's default, or
the one recorded in ``--spec SIDECAR``, with the given flags changed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._common import int_list, number, shape, whole

__all__ = ["int_list", "number", "shape", "whole"]  # re-exported for the verbs


@dataclass
class Loaded:
    """Model, normalisation, input shape and (optional) data for a synthesis verb."""

    model: Any
    normalization: Any
    input_shape: tuple[int, ...]
    data: Any
    run: Any


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", nargs="?", help="a run directory (model, data, weights)")
    p.add_argument("--model", help="zoo name or module:factory, when no RUN is given")
    p.add_argument(
        "--input-shape", type=shape, help="C,H,W of the model input (default: the run's or zoo's)"
    )
    p.add_argument("--checkpoint", help="checkpoint name or step (default: last)")
    p.add_argument(
        "--data", help="dataset for the normalisation, colour basis and reference (default: RUN's)"
    )
    p.add_argument("--seed", type=whole(0), help="random seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("."), help="output folder (default .)")
    p.add_argument(
        "--spec",
        metavar="SIDECAR",
        help="start from the spec recorded in a figure's .json sidecar; flags given change it "
        "(default: the verb's own defaults)",
    )


def base_spec(args: argparse.Namespace, default: Any) -> Any:
    """The spec recorded in ``--spec SIDECAR``, or the verb's ``default``."""
    from ..synthesize import load_spec

    return load_spec(args.spec) if args.spec else default


def spec_from(
    args: argparse.Namespace, default: Any, penalty: dict[str, Any], **changes: Any
) -> Any:
    """The verb's spec: ``--spec``'s (or ``default``) with the flags that were given (not
    None), ``penalty`` the given weights of its Penalty, and ``--seed``."""
    base = base_spec(args, default)
    given = {k: v for k, v in changes.items() if v is not None}
    weights = {k: v for k, v in penalty.items() if v is not None}
    if weights:
        given["penalty"] = base.penalty.replace(**weights)
    if args.seed is not None:
        given["seed"] = args.seed
    return base.replace(**given) if given else base


def load(args: argparse.Namespace, need_data: bool = True) -> Loaded:
    """Resolve RUN or --model into a :class:`Loaded`."""
    from ..data import Normalization, check_fits, load_dataset
    from ..errors import ConvlensError
    from ._common import model_and_shape

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


def given_data(loaded: Loaded, count: int | None = None, seed: int = 0) -> Any:
    """What a job's ``data`` argument gets: up to ``count`` images (a seeded sample), or
    the normalisation alone when there is no data or ``count`` is 0."""
    data = loaded.data
    if data is None or count == 0:
        return loaded.normalization
    if count is not None and len(data) > count:
        import numpy as np

        rows = np.sort(np.random.default_rng(seed).choice(len(data), count, replace=False))
        data = data.subset(rows)
    return data


def class_names(loaded: Loaded) -> list[str] | None:
    """The run's or data's class names, when known."""
    for source in (loaded.data, loaded.run):
        names = getattr(source, "classes", None)
        if names:
            return list(names)
    return None


def record(args: argparse.Namespace, command: str, **fields: Any) -> dict[str, Any]:
    """The common head of a sidecar: command, run, model, then ``fields``."""
    head = {"command": command, "run": str(args.run) if args.run else None, "model": args.model}
    return {**head, **fields}
