"""clearance.kernels.uncertainty: DeLong, McNemar, Holm and the Poisson bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from clearance.kernels import (
    bootstrap_auc_accuracy_f1,
    delong_auc,
    delong_paired,
    holm,
    mcnemar,
    percentile_interval,
    poisson_weights,
)
from clearance.kernels._poisson import EDGES

TOL = {"rel": 1e-9, "abs": 1e-12}


def _psi(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _delong_direct(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) by their O(mn) definitions: AUCs and the covariance matrix."""
    pos, neg = y == 1, y == 0
    m, n = pos.sum(), neg.sum()
    v10 = np.array([[np.mean([_psi(x, z) for z in s[neg]]) for x in s[pos]] for s in scores])
    v01 = np.array([[np.mean([_psi(x, z) for x in s[pos]]) for z in s[neg]] for s in scores])
    aucs = v10.mean(axis=1)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


@settings(max_examples=40, deadline=None)
@given(st.integers(4, 40), st.integers(0, 2**32 - 1), st.sampled_from([0, 3, 10]))
def test_delong_matches_direct_definition(n: int, seed: int, levels: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(int)
    y[:4] = [0, 1, 0, 1]
    a = rng.random(n) + 0.3 * y
    b = rng.random(n) + 0.1 * y
    if levels:
        a, b = np.round(a * levels), np.round(b * levels)
    aucs, cov = _delong_direct(y, [a, b])
    single = delong_auc(y, a)
    assert single.auc == pytest.approx(aucs[0], **TOL)
    assert single.auc == pytest.approx(roc_auc_score(y, a), **TOL)
    assert single.variance == pytest.approx(cov[0, 0], **TOL)
    paired = delong_paired(y, a, b)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert paired.auc_b == pytest.approx(aucs[1], **TOL)
    assert paired.diff == pytest.approx(aucs[0] - aucs[1], **TOL)
    assert paired.variance_of_diff == pytest.approx(max(var, 0.0), **TOL)
    if paired.variance_of_diff > 1e-12:
        z = paired.diff / np.sqrt(paired.variance_of_diff)
        assert paired.z == pytest.approx(z, **TOL)
        assert paired.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), **TOL)


def test_delong_identical_models_and_single_class() -> None:
    y = np.array([0, 1, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2])
    res = delong_paired(y, s, s)
    assert res.diff == 0 and res.z == 0 and res.p_value == 1.0
    with pytest.raises(ValueError, match="single class"):
        delong_auc(np.ones(4), np.arange(4.0))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_mcnemar_against_scipy(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    pa = np.where(rng.random(n) < 0.8, y, ~y)
    pb = np.where(rng.random(n) < 0.7, y, ~y)
    ok_a, ok_b = pa == y, pb == y
    b, c = int((ok_a & ~ok_b).sum()), int((~ok_a & ok_b).sum())
    ex = mcnemar(y, pa, pb, exact=True)
    assert (ex.b, ex.c) == (b, c)
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert ex.p_value == pytest.approx(expected, **TOL)
    chi = mcnemar(y, pa, pb, exact=False)
    if b + c:
        stat = (abs(b - c) - 1) ** 2 / (b + c)
        assert chi.statistic == pytest.approx(stat, **TOL)
        assert chi.p_value == pytest.approx(stats.chi2.sf(stat, 1), **TOL)
    else:
        assert chi.p_value == 1.0


def test_holm_step_down() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> monotone .02 .03 .06 .06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]).shape == (0,)
    with pytest.raises(ValueError):
        holm([1.5])


def test_percentile_interval() -> None:
    x = np.arange(101.0)
    assert percentile_interval(x, 0.9) == pytest.approx((5.0, 95.0))
    assert percentile_interval(np.append(x, np.nan), 0.9) == pytest.approx((5.0, 95.0))
    with pytest.raises(ValueError):
        percentile_interval(x, 1.0)


# --------------------------------------------------------------------------- bootstrap


def _data(n: int, seed: int = 0, levels: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.35
    latent = rng.normal(size=n)
    s = y * 0.9 + latent + 0.5 * rng.normal(size=n)
    c = y * 0.7 + latent + 0.6 * rng.normal(size=n)
    if levels:
        s, c = np.round(s * levels) / levels, np.round(c * levels) / levels
    return y, s, c


def test_poisson_edges_are_the_rounded_poisson_cdf() -> None:
    """E_k = 2^32 - round(2^32·P(W ≥ k)): the lookup's probabilities are Poisson(1) to 2^-32."""
    tail = stats.poisson.sf(np.arange(13), 1)  # P(W > k) = P(W ≥ k+1)
    expected = [2**32 - round(2**32 * t) for t in tail[:12]]
    assert list(EDGES) == expected
    assert round(2**32 * tail[12]) == 0  # P(W ≥ 13) vanishes at this resolution
    bounds = np.array([0, *EDGES, 2**32], dtype=np.float64)
    sf = (2**32 - bounds[1:-1]) / 2**32  # P(w ≥ k), k = 1..12: within 2^-33 of Poisson's
    np.testing.assert_allclose(sf, tail[:12], rtol=0, atol=2.0**-33)
    pmf = np.diff(bounds) / 2**32  # so P(w = k) is within 2^-32
    np.testing.assert_allclose(pmf, stats.poisson.pmf(np.arange(13), 1), rtol=0, atol=2.0**-32)
    k = np.arange(13)
    assert float(pmf @ k) == pytest.approx(1.0, abs=2e-9)
    assert float(pmf @ (k - 1.0) ** 2) == pytest.approx(1.0, abs=2e-9)


def test_poisson_weights_have_poisson_mean_variance_and_no_correlation() -> None:
    w = poisson_weights(1, np.arange(200_000), 16).astype(np.float64)  # 3.2M draws
    flat = w.ravel()
    freq = np.bincount(flat.astype(int), minlength=13)[:13] / flat.size
    pmf = stats.poisson.pmf(np.arange(13), 1)
    # each frequency within 5 binomial standard errors of the Poisson(1) probability
    assert np.all(np.abs(freq - pmf) <= 5 * np.sqrt(pmf * (1 - pmf) / flat.size) + 1e-7)
    se = 1 / np.sqrt(flat.size)
    assert flat.mean() == pytest.approx(1.0, abs=5 * se)
    assert flat.var() == pytest.approx(1.0, abs=5 * np.sqrt(2) * se)  # Var(W²) = 2 for Pois(1)
    # independent across resamples and between neighbouring rows
    corr = np.corrcoef(w.T)
    off = corr[~np.eye(16, dtype=bool)]
    assert np.abs(off).max() < 5 / np.sqrt(w.shape[0])
    lag = np.corrcoef(w[1:, 0], w[:-1, 0])[0, 1]
    assert abs(lag) < 5 / np.sqrt(w.shape[0])


def test_poisson_weights_depend_only_on_seed_row_and_resample() -> None:
    rows = np.array([5, 0, 123_456_789, 2**31 + 7, 2**40 + 3])
    a = poisson_weights(42, rows, 50)
    assert a.shape == (5, 50) and a.dtype == np.uint8
    np.testing.assert_array_equal(a[[1, 0]], poisson_weights(42, rows[[1, 0]], 50))
    np.testing.assert_array_equal(a[:, :20], poisson_weights(42, rows, 20))
    assert not np.array_equal(a, poisson_weights(43, rows, 50))
    with pytest.raises(ValueError, match="n_resamples"):
        poisson_weights(1, rows, 0)


@pytest.mark.parametrize(("levels", "block_rows"), [(0, 64), (2, 16), (10, 2048), (0, 2)])
def test_bootstrap_replicates_are_exact_weighted_metrics(levels: int, block_rows: int) -> None:
    """Each resample's AUC/accuracy/F1 equal sklearn's on the explicitly replicated rows."""
    y, s, c = _data(700, seed=levels, levels=levels)
    res = bootstrap_auc_accuracy_f1(
        y, s, 0.3, champion_score=c, n_resamples=6, seed=11, block_rows=block_rows
    )
    weights = poisson_weights(11, np.arange(700), 6).astype(int)
    for k in range(6):
        w = weights[:, k]
        yr, sr, cr = np.repeat(y, w), np.repeat(s, w), np.repeat(c, w)
        assert res.replicates["auc"][k] == pytest.approx(roc_auc_score(yr, sr), **TOL)
        assert res.replicates["champion_auc"][k] == pytest.approx(roc_auc_score(yr, cr), **TOL)
        assert res.replicates["accuracy"][k] == pytest.approx(accuracy_score(yr, sr >= 0.3), **TOL)
        assert res.replicates["f1"][k] == pytest.approx(f1_score(yr, sr >= 0.3), **TOL)
        diff = roc_auc_score(yr, sr) - roc_auc_score(yr, cr)
        assert res.replicates["auc_diff"][k] == pytest.approx(diff, **TOL)


def test_bootstrap_point_estimates() -> None:
    y, s, c = _data(2000, levels=5)
    res = bootstrap_auc_accuracy_f1(y, s, 0.2, champion_score=c, n_resamples=20, seed=1)
    assert res.auc.estimate == pytest.approx(roc_auc_score(y, s), **TOL)
    assert res.accuracy.estimate == pytest.approx(accuracy_score(y, s >= 0.2), **TOL)
    assert res.f1.estimate == pytest.approx(f1_score(y, s >= 0.2), **TOL)
    assert res.champion_auc is not None and res.auc_diff is not None
    assert res.auc_diff.estimate == pytest.approx(roc_auc_score(y, s) - roc_auc_score(y, c), **TOL)


def test_bootstrap_is_reproducible_and_seeded() -> None:
    y, s, c = _data(5000)
    kw = {"champion_score": c, "n_resamples": 30}
    a = bootstrap_auc_accuracy_f1(y, s, 0.5, seed=3, **kw)
    b = bootstrap_auc_accuracy_f1(y, s, 0.5, seed=3, n_threads=1, block_rows=256, **kw)
    other = bootstrap_auc_accuracy_f1(y, s, 0.5, seed=4, **kw)
    for key, rep in a.replicates.items():
        np.testing.assert_array_equal(rep, b.replicates[key])
        assert not np.array_equal(rep, other.replicates[key])
    assert a == b


def test_bootstrap_interval_is_reproducible_for_a_seed() -> None:
    """Same seed, any thread count, any call order: bit-identical intervals (200 resamples)."""
    y, s, c = _data(30_000, seed=4, levels=20)
    runs = [
        bootstrap_auc_accuracy_f1(y, s, 0.4, champion_score=c, seed=7, n_threads=t)
        for t in (1, 2, 4, 1)
    ]
    for r in runs[1:]:
        assert r == runs[0]  # intervals (estimate, low, high) compare exactly
        for key, rep in runs[0].replicates.items():
            np.testing.assert_array_equal(r.replicates[key], rep)
    # the first resamples do not depend on how many are drawn
    few = bootstrap_auc_accuracy_f1(y, s, 0.4, champion_score=c, seed=7, n_resamples=33)
    for key, rep in few.replicates.items():
        np.testing.assert_array_equal(rep, runs[0].replicates[key][:33])


@pytest.mark.parametrize("levels", [0, 3])
def test_interval_contains_estimate(levels: int) -> None:
    y, s, c = _data(20_000, levels=levels)
    res = bootstrap_auc_accuracy_f1(y, s, 0.4, champion_score=c, n_resamples=100, seed=5)
    for iv in (res.auc, res.accuracy, res.f1, res.champion_auc, res.auc_diff):
        assert iv is not None
        assert iv.low <= iv.estimate <= iv.high


def test_interval_width_shrinks_like_root_n() -> None:
    widths = []
    for n in (4_000, 64_000):
        y, s, c = _data(n, seed=9)
        res = bootstrap_auc_accuracy_f1(y, s, 0.4, champion_score=c, n_resamples=200, seed=2)
        assert res.auc_diff is not None
        widths.append((res.auc.high - res.auc.low, res.auc_diff.high - res.auc_diff.low))
    for small, large in zip(*widths, strict=True):
        assert 2.5 < small / large < 6.5  # sqrt(16) = 4


def test_bootstrap_interval_matches_delong_scale() -> None:
    y, s, c = _data(30_000, seed=6)
    res = bootstrap_auc_accuracy_f1(y, s, 0.4, champion_score=c, n_resamples=400, seed=8)
    dl = delong_paired(y, s, c)
    assert res.auc_diff is not None
    half = (res.auc_diff.high - res.auc_diff.low) / 2
    assert half == pytest.approx(1.96 * np.sqrt(dl.variance_of_diff), rel=0.25)


def test_bootstrap_without_champion_and_errors() -> None:
    y, s, _ = _data(300)
    res = bootstrap_auc_accuracy_f1(y, s, 0.0, n_resamples=5, seed=0)
    assert res.auc_diff is None and "auc_diff" not in res.replicates
    with pytest.raises(ValueError, match="single class"):
        bootstrap_auc_accuracy_f1(np.ones(10), np.arange(10.0), 0.5, seed=0)
    with pytest.raises(ValueError, match="block_rows"):
        bootstrap_auc_accuracy_f1(y, s, 0.5, seed=0, block_rows=100)
    with pytest.raises(ValueError, match="same length"):
        bootstrap_auc_accuracy_f1(y, s, 0.5, champion_score=s[:-1], seed=0)


def test_all_ties_single_group() -> None:
    y = np.array([0, 1] * 50)
    res = bootstrap_auc_accuracy_f1(y, np.ones(100), 0.5, n_resamples=10, seed=0, block_rows=8)
    np.testing.assert_allclose(res.replicates["auc"], 0.5)
    assert 0.0 < res.replicates["accuracy"].min() <= res.replicates["accuracy"].max() < 1.0


@pytest.mark.parametrize(
    ("n", "levels", "threshold", "n_resamples"),
    [
        (700, 0, 0.3, 6),
        (700, 2, 0.3, 6),
        (5000, 10, 0.4, 200),
        (20_000, 0, 0.5, 37),
        (9, 1, 0.0, 3),
    ],
)
def test_numba_engine_equals_numpy_reference(
    n: int, levels: int, threshold: float, n_resamples: int
) -> None:
    """The compiled engine computes the same integers as the numpy reference: identical output."""
    y, s, c = _data(n, seed=levels, levels=levels)
    y[:2] = [False, True]
    ref = bootstrap_auc_accuracy_f1(
        y, s, threshold, champion_score=c, n_resamples=n_resamples, seed=11, engine="numpy"
    )
    for threads in (1, 2, 3):
        got = bootstrap_auc_accuracy_f1(
            y, s, threshold, champion_score=c, n_resamples=n_resamples, seed=11, n_threads=threads
        )
        assert got == ref
        assert got.replicates.keys() == ref.replicates.keys()
        for key, rep in ref.replicates.items():
            np.testing.assert_array_equal(got.replicates[key], rep)
    with pytest.raises(ValueError, match="engine"):
        bootstrap_auc_accuracy_f1(y, s, 0.5, seed=0, engine="cuda")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- compiled parts


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["normal", "levels", "near", "signed_zero", "constant"])
def test_rank_scores_is_a_stable_sort_by_score_then_label(kind: str, threads: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from clearance.kernels._ranks import rank_scores

    rng = np.random.default_rng(3)
    n = 70_000  # above the size where the radix sort splits its passes over threads
    y = rng.random(n) < 0.3
    s = {
        "normal": rng.normal(size=n) * 1e3,
        "levels": np.round(rng.normal(size=n), 1),
        # distinct values that agree in their top bits: long runs for the final pass to sort
        "near": 0.5 + rng.integers(0, 1 << 20, n) * 2.0**-52,
        "signed_zero": np.where(rng.random(n) < 0.5, 0.0, -0.0) * (rng.random(n) < 0.3),
        "constant": np.full(n, 7.0),
    }[kind]
    with ThreadPoolExecutor(threads) as pool:
        r = rank_scores(y, s, pool if threads > 1 else None, threads)
    expected = np.lexsort((y, s))  # stable: ties by label (negatives first), then row
    np.testing.assert_array_equal(r.order, expected)
    np.testing.assert_array_equal(r.pos, y[expected])
    assert r.unit_auc(int(y.sum()), int((~y).sum())) == pytest.approx(roc_auc_score(y, s), **TOL)


def test_compiled_weights_equal_the_numpy_definition_for_large_row_numbers() -> None:
    from clearance.kernels import _poisson

    salt, keys = _poisson.stream(9, 40)
    rows = np.array([0, 1, 2**31 - 1, 2**31, 2**32 + 5, 2**40 + 3, 2**62 + 1], dtype=np.int64)
    u = np.empty(40, np.uint32)
    w = np.empty(40, np.int32)
    expected = _poisson.weights(rows, keys, salt)
    for row, exp in zip(rows, expected, strict=True):
        _poisson._row_weights(np.int64(row), np.uint32(salt), keys, u, w)
        np.testing.assert_array_equal(w, exp)
    assert expected.max() >= 3  # some non-trivial weights were compared


def test_weight_blocks_are_the_weight_matrix_column_for_column() -> None:
    from clearance.kernels import poisson_weight_blocks

    rows = np.arange(5_000)
    full = poisson_weights(7, rows, 37)
    blocks = list(poisson_weight_blocks(7, rows, 37, max_bytes=6 * 5_000 * 4))
    assert [start for start, _ in blocks] == list(range(0, 37, 4))
    assert all(b.shape[1] <= 4 for _, b in blocks)
    np.testing.assert_array_equal(np.hstack([b for _, b in blocks]), full)
