# ruff: noqa: E501 (the case table: one case per line)
"""The bad-input suite, Python API: each bad call raises the named ConvlensError subclass
(one-line message), leaves every input file as it was (SHA-256) and leaves no output run
directory that fails to open. See tests/_bad_input.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

import _bad_input as B
from _bad_input import World, edit_json, remove, truncate
from convlens import attribute, data, model, probe, record, render, rundir, synthesize, zoo
from convlens.errors import (
    ConvlensError,
    DataError,
    InputShapeError,
    LayerError,
    ModelError,
    OutputError,
    PathNotFoundError,
    RunError,
    SpecError,
    TargetError,
    TrainingError,
    UntrustedCodeError,
)
from convlens.probe.figures import nearest


@dataclass(frozen=True)
class Call:
    id: str
    category: str
    call: Callable[[World], Any]
    error: type[ConvlensError]
    setup: Callable[[World], None] | None = None
    out: str = ""


def _run(w: World) -> rundir.Run:
    return rundir.open_run(w.run)


def _x(w: World, shape=(2, 1, 28, 28)) -> torch.Tensor:
    return torch.zeros(shape)


def _lenet() -> torch.nn.Module:
    return zoo.create("lenet").eval()


def _recorder(w: World, shape) -> None:
    record.Recorder(_lenet(), w.path("new-run"), input_shape=shape)


def _train(w: World, **changes) -> None:
    cfg = record.TrainConfig("lenet", "digits", epochs=1)
    for k, v in changes.items():
        setattr(cfg, k, v)
    record.train(cfg, w.path("new-run"), progress=False)


CALLS = [
    # paths and run directories
    Call("api-open-run-missing", "wrong path", lambda w: rundir.open_run(w.root / "nope"), PathNotFoundError),
    Call("api-open-run-file", "wrong path", lambda w: rundir.open_run(w.root / "file.txt"), RunError),
    Call("api-open-run-number", "run.json", lambda w: rundir.open_run(w.run), RunError, B.write("run/run.json", "3")),
    Call("api-open-run-null", "run.json", lambda w: rundir.open_run(w.run), RunError, B.write("run/run.json", "null")),
    Call("api-open-run-dir", "run.json", lambda w: rundir.open_run(w.run), RunError, B.make_dir("run/run.json")),
    Call("api-open-run-no-model", "run.json", lambda w: rundir.open_run(w.run), RunError, edit_json("run/run.json", lambda m: m.pop("model"))),
    Call("api-os-system", "run.json", lambda w: _run(w).model(), UntrustedCodeError, edit_json("run/run.json", lambda m: m["model"].update(spec="os:system", options={"command": "true"}))),
    Call("api-checkpoint-unknown", "wrong path", lambda w: _run(w).model("step-12345"), RunError),
    Call("api-checkpoint-truncated", "corrupt file", lambda w: _run(w).model(), ModelError, truncate("run/checkpoints/*", 0.4)),
    Call("api-load-dataset-missing", "wrong path", lambda w: data.load_dataset(str(w.root / "nope")), PathNotFoundError),
    Call("api-load-dataset-empty", "empty dataset", lambda w: data.load_dataset(str(w.path("e.npz"))), DataError, B.npz("e.npz", x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, np.int64))),
    Call("api-dataset-negative-labels", "labels", lambda w: data.ImageDataset(np.zeros((3, 8, 8), np.uint8), [0, -1, 2]), DataError),
    Call("api-dataset-labels-over-classes", "labels", lambda w: data.ImageDataset(np.zeros((3, 8, 8), np.uint8), [0, 1, 5], ["a", "b"]), DataError),
    Call("api-load-image-missing", "wrong path", lambda w: data.load_image(w.root / "no.png"), PathNotFoundError),
    Call("api-load-image-corrupt", "corrupt file", lambda w: data.load_image(w.root / "file.txt"), DataError),
    Call("api-load-image-huge", "huge image", lambda w: data.load_image(w.path("huge.png")), DataError, B.write("huge.png", __import__("test_bad_input_cli").huge_png(30_000, 30_000))),
    Call("api-check-fits-grey-rgb", "wrong shape", lambda w: data.check_fits(data.load_dataset("digits", size=(28, 28)), (3, 28, 28)), DataError),
    # training and recording
    Call("api-train-batch-0", "numeric", lambda w: _train(w, batch_size=0), TrainingError, out="new-run"),
    Call("api-train-lr-nan", "nan", lambda w: _train(w, lr=float("nan")), TrainingError, out="new-run"),
    Call("api-train-epochs-neg", "numeric", lambda w: _train(w, epochs=-3), TrainingError, out="new-run"),
    Call("api-train-val-nan", "nan", lambda w: _train(w, val_split=float("nan")), DataError, out="new-run"),
    Call("api-train-too-many-classes", "labels", lambda w: _train(w, data=str(w.path("many.npz"))), DataError, B.npz("many.npz", x=np.zeros((30, 28, 28), np.uint8), y=np.arange(30) % 15), out="new-run"),
    Call("api-recorder-shape", "wrong shape", lambda w: _recorder(w, (3, 5, 5)), InputShapeError, out="new-run"),
    Call("api-recorder-shape-channels", "wrong shape", lambda w: _recorder(w, (3, 28, 28)), InputShapeError, out="new-run"),
    # model and layers
    Call("api-zoo-unknown", "unknown layer", lambda w: zoo.create("lenett"), ModelError),
    Call("api-get-layer-unknown", "unknown layer", lambda w: model.get_layer(_lenet(), "nosuch"), LayerError),
    Call("api-layer-table-shape", "wrong shape", lambda w: model.layer_table(_lenet(), (3, 28, 28)), InputShapeError),
    # attribution
    Call("api-saliency-shape", "wrong shape", lambda w: attribute.saliency(_lenet(), _x(w, (2, 3, 28, 28))), InputShapeError),
    Call("api-gradcam-layer", "unknown layer", lambda w: attribute.grad_cam(_lenet(), _x(w), layer="nosuch"), LayerError),
    Call("api-target-out-of-range", "unknown layer", lambda w: attribute.saliency(_lenet(), _x(w), 99), TargetError),
    Call("api-ig-steps-0", "numeric", lambda w: attribute.integrated_gradients(_lenet(), _x(w), steps=0), SpecError),
    Call("api-noise-samples-0", "numeric", lambda w: attribute.smoothgrad(_lenet(), _x(w), noise=attribute.Noise(samples=0)), SpecError),
    Call("api-saliency-nan-input", "nan", lambda w: attribute.saliency(_lenet(), torch.full((1, 1, 28, 28), float("nan"))), InputShapeError),
    # synthesis
    Call("api-synthesis-steps-neg", "numeric", lambda w: synthesize.Synthesis(steps=-5), SpecError),
    Call("api-synthesis-lr-nan", "nan", lambda w: synthesize.Synthesis(lr=float("nan")), SpecError),
    Call("api-synthesis-size-huge", "huge image", lambda w: synthesize.Synthesis(size=200_000), SpecError),
    Call("api-dream-tile-0", "numeric", lambda w: synthesize.Dream(tile=0), SpecError),
    Call("api-channels-layer", "unknown layer", lambda w: synthesize.channels(_lenet(), "nosuch", [0], synthesize.MAXIMISE.replace(steps=1, size=28)), LayerError),
    Call("api-directions-nan", "nan", lambda w: synthesize.directions(_lenet(), "conv1", np.full((1, 20), np.nan), synthesize.MAXIMISE.replace(steps=1, size=28)), TargetError),
    # probe store and probe runs
    Call("api-probe-limit-0", "numeric", lambda w: probe.run(_run(w), limit=0, out=w.cwd / "p"), DataError),
    Call("api-probe-layer", "unknown layer", lambda w: probe.run(_run(w), layers=["nosuch"], out=w.cwd / "p"), LayerError),
    Call("api-probe-out-is-file", "output path", lambda w: probe.run(_run(w), limit=10, out=w.root / "file.txt"), OutputError),
    Call("api-nearest-k-0", "numeric", lambda w: nearest(_run(w).probe(), 0, "fc2", k=0), SpecError),
    Call("api-nearest-chunk-deleted", "probe store", lambda w: nearest(_run(w).probe(), 0, "fc2"), RunError, remove("run/probe/*/embeddings/fc2/activation/c*")),
    Call("api-probe-manifest-list", "probe store", lambda w: probe.open_probe_dir(w.probe), RunError, B.write("run/probe/{step}/manifest.json", "[]")),
    Call("api-probe-labels-truncated", "probe store", lambda w: _run(w).probe().labels, RunError, truncate("run/probe/*/outputs/label/c*", 0.5)),
    Call("api-probe-wrong-shape", "probe store", lambda w: _run(w).probe().embeddings("relu1"), RunError, edit_json("run/probe/*/embeddings/relu1/activation/zarr.json", lambda z: z.update(shape=[7, 500]))),
    # rendering and output paths
    Call("api-upscale-huge", "huge image", lambda w: render.upscale(np.zeros((28, 28, 3), np.uint8), 100_000), SpecError),
    Call("api-save-png-is-dir", "output path", lambda w: render.save_png(w.root / "empty", np.zeros((4, 4, 3), np.uint8)), OutputError),
    Call("api-save-png-parent-file", "output path", lambda w: render.save_png(w.root / "file.txt" / "a.png", np.zeros((4, 4, 3), np.uint8)), OutputError),
    Call("api-explore-limit", "numeric", lambda w: __import__("convlens").explore(w.run, probe_limit=-1, live=False), ConvlensError),
    Call("api-create-run-weights-missing", "wrong path", lambda w: rundir.create_run(w.path("new-run"), rundir.NewRun("lenet", w.root / "no.pt", "digits")), PathNotFoundError, out="new-run"),
]
B.register("api", [c.id for c in CALLS])


@pytest.fixture
def world(tmp_path, bad_input_source) -> World:
    return B.make_world(tmp_path, bad_input_source)


@pytest.mark.filterwarnings("ignore::convlens.errors.ConvlensWarning")
@pytest.mark.parametrize("case", CALLS, ids=[c.id for c in CALLS])
def test_api_bad_input(world: World, case: Call) -> None:
    if case.setup is not None:
        case.setup(world)
    before = B.tree_hashes(world.root)
    raised: BaseException | None = None
    with B.chdir(world.cwd):
        try:
            case.call(world)
        except BaseException as exc:  # judged below
            raised = exc
    out_dir = world.path(case.out) if case.out else None
    half = B.opens_or_absent(out_dir) if out_dir else None
    out_rel = case.out
    changes = B.check_untouched(
        before, B.tree_hashes(world.root), lambda rel: bool(out_rel) and rel.startswith(out_rel + "/") and not half
    )
    B.TALLY["cases"] += 1
    B.log_line(case.id, None, f"error: {type(raised).__name__}: {raised}")
    B.count(["x"] if raised is not None and not isinstance(raised, ConvlensError) else [], "tracebacks")
    B.count(["x"] if raised is None else [], "silent accepts")
    B.count(changes + ([half] if half else []), "corruptions")
    B.count(["marker"] if world.marker.exists() else [], "markers")
    assert raised is not None, "silently accepted"
    assert isinstance(raised, case.error), f"{type(raised).__name__}: {raised}"
    assert len(str(raised).splitlines()) == 1, str(raised)
    assert not changes, changes
    assert half is None, half
