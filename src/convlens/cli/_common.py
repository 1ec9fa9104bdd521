"""Small helpers shared by the verbs: argument types, common arguments, model/run loading.

Like every module of this package, it imports neither torch nor numpy at module
level: ``convlens --help`` builds every verb's parser, and must start at once.
Heavy imports go inside the functions that run a verb.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConvlensError, InputShapeError

if TYPE_CHECKING:
    from torch import nn

    from ..rundir import Run


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
    if not out:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no integers: expected at least one, like 3 or 1,2,5-7"
        )
    return out


def whole(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}: expected {low} or more")
        return value

    parse.__name__ = f"whole number >= {low}"
    return parse


def number(low: float, strict: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number >= ``low`` (> ``low`` when ``strict``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or (value <= low if strict else value < low):
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: expected a finite number {relation} {low:g}"
            )
        return value

    parse.__name__ = "number"
    return parse


def check_port(port: int) -> None:
    """Refuse a ``--port`` outside 0..65535 before any run is opened (the library's line)."""
    if not 0 <= port <= 65535:
        raise ConvlensError(f"port {port} is out of range: expected 0..65535 (0 = any free port)")


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
    from ..model.factory import build_model, default_input_shape
    from ..rundir import open_run

    if run:
        r = open_run(run)
        if input_shape and tuple(input_shape) != tuple(r.input_shape):
            given = ",".join(map(str, input_shape))
            raise InputShapeError(
                f"--input-shape {given} differs from the shape run {run!r} records "
                f"({','.join(map(str, r.input_shape))}); drop --input-shape with a RUN (give "
                "--size for another image size)"
            )
        m = r.model(checkpoint) if r.checkpoints else r.build_model().eval()
        return m, tuple(r.input_shape), r
    if not model:
        raise ConvlensError("give a RUN directory or --model NAME|module:factory")
    built = build_model(model).eval()  # first, so an import error is what gets reported
    shape_ = input_shape or default_input_shape(model)
    if shape_ is None:
        raise InputShapeError(f"model {model!r} has no known input shape; pass --input-shape C,H,W")
    return built, tuple(shape_), None


def add_run_argument(parser: argparse.ArgumentParser, **kw: Any) -> None:
    parser.add_argument("run", metavar="RUN", help="a run directory", **kw)


class LibraryChoices(Sequence[str]):
    """The allowed values of an option, read from the library when argparse needs them.

    ``LibraryChoices("convlens.probe.figures", "RULES")`` imports that module only
    when a value is checked or the verb's own help is shown, so building the
    parser imports nothing heavy. Give the option a ``metavar`` (argparse would
    otherwise list the choices while the parser is built) and write
    ``%(choices)s`` in its help to list them there.

    >>> "gradient" in LibraryChoices("convlens.probe.figures", "RULES")
    True
    """

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        self._values: tuple[str, ...] | None = None

    def _load(self) -> tuple[str, ...]:
        if self._values is None:
            self._values = tuple(getattr(importlib.import_module(self.module), self.name))
        return self._values

    def __getitem__(self, index: Any) -> Any:
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, value: object) -> bool:
        return value in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __repr__(self) -> str:
        return f"LibraryChoices({self.module!r}, {self.name!r})"


def add_unit_figure_arguments(
    parser: argparse.ArgumentParser, method_default: str | None = "deconvnet"
) -> None:
    """``--layer``, ``--channels`` and ``--method`` of the verbs that draw probed units
    projected to pixels (topk, evolution). ``method_default=None``: the figure chooses
    (deconvnet when the model max-pools, else guided backprop)."""
    parser.add_argument("--layer", required=True, help="probed layer name, e.g. conv2 (required)")
    parser.add_argument(
        "--channels", type=int_list, help="channels like 0,3,5-7 (default: first 8)"
    )
    default = (
        "default: %(default)s"
        if method_default
        else "default: deconvnet when the model max-pools, else guided backprop, since "
        "deconvnet without max-pool hardly depends on the image"
    )
    parser.add_argument(
        "--method",
        choices=LibraryChoices("convlens.probe.figures", "RULES"),
        default=method_default,
        metavar="RULE",
        help=f"how each patch is projected to pixels: %(choices)s (guided = guided backprop; "
        f"{default})",
    )


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
