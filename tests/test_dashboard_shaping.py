"""The dashboard's data shaping against brute-force and numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from _dashboard_helpers import ema_reference, minmax_reference
from convlens.explorer.dashboard import (
    DashboardError,
    ema_smooth,
    minmax_downsample,
    percentile_bands,
    rebin,
    ridgeline,
    weight_image,
)
from convlens.explorer.dashboard.heatmaps import block_mean
from convlens.record import PERCENTILES, Histograms, summarize


def curve(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Irregular integer steps with gaps, a noisy falling curve with NaN/inf and ties."""
    steps = np.cumsum(rng.integers(1, 6, n)).astype(np.int64)
    values = np.round(np.exp(-steps / steps[-1] * 3) + rng.normal(0, 0.2, n), 1)
    values[rng.choice(n, n // 50, replace=False)] = np.nan
    values[rng.choice(n, 3, replace=False)] = np.inf
    return steps, values


@pytest.mark.parametrize("n,buckets", [(2000, 37), (513, 256), (5000, 1000)])
def test_minmax_downsample_keeps_each_buckets_min_and_max_like_brute_force(rng, n, buckets):
    steps, values = curve(rng, n)
    got = minmax_downsample(steps, values, buckets)
    expected = sorted(minmax_reference(steps, values, buckets))
    assert got.index.tolist() == expected
    assert got.step.tolist() == steps[expected].tolist()
    assert got.buckets == buckets and got.in_range == n
    assert got.nonfinite == int((~np.isfinite(values)).sum())
    # the envelope survives: the extremes of the whole curve are kept, and the first step
    finite = np.isfinite(values)
    assert np.nanmax(got.value[np.isfinite(got.value)]) == values[finite].max()
    assert np.nanmin(got.value) == values[finite].min()


def test_minmax_downsample_of_a_step_range_and_of_short_curves(rng):
    steps, values = curve(rng, 3000)
    a, b = int(steps[400]), int(steps[2500])
    got = minmax_downsample(steps, values, 50, start=a, end=b)
    inside = np.flatnonzero((steps >= a) & (steps <= b))
    ref = sorted(int(inside[i]) for i in minmax_reference(steps[inside], values[inside], 50))
    assert got.index.tolist() == ref
    short = minmax_downsample(steps[:60], values[:60], 30)  # 60 <= 2 * 30: every point kept
    assert short.index.tolist() == list(range(60)) and short.buckets == 0
    with pytest.raises(DashboardError, match="buckets 0 must be at least 1"):
        minmax_downsample(steps, values, 0)


def test_early_steps_are_never_dropped(rng):
    """TensorBoard's reservoir keeps ~1000 of 100,000 points at random; here the first
    bucket's extremes (the first steps' high loss) are always there."""
    steps = np.arange(1, 100_001)
    values = 2.3 * np.exp(-steps / 300.0) + rng.normal(0, 0.01, steps.size)
    got = minmax_downsample(steps, values, 1000)
    assert got.value.max() == values.max() and got.step[0] <= 100


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.95, 0.999])
def test_ema_matches_tensorboards_debiased_formula(rng, weight):
    _, values = curve(rng, 700)
    got = ema_smooth(values, weight)
    np.testing.assert_allclose(got.value, ema_reference(values, weight), rtol=1e-10)
    assert got.count == int(np.isfinite(values).sum())


def test_ema_rejects_a_weight_outside_0_1():
    with pytest.raises(DashboardError) as err:
        ema_smooth(np.ones(3), 1.0)
    assert str(err.value) == (
        "smoothing weight 1.0 is out of range: expected 0 <= weight < 1 "
        "(0 = no smoothing, 0.6 is TensorBoard's default)"
    )


def fake_histograms(rng: np.random.Generator, steps: np.ndarray, spread: float = 1.0) -> Histograms:
    """Summaries of normal samples that widen over time (computed by the recorder's summarize)."""
    rows = [summarize(rng.normal(0, spread * (1 + s / 100), 500).astype(np.float32)) for s in steps]

    def stack(name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in rows])

    return Histograms(
        "p.weight", "weight", steps, steps * 1.0, stack("count"), stack("nonfinite"),
        stack("min"), stack("max"), stack("mean"), stack("std"),
        np.array(PERCENTILES, np.float32), stack("percentiles"), stack("edges"), stack("counts"),
    )  # fmt: skip


def test_percentile_bands_downsampled_keep_the_outer_envelope(rng):
    steps = np.arange(0, 1000, 10)
    h = fake_histograms(rng, steps)
    full = percentile_bands(h, 1000)
    np.testing.assert_array_equal(full.percentiles, h.percentiles)
    got = percentile_bands(h, 7)
    levels = list(PERCENTILES)
    span = int(steps[-1]) - int(steps[0]) + 1
    for b in range(7):  # brute force per bucket
        rows = [i for i, s in enumerate(steps) if b * span <= (s - steps[0]) * 7 < (b + 1) * span]
        block = h.percentiles[rows]
        assert got.step[b] == steps[rows[-1]]
        for j, level in enumerate(levels):
            ref = {True: block[:, j].min(), False: block[:, j].max()}[level < 50]
            if level == 50:
                ref = np.median(block[:, j])
            assert got.percentiles[b, j] == pytest.approx(ref, rel=1e-6)


def rebin_reference(edges: np.ndarray, counts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    out = np.zeros(len(grid) - 1)
    for i in range(len(counts)):
        for j in range(len(out)):
            overlap = min(edges[i + 1], grid[j + 1]) - max(edges[i], grid[j])
            if overlap > 0:
                out[j] += counts[i] * overlap / (edges[i + 1] - edges[i])
    return out


def test_rebin_spreads_counts_by_overlap(rng):
    edges = np.sort(rng.uniform(-2, 2, 9))
    counts = rng.integers(0, 50, 8)
    grid = np.linspace(-3, 1.5, 23)
    np.testing.assert_allclose(rebin(edges, counts, grid), rebin_reference(edges, counts, grid))


def test_ridgeline_overlays_two_runs_on_common_bins(rng):
    a = fake_histograms(rng, np.arange(0, 200, 10))
    b = fake_histograms(rng, np.arange(0, 100, 10), spread=3.0)  # shorter and wider
    r = ridgeline([a, b], rows=5, bins=40)
    assert r.targets.tolist() == [0, 50, 100, 140, 190]
    assert r.steps.tolist() == [[0, 50, 100, 140, 190], [0, 50, 90, 90, 90]]
    assert r.edges[0] == pytest.approx(min(a.min[[0, 5, 10, 14, 19]].min(), b.min[[0, 5, 9]].min()))
    np.testing.assert_allclose(r.density.sum(-1), 1.0, atol=1e-6)  # all mass inside
    k = 2
    ref = rebin_reference(b.edges[9], b.counts[9], r.edges) / b.counts[9].sum()
    np.testing.assert_allclose(r.density[1, k], ref, atol=1e-6)


def test_ridgeline_bad_arguments_say_what_was_expected(rng):
    h = fake_histograms(rng, np.arange(3))
    with pytest.raises(DashboardError, match=r"^rows 0 is out of range: expected 1..200$"):
        ridgeline([h], rows=0)
    with pytest.raises(DashboardError, match=r"^bins 1 is out of range: expected 2..512$"):
        ridgeline([h], bins=1)
    with pytest.raises(DashboardError, match=r"^value range lo=1.0, hi=0.5 is empty"):
        ridgeline([h], lo=1.0, hi=0.5)


def test_weight_image_lays_out_kernels_with_gaps(rng):
    w = rng.normal(size=(3, 2, 2, 3)).astype(np.float32)  # 3 outputs x 2 inputs of 2x3
    img = weight_image(w)
    assert img.shape == (3 * 3 - 1, 2 * 4 - 1)
    for o in range(3):
        for i in range(2):
            np.testing.assert_array_equal(img[o * 3 : o * 3 + 2, i * 4 : i * 4 + 3], w[o, i])
    assert np.isnan(img[2, :]).all() and np.isnan(img[:, 3]).all()
    single = weight_image(rng.normal(size=(5, 1, 2, 2)))  # 5 kernels of one input: 3 x 2 grid
    assert single.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert np.isnan(single[3:5, 6:8]).all()  # the sixth cell is empty
    vec = weight_image(np.arange(5.0))
    assert vec.shape == (2, 3) and np.isnan(vec[1, 2])


def test_block_mean_averages_finite_cells(rng):
    img = rng.normal(size=(10, 7)).astype(np.float32)
    img[0, 0] = np.nan
    got, f = block_mean(img, 4)
    assert f == 3 and got.shape == (4, 3)
    for r in range(4):
        for c in range(3):
            block = img[r * 3 : r * 3 + 3, c * 3 : c * 3 + 3]
            assert got[r, c] == pytest.approx(np.nanmean(block), rel=1e-5)
