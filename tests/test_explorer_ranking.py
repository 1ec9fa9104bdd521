"""The pair ranking (explorer/ranking.py) against independent references: k-NN purity by
scikit-learn, grid purity by numpy counting, the spanning tree by scipy, the runts of each
tree edge by brute force; and the ranking route through an in-process client."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist
from sklearn.neighbors import NearestNeighbors

import convlens
import convlens.probe
from _explorer_helpers import PLANTED, PLANTED_CLASS, planted_run
from _http import InProcessClient
from convlens.errors import ConvlensError
from convlens.explorer import RunView, create_app
from convlens.explorer._scagnostics import mst as _mst
from convlens.explorer._scagnostics import scagnostics as _scagnostics
from convlens.explorer.ranking import RankSpec, _unit, class_spread, rank_pairs
from convlens.rundir import DataEntry, ModelEntry


def _lifts(same: np.ndarray, labels: np.ndarray) -> tuple[float, dict[int, float]]:
    """Class lifts of per-point same-class shares: (weighted mean, {class: lift})."""
    m = len(labels)
    lifts, weights = {}, {}
    for c in np.unique(labels):
        n = int((labels == c).sum())
        base = (n - 1) / (m - 1)
        lifts[int(c)] = (same[labels == c].mean() - base) / (1 - base)
        weights[int(c)] = n
    total = sum(weights.values())
    return sum(lifts[c] * weights[c] for c in lifts) / total, lifts


def test_separation_is_the_k_nn_class_purity_lift_of_scikit_learn(rng):
    x = rng.random((300, 5)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    x[y == 1, 0] *= 0.3  # some structure so that lifts differ between pairs
    ranking = rank_pairs(x, y, RankSpec(k=6, min_class=2))
    unit = _unit(x).astype(np.float64)
    assert len(ranking.pairs) == 10  # every pair of 5 dims, measured in detail
    for pair in ranking.pairs:
        plane = unit[:, [pair["x"], pair["y"]]]
        _, idx = NearestNeighbors(n_neighbors=7).fit(plane).kneighbors(plane)
        same = (y[idx[:, 1:]] == y[:, None]).mean(1)
        separation, lifts = _lifts(same, y)
        assert pair["separation"] == pytest.approx(separation, abs=1e-12)
        best = max(lifts, key=lifts.get)
        assert (pair["best_class"], pair["class_lift"]) == (best, pytest.approx(lifts[best]))
        r = np.corrcoef(unit[:, pair["x"]], unit[:, pair["y"]])[0, 1]
        assert pair["linear"] == pytest.approx(r * r, abs=1e-5)


def test_screening_score_is_the_grid_cell_purity_lift(rng):
    x = rng.random((500, 4)).astype(np.float32)
    y = rng.integers(0, 4, 500)
    x[y == 2, 1] = 0.9
    spec = RankSpec(bins=8, min_class=2)
    screen = rank_pairs(x, y, spec).screen
    unit = _unit(x)
    codes = np.minimum((unit * 8).astype(int), 7)
    for i in range(4):
        assert np.isnan(screen[i, i])
        for j in range(i + 1, 4):
            cell = codes[:, i] * 8 + codes[:, j]
            same = np.empty(500)
            for p in range(500):
                mates = (cell == cell[p]) & (np.arange(500) != p)
                same[p] = (y[mates] == y[p]).mean() if mates.any() else np.nan
            lifts = []
            for c in range(4):
                n = (y == c).sum()
                base = (n - 1) / 499
                ok = (y == c) & ~np.isnan(same)
                lifts.append(((same[ok] - base) / (1 - base)).sum())
            assert screen[i, j] == screen[j, i] == pytest.approx(sum(lifts) / 500, abs=1e-5)
    assert np.nanargmax(screen[1]) in (0, 2, 3)  # dims with class 2 fixed stand out
    assert np.nanmax(screen[1]) > np.nanmax(screen[np.ix_([0, 2, 3], [0, 2, 3])])


def test_the_spanning_tree_is_scipys_and_the_scagnostics_follow_their_definitions(rng):
    pts = rng.random((80, 2))
    pts[:30] = 0.05 * pts[:30] + 0.1  # a clump far from the rest
    pts[-1] = [3.0, 3.0]  # one outlier
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    parent, length = _mst(x, y)
    reference = minimum_spanning_tree(cdist(pts, pts)).toarray()
    assert length.sum() == pytest.approx(reference.sum(), rel=1e-12)
    clumpy, striated, outlying = _scagnostics(x, y)
    edges = [(v, int(parent[v]), float(length[v])) for v in range(80) if parent[v] >= 0]
    lengths = np.array([e[2] for e in edges])
    q25, q75 = np.quantile(lengths, [0.25, 0.75])
    far = q75 + 1.5 * (q75 - q25)
    short = np.zeros(80, bool)
    for a, b, w in edges:
        if w <= far:
            short[a] = short[b] = True
    out = sum(w for a, b, w in edges if not short[a] or not short[b])
    assert outlying == pytest.approx(out / lengths.sum())
    assert outlying > 0.2  # the outlier's long edge
    degree = np.bincount([v for a, b, _ in edges for v in (a, b)], minlength=80)
    straight = 0
    for v in np.flatnonzero(degree == 2):
        nb = [b if a == v else a for a, b, _ in edges if v in (a, b)]
        u, w = pts[nb[0]] - pts[v], pts[nb[1]] - pts[v]
        straight += np.dot(u, w) / (np.linalg.norm(u) * np.linalg.norm(w)) < -0.75
    assert striated == pytest.approx(straight / (degree == 2).sum())
    best = 0.0
    for k, (a, _b, w) in enumerate(edges):  # brute force: cut each edge, measure the runt
        rest = [e for j, e in enumerate(edges) if j != k]
        graph = np.zeros((80, 80))
        for p, q, ww in rest:
            graph[p, q] = ww
        _, comp = connected_components(graph, directed=False)
        side = comp == comp[a]
        small = side if side.sum() <= (~side).sum() else ~side
        if small.sum() < max(5, 80 // 20):
            continue
        runt = max((ww for p, q, ww in rest if small[p] and small[q]), default=0.0)
        best = max(best, 1 - runt / w)
    assert clumpy == pytest.approx(best)
    assert clumpy > 0.8  # the clump is split off by a long edge


def test_a_planted_class_cluster_ranks_first(rng):
    x = rng.random((5000, 40)).astype(np.float16)
    y = rng.integers(0, 5, 5000)
    cluster = y == 3
    x[cluster, 7] = 0.80 + 0.003 * rng.standard_normal(cluster.sum())
    x[cluster, 31] = 0.25 + 0.003 * rng.standard_normal(cluster.sum())
    ranking = rank_pairs(x, y)
    assert (ranking.pairs[0]["x"], ranking.pairs[0]["y"], ranking.pairs[0]["best_class"]) == (
        7,
        31,
        3,
    )
    assert np.nanargmax(ranking.screen[7]) == 31
    assert ranking.cost["pairs"] == 780 and ranking.cost["sampled"] == 4000
    unlabelled = rank_pairs(x, None)
    assert not unlabelled.labelled and "separation" not in unlabelled.pairs[0]


def test_class_spread_matches_numpy(rng):
    pts = rng.standard_normal((400, 2)) * np.where(np.arange(400)[:, None] < 100, 0.1, 1.0)
    labels = (np.arange(400) >= 100).astype(int) + (np.arange(400) >= 250)
    rows = class_spread(pts, labels)
    assert [r["spread"] for r in rows] == sorted(r["spread"] for r in rows)
    for r in rows:
        mine = pts[labels == r["label"]]
        mean = mine.mean(0)
        assert r["count"] == len(mine)
        assert r["mean"] == pytest.approx(mean.tolist())
        assert r["spread"] == pytest.approx(np.sqrt(((mine - mean) ** 2).sum(1).mean()))
        assert r["origin"] == pytest.approx(np.hypot(*mean))
    assert rows[0]["label"] == 0 and rows[0]["spread"] < 0.2  # the tight class first


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: RankSpec(sample=0), "RankSpec.sample is 0: expected a positive integer"),
        (
            lambda: rank_pairs(np.zeros((10, 1))),
            "points of shape (10, 1) cannot be ranked: expected (P, D) with P >= 3 points "
            "and D >= 2 dimensions",
        ),
        (
            lambda: rank_pairs(np.zeros((10, 3)), np.zeros(4)),
            "4 labels for 10 points: expected one label per point",
        ),
    ],
)
def test_bad_input_is_one_line(call, message):
    with pytest.raises(ConvlensError) as info:
        call()
    assert str(info.value) == message


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> convlens.Run:
    return planted_run(tmp_path_factory.mktemp("ranking"))


def test_ranking_route_serves_the_planted_layer(planted):
    client = InProcessClient(create_app([RunView(planted)]))
    header, arrays = client.binary("/api/runs/0/layers/feat/ranking.bin")
    assert (header["layer"], header["dims"], header["labelled"]) == ("feat", 40, True)
    assert (header["pairs"][0]["x"], header["pairs"][0]["y"]) == PLANTED
    assert header["pairs"][0]["best_class"] == PLANTED_CLASS
    screen = arrays["screen"]
    assert screen.shape == (40, 40) and np.isnan(np.diag(screen)).all()
    np.testing.assert_array_equal(screen, screen.T)
    assert header["cost"]["points"] == len(planted.probe())
    assert header["spread"] is None
    bad = client.get("/api/runs/0/layers/feat/ranking.bin?proj=umap")
    assert bad.status_code == 400
    assert bad.json()["error"] == "query parameter 'proj' is 'umap': expected one of 'raw', 'pca'"
    missing = client.get("/api/runs/0/layers/nope/ranking.bin")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("layer 'nope' was not probed in run 'planted'")


def test_a_2d_layer_gets_the_per_class_spread_table(digits_lenet_run, tmp_path):
    run = convlens.Run.create(
        tmp_path / "siamese",
        ModelEntry("siamese", (1, 28, 28), task="embed"),
        DataEntry("digits", digits_lenet_run.classes, digits_lenet_run.normalization),
    )
    run.save_checkpoint(run.build_model(), 0)
    convlens.probe.run(run, limit=200, layers=["fc2", "feat"], projections=())
    client = InProcessClient(create_app([RunView(run)]))
    header, arrays = client.binary("/api/runs/0/layers/feat/ranking.bin")
    assert header["dims"] == 2 and len(header["pairs"]) == 1 and arrays["screen"].shape == (2, 2)
    probe = run.probe()
    emb = probe.embeddings("feat").astype(np.float64)
    spread = {r["label"]: r for r in header["spread"]}
    assert set(spread) == set(np.unique(probe.labels).tolist())
    for label, r in spread.items():
        mine = emb[probe.labels == label]
        assert r["name"] == run.classes[label]
        assert r["mean"] == pytest.approx(mine.mean(0).tolist(), rel=1e-5)
        assert r["count"] == len(mine)
