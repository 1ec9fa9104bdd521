"""MaCo (Fel et al. 2023): optimise only the phase of each image's Fourier spectrum.

"Unlocking feature visualization for deeper networks with magnitude constrained
optimization" (arXiv 2306.06805). The Fourier parameterisation lets the
optimiser put energy at any frequency, which on deep networks ends in
high-frequency patterns. MaCo fixes the magnitude of the spectrum to that of
natural images and optimises the phase alone, so every image the optimiser can
reach has the spectrum of the data:

    latent = irfft2(r * exp(i * phi))          r fixed (C, H, W//2 + 1), phi optimised
    image  = sigmoid(colour_basis @ latent + logit(mean pixel))   (as every parameterisation)

``r`` (a :class:`Spectrum`) is estimated from the user's images: each image is
mapped into the latent space the parameterisation decodes from (the inverse of
the sigmoid and of the colour basis), and ``r`` is the square root of the mean
power of its 2-D spectrum, per channel (the data's power spectrum). A random
phase then gives images with the data's spectrum and average energy. Without
data ``r`` is the natural-image 1/f spectrum, scaled to unit variance per pixel.

The paper's transparency map shows which parts of the image mattered: the
gradient of the objective with respect to the image, in absolute value, summed
over channels and accumulated over the optimisation (the engine does this for
every parameterisation; :attr:`SynthesisResult.transparency`).

Example::

    spectrum = Spectrum.from_images(ds.images, (32, 32), ColourBasis.fit(ds.images))
    param = MacoParam((8, 3, 32, 32), norm, basis, spectrum)
    x = param()                           # (8, 3, 32, 32) model input
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError, SpecError
from .param import ColourBasis, ImageParam, frequencies

__all__ = ["MacoParam", "Spectrum", "maco"]

#: pixel values are clipped to [EPS, 1 - EPS] before the logit: half a grey level of 8 bits
EPS = 0.5 / 255


@dataclass(frozen=True, eq=False)
class Spectrum:
    """A fixed magnitude spectrum (C, H, W // 2 + 1) for images of (H, W), in latent units.

    ``source`` says where it came from (a dataset name, ``"natural"``, or
    ``"<array>"``); a spec records it.
    """

    magnitude: torch.Tensor
    source: str = "<array>"

    @property
    def channels(self) -> int:
        return int(self.magnitude.shape[0])

    @classmethod
    def natural(cls, channels: int, size: tuple[int, int], decay: float = 1.0) -> Spectrum:
        """The 1/f^decay spectrum of natural images, scaled to unit variance per pixel.

        The zero frequency is 0: the mean pixel comes from the colour basis.

        >>> Spectrum.natural(3, (16, 16)).magnitude.shape
        torch.Size([3, 16, 9])
        """
        h, w = size
        f = frequencies(h, w).double()
        r = 1.0 / torch.clamp(f, min=1.0 / max(h, w)) ** decay
        r[0, 0] = 0.0
        # variance of a pixel under a random phase: sum over the full spectrum / (H W)
        power = (_weights(h, w) * r * r).sum() / (h * w)
        r = r / power.sqrt().clamp_min(1e-12)
        return cls(r.float().expand(channels, h, w // 2 + 1).clone(), "natural")

    @classmethod
    def from_images(
        cls,
        images: np.ndarray,
        size: tuple[int, int],
        colour: ColourBasis,
        source: str = "<array>",
    ) -> Spectrum:
        """sqrt(mean power) of the spectra of uint8 ``images`` (N, C, H0, W0), in latent units.

        The latent space is ``colour``'s (the inverse of its sigmoid and matrix).
        Images are resized to ``size`` (H, W) first. The channel count must be
        that of ``colour`` (the model's images): a one-line
        :class:`~convlens.errors.DataError` otherwise.

        >>> imgs = np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
        >>> Spectrum.from_images(imgs, (8, 8), ColourBasis.identity(3)).magnitude.shape
        torch.Size([3, 8, 5])
        """
        images = np.asarray(images)
        if images.ndim != 4 or images.dtype != np.uint8 or not len(images):
            raise DataError(
                f"spectrum data {source!r} has shape {images.shape} and dtype {images.dtype}: "
                "expected uint8 images (N, C, H, W), at least one"
            )
        if images.shape[1] != colour.channels:
            raise DataError(
                f"spectrum data {source!r} has {images.shape[1]} channel(s), the model's images "
                f"have {colour.channels}: give data with {colour.channels} channel(s) for the "
                "MaCo spectrum, or spectrum='natural'"
            )
        h, w = size
        total = torch.zeros(colour.channels, h, w // 2 + 1, dtype=torch.float64)
        for start in range(0, len(images), 256):
            x = torch.from_numpy(images[start : start + 256]).double() / 255.0
            if tuple(x.shape[-2:]) != (h, w):
                x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True)
            z = latent_of(x.clamp(0, 1), colour)
            total += torch.fft.rfft2(z, norm="ortho").abs().pow(2).sum(0)
        return cls((total / len(images)).sqrt().float(), source)

    def check(self, channels: int, size: tuple[int, int]) -> None:
        """A one-line error when this spectrum does not fit (C, H, W) images."""
        h, w = size
        want = (channels, h, w // 2 + 1)
        if tuple(self.magnitude.shape) != want:
            what = "channel(s)" if self.magnitude.shape[0] != channels else "size"
            raise SpecError(
                f"the MaCo spectrum {self.source!r} has shape {tuple(self.magnitude.shape)} but "
                f"images of {channels} x {h} x {w} need {want} (its {what} differ); estimate it "
                "for this size and these channels"
            )


def _weights(h: int, w: int) -> torch.Tensor:
    """What each rfft2 coefficient of random phase adds to the image's energy, (H, W // 2 + 1).

    Interior columns stand for two coefficients of the full spectrum (2); in the
    columns that are their own mirror (0, and W/2 when W is even) the inverse
    transform keeps only the real part, half the power of a random phase (0.5).
    """
    wt = torch.full((h, w // 2 + 1), 2.0, dtype=torch.float64)
    wt[:, 0] = 0.5
    if w % 2 == 0:
        wt[:, -1] = 0.5
    return wt


def latent_of(pixels: torch.Tensor, colour: ColourBasis) -> torch.Tensor:
    """Pixels in [0, 1] (N, C, H, W) -> the latent image that ``colour`` decodes into them."""
    m, offset = colour.constants(pixels)
    mixed = torch.logit(pixels.clamp(EPS, 1 - EPS)) - offset
    if m is None:
        return mixed
    inverse = torch.linalg.pinv(m)
    return torch.einsum("ij,kjhw->kihw", inverse, mixed)


class MacoParam(ImageParam):
    """K images whose spectra have a fixed magnitude; only the phase (K, C, H, W//2+1) moves.

    The phase starts uniform in [-pi, pi) (drawn on the CPU generator, so a seed
    gives the same start on every device).
    """

    def __init__(self, shape, normalization=None, colour=None, spectrum=None, device=None):
        super().__init__(shape, normalization, colour, device)
        k, c, h, w = self.shape
        spectrum = spectrum if spectrum is not None else Spectrum.natural(c, (h, w))
        spectrum.check(c, (h, w))
        self.spectrum = spectrum
        self.magnitude = spectrum.magnitude.to(self.device)
        phase = (torch.rand(k, c, h, w // 2 + 1) * 2 - 1) * math.pi
        self.phase = phase.to(self.device).requires_grad_(True)
        self.tensors = [self.phase]

    def _spatial(self) -> torch.Tensor:
        _, _, h, w = self.shape
        mag = self.magnitude.to(self.phase.dtype).expand_as(self.phase)
        return torch.fft.irfft2(torch.polar(mag, self.phase), s=(h, w), norm="ortho")

    @torch.no_grad()
    def redraw_(self, rows: torch.Tensor) -> None:
        """A fresh random phase for the images ``rows`` (K,) bool."""
        fresh = (torch.rand((int(rows.sum()), *self.phase.shape[1:])) * 2 - 1) * math.pi
        self.phase[rows.to(self.device)] = fresh.to(self.phase)

    def blur_(self, sigma: float) -> None:
        raise SpecError(
            "MaCo keeps the magnitude of the spectrum fixed, so its images cannot be blurred; "
            "pass penalty.blur_every=0"
        )


def maco(shape, normalization=None, colour=None, spectrum=None, device=None) -> MacoParam:
    """A MaCo parameterisation of K images; ``shape`` is (K, C, H, W), on ``device``.

    >>> maco((2, 3, 16, 16))().shape
    torch.Size([2, 3, 16, 16])
    """
    return MacoParam(shape, normalization, colour, spectrum, device=device)
