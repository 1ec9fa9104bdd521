"""Optimising an input: activation maximisation, DeepDream and inversion.

One spec for every job: :class:`Synthesis` holds the parameterisation, the
transforms, the penalty (:class:`Penalty`), the optimiser and learning rate,
the steps and seed, the image size; each job's default is a constant
(:data:`MAXIMISE`, :data:`INVERSION`, :data:`DREAM`, :data:`DREAM_CLASS`),
changed with ``replace``. Figures record their spec; :func:`load_spec` reads it
back.

Pieces that compose:

- parameterisations: ``pixel``, ``fourier``, ``maco`` (phase only, the
  magnitude fixed to the data's :class:`Spectrum`, Fel et al. 2023) and a
  colour basis fitted on the user's data (:class:`ColourBasis`);
- transforms (:mod:`.transforms`): ``pad``, ``jitter``, ``scale``, ``rotate``,
  ``roll``, drawn separately for every image of the batch, chained with
  ``compose``; their names parse back (:func:`parse_transforms`);
- objectives (:mod:`.objectives`): ``channel``, ``neuron``, ``class_logit``,
  ``direction``, ``diversity``, combined with ``+``, ``-`` and ``*``;
- regularisers (:mod:`.regularisers`): ``l2``, ``alpha_norm``,
  ``total_variation`` and ``BlurEvery``.

Jobs built on them, each ``job(model, what to optimise, spec, *, data, ...)``:
``channels``, ``neurons``, ``classes``, ``directions`` and ``maximise`` (one
image per unit, a whole layer in one batch), ``deepdream``, ``zoom_frames`` and
``dream_class`` (octaves and tiles: :class:`Dream`), ``invert`` and
``invert_layers`` (Mahendran & Vedaldi).

Example::

    import convlens
    from convlens import synthesize as S

    run = convlens.open_run("runs/lenet")
    res = S.channels(run, "conv2", spec=S.MAXIMISE.replace(param="maco"))
    res.ratio            # (50,) reached vs the best real image (1: as good)
    res.transparency     # (50, 28, 28) which parts of each image mattered
"""

from .deepdream import deepdream, dream_class, tiled_gradient, zoom_frames
from .invert import invert, invert_layers
from .maco import MacoParam, Spectrum, maco
from .maximise import channels, classes, directions, maximise, neurons
from .objectives import (
    IMAGE,
    OUTPUT,
    Objective,
    UnitObjective,
    channel,
    class_logit,
    direction,
    diversity,
    neuron,
)
from .param import ColourBasis, FourierParam, ImageParam, PixelParam, fourier, pixel
from .regularisers import BlurEvery, alpha_norm, l2, total_variation
from .result import DreamResult, InversionResult, SynthesisResult
from .spec import (
    DREAM,
    DREAM_CLASS,
    INVERSION,
    MAXIMISE,
    OPTIMISERS,
    PARAMS,
    Dream,
    Penalty,
    Synthesis,
    load_spec,
)
from .transforms import (
    compose,
    jitter,
    pad,
    parse_transforms,
    roll,
    rotate,
    scale,
    standard_transforms,
)

__all__ = [
    "DREAM",
    "DREAM_CLASS",
    "IMAGE",
    "INVERSION",
    "MAXIMISE",
    "OPTIMISERS",
    "OUTPUT",
    "PARAMS",
    "BlurEvery",
    "ColourBasis",
    "Dream",
    "DreamResult",
    "FourierParam",
    "ImageParam",
    "InversionResult",
    "MacoParam",
    "Objective",
    "Penalty",
    "PixelParam",
    "Spectrum",
    "Synthesis",
    "SynthesisResult",
    "UnitObjective",
    "alpha_norm",
    "channel",
    "channels",
    "class_logit",
    "classes",
    "compose",
    "deepdream",
    "direction",
    "directions",
    "diversity",
    "dream_class",
    "fourier",
    "invert",
    "invert_layers",
    "jitter",
    "l2",
    "load_spec",
    "maco",
    "maximise",
    "neuron",
    "neurons",
    "pad",
    "parse_transforms",
    "pixel",
    "roll",
    "rotate",
    "scale",
    "standard_transforms",
    "tiled_gradient",
    "total_variation",
    "zoom_frames",
]
