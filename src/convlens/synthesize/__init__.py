"""Optimising an input: activation maximisation, DeepDream and inversion.

Pieces that compose:

- parameterisations (:mod:`.param`): ``pixel``, ``fourier`` and a colour basis
  fitted on the user's data (:class:`ColourBasis`);
- transforms (:mod:`.transforms`): ``pad``, ``jitter``, ``scale``, ``rotate``,
  drawn separately for every image of the batch, chained with ``compose``;
- objectives (:mod:`.objectives`): ``channel``, ``neuron``, ``class_logit``,
  ``direction``, ``diversity``, combined with ``+``, ``-`` and ``*``;
- regularisers (:mod:`.regularisers`): ``l2``, ``alpha_norm``,
  ``total_variation`` and ``BlurEvery``.

Jobs built on them: ``channels``, ``neurons``, ``classes``, ``directions``
(one image per unit, a whole layer in one batch), ``deepdream`` (octaves,
tiles, zoom frames, class from noise) and ``invert`` (Mahendran & Vedaldi).

Example::

    import convlens
    from convlens import synthesize

    run = convlens.open_run("runs/lenet")
    res = synthesize.channels(run, "conv2", steps=256)
    res.ratio            # (50,) activation reached / highest on real images
"""

from .deepdream import deepdream, dream_class, tiled_gradient, zoom_frames
from .invert import invert, invert_layers
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
from .transforms import compose, jitter, pad, rotate, scale, standard_transforms

__all__ = [
    "IMAGE",
    "OUTPUT",
    "BlurEvery",
    "ColourBasis",
    "DreamResult",
    "FourierParam",
    "ImageParam",
    "InversionResult",
    "Objective",
    "PixelParam",
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
    "maximise",
    "neuron",
    "neurons",
    "pad",
    "pixel",
    "rotate",
    "scale",
    "standard_transforms",
    "tiled_gradient",
    "total_variation",
    "zoom_frames",
]
