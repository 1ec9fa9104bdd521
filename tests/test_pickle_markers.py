"""No file convlens reads runs code: a pickle whose ``__reduce__`` writes a marker file, in
every kind of file that could hold a pickle, is refused with one line and never run."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from convlens.cli.main import main
from convlens.data import load_dataset
from convlens.errors import ConvlensError
from convlens.rundir.weights import read_weights


class Marker:
    """Unpickled by a full unpickler, this creates ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _npz_with_pickle(path: Path, marker: Path, key: str) -> Path:
    """An .npz whose ``key`` array is an object array pickling a Marker."""
    arrays = {"x": np.zeros((2, 4, 4), np.uint8), "y": np.zeros(2, np.int64)}
    arrays[key] = np.array([Marker(marker), "b"], dtype=object)
    np.savez(path, **arrays)
    return path


def _cifar_with_pickle(folder: Path, marker: Path, name: str) -> Path:
    folder.mkdir()
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for batch in ("data_batch_1", "test_batch"):
        obj = {**good, b"labels": Marker(marker)} if batch == name else good
        (folder / batch).write_bytes(pickle.dumps(obj))
    meta = {b"label_names": [b"a", b"b"]}
    if name == "batches.meta":
        meta = {b"label_names": Marker(marker)}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return folder


CASES = {
    "npz images": lambda tmp, m: _npz_with_pickle(tmp / "d.npz", m, "x"),
    "npz classes": lambda tmp, m: _npz_with_pickle(tmp / "d.npz", m, "classes"),
    "cifar batch": lambda tmp, m: _cifar_with_pickle(tmp / "cifar", m, "data_batch_1"),
    "cifar meta": lambda tmp, m: _cifar_with_pickle(tmp / "cifar", m, "batches.meta"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_data_files(tmp_path, capsys, case) -> None:
    marker = tmp_path / "MARKER"
    data = CASES[case](tmp_path, marker)
    with pytest.raises(ConvlensError):
        load_dataset(str(data), size=(32, 32), channels=3)
    assert not marker.exists()
    out = tmp_path / "run"
    assert main(["train", "--model", "smallvgg", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not marker.exists() and not out.exists()


def _torch_pickle(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda p, m: _torch_pickle(p, {"w": torch.zeros(2), "extra": Marker(m)}),
        lambda p, m: _torch_pickle(p, {"state_dict": {"w": torch.zeros(2)}, "cb": Marker(m)}),
        lambda p, m: p.write_bytes(pickle.dumps({"w": Marker(m)})) and p,
        lambda p, m: _zip_with_pickle(p, m),
    ],
    ids=["torch.save dict", "nested state", "plain pickle", "zip with data.pkl"],
)
def test_weights_files(tmp_path, make, capsys) -> None:
    marker = tmp_path / "MARKER"
    path = make(tmp_path / "w.pt", marker)
    with pytest.raises(ConvlensError, match="cannot be read as a state dict without running code"):
        read_weights(path)
    assert not marker.exists()


def _zip_with_pickle(path: Path, marker: Path) -> Path:
    """torch.save's zip layout with a hand-made data.pkl that pickles a Marker."""
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("data.pkl"):
                data = pickle.dumps({"w": Marker(marker)}, protocol=2)
            dst.writestr(item, data)
    return path


def _partial_with_pickle(marker: Path, kind: str) -> bytes:
    """A probe store's partial.bin carrying a pickled Marker, in three disguises."""
    from convlens.probe._state import _MAGIC

    payload = pickle.dumps(Marker(marker))
    if kind == "object dtype":  # a header naming an object array whose bytes are a pickle
        head = json.dumps([{"name": "meta", "dtype": "|O", "shape": [1], "at": 0}]).encode()
        return _MAGIC + len(head).to_bytes(8, "little") + head + payload
    if kind == "old npz":  # the npz partial of older versions, with an object array
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array([Marker(marker)], dtype=object))
        return buffer.getvalue()
    return payload  # a bare pickle


@pytest.mark.parametrize("kind", ["object dtype", "old npz", "bare pickle"])
def test_probe_partial(tmp_path, bad_input_source, capsys, kind) -> None:
    import shutil

    from convlens.probe._state import Unpacked

    marker = tmp_path / "MARKER"
    with pytest.raises(ConvlensError):
        Unpacked(_partial_with_pickle(marker, kind))["meta"]
    run = tmp_path / "run"
    shutil.copytree(bad_input_source, run)
    store = next((run / "probe").iterdir())
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["finished"] = False  # an interrupted probe: the next one resumes from partial.bin
    (store / "manifest.json").write_text(json.dumps(manifest))
    (store / "partial.bin").write_bytes(_partial_with_pickle(marker, kind))
    assert main(["probe", str(run), "--limit", "100", "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "partial.bin" in err[0], err
    assert not marker.exists()
