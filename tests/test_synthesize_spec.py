"""The Synthesis spec: one small signature per job, checked fields, JSON round trips,
and the one-line refusals of a spec a job cannot honour."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from convlens import synthesize as S
from convlens.data import ImageDataset, Normalization
from convlens.errors import DataError, PathNotFoundError, SpecError
from convlens.synthesize import (
    DREAM,
    INVERSION,
    MAXIMISE,
    Dream,
    Penalty,
    Synthesis,
    load_spec,
    parse_transforms,
)

JOBS = [
    "channels",
    "neurons",
    "classes",
    "directions",
    "maximise",
    "invert",
    "invert_layers",
    "deepdream",
    "zoom_frames",
    "dream_class",
    "tiled_gradient",
]


def test_every_public_job_has_one_small_signature_with_a_spec():
    public = [getattr(S, name) for name in S.__all__]
    jobs = [f for f in public if inspect.isfunction(f) and f.__name__ in JOBS]
    assert sorted(f.__name__ for f in jobs) == sorted(JOBS)
    for job in jobs:
        params = inspect.signature(job).parameters.values()
        kinds = {p.kind for p in params}
        assert len(params) <= 8, f"{job.__name__} takes {len(params)} parameters"
        assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{job.__name__} takes **options"
        assert inspect.Parameter.VAR_POSITIONAL not in kinds, f"{job.__name__} takes *args"
        if job.__name__ != "tiled_gradient":
            assert "spec" in inspect.signature(job).parameters, job.__name__


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Synthesis(steps=-5),
            "steps=-5: expected a whole number >= 1; pass how many optimiser steps to take",
        ),
        (
            lambda: Synthesis(steps=0),
            "steps=0: expected a whole number >= 1; pass how many optimiser steps to take",
        ),
        (
            lambda: Synthesis(steps=2.5),
            "steps=2.5: expected a whole number >= 1; pass how many optimiser steps to take",
        ),
        (
            lambda: Synthesis(param="maco2"),
            "param='maco2' is unknown: expected one of 'fourier', 'pixel', 'maco'",
        ),
        (
            lambda: Synthesis(optimiser="rmsprop"),
            "optimiser='rmsprop' is unknown: expected one of 'adam', 'sgd', 'normalized'",
        ),
        (
            lambda: Synthesis(lr=float("nan")),
            "lr=nan: expected a finite number > 0; pass a positive learning rate",
        ),
        (
            lambda: Synthesis(lr=-1),
            "lr=-1: expected a finite number > 0; pass a positive learning rate",
        ),
        (
            lambda: Synthesis(lr=0),
            "lr=0: expected a finite number > 0; pass a positive learning rate",
        ),
        (
            lambda: Synthesis(seed=-1),
            "seed=-1: expected a whole number >= 0; pass None for no seed",
        ),
        (
            lambda: Synthesis(size=0),
            "size=0: expected a whole number >= 1; pass a positive side or (H, W)",
        ),
        (
            lambda: Synthesis(size=(28, 0)),
            "size=0: expected a whole number >= 1; pass a positive side or (H, W)",
        ),
        (lambda: Synthesis(size="28"), "size='28': expected a positive side or (H, W), or None"),
        (
            lambda: Synthesis(samples=0),
            "samples=0: expected a whole number >= 1; pass how many images to draw for each target",
        ),
        (
            lambda: Synthesis(batch=0),
            "batch=0: expected a whole number >= 1; pass None to fit the batch to memory",
        ),
        (lambda: Synthesis(decorrelate="yes"), "decorrelate='yes': expected True, False or None"),
        (
            lambda: Penalty(tv=-1),
            "penalty.tv=-1: expected a finite number >= 0; pass a weight of 0 to switch a term off",
        ),
        (
            lambda: Penalty(l2=math.inf),
            "penalty.l2=inf: expected a finite number >= 0; pass a weight of 0 to switch a "
            "term off",
        ),
        (
            lambda: Penalty(tv_beta=0),
            "penalty.tv_beta=0: expected a finite number > 0; pass a positive power",
        ),
        (
            lambda: Penalty(blur_every=-1),
            "penalty.blur_every=-1: expected a whole number >= 0; pass 0 for no blur",
        ),
        (
            lambda: Penalty(blur_sigma=0),
            "penalty.blur_sigma=0: expected a finite number > 0; pass a width in pixels",
        ),
        (
            lambda: Synthesis(penalty=Penalty(diversity=1.0)),
            "penalty.diversity=1 with samples=1: diversity pushes apart several images of one "
            "unit; pass samples >= 2 or diversity 0",
        ),
        (
            lambda: Synthesis(param="maco", penalty=Penalty(blur_every=4)),
            "penalty.blur_every=4 with param='maco': MaCo keeps the magnitude of the spectrum "
            "fixed, so it cannot be blurred; pass blur_every=0",
        ),
        (
            lambda: Synthesis(spectrum="natural"),
            "spectrum='natural' with param='fourier': a magnitude spectrum is used by "
            "param='maco' only; pass param='maco' or no spectrum",
        ),
        (
            lambda: Synthesis(penalty={"tv": 1}),
            "penalty={'tv': 1}: expected a Penalty (for example Penalty(tv=0.1))",
        ),
        (
            lambda: Dream(octaves=0),
            "octaves=0: expected a whole number >= 1; pass how many image scales to dream at",
        ),
        (
            lambda: Dream(octave_scale=0.5),
            "octave_scale=0.5: expected a finite number >= 1; pass a ratio of 1 or more",
        ),
        (
            lambda: Dream(tile=0),
            "tile=0: expected a whole number >= 1; pass a tile side in pixels, or None for the "
            "whole image",
        ),
    ],
)
def test_a_bad_field_is_one_line(make, message):
    with pytest.raises(SpecError) as err:
        make()
    assert str(err.value) == message


def test_transform_chains_parse_back_and_bad_ones_are_one_line():
    for text in [
        "pad(2) -> jitter(4) -> scale(0.9..1.1) -> rotate(10)",
        "affine(shift=2, scale=0.9..1.1, rotate=10)",
        "roll(32)",
    ]:
        assert repr(parse_transforms(text)) == text
    t = parse_transforms("jitter(4) -> rotate(5)")
    assert t(torch.zeros(3, 1, 12, 12)).shape == (3, 1, 8, 8)
    with pytest.raises(SpecError) as err:
        Synthesis(transforms="wobble(3)")
    assert str(err.value).startswith("transforms 'wobble(3)': unknown transform 'wobble'; expected")
    with pytest.raises(SpecError) as err:
        Synthesis(transforms="jitter(-1)")
    assert str(err.value).startswith("transforms 'jitter(-1)': 'jitter(-1)' needs a width of 0")
    with pytest.raises(SpecError) as err:
        Synthesis(transforms=42)
    assert str(err.value).startswith("transforms=42: expected 'standard', None, a chain")


def test_specs_round_trip_through_json_and_sidecars(tmp_path):
    spec = Synthesis(
        param="maco",
        decorrelate=False,
        spectrum="../shared/data/some-photos",
        transforms="pad(2) -> jitter(4) -> scale(0.9..1.1) -> rotate(10)",
        penalty=Penalty(l2=0.1, tv=0.2, tv_beta=1.5, alpha=1e-5, alpha_power=4),
        optimiser="sgd",
        lr=0.3,
        steps=17,
        seed=None,
        size=(20, 24),
        samples=2,
        batch=8,
    )
    back = Synthesis.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and back.to_dict() == spec.to_dict()
    for known in (MAXIMISE, INVERSION, DREAM, S.DREAM_CLASS, MAXIMISE.replace(size=28)):
        assert Synthesis.from_dict(json.loads(json.dumps(known.to_dict()))) == known
    assert Dream.from_dict(Dream(octaves=2, tile=None).to_dict()) == Dream(2, 1.4, None)
    sidecar = tmp_path / "visualize_conv2.json"
    sidecar.write_text(json.dumps({"command": "visualize", "spec": spec.to_dict()}))
    assert load_spec(sidecar) == spec
    assert load_spec(tmp_path / "visualize_conv2.png") == spec  # the figure names its sidecar


def test_unreadable_specs_are_one_line(tmp_path):
    with pytest.raises(SpecError) as err:
        Synthesis.from_dict({"steps": 3, "stepz": 4})
    assert str(err.value).startswith("unknown synthesis spec field 'stepz': expected only batch,")
    with pytest.raises(SpecError) as err:
        Synthesis.from_dict({"penalty": {"tvv": 1}})
    assert str(err.value).startswith("unknown penalty field 'tvv': expected only alpha,")
    array = MAXIMISE.replace(param="maco", spectrum=S.Spectrum.natural(1, (8, 8)))
    assert array.to_dict()["spectrum"] == "natural"
    own = MAXIMISE.replace(param="maco", spectrum=S.Spectrum(torch.ones(1, 8, 5)))
    with pytest.raises(SpecError) as err:
        Synthesis.from_dict(own.to_dict())
    assert str(err.value) == (
        "the recorded spectrum '<array>' was an array in memory, not a dataset: pass the "
        "Spectrum again (spec.replace(spectrum=...))"
    )
    with pytest.raises(PathNotFoundError) as err:
        load_spec(tmp_path / "none.json")
    assert str(err.value) == (
        f"sidecar {str(tmp_path / 'none.json')!r} does not exist; give the .json written "
        "beside a figure"
    )
    plain = tmp_path / "other.json"
    plain.write_text('{"command": "report"}')
    with pytest.raises(SpecError) as err:
        load_spec(plain)
    assert str(err.value).startswith(f"sidecar {str(plain)!r} records no synthesis spec")


def test_defaults_are_resolved_for_each_parameterisation():
    assert Synthesis().resolved().decorrelate is True and Synthesis().resolved().lr == 0.05
    maco = Synthesis(param="maco").resolved()
    assert maco.decorrelate is False and maco.lr == S.spec.MACO_LR
    assert Synthesis(optimiser="sgd").resolved().lr == 0.5
    assert Synthesis(param="maco", lr=0.7, decorrelate=True).resolved().lr == 0.7


class _Tiny(nn.Module):
    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def test_a_job_refuses_a_spec_it_cannot_honour():
    net = _Tiny().eval()
    norm = Normalization((0.5,) * 3, (0.25,) * 3)
    img = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(SpecError) as err:
        S.invert(net, img, "conv", MAXIMISE.replace(param="maco"), data=norm)
    assert str(err.value) == (
        "invert takes param='pixel', not 'maco'; start from synthesize.INVERSION, e.g. "
        "INVERSION.replace(steps=...)"
    )
    with pytest.raises(SpecError) as err:
        S.invert(net, img, "conv", INVERSION.replace(penalty=Penalty(l2=0.1)), data=norm)
    assert str(err.value) == (
        "invert takes no penalty.l2 (it takes: tv, alpha, blur_every); set it to 0, or start "
        "from synthesize.INVERSION, e.g. INVERSION.replace(steps=...)"
    )
    with pytest.raises(SpecError) as err:
        S.deepdream(net, img, ["conv"], DREAM.replace(samples=2), data=norm)
    assert str(err.value) == (
        "deepdream takes samples=1, not 2; start from synthesize.DREAM, e.g. "
        "DREAM.replace(steps=...)"
    )
    with pytest.raises(SpecError) as err:
        S.channels(net, "conv", [0], {"steps": 4}, data=norm)
    assert str(err.value) == (
        "maximise: spec={'steps': 4} is not a Synthesis; pass one, for example "
        "synthesize.MAXIMISE.replace(steps=100)"
    )
    with pytest.raises(DataError) as err:
        S.channels(net, "conv", [0], MAXIMISE.replace(size=8), data=np.zeros((2, 3, 8, 8)))
    assert str(err.value) == (
        "data=ndarray: expected an ImageDataset (images, labels, normalisation), a "
        "Normalization, or None"
    )


def test_a_maco_spectrum_from_data_of_the_wrong_channel_count_is_one_line(tmp_path):
    net = _Tiny().eval()
    grey = tmp_path / "grey.npz"
    np.savez(grey, x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4))
    spec = MAXIMISE.replace(param="maco", spectrum=str(grey), steps=2, size=8)
    norm = Normalization((0.5,) * 3, (0.25,) * 3)
    with pytest.raises(DataError) as err:
        S.channels(net, "conv", [0], spec, data=norm)
    assert str(err.value) == (
        f"spectrum data {str(grey)!r} has 1 channel(s), the model's images have 3: give data "
        "with 3 channel(s) for the MaCo spectrum, or spectrum='natural'"
    )
    # a ready spectrum of the wrong shape
    wrong = MAXIMISE.replace(param="maco", spectrum=S.Spectrum.natural(1, (8, 8)), size=8)
    with pytest.raises(SpecError) as err:
        S.channels(net, "conv", [0], wrong, data=norm)
    assert str(err.value) == (
        "the MaCo spectrum 'natural' has shape (1, 8, 5) but images of 3 x 8 x 8 need "
        "(3, 8, 5) (its channel(s) differ); estimate it for this size and these channels"
    )
    # data of the model's own kind is fine, and gives the result its transparency map
    rgb = ImageDataset(
        np.random.default_rng(0).integers(0, 256, (6, 3, 8, 8), dtype=np.uint8), np.zeros(6)
    )
    res = S.channels(net, "conv", [0, 1], MAXIMISE.replace(param="maco", steps=2), data=rgb)
    assert res.transparency.shape == (2, 8, 8) and res.spec.decorrelate is False


def test_zoom_frames_checks_its_counts_in_one_line():
    net = _Tiny().eval()
    norm = Normalization((0.5,) * 3, (0.25,) * 3)
    img = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(SpecError) as err:
        next(S.zoom_frames(net, img, ["conv"], 0, data=norm))
    assert str(err.value) == "frames=0: expected a whole number >= 1 of frames to draw"
    with pytest.raises(SpecError) as err:
        next(S.zoom_frames(net, img, ["conv"], 2, 0.5, data=norm))
    assert str(err.value) == "zoom=0.5: expected a finite zoom factor >= 1 per frame"
