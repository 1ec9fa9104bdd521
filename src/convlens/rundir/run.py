"""A run directory and its Python handle, :class:`Run`.

Layout::

    RUN/run.json                  the manifest (model, data, classes, normalisation)
    RUN/checkpoints/*.safetensors weight snapshots, by step
    RUN/log.sqlite                training log (scalars, histograms), WAL mode
    RUN/probe/...                 dataset probes (Zarr), written by convlens.probe

Every file is written atomically, so a killed job leaves a directory that opens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .._atomic import writing
from ..data.dataset import ImageDataset
from ..data.images import Crop
from ..data.load import check_fits, detect_format, load_dataset
from ..data.normalize import Normalization
from ..errors import InputShapeError, PathNotFoundError, RunError
from ..model.factory import build_from
from ..model.output import select_output
from ..model.spec import ModelSource, ModelSpec, check_options, locate, module_root, parse_spec
from . import trust
from .checkpoints import Checkpoint, list_checkpoints, load_weights, save_checkpoint
from .manifest import Manifest

if TYPE_CHECKING:
    from .probe_result import ProbeResult

LOG = "log.sqlite"
EXTERNAL = "external"
"""The data spec of a run whose data is not a convlens dataset (a user's own loader)."""


NORMALIZATION_KINDS = ("given", "fit", "imagenet", "none")
"""How a run's normalisation was chosen: given numbers, fitted on the data, ImageNet's
statistics, or none (pixels / 255 go to the model as they are)."""


@dataclass(frozen=True)
class ModelEntry:
    """The model part of a new run: ``spec`` (zoo name, ``module:factory`` or
    ``file.py:factory``), ``input_shape`` (C, H, W), factory ``options`` (JSON values),
    ``task`` ("classify" or "embed") and ``output`` (the field of a model whose
    output is not one tensor, e.g. "logits"; None for a tensor)."""

    spec: str
    input_shape: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    task: str = "classify"
    output: str | None = None


@dataclass(frozen=True)
class DataEntry:
    """The data part of a new run: ``spec`` (a dataset spec, or :data:`EXTERNAL` for a
    user's own loader), class names, the normalisation and how it was chosen
    (:data:`NORMALIZATION_KINDS`), the validation rows, and the ``crop`` that brings
    images of an image folder to the input size (None: stretched)."""

    spec: str
    classes: Sequence[str]
    normalization: Normalization
    normalization_kind: str = "given"
    val: tuple[int, int] | None = None
    crop: Crop | None = None


class Run:
    """A run directory: its manifest, checkpoints, model, data and log.

    >>> # run = convlens.open_run("demo-runs/lenet"); model = run.model()
    """

    def __init__(self, path: str | Path, *, trust_code: bool = False):
        self.path = Path(path)
        self.manifest = Manifest.read(self.path)
        # decided when the run is opened, so that threads that later build its
        # model (the explorer's) keep the caller's choice
        self.trust_code = bool(trust_code) or trust.granted()

    # ----------------------------------------------------------------- creating
    @classmethod
    def create(
        cls,
        path: str | Path,
        model: ModelEntry,
        data: DataEntry,
        training: Mapping[str, Any] | None = None,
    ) -> Run:
        """Write a new run's manifest in ``path`` (created if needed) and open it.

        The model's code is located (not run) and recorded with its file and hash;
        it goes into the user's trust file, so the run opens on this machine without
        ``trust_code`` (see :mod:`convlens.rundir.trust`).

        >>> # Run.create("runs/mine", ModelEntry("lenet", (1, 28, 28)),
        >>> #            DataEntry("digits", classes, Normalization((0.1,), (0.3,))))
        """
        path = Path(path)
        spec = parse_spec(model.spec)
        options = check_options(model.spec, dict(model.options))
        source = locate(spec)
        if data.spec == EXTERNAL:
            fmt = data_spec = EXTERNAL
        else:
            fmt = detect_format(data.spec)
            data_spec = data.spec if fmt == "digits" else str(Path(data.spec).resolve())
        model_json: dict[str, Any] = {
            "spec": spec.canonical(),
            "options": options,
            "input_shape": list(model.input_shape),
            "task": model.task,
            "output": model.output,
        }
        if source is not None:
            model_json["source"] = {**source.to_json(), "root": module_root(spec, source.file)}
        data_json: dict[str, Any] = {
            "spec": data_spec,
            "format": fmt,
            "val": list(data.val) if data.val else None,
        }
        if data.crop is not None:
            data_json["crop"] = data.crop.to_json()
        with writing(path):
            path.mkdir(parents=True, exist_ok=True)
        Manifest(
            model=model_json,
            data=data_json,
            classes=list(data.classes),
            normalization={**data.normalization.to_json(), "kind": data.normalization_kind},
            training=dict(training or {}),
        ).write(path)
        trust.record(parse_spec(model_json["spec"]), source, how="made here")
        return cls(path)

    # ----------------------------------------------------------------- reading
    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def classes(self) -> list[str]:
        return list(self.manifest.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest.model["input_shape"])

    @property
    def task(self) -> str:
        return self.manifest.model.get("task", "classify")

    @property
    def normalization(self) -> Normalization:
        return Normalization.from_json(self.manifest.normalization)

    @property
    def normalization_kind(self) -> str:
        """How the normalisation was chosen (:data:`NORMALIZATION_KINDS`); runs made
        before this was recorded say "given"."""
        return str(self.manifest.normalization.get("kind", "given"))

    @property
    def output(self) -> str | None:
        """The output field the model's tensor is taken from (None: the output itself)."""
        return self.manifest.model.get("output") or None

    @property
    def crop(self) -> Crop | None:
        """How images of an image folder are brought to the input size (None: stretched)."""
        crop = self.manifest.data.get("crop")
        return Crop(crop.get("resize")) if isinstance(crop, dict) else None

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    @property
    def checkpoints(self) -> list[Checkpoint]:
        """Complete weight snapshots, ordered by step."""
        return list_checkpoints(self.path)

    def checkpoint(self, which: str | int | None = None) -> Checkpoint:
        """A snapshot by name (``"step-00000120"``), step, ``"first"``, or ``"last"``/None."""
        cps = self.checkpoints
        if not cps:
            raise RunError(
                f"run {str(self.path)!r} has no checkpoints yet; train it with "
                "`convlens train` or save one with Recorder.snapshot"
            )
        if which is None or which == "last":
            return cps[-1]
        if which == "first":
            return cps[0]
        for c in cps:
            if which in (c.name, c.step, str(c.step)):
                return c
        names = ", ".join(c.name for c in cps[-8:])
        raise RunError(
            f"checkpoint {which!r} is not in run {str(self.path)!r}: expected a name or step "
            f"of one of its {len(cps)} checkpoints (last ones: {names}), 'first' or 'last'"
        )

    def build_model(self) -> nn.Module:
        """The model with fresh weights, built from the manifest.

        Code named by the manifest runs only if the user trusts it (see
        :mod:`convlens.rundir.trust`): otherwise an
        :class:`~convlens.errors.UntrustedCodeError` names what would have run.
        """
        spec, options, source = self.check_code()
        return select_output(build_from(spec, options, source), self.output)

    def check_code(self) -> tuple[ModelSpec, dict[str, Any], ModelSource | None]:
        """The model spec, options and source of this run, once trusted; imports nothing.

        An :class:`~convlens.errors.UntrustedCodeError` names what would run when the
        code is not trusted (see :meth:`build_model`).
        """
        m = self.manifest.model
        spec = parse_spec(m["spec"])
        options = check_options(spec.text, m.get("options"))
        recorded = ModelSource.from_json(m.get("source"))
        source = trust.check(spec, options, recorded, self.path, self.trust_code)
        return spec, options, source

    def model(self, checkpoint: str | int | None = None) -> nn.Module:
        """The model with a snapshot's weights (last by default), in eval mode."""
        model = self.build_model()
        load_weights(model, self.checkpoint(checkpoint).path)
        return model.eval()

    def save_checkpoint(self, model: nn.Module, step: int, **metadata: object) -> Checkpoint:
        """Snapshot ``model`` at ``step`` (atomic)."""
        return save_checkpoint(self.path, model, step, **metadata)

    def dataset(self, split: str | None = None, data: str | None = None) -> ImageDataset:
        """The run's dataset with the run's normalisation.

        ``split`` is None (all rows), ``"train"`` or ``"val"``. ``data`` overrides
        the manifest's data spec (for a run copied from another machine).
        """
        spec = data or self.manifest.data["spec"]
        if data is None and spec == EXTERNAL:
            raise RunError(
                f"run {str(self.path)!r} was recorded from the user's own data loader, so "
                "convlens cannot reload its data; pass a dataset spec (--data PATH or digits, "
                "or run.dataset(data=PATH))"
            )
        if data is None and spec != "digits" and not Path(spec).exists():
            raise PathNotFoundError(
                f"the data of run {str(self.path)!r} is not at {spec!r} on this machine; "
                "pass its new location (--data PATH, or run.dataset(data=PATH))"
            )
        c, h, w = self.input_shape
        ds = load_dataset(spec, size=(h, w), channels=c, crop=self.crop)
        ds = check_fits(ds, self.input_shape).with_normalization(self.normalization)
        val = self.manifest.data.get("val")
        if split is None or data is not None:
            return ds
        if split not in ("train", "val"):
            raise RunError(f"split {split!r} is unknown: expected 'train', 'val' or None")
        if not val:
            return ds if split == "train" else ds.subset(slice(0, 0))
        start, stop = val
        rows = np.arange(len(ds))
        keep = (rows >= start) & (rows < stop)
        return ds.subset(rows[keep] if split == "val" else rows[~keep])

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W) or (N, C, H, W) -> model input (N, C, H, W), normalised."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
            raise InputShapeError(
                f"images of shape {images.shape} do not fit run {self.name!r}: expected uint8 "
                f"(N, H, W) or (N, C, H, W) with (C, H, W) = {self.input_shape}; resize them"
            )
        if images.dtype != np.uint8:
            raise InputShapeError(f"images have dtype {images.dtype}, expected uint8 pixels 0..255")
        return self.normalization.apply(images)

    def layers(self, checkpoint: str | int | None = None) -> list[Any]:
        """The layer table of the model at the run's input shape."""
        from ..model.layers import layer_table

        model = self.model(checkpoint) if self.checkpoints else self.build_model().eval()
        return layer_table(model, self.input_shape)

    def probe(self, checkpoint: str | int | None = None) -> ProbeResult:
        """The dataset probe of a checkpoint (written by :mod:`convlens.probe`)."""
        from .probe_result import open_probe

        return open_probe(self, checkpoint)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, model={self.manifest.model['spec']!r})"


def open_run(path: str | Path, *, trust_code: bool = False) -> Run:
    """Open the run directory ``path``.

    ``trust_code=True`` lets the run's model code run even when it is not in the
    user's trust file (runs made on this machine are; see ``docs/security.md``).

    >>> # run = open_run("demo-runs/lenet"); run.checkpoints[-1].step
    """
    return Run(path, trust_code=trust_code)
