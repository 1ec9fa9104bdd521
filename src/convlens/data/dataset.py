"""An in-memory image dataset: uint8 pixels, labels, class names, normalisation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError
from .lazy import LazyImages, stream
from .normalize import Normalization

FIT_SAMPLE = 2_000
"""Images a normalisation is fitted on when a dataset is decoded on demand."""


def _sample(images: np.ndarray | LazyImages, rows: np.ndarray | None = None) -> np.ndarray:
    """The images of ``rows`` (all by default) held in memory, or a seeded sample of
    :data:`FIT_SAMPLE` of them when they are decoded on demand."""
    rows = np.arange(len(images)) if rows is None else np.asarray(rows)
    if isinstance(images, LazyImages) and len(rows) > FIT_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(rows, FIT_SAMPLE, replace=False))
    elif not isinstance(images, LazyImages) and len(rows) == len(images):
        return np.asarray(images)
    return images[rows]


@dataclass
class Sample:
    """One sample: ``input`` (C, H, W) float model input, its ``label``, its
    ``index`` in the source dataset, and ``image`` (H, W, C) uint8 for display."""

    input: torch.Tensor
    label: int
    index: int
    image: np.ndarray


@dataclass
class Batch:
    """``inputs`` (B, C, H, W) float, ``labels`` (B,) int64, ``indices`` (B,) int64."""

    inputs: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor


class ImageDataset(torch.utils.data.Dataset):
    """Images held as uint8 (N, C, H, W), with labels (N,) and class names.

    ``indices`` maps each row back to its index in the source dataset (a subset
    keeps the source's numbering). ``normalization`` turns pixels into model
    input; when not given it is fitted on these images.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        classes: Sequence[str] | None = None,
        *,
        source: str = "",
        normalization: Normalization | None = None,
        indices: np.ndarray | None = None,
    ):
        lazy = isinstance(images, LazyImages)
        if not lazy:
            images = np.asarray(images)
            if images.ndim == 3:
                images = images[:, None]
        if images.ndim != 4 or images.dtype != np.uint8:
            raise DataError(
                f"dataset {source or '<arrays>'}: images have shape {images.shape} and dtype "
                f"{images.dtype}, expected uint8 (N, H, W) or (N, C, H, W)"
            )
        if len(images) == 0:
            raise DataError(
                f"dataset {source or '<arrays>'} is empty: expected at least one image; "
                "check the path or the filter that selected it"
            )
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if len(labels) != len(images):
            raise DataError(
                f"dataset {source or '<arrays>'}: {len(images)} images but {len(labels)} labels; "
                "give one label per image"
            )
        _check_labels(labels, classes, source)
        self.images: np.ndarray | LazyImages = images if lazy else np.ascontiguousarray(images)
        if not lazy and not self.images.flags.writeable:
            self.images = self.images.copy()
        self.labels = labels
        n_classes = int(labels.max()) + 1 if len(labels) else 0
        self.classes = list(classes) if classes is not None else [str(i) for i in range(n_classes)]
        self.source = source
        self.indices = np.arange(len(images)) if indices is None else np.asarray(indices)
        self.normalization = normalization or Normalization.fit(_sample(self.images))

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __getitem__(self, i: int) -> Sample:
        img = self.images[i]
        return Sample(
            input=self.normalization.apply(img[None])[0],
            label=int(self.labels[i]),
            index=int(self.indices[i]),
            image=np.transpose(img, (1, 2, 0)),
        )

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W) or (N, C, H, W) -> float model input (N, C, H, W)."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[:, None]
        return self.normalization.apply(images)

    def subset(self, rows: Sequence[int] | np.ndarray | slice) -> ImageDataset:
        """The rows ``rows`` (positions in this dataset) as a new dataset."""
        rows = np.arange(len(self))[rows] if isinstance(rows, slice) else np.asarray(rows)
        images = self.images
        return ImageDataset(
            images.subset(rows) if isinstance(images, LazyImages) else images[rows],
            self.labels[rows],
            self.classes,
            source=self.source,
            normalization=self.normalization,
            indices=self.indices[rows],
        )

    def fit_normalization(self, rows: Sequence[int] | np.ndarray | None = None) -> Normalization:
        """Per-channel mean and std of the images of ``rows`` (all by default); a
        seeded sample of 2,000 of them when the images are decoded on demand."""
        return Normalization.fit(_sample(self.images, None if rows is None else np.asarray(rows)))

    def with_normalization(self, normalization: Normalization) -> ImageDataset:
        """The same images with another normalisation (for example a run's)."""
        return ImageDataset(
            self.images,
            self.labels,
            self.classes,
            source=self.source,
            normalization=normalization,
            indices=self.indices,
        )

    def image_batches(
        self, rows: Sequence[int] | np.ndarray, batch_size: int
    ) -> Iterator[np.ndarray]:
        """uint8 (B, C, H, W) pixels of ``rows``, ``batch_size`` at a time, in order.

        The one way a dataset pass reads pixels: a dataset too large for memory
        decodes its files here (ahead of the consumer) instead of holding them.

        >>> # for pixels in ds.image_batches(np.arange(len(ds)), 256): ...
        """
        rows = np.asarray(rows)
        if isinstance(self.images, LazyImages):
            yield from stream(self.images, rows, batch_size)
            return
        for start in range(0, len(rows), batch_size):
            yield self.images[rows[start : start + batch_size]]

    def batches(
        self, batch_size: int, rows: Sequence[int] | np.ndarray | None = None
    ) -> Iterator[Batch]:
        """Batches in order (or of ``rows``), as normalised float tensors."""
        order = np.arange(len(self)) if rows is None else np.asarray(rows)
        for start in range(0, len(order), batch_size):
            r = order[start : start + batch_size]
            yield Batch(
                inputs=self.normalization.apply(self.images[r]),
                labels=torch.from_numpy(self.labels[r]),
                indices=torch.from_numpy(self.indices[r].astype(np.int64)),
            )


def _check_labels(labels: np.ndarray, classes: Sequence[str] | None, source: str) -> None:
    """Refuse (:class:`DataError`) labels that are not class indices: below 0, or not below
    the number of class names when those are given."""
    if not len(labels):
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        raise DataError(
            f"dataset {source or '<arrays>'}: label {low} is negative, expected class indices "
            "0, 1, 2, ...; renumber the labels from 0"
        )
    if classes is not None and high >= len(classes):
        raise DataError(
            f"dataset {source or '<arrays>'}: label {high} is not below the {len(classes)} class "
            f"names given; give one name per class or renumber the labels"
        )
