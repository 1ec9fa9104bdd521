"""The specs of a synthesis: how an image is optimised, shared by every job.

:class:`Synthesis` holds the knobs that travel together: the parameterisation,
the transforms, the penalty (:class:`Penalty`), the optimiser and learning rate,
the steps and the seed, the image size, how many images per target and how many
in one batch. Every job (``channels``, ``neurons``, ``classes``, ``directions``,
``invert``, ``deepdream``) takes the model, what to optimise, and one spec. The
jobs' defaults are the constants :data:`MAXIMISE`, :data:`INVERSION`,
:data:`DREAM` and :data:`DREAM_CLASS`; change a field with ``replace``.
DeepDream's own knobs (octaves, tiles) are a second small spec, :class:`Dream`.

Every spec checks its fields when it is made, so a negative step count or an
unknown parameterisation is one line (:class:`~convlens.errors.SpecError`), and
writes itself as JSON (``to_dict``) and reads itself back (``from_dict``,
:func:`load_spec` from a figure's sidecar).

Example::

    spec = MAXIMISE.replace(param="maco", steps=128)
    res = channels(run, "conv2", spec=spec)
    load_spec("figures/visualize_conv2.json") == res.spec      # True
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PathNotFoundError, SpecError
from ._fields import choice as _choice
from ._fields import integer as _integer
from ._fields import known_fields
from ._fields import real as _real
from ._fields import set_field as _set
from ._fields import size as _size
from ._fields import spectrum_name as _spectrum_name
from ._fields import transforms as _transforms
from ._fields import transforms_name as _transforms_name

__all__ = [
    "DREAM",
    "DREAM_CLASS",
    "INVERSION",
    "LR",
    "MACO_LR",
    "MAXIMISE",
    "OPTIMISERS",
    "PARAMS",
    "Dream",
    "Penalty",
    "Synthesis",
    "load_spec",
]

#: The parameterisations: Fourier with 1/f scaling, free pixels, MaCo (phase only).
PARAMS = ("fourier", "pixel", "maco")
#: The optimisers: Adam; heavy-ball momentum 0.9 with the rate divided by 10 for
#: the last third (Mahendran & Vedaldi); a step of ``lr`` along the gradient
#: divided by its mean absolute value (DeepDream).
OPTIMISERS = ("adam", "sgd", "normalized")
#: The learning rate when ``lr`` is None, by optimiser; MaCo's phase (radians)
#: with Adam takes :data:`MACO_LR`.
LR = {"adam": 0.05, "sgd": 0.5, "normalized": 0.01}
MACO_LR = 0.2


# ---------------------------------------------------------------- penalty
@dataclass(frozen=True)
class Penalty:
    """Regularisers: terms subtracted from what is maximised (added to what is minimised).

    - ``l2``: weight of the mean squared value of the image;
    - ``tv``, ``tv_beta``: weight and power of the total variation
      (``total_variation(beta)``; beta 2 is a smoothness prior);
    - ``alpha``, ``alpha_power``: weight and power of the alpha-norm;
    - ``diversity``: weight of the Gram similarity between the images drawn for
      one unit (needs ``samples >= 2``);
    - ``blur_every``, ``blur_sigma``: blur the image by a Gaussian of
      ``blur_sigma`` pixels every ``blur_every`` steps (0: never).

    In inversion the alpha-norm and TV terms are normalised as in Mahendran &
    Vedaldi (by the data's range); in maximisation they are means over pixels.

    >>> Penalty(tv=0.1).terms()
    ['tv']
    """

    l2: float = 0.0
    tv: float = 0.0
    tv_beta: float = 2.0
    alpha: float = 0.0
    alpha_power: float = 6.0
    diversity: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.5

    def __post_init__(self) -> None:
        fix = "pass a weight of 0 to switch a term off"
        for name in ("l2", "tv", "alpha", "diversity"):
            _set(self, name, _real(f"penalty.{name}", getattr(self, name), 0.0, fix))
        fix = "pass a positive power"
        for name in ("tv_beta", "alpha_power"):
            _set(self, name, _real(f"penalty.{name}", getattr(self, name), 0.0, fix, True))
        _set(
            self,
            "blur_every",
            _integer("penalty.blur_every", self.blur_every, 0, "pass 0 for no blur"),
        )
        sigma = _real("penalty.blur_sigma", self.blur_sigma, 0.0, "pass a width in pixels", True)
        _set(self, "blur_sigma", sigma)

    def replace(self, **changes: Any) -> Penalty:
        """A copy with ``changes``, checked like a new penalty."""
        return dataclasses.replace(self, **changes)

    def terms(self) -> list[str]:
        """The names of the terms switched on (non-zero weight, or a blur)."""
        on = [n for n in ("l2", "tv", "alpha", "diversity") if getattr(self, n) > 0]
        return on + (["blur_every"] if self.blur_every > 0 else [])

    def objective(self) -> Any:
        """The l2, TV and alpha-norm terms as one penalty Objective on the image, or None."""
        from .regularisers import alpha_norm, l2, total_variation

        parts = []
        if self.l2 > 0:
            parts.append(self.l2 * l2())
        if self.tv > 0:
            parts.append(self.tv * total_variation(self.tv_beta))
        if self.alpha > 0:
            parts.append(self.alpha * alpha_norm(self.alpha_power))
        if not parts:
            return None
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    def hooks(self) -> list[Callable[[Any, int], None]]:
        """The step hooks: the periodic blur when ``blur_every`` > 0."""
        from .regularisers import BlurEvery

        return [BlurEvery(self.blur_every, self.blur_sigma)] if self.blur_every > 0 else []


# ---------------------------------------------------------------- synthesis
@dataclass(frozen=True)
class Synthesis:
    """How images are optimised; one spec for every synthesis job.

    - ``param``: ``"fourier"`` (spectrum scaled by 1/f), ``"pixel"`` or
      ``"maco"`` (only the Fourier phase; the magnitude is fixed, Fel et al. 2023);
    - ``decorrelate``: colour basis fitted on the data (identity without data);
      None: the parameterisation's own choice, True for fourier and pixel,
      False for maco (the paper keeps each colour channel's spectrum);
    - ``spectrum``: MaCo's magnitude: None (from the job's data when there is
      some, else the natural 1/f spectrum), ``"natural"``, a dataset path
      (``load_dataset`` names), or a :class:`~convlens.synthesize.maco.Spectrum`;
    - ``transforms``: ``"standard"`` (pad, jitter, scale, rotate, scaled to the
      size), None, a chain name (``"jitter(4) -> rotate(5)"``) or any callable
      (K, C, H, W) -> (K, C, H', W');
    - ``penalty``: a :class:`Penalty`;
    - ``optimiser`` (one of :data:`OPTIMISERS`) and ``lr``, its learning rate
      (None: :data:`LR` of the optimiser, :data:`MACO_LR` for maco with Adam);
    - ``steps`` and ``seed`` (None: not seeded; a seed keeps the caller's RNG);
    - ``size``: image side or (H, W); None is the model's input size, or the
      given image's size (inversion, DeepDream), which is resized to ``size``;
    - ``samples``: images per target (per unit; random starts of an inversion);
    - ``batch``: images optimised together (None: as many as fit 1 GiB).

    >>> Synthesis(param="maco", steps=128).to_dict()["steps"]
    128
    >>> # Synthesis(steps=-5) raises SpecError: "steps=-5: expected a whole number >= 1; ..."
    """

    param: str = "fourier"
    decorrelate: bool | None = None
    spectrum: Any = None
    transforms: Any = "standard"
    penalty: Penalty = field(default_factory=Penalty)
    optimiser: str = "adam"
    lr: float | None = None
    steps: int = 256
    seed: int | None = 0
    size: Any = None
    samples: int = 1
    batch: int | None = None

    def __post_init__(self) -> None:
        _choice("param", self.param, PARAMS)
        if self.decorrelate is not None and not isinstance(self.decorrelate, bool):
            raise SpecError(f"decorrelate={self.decorrelate!r}: expected True, False or None")
        self._check_spectrum()
        _set(self, "transforms", _transforms(self.transforms))
        if not isinstance(self.penalty, Penalty):
            raise SpecError(
                f"penalty={self.penalty!r}: expected a Penalty (for example Penalty(tv=0.1))"
            )
        _choice("optimiser", self.optimiser, OPTIMISERS)
        if self.lr is not None:
            _set(self, "lr", _real("lr", self.lr, 0.0, "pass a positive learning rate", True))
        steps = _integer("steps", self.steps, 1, "pass how many optimiser steps to take")
        _set(self, "steps", steps)
        if self.seed is not None:
            _set(self, "seed", _integer("seed", self.seed, 0, "pass None for no seed"))
        _set(self, "size", _size(self.size))
        fix = "pass how many images to draw for each target"
        _set(self, "samples", _integer("samples", self.samples, 1, fix))
        if self.batch is not None:
            fix = "pass None to fit the batch to memory"
            _set(self, "batch", _integer("batch", self.batch, 1, fix))
        if self.penalty.diversity > 0 and self.samples < 2:
            raise SpecError(
                f"penalty.diversity={self.penalty.diversity:g} with samples=1: diversity pushes "
                "apart several images of one unit; pass samples >= 2 or diversity 0"
            )
        if self.param == "maco" and self.penalty.blur_every > 0:
            raise SpecError(
                f"penalty.blur_every={self.penalty.blur_every} with param='maco': MaCo keeps the "
                "magnitude of the spectrum fixed, so it cannot be blurred; pass blur_every=0"
            )

    def _check_spectrum(self) -> None:
        s = self.spectrum
        if s is None:
            return
        if self.param != "maco":
            raise SpecError(
                f"spectrum={_spectrum_name(s)!r} with param={self.param!r}: a magnitude "
                "spectrum is used by param='maco' only; pass param='maco' or no spectrum"
            )
        if isinstance(s, str):
            if not s.strip():
                raise SpecError("spectrum='': expected 'natural' or a dataset to estimate it from")
            return
        from .maco import Spectrum

        if not isinstance(s, Spectrum):
            raise SpecError(
                f"spectrum={s!r}: expected None, 'natural', a dataset path or a Spectrum"
            )

    def replace(self, **changes: Any) -> Synthesis:
        """A copy with ``changes``, checked like a new spec.

        >>> MAXIMISE.replace(steps=64).steps
        64
        """
        return dataclasses.replace(self, **changes)

    def resolved(self) -> Synthesis:
        """This spec with ``decorrelate`` and ``lr`` decided (what a job runs and records).

        >>> Synthesis(param="maco").resolved().lr, Synthesis().resolved().decorrelate
        (0.2, True)
        """
        decorrelate = self.param != "maco" if self.decorrelate is None else self.decorrelate
        lr = self.lr
        if lr is None:
            maco = self.param == "maco" and self.optimiser == "adam"
            lr = MACO_LR if maco else LR[self.optimiser]
        return dataclasses.replace(self, decorrelate=decorrelate, lr=lr)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; :meth:`from_dict` reads them back."""
        return {
            "param": self.param,
            "decorrelate": self.decorrelate,
            "spectrum": _spectrum_name(self.spectrum),
            "transforms": _transforms_name(self.transforms),
            "penalty": dataclasses.asdict(self.penalty),
            "optimiser": self.optimiser,
            "lr": self.lr,
            "steps": self.steps,
            "seed": self.seed,
            "size": None if self.size is None else list(self.size),
            "samples": self.samples,
            "batch": self.batch,
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Synthesis:
        """The spec written by :meth:`to_dict`; unknown or unreadable fields are one line."""
        if not isinstance(record, Mapping):
            raise SpecError(f"a synthesis spec must be a JSON object, not {type(record).__name__}")
        known_fields(cls, record, "synthesis spec field")
        values = dict(record)
        if "penalty" in values:
            values["penalty"] = _penalty_from(values["penalty"])
        if "size" in values and isinstance(values["size"], list):
            values["size"] = tuple(values["size"])
        spectrum = values.get("spectrum")
        if isinstance(spectrum, str) and spectrum.startswith("<"):
            raise SpecError(
                f"the recorded spectrum {spectrum!r} was an array in memory, not a dataset: "
                "pass the Spectrum again (spec.replace(spectrum=...))"
            )
        return cls(**values)


def _penalty_from(record: Any) -> Penalty:
    if not isinstance(record, Mapping):
        raise SpecError(f"penalty must be a JSON object, not {type(record).__name__}")
    known_fields(Penalty, record, "penalty field")
    return Penalty(**record)


# ---------------------------------------------------------------- dreams
@dataclass(frozen=True)
class Dream:
    """DeepDream's own knobs: the octave pyramid and the tile size.

    - ``octaves``: how many scales, coarse to fine; ``octave_scale`` >= 1 the
      ratio between them;
    - ``tile``: the largest tile side the gradient is computed on (memory is
      that of one tile); None takes the whole image at once.

    >>> Dream(octaves=3).to_dict()
    {'octaves': 3, 'octave_scale': 1.4, 'tile': 512}
    """

    octaves: int = 4
    octave_scale: float = 1.4
    tile: int | None = 512

    def __post_init__(self) -> None:
        fix = "pass how many image scales to dream at"
        _set(self, "octaves", _integer("octaves", self.octaves, 1, fix))
        scale = _real("octave_scale", self.octave_scale, 1.0, "pass a ratio of 1 or more")
        _set(self, "octave_scale", scale)
        if self.tile is not None:
            fix = "pass a tile side in pixels, or None for the whole image"
            _set(self, "tile", _integer("tile", self.tile, 1, fix))

    def replace(self, **changes: Any) -> Dream:
        """A copy with ``changes``, checked like a new spec."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Dream:
        known_fields(cls, record, "dream field")
        return cls(**record)


# ---------------------------------------------------------------- defaults
#: Activation maximisation (``channels``, ``neurons``, ``classes``, ``directions``).
MAXIMISE = Synthesis()
#: Inversion (Mahendran & Vedaldi 2015): pixels, alpha-norm 6 and TV 2, momentum.
INVERSION = Synthesis(
    param="pixel",
    decorrelate=False,
    transforms=None,
    penalty=Penalty(tv=1e-3, tv_beta=2.0, alpha=1e-5, alpha_power=6.0),
    optimiser="sgd",
    lr=0.5,
    steps=300,
)
#: DeepDream on a photo: a normalised step of 0.01 (pixel units), a roll of up to 32 pixels.
DREAM = Synthesis(
    param="pixel",
    decorrelate=False,
    transforms="roll(32)",
    optimiser="normalized",
    lr=0.01,
    steps=10,
)
#: A class drawn from noise: DeepDream on the logit with a smoothness prior (TV, beta 2).
DREAM_CLASS = DREAM.replace(transforms="roll(1)", penalty=Penalty(tv=0.1), lr=0.02, steps=30)


def load_spec(path: str | Path) -> Synthesis:
    """The :class:`Synthesis` recorded in a figure's JSON sidecar (``"spec"``).

    >>> # spec = load_spec("figures/visualize_conv2.json"); channels(run, "conv2", spec=spec)
    """
    path = Path(path)
    if path.suffix.lower() == ".png":
        path = path.with_suffix(".json")
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise PathNotFoundError(
            f"sidecar {str(path)!r} does not exist; give the .json written beside a figure"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"sidecar {str(path)!r} cannot be read as JSON ({exc})") from None
    if not isinstance(record, dict) or "spec" not in record:
        raise SpecError(
            f"sidecar {str(path)!r} records no synthesis spec: expected the JSON written "
            "beside a visualize, invert or dream figure"
        )
    return Synthesis.from_dict(record["spec"])
