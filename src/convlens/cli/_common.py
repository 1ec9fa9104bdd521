"""Small helpers shared by the verbs: argument types, common arguments, model/run loading."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConvlensError, InputShapeError
from ..model.factory import build_model, default_input_shape
from ..rundir import Run, open_run


def int_list(text: str) -> list[int]:
    """``"1,2,5-7"`` -> ``[1, 2, 5, 6, 7]`` (argparse type)."""
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, part)
                out.extend(range(int(a), int(b) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of integers; write it like 3 or 1,2,5-7"
        ) from None
    return out


def model_option(text: str) -> tuple[str, Any]:
    """``relu=false`` -> ("relu", False): values are parsed as JSON when they can be
    (argparse type of ``--option``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a model option: expected KEY=VALUE, like relu=false"
        )
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_option_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """``--option KEY=VALUE`` (repeatable): keyword arguments of the model's factory."""
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        type=model_option,
        metavar="KEY=VALUE",
        help=f"a model factory option, e.g. --option {example}, values parsed as JSON "
        "(repeatable; default: none)",
    )


def size2(text: str) -> tuple[int, int]:
    """``"224,224"`` -> (224, 224) (argparse type of ``--input-size``)."""
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        dims = ()
    if len(dims) != 2 or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an input size: expected H,W, two positive integers like 224,224"
        )
    return dims  # type: ignore[return-value]


def shape(text: str) -> tuple[int, ...]:
    """``"3,32,32"`` -> ``(3, 32, 32)`` (argparse type)."""
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an input shape; write it like 1,28,28 (C,H,W)"
        ) from None
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r}: every dimension must be positive")
    return dims


def model_and_shape(
    run: str | None,
    model: str | None,
    input_shape: tuple[int, ...] | None,
    checkpoint: str | None = None,
) -> tuple[nn.Module, tuple[int, ...], Run | None]:
    """The model (eval mode) and input shape from a RUN or from --model/--input-shape."""
    if run:
        r = open_run(run)
        m = r.model(checkpoint) if r.checkpoints else r.build_model().eval()
        return m, tuple(input_shape or r.input_shape), r
    if not model:
        raise ConvlensError("give a RUN directory or --model NAME|module:factory")
    built = build_model(model).eval()  # first, so an import error is what gets reported
    shape_ = input_shape or default_input_shape(model)
    if shape_ is None:
        raise InputShapeError(f"model {model!r} has no known input shape; pass --input-shape C,H,W")
    return built, tuple(shape_), None


def existing_path(text: str) -> Path:
    return Path(text)


def add_run_argument(parser: argparse.ArgumentParser, **kw: Any) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory", **kw)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--port`` and ``--no-browser`` of the verbs that serve a web page."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: 0 = any free port)")
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the URL, do not open a browser"
    )


def serve_until_interrupted(server: Any, name: str) -> int:
    """Print ``convlens NAME: URL``, serve until Ctrl-C, then stop ``server``; returns 0."""
    print(f"convlens {name}: {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        sys.stderr.write("stopping\n")
    finally:
        server.stop()
    return 0
