"""Image parameterisations: what the optimiser changes, and how it becomes an image.

A parameterisation holds a batch of K latent images and turns them into model
input (K, C, H, W) that always lies within the data's value range:

    latent --(spatial basis: pixel or Fourier)--> (K, C, H, W)
           --(colour basis, fitted on the data)--> decorrelated channels
           --(sigmoid around the data's mean pixel)--> pixels in [0, 1]
           --(the data's normalisation)--> model input

The colour basis is the square root of the channel covariance of the user's
dataset (1, 3 or any number of channels), so a step in latent space moves the
channels the way the data's channels move together.

Example::

    basis = ColourBasis.fit(dataset.images)                 # (N, C, H, W) uint8
    param = fourier((50, 1, 28, 28), normalization=norm, colour=basis)
    x = param()                                             # (50, 1, 28, 28)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.normalize import Normalization

__all__ = ["ColourBasis", "FourierParam", "ImageParam", "PixelParam", "fourier", "pixel"]

#: a fresh start of an image that got no gradient draws this many times the first noise,
#: so that a start too flat to open any ReLU is not drawn again
REDRAW = 10.0


@dataclass(frozen=True)
class ColourBasis:
    """A (C, C) matrix taking decorrelated channels to pixel channels, and the mean pixel.

    ``matrix`` is ``U sqrt(S)`` of the channel covariance ``U S U^T``, scaled so
    its largest column has unit norm. ``mean`` (C,) is the data's mean pixel in [0, 1].
    """

    matrix: torch.Tensor
    mean: torch.Tensor

    @classmethod
    def identity(cls, channels: int, mean: Sequence[float] | None = None) -> ColourBasis:
        """No decorrelation: the identity on ``channels`` channels."""
        m = torch.tensor(list(mean) if mean is not None else [0.5] * channels)
        return cls(torch.eye(channels), m.float())

    @classmethod
    def fit(cls, images: np.ndarray, max_pixels: int = 200_000, seed: int = 0) -> ColourBasis:
        """Estimate the basis from uint8 images (N, C, H, W) of the user's dataset.

        >>> import numpy as np
        >>> ColourBasis.fit(np.zeros((2, 3, 4, 4), np.uint8)).matrix.shape
        torch.Size([3, 3])
        """
        images = np.asarray(images)
        c = images.shape[1]
        pixels = np.moveaxis(images, 1, -1).reshape(-1, c)
        if len(pixels) > max_pixels:
            rows = np.random.default_rng(seed).choice(len(pixels), max_pixels, replace=False)
            pixels = pixels[rows]
        x = pixels.astype(np.float64) / 255.0
        mean = x.mean(axis=0)
        cov = np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.eye(c)
        values, vectors = np.linalg.eigh(cov)
        sqrt = vectors * np.sqrt(np.clip(values, 0.0, None))
        norm = float(np.linalg.norm(sqrt, axis=0).max())
        matrix = sqrt / norm if norm > 1e-12 else np.eye(c)
        return cls(torch.tensor(matrix, dtype=torch.float32), torch.tensor(mean).float())

    @property
    def channels(self) -> int:
        return int(self.matrix.shape[0])

    def apply(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent (K, C, H, W) -> pixel values in [0, 1] (K, C, H, W)."""
        m, offset = self.constants(latent)
        mixed = latent if m is None else torch.einsum("ij,kjhw->kihw", m, latent)
        return torch.sigmoid(mixed + offset)

    def constants(self, like: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The matrix (None for the identity) and the logit offset (1, C, 1, 1), like ``like``."""
        key = (like.device, like.dtype)
        cache = self.__dict__.setdefault("_constants", {})
        if key not in cache:
            m = self.matrix.to(like)
            identity = bool(torch.equal(self.matrix, torch.eye(self.channels)))
            mean = self.mean.to(like).clamp(0.02, 0.98)
            cache[key] = (None if identity else m, torch.logit(mean).view(1, -1, 1, 1))
        return cache[key]


class ImageParam:
    """Base of the parameterisations: K images (K, C, H, W) in model input space.

    Subclasses define ``_spatial()`` (the latent image before colour),
    ``blur_(sigma)`` (a Gaussian blur of the current image, in place) and
    ``redraw_(rows)`` (a fresh random start for the images ``rows``, in place).
    """

    def __init__(
        self,
        shape: tuple[int, int, int, int],
        normalization: Normalization | None = None,
        colour: ColourBasis | None = None,
        device: torch.device | str | None = None,
    ):
        k, c, h, w = shape
        self.shape = (int(k), int(c), int(h), int(w))
        self.device = torch.device(device or "cpu")
        self.normalization = normalization or Normalization((0.0,) * c, (1.0,) * c)
        self.colour = colour or ColourBasis.identity(c, self.normalization.mean)
        self.tensors: list[torch.Tensor] = []
        self._moments: tuple | None = None  # normalisation mean and std (1, C, 1, 1), cached

    def parameters(self) -> list[torch.Tensor]:
        """The tensors the optimiser changes."""
        return self.tensors

    def _spatial(self) -> torch.Tensor:
        raise NotImplementedError

    def blur_(self, sigma: float) -> None:
        raise NotImplementedError

    def redraw_(self, rows: torch.Tensor) -> None:
        raise NotImplementedError

    def pixels(self) -> torch.Tensor:
        """The images in pixel units of [0, 1], (K, C, H, W)."""
        return self.colour.apply(self._spatial())

    def __call__(self) -> torch.Tensor:
        """The images in model input space, (K, C, H, W), within the data's range."""
        p = self.pixels()
        key = (p.device, p.dtype)
        if self._moments is None or self._moments[0] != key:
            n = self.normalization
            mean = torch.tensor(n.mean, dtype=p.dtype, device=p.device).view(1, -1, 1, 1)
            std = torch.tensor(n.std, dtype=p.dtype, device=p.device).view(1, -1, 1, 1)
            self._moments = (key, mean, std)
        _, mean, std = self._moments
        return (p - mean) / std


class PixelParam(ImageParam):
    """One free value per pixel and channel (the latent is the image itself)."""

    def __init__(self, shape, normalization=None, colour=None, sd: float = 0.01, device=None):
        super().__init__(shape, normalization, colour, device)
        # drawn on the CPU generator, so a seed gives the same start on every device
        self.sd = float(sd)
        noise = torch.randn(self.shape) * sd
        self.latent = noise.to(self.device).requires_grad_(True)
        self.tensors = [self.latent]

    @torch.no_grad()
    def redraw_(self, rows: torch.Tensor) -> None:
        """A fresh random start for the images ``rows`` (K,) bool, with REDRAW x the noise."""
        fresh = torch.randn((int(rows.sum()), *self.shape[1:])) * self.sd * REDRAW
        self.latent[rows.to(self.device)] = fresh.to(self.latent)

    def _spatial(self) -> torch.Tensor:
        return self.latent

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """Gaussian blur of the latent image, in place (reflecting at the borders)."""
        self.latent.copy_(gaussian_blur(self.latent, sigma))


class FourierParam(ImageParam):
    """A spectrum per image, scaled by 1 / frequency^decay so low frequencies lead.

    A step of the optimiser then changes coarse structure first, which gives
    smoother, more natural pictures than a pixel basis (Olah et al. 2017).
    """

    def __init__(
        self, shape, normalization=None, colour=None, sd: float = 0.01, decay=1.0, device=None
    ):
        super().__init__(shape, normalization, colour, device)
        k, c, h, w = self.shape
        self.freqs = frequencies(h, w).to(self.device)
        self.scale = 1.0 / torch.clamp(self.freqs, min=1.0 / max(h, w)) ** decay
        # drawn on the CPU generator, so a seed gives the same start on every device
        self.sd = float(sd)
        noise = torch.randn(k, c, h, w // 2 + 1, 2) * sd
        self.spectrum = noise.to(self.device).requires_grad_(True)
        self.tensors = [self.spectrum]
        self._scale = self.scale.to(self.spectrum.dtype)  # cast once, not every step

    def _spatial(self) -> torch.Tensor:
        _, _, h, w = self.shape
        spec = torch.view_as_complex(self.spectrum) * self._scale
        return torch.fft.irfft2(spec, s=(h, w), norm="ortho")

    @torch.no_grad()
    def redraw_(self, rows: torch.Tensor) -> None:
        """A fresh random start for the images ``rows`` (K,) bool, with REDRAW x the noise."""
        fresh = torch.randn((int(rows.sum()), *self.spectrum.shape[1:])) * self.sd * REDRAW
        self.spectrum[rows.to(self.device)] = fresh.to(self.spectrum)

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """Gaussian blur as a low-pass on the spectrum, in place."""
        gain = torch.exp(-2.0 * math.pi**2 * sigma**2 * self.freqs**2)
        self.spectrum.mul_(gain[..., None].to(self.spectrum.dtype))


def frequencies(h: int, w: int) -> torch.Tensor:
    """Radial frequency (cycles per pixel) of each rfft2 coefficient, (H, W // 2 + 1)."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (K, C, H, W) with reflecting borders."""
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    mode = "reflect" if min(x.shape[-2:]) > radius else "replicate"
    y = F.pad(x, (radius, radius, 0, 0), mode=mode)
    y = F.conv2d(y, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.pad(y, (0, 0, radius, radius), mode=mode)
    return F.conv2d(y, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def pixel(shape, normalization=None, colour=None, sd: float = 0.01, device=None) -> PixelParam:
    """A pixel parameterisation of K images; ``shape`` is (K, C, H, W), on ``device``.

    >>> pixel((2, 1, 8, 8))().shape
    torch.Size([2, 1, 8, 8])
    """
    return PixelParam(shape, normalization, colour, sd=sd, device=device)


def fourier(
    shape, normalization=None, colour=None, sd: float = 0.01, decay: float = 1.0, device=None
):
    """A Fourier parameterisation with 1/f^decay scaling; ``shape`` (K, C, H, W), on ``device``.

    >>> fourier((2, 3, 16, 16))().shape
    torch.Size([2, 3, 16, 16])
    """
    return FourierParam(shape, normalization, colour, sd=sd, decay=decay, device=device)
