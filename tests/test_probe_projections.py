"""UMAP and t-SNE projections: fitted on a sample, applied to every point, on request."""

from __future__ import annotations

import numpy as np
import pytest

from convlens.cli.main import main
from convlens.errors import DataError
from convlens.probe import open_probe, project
from convlens.probe import run as probe_run

pytestmark = pytest.mark.slow  # umap-learn compiles its numba functions on first use


@pytest.fixture(scope="module")
def probed(digits_lenet_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("proj")
    res = probe_run(
        digits_lenet_run,
        layers=["pool2", "fc1"],
        limit=200,
        out=out,
        projections=("umap", "tsne"),
    )
    return res


def _knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour label accuracy (brute force)."""
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(labels[row], minlength=10).argmax() for row in near])
    return float((votes == labels).mean())


def test_umap_equals_a_direct_fit_and_transform(probed):
    umap = project.import_umap()
    fc1 = probed.embeddings("fc1").astype(np.float32)  # 200 points: all are the sample
    model = umap.UMAP(n_components=2, n_neighbors=15, random_state=0, n_jobs=1)
    want = model.fit(fc1).transform(fc1)
    got = probed.projection("fc1", method="umap")
    assert got.shape == (200, 2)
    np.testing.assert_allclose(got, want.astype(np.float16), rtol=1e-3, atol=1e-2)
    spatial = probed.projection("pool2", method="umap")
    assert spatial.shape == (200, 4, 4, 2) and np.isfinite(spatial).all()


def test_tsne_equals_a_direct_fit_and_transform(probed):
    import openTSNE

    fc1 = probed.embeddings("fc1").astype(np.float32)
    tsne = openTSNE.TSNE(n_components=2, perplexity=30.0, random_state=0, n_jobs=1)
    want = np.asarray(tsne.fit(fc1).transform(fc1))
    got = probed.projection("fc1", method="tsne")
    assert got.shape == (200, 2)
    np.testing.assert_allclose(got, want.astype(np.float16), rtol=1e-3, atol=1e-2)
    assert probed.projection("pool2", method="tsne").shape == (200, 4, 4, 2)


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_the_2d_map_keeps_the_class_neighbourhoods(probed, method):
    """A trained fc1 separates digits; its 2-D map keeps most of that."""
    labels = probed.labels
    full = _knn_accuracy(probed.embeddings("fc1").astype(np.float64), labels)
    flat = _knn_accuracy(probed.projection("fc1", method=method).astype(np.float64), labels)
    assert full > 0.8
    assert flat >= 0.85 * full


def test_unknown_or_missing_projection_is_refused_before_the_pass(monkeypatch, tmp_path):
    with pytest.raises(DataError, match=r"projection 'isomap' is not known: expected one of"):
        project.require_method("isomap")
    real = project.importlib.util.find_spec
    monkeypatch.setattr(
        project.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "openTSNE" else real(name, *a),
    )
    with pytest.raises(DataError, match=r"pip install 'convlens\[tsne\]'"):
        probe_run("nowhere", projections=("tsne",), out=tmp_path)


def test_cli_takes_a_projection_list_and_refuses_an_unknown_one(digits_lenet_run, tmp_path, capsys):
    args = ["probe", str(digits_lenet_run.path), "--limit", "40", "--layers", "fc1"]
    assert main([*args, "--out", str(tmp_path / "a"), "--projections", "pca, umap"]) == 0
    store = open_probe(tmp_path / "a" / digits_lenet_run.checkpoints[-1].name)
    assert store.projection("fc1", method="pca").shape == (40, 10)
    assert store.projection("fc1", method="umap").shape == (40, 2)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "b"), "--projections", "pca,bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "projection 'bogus' is not known" in err[0]


def test_a_map_needs_a_few_points_to_fit():
    points = np.zeros((3, 5), np.float32)
    with pytest.raises(DataError, match=r"projection 'umap' needs at least 4 points to fit, got 3"):
        project.fit_projection("umap", points)
    assert project.fit_projection("pca", points).axes == 5
