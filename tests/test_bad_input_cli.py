# ruff: noqa: E501 (the case table: one case per line)
"""The bad-input suite, command line: every case is refused with exit status 2, one
``error:`` line and no traceback, leaves its inputs as they were (SHA-256 of every
file) and leaves no run directory that fails to open. See tests/_bad_input.py."""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import _bad_input as B
from _bad_input import (
    World,
    both,
    edit_json,
    image,
    make_dir,
    npz,
    python_file,
    remove,
    truncate,
    write,
)


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    argv: str  # split on blanks, then each word filled from the world ({run}, {root}, ...)
    setup: object = None  # Callable[[World], None]: the damage, before the command
    expect: str = ""  # a regular expression the error line must match
    out: str = ""  # an output run directory: absent after the failure, or it opens


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` pixels, with one tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _spec(spec: str, options: dict | None = None):
    """run.json naming ``spec`` (with ``options``), both filled from the world."""

    def setup(w: World) -> None:
        def change(m: dict) -> None:
            m["model"]["spec"] = w.fill(spec)
            if options is not None:
                m["model"]["options"] = {k: _filled(w, v) for k, v in options.items()}

        edit_json("run/run.json", change)(w)

    return setup


def _filled(w: World, value):
    return [w.fill(v) for v in value] if isinstance(value, list) else w.fill(value)


def _manifest(change):
    return edit_json("run/probe/*/manifest.json", change)


def _unfinished_with_partial(data: bytes):
    """A probe store interrupted after its partial was saved, whose partial is ``data``."""
    return both(_manifest(lambda m: m.update(finished=False)), write("run/probe/{step}/partial.bin", data))


def _truncated_partial(w: World) -> None:
    _manifest(lambda m: m.update(finished=False))(w)
    truncate("run/probe/*/partial.bin", 0.5)(w)


FACTORIES = {
    "noparams": "import torch\ndef make():\n    return torch.nn.Linear(4, 2)\n",
    "exits": "import sys\ndef make():\n    sys.exit(0)\n",
    "raises": "def make():\n    raise RuntimeError('boom inside the factory')\n",
    "notmodule": "def make():\n    return 42\n",
    "syntax": "def make(:\n",
    "badout": "import torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Flatten(), "
    "torch.nn.Linear(784, 10), torch.nn.Unflatten(1, (2, 5)))\n",
    "noinput": "import torch\ndef make():\n    return torch.nn.Sequential(torch.nn.Linear(3, 2))\n",
    "marker": "from pathlib import Path\nPath({marker!r}).touch()\ndef make():\n    pass\n",
}


def _factory(name: str):
    return python_file(f"mods/{name}.py", FACTORIES[name])


_IMG_NAN = np.full((20, 28, 28), np.nan, np.float32)
_X20 = np.zeros((20, 28, 28), np.uint8)
_Y20 = np.arange(20) % 10
_LENET_W = "--weights {ckpt}"

CASES = [
    # ------------------------------------------------------------- a wrong path
    Case("path-layers-missing", "wrong path", "layers {root}/nope", expect="does not exist"),
    Case("path-show-missing", "wrong path", "runs show {root}/nope", expect="does not exist"),
    Case("path-probe-missing", "wrong path", "probe {root}/nope", expect="does not exist"),
    Case("path-topk-missing", "wrong path", "topk {root}/nope --layer conv1"),
    Case("path-neighbors-missing", "wrong path", "neighbors {root}/nope --index 0 --layer fc2"),
    Case("path-attribute-run-missing", "wrong path", "attribute {root}/nope --index 0 --method saliency -o a.png"),
    Case("path-attribute-image-missing", "wrong path", "attribute {run} --image {root}/no.png --method saliency -o a.png"),
    Case("path-train-data-missing", "wrong path", "train --model lenet --data {root}/no-data --out {new}", out="{new}"),
    Case("path-create-weights-missing", "wrong path", "runs create --model lenet --weights {root}/no.pt --data digits --out {new}", out="{new}"),
    Case("path-create-data-missing", "wrong path", f"runs create --model lenet {_LENET_W} --data {{root}}/no-data --out {{new}}", out="{new}"),
    Case("path-vectors-missing", "wrong path", "visualize {run} --layer conv1 --kind direction --vectors {root}/no.npy --steps 1 --reference 0 --out {cwd}"),
    Case("path-dream-image-missing", "wrong path", "dream {run} --image {root}/no.png --layers conv1 --steps 1 --out {cwd}"),
    Case("path-invert-image-missing", "wrong path", "invert {run} --image {root}/no.png --layer conv1 --steps 1 --out {cwd}"),
    Case("path-report-missing", "wrong path", "report {root}/nope"),
    Case("path-export-missing", "wrong path", "export tensorboard {root}/nope {cwd}/tb"),
    Case("path-evolution-missing", "wrong path", "evolution {root}/nope --layer conv1"),
    Case("path-explore-missing", "wrong path", "explore {root}/nope --no-browser"),
    Case("path-dashboard-missing", "wrong path", "dashboard {root}/nope --no-browser"),
    Case("path-resume-missing", "wrong path", "train --resume --out {root}/nope"),
    Case("path-spec-missing", "wrong path", "visualize {run} --layer conv1 --spec {root}/no.json --out {cwd}"),
    Case("path-trust-missing", "wrong path", "runs trust {root}/nope"),
    Case("path-probe-data-missing", "wrong path", "probe {run} --data {root}/no-data --out {cwd}/p"),
    Case("path-attribute-data-missing", "wrong path", "attribute {run} --index 0 --data {root}/no-data --method saliency -o a.png"),
    Case("path-run-is-file", "wrong path", "layers {root}/file.txt"),
    Case("path-run-is-empty-dir", "wrong path", "runs show {root}/empty"),
    Case("path-model-module-missing", "wrong path", "layers --model no_such_module_xyz:make --input-shape 1,28,28"),
    Case("path-model-file-missing", "wrong path", "layers --model {root}/no.py:make --input-shape 1,28,28"),
    Case("path-zoo-unknown", "wrong path", "layers --model lenett", expect="lenet"),
    Case("path-checkpoint-unknown", "wrong path", "attribute {run} --index 0 --method saliency --checkpoint step-99 -o a.png"),
    Case("path-probe-checkpoint-unknown", "wrong path", "topk {run} --layer conv1 --checkpoint step-99"),
    # ------------------------------------------------------------- a corrupt file
    Case("corrupt-checkpoint-truncated", "corrupt file", "attribute {run} --index 0 --method saliency -o a.png", truncate("run/checkpoints/*", 0.5)),
    Case("corrupt-checkpoint-garbage", "corrupt file", "layers {run}", write("run/checkpoints/{ckpt_name}", b"\x00garbage" * 100)),
    Case("corrupt-checkpoint-empty", "corrupt file", "invert {run} --layer conv1 --steps 1 --out {cwd}", truncate("run/checkpoints/*", 0)),
    Case("corrupt-log-garbage", "corrupt file", "runs show {run}", write("run/log.sqlite", b"not sqlite at all" * 64)),
    Case("corrupt-log-dir", "corrupt file", "runs show {run}", make_dir("run/log.sqlite")),
    Case("corrupt-png", "corrupt file", "attribute {run} --image {root}/bad.png --method saliency -o a.png", write("bad.png", b"\x89PNG\r\n\x1a\nbroken")),
    Case("corrupt-png-is-text", "corrupt file", "dream {run} --image {root}/file.txt --layers conv1 --steps 1 --out {cwd}"),
    Case("corrupt-png-truncated", "corrupt file", "invert {run} --image {root}/img.png --layer conv1 --steps 1 --out {cwd}", truncate("img.png", 0.5)),
    Case("corrupt-npz-garbage", "corrupt file", "train --model lenet --data {root}/bad.npz --out {new}", write("bad.npz", b"PK\x03\x04garbage"), out="{new}"),
    Case("corrupt-npz-truncated", "corrupt file", "train --model lenet --data {root}/data.npz --out {new}", truncate("data.npz", 0.6), out="{new}"),
    Case("corrupt-npz-keys", "corrupt file", "train --model lenet --data {root}/k.npz --out {new}", npz("k.npz", images=_X20, labels=_Y20), out="{new}"),
    Case("corrupt-npz-float-labels", "corrupt file", "train --model lenet --data {root}/f.npz --out {new}", npz("f.npz", x=_X20, y=_Y20 + 0.5), out="{new}"),
    Case("corrupt-spec-garbage", "corrupt file", "visualize {run} --layer conv1 --spec {root}/file.txt --out {cwd}"),
    Case("corrupt-spec-wrong-json", "corrupt file", "visualize {run} --layer conv1 --spec {root}/s.json --out {cwd}", write("s.json", '{"spec": {"steps": "many"}}')),
    Case("corrupt-spec-list", "corrupt file", "invert {run} --layer conv1 --spec {root}/s.json --out {cwd}", write("s.json", "[1, 2]")),
    Case("corrupt-vectors-text", "corrupt file", "visualize {run} --layer conv1 --kind direction --vectors {root}/file.txt --steps 1 --reference 0 --out {cwd}"),
    Case("corrupt-weights-garbage", "corrupt file", "runs create --model lenet --weights {root}/file.txt --data digits --out {new}", out="{new}"),
    Case("corrupt-weights-truncated", "corrupt file", "runs create --model lenet --weights {root}/w.safetensors --data digits --out {new}", lambda w: (w.path("w.safetensors").write_bytes(Path(w.extra["ckpt"]).read_bytes()[:300])), out="{new}"),
    Case("corrupt-mnist-gz", "corrupt file", "train --model lenet --data {root}/mnist --out {new}", both(write("mnist/train-images-idx3-ubyte.gz", b"\x1f\x8bnot gzip"), write("mnist/train-labels-idx1-ubyte.gz", b"\x1f\x8bnot"), write("mnist/t10k-images-idx3-ubyte.gz", b"\x1f\x8bx"), write("mnist/t10k-labels-idx1-ubyte.gz", b"\x1f\x8bx")), out="{new}"),
    Case("corrupt-cifar-batch", "corrupt file", "train --model smallvgg --data {root}/cifar --out {new}", both(*(write(f"cifar/{n}", b"garbage") for n in ("data_batch_1", "test_batch", "batches.meta"))), out="{new}"),
    Case("corrupt-folder-image", "corrupt file", "train --model lenet --data {root}/folder --out {new}", both(image("folder/a/1.png", _X20[0]), write("folder/b/2.png", b"\x89PNG broken")), out="{new}"),
    Case("corrupt-train-state", "corrupt file", "train --resume --epochs 2 --out {run}", both(edit_json("run/run.json", lambda m: m.update(training={"model": "lenet", "data": "digits", "epochs": 1, "val_split": 297})), write("run/state/train.json", "{not json"), write("run/state/epoch-0001.safetensors", b"x"))),
    # ------------------------------------------------------------- run.json damaged
    Case("runjson-number", "run.json", "layers {run}", write("run/run.json", "42")),
    Case("runjson-null", "run.json", "runs show {run}", write("run/run.json", "null")),
    Case("runjson-list", "run.json", "attribute {run} --index 0 --method saliency -o a.png", write("run/run.json", "[]")),
    Case("runjson-string", "run.json", "layers {run}", write("run/run.json", '"run"')),
    Case("runjson-directory", "run.json", "runs show {run}", make_dir("run/run.json")),
    Case("runjson-empty", "run.json", "layers {run}", write("run/run.json", "")),
    Case("runjson-garbage", "run.json", "probe {run}", write("run/run.json", "{{{")),
    Case("runjson-binary", "run.json", "topk {run} --layer conv1", write("run/run.json", b"\xff\xfe\x00binary")),
    Case("runjson-missing-model", "run.json", "layers {run}", edit_json("run/run.json", lambda m: m.pop("model"))),
    Case("runjson-missing-data", "run.json", "runs show {run}", edit_json("run/run.json", lambda m: m.pop("data"))),
    Case("runjson-missing-spec", "run.json", "layers {run}", edit_json("run/run.json", lambda m: m["model"].pop("spec"))),
    Case("runjson-shape-string", "run.json", "layers {run}", edit_json("run/run.json", lambda m: m["model"].update(input_shape="big"))),
    Case("runjson-shape-negative", "run.json", "attribute {run} --index 0 --method saliency -o a.png", edit_json("run/run.json", lambda m: m["model"].update(input_shape=[1, -28, 28]))),
    Case("runjson-model-is-list", "run.json", "runs show {run}", edit_json("run/run.json", lambda m: m.update(model=[1, 2]))),
    Case("runjson-classes-number", "run.json", "runs show {run}", edit_json("run/run.json", lambda m: m.update(classes=7))),
    Case("runjson-norm-zero-std", "run.json", "attribute {run} --index 0 --method saliency -o a.png", edit_json("run/run.json", lambda m: m.update(normalization={"kind": "custom", "mean": [0.1], "std": [0.0]}))),
    Case("runjson-options-dict", "run.json", "layers {run}", edit_json("run/run.json", lambda m: m["model"].update(options={"relu": {"nested": 1}}))),
    Case("runjson-options-unknown", "run.json", "layers {run}", edit_json("run/run.json", lambda m: m["model"].update(options={"nosuch": 1}))),
    Case("runjson-os-system", "run.json", "layers {run}", _spec("os:system", {"command": "touch {marker}"}), expect="trust"),
    Case("runjson-subprocess", "run.json", "layers {run}", _spec("subprocess:call", {"args": ["touch", "{marker}"]})),
    Case("runjson-file-factory", "run.json", "attribute {run} --index 0 --method saliency -o a.png", both(_factory("marker"), _spec("{root}/mods/marker.py:make")), expect="trust"),
    # ------------------------------------------------------------- damaged probe store
    Case("store-chunk-deleted", "probe store", "neighbors {run} --index 0 --layer relu1", remove("run/probe/*/embeddings/relu1/activation/c*"), expect="missing"),
    Case("store-chunk-truncated", "probe store", "neighbors {run} --index 0 --layer relu1", truncate("run/probe/*/embeddings/relu1/activation/c*", 0.5), expect="damaged"),
    Case("store-chunk-oversized", "probe store", "neighbors {run} --index 0 --layer fc2", B.append("run/probe/*/embeddings/fc2/activation/c*", b"extra")),
    Case("store-chunk-is-dir", "probe store", "neighbors {run} --index 0 --layer fc2", lambda w: make_dir(str(B.one(w, "run/probe/*/embeddings/fc2/activation/c*").relative_to(w.root)))(w)),
    Case("store-label-chunk-deleted", "probe store", "neighbors {run} --index 0 --layer fc2", remove("run/probe/*/outputs/label/c*")),
    Case("store-index-chunk-deleted", "probe store", "neighbors {run} --index 3 --layer fc2", remove("run/probe/*/outputs/image/c*")),
    Case("store-topk-chunk-deleted", "probe store", "topk {run} --layer conv1", remove("run/probe/*/summary/conv1/topk_value/c*")),
    Case("store-topk-chunk-truncated", "probe store", "topk {run} --layer conv2 --channels 0", truncate("run/probe/*/summary/conv2/topk_image/c*", 3)),
    Case("store-array-zarr-json-broken", "probe store", "neighbors {run} --index 0 --layer relu1", write("run/probe/{step}/embeddings/relu1/activation/zarr.json", "{broken")),
    Case("store-array-zarr-json-deleted", "probe store", "neighbors {run} --index 0 --layer relu1", remove("run/probe/*/embeddings/relu1/activation/zarr.json")),
    Case("store-array-zarr-json-wrong-shape", "probe store", "neighbors {run} --index 0 --layer relu1", edit_json("run/probe/*/embeddings/relu1/activation/zarr.json", lambda z: z.update(shape=[5, 3]))),
    Case("store-array-zarr-json-wrong-dtype", "probe store", "neighbors {run} --index 0 --layer relu1", edit_json("run/probe/*/embeddings/relu1/activation/zarr.json", lambda z: z.update(data_type="float64"))),
    Case("store-group-zarr-json-broken", "probe store", "topk {run} --layer conv1", write("run/probe/{step}/zarr.json", "not json")),
    Case("store-manifest-garbage", "probe store", "topk {run} --layer conv1", write("run/probe/{step}/manifest.json", "garbage"), expect="damaged"),
    Case("store-manifest-missing", "probe store", "neighbors {run} --index 0 --layer fc2", remove("run/probe/*/manifest.json")),
    Case("store-manifest-list", "probe store", "report {run}", write("run/probe/{step}/manifest.json", "[]"), expect="damaged"),
    Case("store-manifest-unfinished", "probe store", "report {run}", _manifest(lambda m: m.update(finished=False)), expect="incomplete"),
    Case("store-manifest-other-format", "probe store", "neighbors {run} --index 0 --layer fc2", _manifest(lambda m: m["config"].update(format="convlens-probe/0"))),
    Case("store-manifest-no-config", "probe store", "neighbors {run} --index 0 --layer fc2", _manifest(lambda m: m.pop("config"))),
    Case("store-manifest-layers-number", "probe store", "topk {run} --layer conv1", _manifest(lambda m: m["config"].update(layers=3))),
    Case("store-manifest-n-wrong", "probe store", "neighbors {run} --index 0 --layer fc2", _manifest(lambda m: m["config"].update(n=100000))),
    Case("store-partial-garbage", "probe store", "probe {run} --limit 100", _unfinished_with_partial(b"garbage, not a partial")),
    Case("store-partial-npz", "probe store", "probe {run} --limit 100", _unfinished_with_partial(b"PK\x03\x04 an old partial.npz")),
    Case("store-partial-truncated", "probe store", "probe {run} --limit 100", _truncated_partial),
    Case("store-partial-bad-header", "probe store", "probe {run} --limit 100", _unfinished_with_partial(b"CLPARTIAL1" + (10**6).to_bytes(8, "little") + b"[{}]")),
    Case("store-partial-foreign", "probe store", "probe {run} --limit 100", lambda w: _foreign_partial(w)),
    Case("store-evolution-chunk-deleted", "probe store", "evolution {run} --layer conv1", remove("run/probe/*/summary/conv1/topk_image/c*")),
    Case("store-report-chunk-deleted", "probe store", "report {run} --inversion-steps 0 -o {cwd}/rep", remove("run/probe/*/embeddings/fc2/activation/c*")),
    # ------------------------------------------------------------- a wrong shape
    Case("shape-layers-channels", "wrong shape", "layers --model lenet --input-shape 3,28,28"),
    Case("shape-layers-tiny", "wrong shape", "layers --model lenet --input-shape 1,2,2"),
    Case("shape-layers-two-dims", "wrong shape", "layers --model lenet --input-shape 1,28"),
    Case("shape-layers-zero", "wrong shape", "layers --model lenet --input-shape 0,28,28"),
    Case("shape-visualize-channels", "wrong shape", "visualize --model lenet --input-shape 3,28,28 --layer conv1 --steps 1 --out {cwd}"),
    Case("shape-vectors-width", "wrong shape", "visualize {run} --layer conv1 --kind direction --vectors {root}/v.npy --steps 1 --reference 0 --out {cwd}", lambda w: np.save(w.path("v.npy"), np.ones((2, 99), np.float32))),
    Case("shape-vectors-nan", "nan", "visualize {run} --layer conv1 --kind direction --vectors {root}/v.npy --steps 1 --reference 0 --out {cwd}", lambda w: np.save(w.path("v.npy"), np.full((2, 20), np.nan, np.float32))),
    Case("shape-position-three", "wrong shape", "visualize {run} --layer conv1 --kind neuron --position 1,2,3 --steps 1 --out {cwd}"),
    Case("shape-position-outside", "wrong shape", "visualize {run} --layer conv1 --kind neuron --position 500,500 --steps 1 --reference 0 --out {cwd}"),
    Case("shape-create-input-size", "wrong shape", f"runs create --model lenet {_LENET_W} --data digits --input-size 3,3 --out {{new}}", out="{new}"),
    Case("shape-create-wrong-model", "wrong shape", f"runs create --model smallvgg {_LENET_W} --data digits --out {{new}}", out="{new}"),
    Case("shape-grey-rgb-train", "wrong shape", "train --model smallvgg --data digits --epochs 1 --out {new}", out="{new}"),
    Case("shape-grey-rgb-create", "wrong shape", "runs create --model smallvgg --weights {root}/vgg.pt --data {root}/data.npz --out {new}", lambda w: __import__("torch").save(__import__("convlens").zoo.create("smallvgg").state_dict(), w.path("vgg.pt")), out="{new}"),
    Case("shape-npz-flat", "wrong shape", "train --model lenet --data {root}/flat.npz --out {new}", npz("flat.npz", x=np.zeros((20, 5), np.uint8), y=_Y20), out="{new}"),
    Case("shape-npz-label-count", "wrong shape", "train --model lenet --data {root}/n.npz --out {new}", npz("n.npz", x=_X20, y=np.arange(7)), out="{new}"),
    Case("shape-npz-2d-labels", "wrong shape", "train --model lenet --data {root}/n.npz --out {new}", npz("n.npz", x=_X20, y=np.zeros((20, 2), np.int64)), out="{new}"),
    Case("shape-target-tuple", "wrong shape", "attribute {run} --index 0 --method saliency --target (1,2,3) -o a.png"),
    Case("shape-probe-data-rgb", "wrong shape", "probe {run} --data {root}/rgb.npz --out {cwd}/p", npz("rgb.npz", x=np.zeros((20, 3, 40, 40), np.uint8), y=_Y20)),
    Case("shape-input-shape-run-mismatch", "wrong shape", "invert {run} --input-shape 3,28,28 --layer conv1 --steps 1 --out {cwd}"),
    # ------------------------------------------------------------- an unknown layer
    Case("layer-visualize", "unknown layer", "visualize {run} --layer nosuch --steps 1 --out {cwd}", expect="nosuch"),
    Case("layer-neighbors", "unknown layer", "neighbors {run} --index 0 --layer nosuch", expect="nosuch"),
    Case("layer-topk", "unknown layer", "topk {run} --layer nosuch", expect="nosuch"),
    Case("layer-gradcam", "unknown layer", "attribute {run} --index 0 --method grad_cam --layer nosuch -o a.png", expect="nosuch"),
    Case("layer-probe", "unknown layer", "probe {run} --layers nosuch --out {cwd}/p", expect="nosuch"),
    Case("layer-invert", "unknown layer", "invert {run} --layer nosuch --steps 1 --out {cwd}", expect="nosuch"),
    Case("layer-dream", "unknown layer", "dream {run} --image {root}/img.png --layers nosuch --steps 1 --out {cwd}", expect="nosuch"),
    Case("layer-report", "unknown layer", "report {run} --layers nosuch -o {cwd}/rep", expect="nosuch"),
    Case("layer-evolution", "unknown layer", "evolution {run} --layer nosuch", expect="nosuch"),
    Case("layer-not-probed", "unknown layer", "neighbors {run} --index 0 --layer fc1"),
    Case("layer-channel-out-of-range", "unknown layer", "topk {run} --layer conv1 --channels 999"),
    Case("layer-units-out-of-range", "unknown layer", "visualize {run} --layer conv1 --units 999 --steps 1 --out {cwd}"),
    Case("layer-units-negative", "unknown layer", "visualize {run} --layer conv1 --units -3 --steps 1 --out {cwd}"),
    Case("layer-class-out-of-range", "unknown layer", "visualize {run} --kind class --units 99 --steps 1 --out {cwd}"),
    Case("layer-method-unknown", "unknown layer", "attribute {run} --index 0 --method nosuch -o a.png", expect="nosuch"),
    Case("layer-projection-unknown", "unknown layer", "probe {run} --projections nosuch --out {cwd}/p"),
    Case("layer-target-class", "unknown layer", "attribute {run} --index 0 --method saliency --target 99 -o a.png"),
    Case("layer-target-negative", "unknown layer", "attribute {run} --index 0 --method saliency --target -1 -o a.png"),
    Case("layer-target-text", "unknown layer", "attribute {run} --index 0 --method saliency --target cat -o a.png"),
    Case("layer-index-out-of-range", "unknown layer", "attribute {run} --index 99999 --method saliency -o a.png"),
    Case("layer-index-negative", "unknown layer", "attribute {run} --index -1 --method saliency -o a.png"),
    Case("layer-neighbors-index", "unknown layer", "neighbors {run} --index 99999 --layer fc2"),
    Case("layer-neighbors-index-negative", "unknown layer", "neighbors {run} --index -1 --layer fc2"),
    Case("layer-invert-index", "unknown layer", "invert {run} --index 99999 --layer conv1 --steps 1 --out {cwd}"),
    Case("layer-dream-class", "unknown layer", "dream {run} --class 99 --steps 1 --out {cwd}"),
    # ------------------------------------------------------------- NaN and other numbers
    Case("nan-train-lr", "nan", "train --model lenet --data digits --lr nan --out {new}", out="{new}"),
    Case("nan-train-lr-inf", "nan", "train --model lenet --data digits --lr inf --out {new}", out="{new}"),
    Case("nan-train-val-split", "nan", "train --model lenet --data digits --val-split nan --out {new}", out="{new}"),
    Case("nan-visualize-lr", "nan", "visualize {run} --layer conv1 --lr nan --out {cwd}"),
    Case("nan-visualize-tv", "nan", "visualize {run} --layer conv1 --tv nan --out {cwd}"),
    Case("nan-invert-lr", "nan", "invert {run} --layer conv1 --lr nan --out {cwd}"),
    Case("nan-dream-step", "nan", "dream {run} --layers conv1 --step-size nan --out {cwd}"),
    Case("nan-dream-octave-scale", "nan", "dream {run} --layers conv1 --octave-scale inf --out {cwd}"),
    Case("nan-dream-zoom-factor", "nan", "dream {run} --layers conv1 --zoom-factor nan --out {cwd}"),
    Case("nan-npz-images", "nan", "train --model lenet --data {root}/nan.npz --out {new}", npz("nan.npz", x=_IMG_NAN, y=_Y20), out="{new}"),
    Case("nan-normalize", "nan", f"runs create --model lenet {_LENET_W} --data digits --normalize nan,nan --out {{new}}", out="{new}"),
    Case("nan-normalize-zero-std", "nan", f"runs create --model lenet {_LENET_W} --data digits --normalize 0.5,0 --out {{new}}", out="{new}"),
    Case("nan-checkpoint-weights", "nan", "attribute {run} --index 0 --method saliency -o a.png", lambda w: _nan_checkpoint(w)),
    Case("nan-runjson-mean", "nan", "attribute {run} --index 0 --method saliency -o a.png", edit_json("run/run.json", lambda m: m.update(normalization={"kind": "custom", "mean": [float("nan")], "std": [1.0]}))),
    # ------------------------------------------------------------- numeric arguments
    Case("num-batch-size-0", "numeric", "train --model lenet --data digits --batch-size 0 --out {new}", out="{new}"),
    Case("num-batch-size-neg", "numeric", "train --model lenet --data digits --batch-size -1 --out {new}", out="{new}"),
    Case("num-lr-neg", "numeric", "train --model lenet --data digits --lr -1 --out {new}", out="{new}"),
    Case("num-lr-zero", "numeric", "train --model lenet --data digits --lr 0 --out {new}", out="{new}"),
    Case("num-epochs-0", "numeric", "train --model lenet --data digits --epochs 0 --out {new}", out="{new}"),
    Case("num-epochs-neg", "numeric", "train --model lenet --data digits --epochs -3 --out {new}", out="{new}"),
    Case("num-hist-every-0", "numeric", "train --model lenet --data digits --hist-every -1 --out {new}", out="{new}"),
    Case("num-val-split-neg", "numeric", "train --model lenet --data digits --val-split -0.5 --out {new}", out="{new}"),
    Case("num-val-split-all", "numeric", "train --model lenet --data digits --val-split 1797 --out {new}", out="{new}"),
    Case("num-val-split-text", "numeric", "train --model lenet --data digits --val-split half --out {new}", out="{new}"),
    Case("num-train-device", "numeric", "train --model lenet --data digits --device tpu9 --out {new}", out="{new}"),
    Case("num-visualize-steps-neg", "numeric", "visualize {run} --layer conv1 --steps -5 --out {cwd}"),
    Case("num-visualize-steps-0", "numeric", "visualize {run} --layer conv1 --steps 0 --out {cwd}"),
    Case("num-visualize-size-0", "numeric", "visualize {run} --layer conv1 --size 0 --out {cwd}"),
    Case("num-visualize-chunk-0", "numeric", "visualize {run} --layer conv1 --chunk 0 --out {cwd}"),
    Case("num-invert-steps-0", "numeric", "invert {run} --layer conv1 --steps 0 --out {cwd}"),
    Case("num-invert-samples-0", "numeric", "invert {run} --layer conv1 --samples 0 --out {cwd}"),
    Case("num-neighbors-k-0", "numeric", "neighbors {run} --index 0 --layer fc2 -k 0"),
    Case("num-neighbors-k-neg", "numeric", "neighbors {run} --index 0 --layer fc2 -k -2"),
    Case("num-dream-tile-0", "numeric", "dream {run} --layers conv1 --tile 0 --out {cwd}"),
    Case("num-dream-octaves-0", "numeric", "dream {run} --layers conv1 --octaves 0 --out {cwd}"),
    Case("num-dream-max-pixels", "numeric", "dream {run} --image {root}/img.png --layers conv1 --max-pixels 100 --steps 1 --out {cwd}"),
    Case("num-probe-topk-0", "numeric", "probe {run} --topk 0 --out {cwd}/p"),
    Case("num-probe-topk-neg", "numeric", "probe {run} --topk -1 --out {cwd}/p"),
    Case("num-probe-batch-0", "numeric", "probe {run} --batch-size 0 --out {cwd}/p"),
    Case("num-probe-batch-neg", "numeric", "probe {run} --batch-size -4 --out {cwd}/p"),
    Case("num-probe-limit-0", "numeric", "probe {run} --limit 0 --out {cwd}/p"),
    Case("num-probe-limit-neg", "numeric", "probe {run} --limit -5 --out {cwd}/p"),
    Case("num-probe-budget-neg", "numeric", "probe {run} --budget -1 --out {cwd}/p"),
    Case("num-probe-budget-text", "numeric", "probe {run} --budget lots --out {cwd}/p"),
    Case("num-probe-budget-zero", "numeric", "probe {run} --budget 0 --out {cwd}/p"),
    Case("num-probe-device", "numeric", "probe {run} --device nowhere --out {cwd}/p"),
    Case("num-report-max-images-0", "numeric", "report {run} --max-images 0 -o {cwd}/rep"),
    Case("num-report-max-images-neg", "numeric", "report {run} --max-images -1 -o {cwd}/rep"),
    Case("num-report-inversion-neg", "numeric", "report {run} --inversion-steps -1 -o {cwd}/rep"),
    Case("num-attribute-steps-0", "numeric", "attribute {run} --index 0 --method integrated_gradients --steps 0 -o a.png"),
    Case("num-attribute-samples-0", "numeric", "attribute {run} --index 0 --method smoothgrad --samples 0 -o a.png"),
    Case("num-attribute-scale-neg", "numeric", "attribute {run} --index 0 --method saliency --scale -1 -o a.png"),
    Case("num-attribute-index-empty", "numeric", "attribute {run} --index , --method saliency -o a.png"),
    Case("num-explore-port", "numeric", "explore {run} --port 70000 --no-browser --no-live"),
    Case("num-explore-port-neg", "numeric", "explore {run} --port -1 --no-browser --no-live"),
    Case("num-explore-limit", "numeric", "explore {run} --limit -1 --no-browser --no-live"),
    Case("num-dashboard-port", "numeric", "dashboard {run} --port 70000 --no-browser", expect="port"),
    Case("num-create-resize", "numeric", f"runs create --model lenet {_LENET_W} --data digits --resize 0 --out {{new}}", out="{new}"),
    Case("num-create-input-size", "numeric", f"runs create --model lenet {_LENET_W} --data digits --input-size 0,28 --out {{new}}", out="{new}"),
    Case("num-create-normalize-text", "numeric", f"runs create --model lenet {_LENET_W} --data digits --normalize bright --out {{new}}", out="{new}"),
    # ------------------------------------------------------------- an empty dataset
    Case("empty-npz", "empty dataset", "train --model lenet --data {root}/e.npz --out {new}", npz("e.npz", x=np.zeros((0, 28, 28), np.uint8), y=np.zeros(0, np.int64)), out="{new}"),
    Case("empty-folder", "empty dataset", "train --model lenet --data {root}/empty --out {new}", out="{new}"),
    Case("empty-class-folders", "empty dataset", "train --model lenet --data {root}/f --out {new}", both(make_dir("f/a"), make_dir("f/b")), out="{new}"),
    Case("empty-create-npz", "empty dataset", f"runs create --model lenet {_LENET_W} --data {{root}}/e.npz --out {{new}}", npz("e.npz", x=np.zeros((0, 28, 28), np.uint8), y=np.zeros(0, np.int64)), out="{new}"),
    Case("empty-probe-data", "empty dataset", "probe {run} --data {root}/e.npz --out {cwd}/p", npz("e.npz", x=np.zeros((0, 28, 28), np.uint8), y=np.zeros(0, np.int64))),
    Case("empty-one-image", "empty dataset", "train --model lenet --data {root}/one.npz --out {new}", npz("one.npz", x=_X20[:1], y=_Y20[:1]), out="{new}"),
    Case("empty-method-list", "empty dataset", "attribute {run} --index 0 --method , -o a.png"),
    Case("empty-dream-layers", "empty dataset", "dream {run} --image {root}/img.png --layers , --steps 1 --out {cwd}"),
    Case("empty-probe-layers", "empty dataset", "probe {run} --layers '' --out {cwd}/p"),
    # ------------------------------------------------------------- labels and classes
    Case("labels-negative", "labels", "train --model lenet --data {root}/neg.npz --out {new}", npz("neg.npz", x=_X20, y=_Y20 - 5), out="{new}"),
    Case("labels-too-big", "labels", "train --model lenet --data {root}/big.npz --out {new}", npz("big.npz", x=_X20, y=_Y20, classes=np.array(["a", "b"])), out="{new}"),
    Case("labels-negative-create", "labels", f"runs create --model lenet {_LENET_W} --data {{root}}/neg.npz --out {{new}}", npz("neg.npz", x=_X20, y=_Y20 - 5), out="{new}"),
    Case("labels-negative-probe", "labels", "probe {run} --data {root}/neg.npz --out {cwd}/p", npz("neg.npz", x=_X20, y=_Y20 - 5)),
    Case("labels-classes-over-outputs", "labels", "train --model lenet --data {root}/many.npz --out {new}", npz("many.npz", x=_X20, y=np.arange(20)), out="{new}"),
    # ------------------------------------------------------------- a huge image
    Case("huge-attribute-image", "huge image", "attribute {run} --image {root}/huge.png --method saliency -o a.png", write("huge.png", huge_png(100_000, 100_000))),
    Case("huge-dream-image", "huge image", "dream {run} --image {root}/huge.png --layers conv1 --steps 1 --out {cwd}", write("huge.png", huge_png(20_000, 20_000))),
    Case("huge-invert-image", "huge image", "invert {run} --image {root}/huge.png --layer conv1 --steps 1 --out {cwd}", write("huge.png", huge_png(65_535, 65_535))),
    Case("huge-folder-image", "huge image", "train --model lenet --data {root}/f --out {new}", both(image("f/a/1.png", _X20[0]), write("f/b/2.png", huge_png(50_000, 50_000))), out="{new}"),
    Case("huge-visualize-size", "huge image", "visualize {run} --layer conv1 --size 200000 --steps 1 --reference 0 --out {cwd}"),
    Case("huge-dream-size", "huge image", "dream {run} --class 1 --size 200000 --steps 1 --out {cwd}"),
    Case("huge-attribute-scale", "huge image", "attribute {run} --index 0 --method saliency --scale 100000 -o a.png"),
    Case("huge-create-input-size", "huge image", f"runs create --model lenet {_LENET_W} --data digits --input-size 100000,100000 --out {{new}}", out="{new}"),
    # ------------------------------------------------------------- output paths
    Case("out-train-is-file", "output path", "train --model lenet --data digits --epochs 1 --out {root}/file.txt"),
    Case("out-create-is-file", "output path", f"runs create --model lenet {_LENET_W} --data digits --out {{root}}/file.txt"),
    Case("out-attribute-is-dir", "output path", "attribute {run} --index 0 --method saliency -o {root}/empty"),
    Case("out-topk-is-dir", "output path", "topk {run} --layer conv1 -o {root}/empty"),
    Case("out-neighbors-is-dir", "output path", "neighbors {run} --index 0 --layer fc2 -o {root}/empty"),
    Case("out-report-is-file", "output path", "report {run} --inversion-steps 0 -o {root}/file.txt"),
    Case("out-visualize-is-file", "output path", "visualize {run} --layer conv1 --steps 1 --reference 0 --out {root}/file.txt"),
    Case("out-dream-is-file", "output path", "dream {run} --image {root}/img.png --layers conv1 --steps 1 --octaves 1 --out {root}/file.txt"),
    Case("out-invert-is-file", "output path", "invert {run} --layer conv1 --steps 1 --out {root}/file.txt"),
    Case("out-export-is-file", "output path", "export tensorboard {run} {root}/file.txt"),
    Case("out-probe-is-file", "output path", "probe {run} --out {root}/file.txt"),
    Case("out-parent-is-file", "output path", "attribute {run} --index 0 --method saliency -o {root}/file.txt/a.png"),
    Case("out-train-existing-run", "output path", "train --model lenet --data digits --epochs 1 --out {run}", expect="overwrite"),
    Case("out-create-existing-run", "output path", f"runs create --model lenet {_LENET_W} --data digits --out {{run}}", expect="overwrite"),
    Case("out-train-resume-not-a-run", "output path", "train --resume --out {root}/empty"),
    Case("out-train-resume-no-state", "output path", "train --resume --out {run}"),
    # ------------------------------------------------------------- model factories
    Case("factory-no-params", "factory", "runs create --model {root}/mods/noparams.py:make --option width=3 --weights {ckpt} --data digits --out {new}", _factory("noparams"), out="{new}"),
    Case("factory-no-params-train", "factory", "train --model {root}/mods/noparams.py:make --option width=3 --data digits --out {new}", _factory("noparams"), out="{new}"),
    Case("factory-exits", "factory", "layers --model {root}/mods/exits.py:make --input-shape 1,28,28", _factory("exits")),
    Case("factory-exits-train", "factory", "train --model {root}/mods/exits.py:make --data digits --out {new}", _factory("exits"), out="{new}"),
    Case("factory-raises", "factory", "layers --model {root}/mods/raises.py:make --input-shape 1,28,28", _factory("raises")),
    Case("factory-not-module", "factory", "layers --model {root}/mods/notmodule.py:make --input-shape 1,28,28", _factory("notmodule")),
    Case("factory-syntax-error", "factory", "layers --model {root}/mods/syntax.py:make --input-shape 1,28,28", _factory("syntax")),
    Case("factory-missing-attr", "factory", "layers --model {root}/mods/raises.py:nosuch --input-shape 1,28,28", _factory("raises")),
    Case("factory-bad-output", "factory", "train --model {root}/mods/badout.py:make --data digits --epochs 1 --out {new}", _factory("badout"), out="{new}"),
    Case("factory-bad-output-create", "factory", "runs create --model {root}/mods/badout.py:make --weights {root}/w.pt --data digits --out {new}", both(_factory("badout"), lambda w: _badout_weights(w)), out="{new}"),
    Case("factory-does-not-fit", "factory", "train --model {root}/mods/noinput.py:make --data digits --epochs 1 --out {new}", _factory("noinput"), out="{new}"),
    Case("factory-option-not-json", "factory", "train --model lenet --option relu={{}} --data digits --out {new}", out="{new}"),
    Case("factory-option-unknown", "factory", "train --model lenet --option nosuch=1 --data digits --out {new}", out="{new}"),
    Case("factory-option-malformed", "factory", "train --model lenet --option =3 --data digits --out {new}", out="{new}"),
    Case("factory-option-object", "factory", "runs create --model lenet --option relu={{\"a\":1}} --weights {ckpt} --data digits --out {new}", out="{new}"),
]


def _foreign_partial(w: World) -> None:
    """A well-formed partial that holds none of the arrays a probe's partial holds."""
    from convlens.probe._state import pack

    _unfinished_with_partial(pack({"x": np.zeros(3)}))(w)


def _nan_checkpoint(w: World) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    path = B.one(w, "run/checkpoints/*.safetensors")
    state = load_file(path)
    save_file({k: torch.full_like(v, float("nan")) for k, v in state.items()}, path)


def _badout_weights(w: World) -> None:
    import torch

    torch.save(
        torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(784, 10), torch.nn.Unflatten(1, (2, 5))
        ).state_dict(),
        w.path("w.pt"),
    )


B.register("cli", [c.id for c in CASES])


@pytest.fixture
def world(tmp_path, bad_input_source, monkeypatch) -> World:
    w = B.make_world(tmp_path, bad_input_source)
    ckpt = B.one(w, "run/checkpoints/*.safetensors")
    w.extra.update(ckpt=str(ckpt), ckpt_name=ckpt.name)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    # a verb that serves (explore, dashboard) must not block the suite when it accepts
    for verb in ("cmd_explore", "cmd_dashboard"):
        monkeypatch.setattr(f"convlens.cli.{verb}.serve_until_interrupted", _stop_at_once)
    return w


def _stop_at_once(server, name: str) -> int:
    server.stop()
    return 0


def check_case(w: World, case: Case) -> None:
    """Run ``case`` in ``w`` and assert everything the suite promises."""
    if case.setup is not None:
        case.setup(w)
    argv = [w.fill(word) for word in case.argv.split()]
    argv = ["" if a == "''" else a for a in argv]
    before = B.tree_hashes(w.root)
    with B.chdir(w.cwd):
        got = B.run_main(argv)
    after = B.tree_hashes(w.root)
    out_dir = w.path(case.out) if case.out else None
    out_rel = str(out_dir.relative_to(w.root)) if out_dir else None
    half = B.opens_or_absent(out_dir) if out_dir else None
    changes = B.check_untouched(
        before, after, lambda rel: out_rel is not None and rel.startswith(out_rel + "/") and not half
    )
    problems = B.stderr_problems(got.err) if got.code != 0 else []
    B.TALLY["cases"] += 1
    B.log_line(case.id, got.code, got.err)
    B.count([got.escaped] if got.escaped else [p for p in problems if "traceback" in p], "tracebacks")
    B.count(["accepted"] if got.code == 0 else [], "silent accepts")
    B.count(changes + ([half] if half else []), "corruptions")
    B.count(["marker"] if w.marker.exists() else [], "markers")
    assert got.escaped is None, f"an exception escaped main():\n{got.escaped}"
    assert got.code != 0, f"silently accepted: stdout {got.out!r} stderr {got.err!r}"
    assert got.code == 2, f"exit status {got.code}, expected 2; stderr {got.err!r}"
    assert not problems, f"{problems}; stderr: {got.err!r}"
    assert not changes, changes
    assert half is None, half
    assert not w.marker.exists(), "code named by a hostile file ran"
    if case.expect:
        line = next(x for x in got.err.splitlines() if x.startswith("error: "))
        assert re.search(case.expect, line), line


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_bad_input(world: World, case: Case) -> None:
    check_case(world, case)
