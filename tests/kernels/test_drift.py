"""Drift kernels agree with scipy (and the PSI definitions are pinned down)."""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon
from scipy.stats.contingency import chi2_contingency

from clearance.kernels import drift

TOL = 1e-9

finite = hst.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
# Few distinct values so that ties are common.
tied = hst.integers(-5, 5).map(float)
sample = hst.one_of(
    arrays(np.float64, hst.integers(1, 60), elements=finite),
    arrays(np.float64, hst.integers(1, 60), elements=tied),
)


def _close(a: float, b: float, tol: float = TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample, sample)
def test_ks_wasserstein_match_scipy_on_random_samples(a: np.ndarray, b: np.ndarray) -> None:
    ref = st.ks_2samp(a, b)
    got = drift.ks_2samp(a, b)
    assert _close(got.statistic, float(ref.statistic))
    assert _close(got.pvalue, float(ref.pvalue))
    assert _close(drift.wasserstein(a, b), float(st.wasserstein_distance(a, b)))


@pytest.mark.parametrize(
    ("n1", "n2", "shift", "decimals"),
    [
        (20_000, 15_000, 0.0, None),
        (20_000, 15_000, 0.05, None),
        (30_001, 30_001, 0.02, 1),  # heavy ties, equal sizes
        (50_000, 12_345, 0.3, None),
        (100_000, 99_999, 0.015, None),
        (60_000, 70_000, 0.0, 2),
    ],
)
def test_ks_and_wasserstein_asymptotic_regime(
    n1: int, n2: int, shift: float, decimals: int | None
) -> None:
    rng = np.random.default_rng(n1 + n2)
    a, b = rng.normal(size=n1), rng.normal(shift, size=n2)
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    ref = st.ks_2samp(a, b)
    got = drift.ks_2samp(a, b)
    assert got.method == "asymp"
    assert got.statistic == pytest.approx(float(ref.statistic), rel=1e-12, abs=1e-15)
    assert got.pvalue == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)
    assert got.statistic_sign == int(ref.statistic_sign)
    w = float(st.wasserstein_distance(a, b))
    assert drift.wasserstein(a, b) == pytest.approx(w, rel=1e-9)


@pytest.mark.parametrize("n", [141, 999, 5_000, 20_001, 60_000, 150_000])
@pytest.mark.parametrize("c", [0.05, 0.5, 1.0, 2.19, 2.2, 3.7, 12.0, 80.0, 300.0])
def test_kolmogorov_sf_matches_scipy_kstwo(n: int, c: float) -> None:
    """All routes of the asymptotic p-value, including the replaced slow ones."""
    x = float(np.sqrt(c / n))
    expected = float(st.kstwo.sf(x, n))
    assert drift.kolmogorov_sf(n, x) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("n", [150, 1_000, 5_000, 50_000, 100_000])
@pytest.mark.parametrize("f", [0.3, 0.9, 1.0])
def test_kolmogorov_sf_durbin_branch(n: int, f: float) -> None:
    x = f * (1.4 / n) ** (2 / 3)  # n x^1.5 <= 1.4: scipy's Durbin-matrix region
    assert drift.kolmogorov_sf(n, x) == pytest.approx(float(st.kstwo.sf(x, n)), abs=1e-13)


def test_kolmogorov_sf_beyond_scipy_exact_limit() -> None:
    # n > 1e6: scipy.special.smirnov switches to its own approximation; so do we.
    for c in (2.2, 10.0, 100.0):
        n = 3_000_000
        x = float(np.sqrt(c / n))
        assert drift.kolmogorov_sf(n, x) == pytest.approx(float(st.kstwo.sf(x, n)), rel=1e-12)


def test_ks_pvalue_at_500k_effective_rows_is_fast() -> None:
    """The trap of issue 4: scipy's kstwo.sf takes ~1-2 s per call around n = 500k."""
    n = 500_000
    t0 = time.perf_counter()
    for c in (2.2, 3.7, 12.0, 80.0):
        drift.kolmogorov_sf(n, float(np.sqrt(c / n)))
    per_call = (time.perf_counter() - t0) / 4
    assert per_call < 0.05
    # and a full 1M x 1M KS test stays well under a second after the sort
    rng = np.random.default_rng(5)
    a = drift.sort_column(rng.normal(size=1_000_000))
    b = drift.sort_column(rng.normal(0.003, size=1_000_000))
    t0 = time.perf_counter()
    res = drift.ks_2samp(a, b)
    assert time.perf_counter() - t0 < 1.0
    assert res.method == "asymp" and 0.0 <= res.pvalue <= 1.0


def test_ks_pvalue_at_500k_matches_scipy_once() -> None:
    n = 500_000
    x = float(np.sqrt(3.7 / n))
    assert drift.kolmogorov_sf(n, x) == pytest.approx(float(st.kstwo.sf(x, n)), rel=1e-12)


def test_presorted_and_sorted_column_reuse() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=3000)
    b = rng.normal(0.1, size=2000)
    a[::97] = np.nan
    b[::50] = np.nan
    sa, sb = np.sort(a), np.sort(b)
    r1 = drift.ks_2samp(a, b)
    r2 = drift.ks_2samp(sa, sb, assume_sorted=True)
    r3 = drift.ks_2samp(drift.sort_column(a), drift.sort_column(b))
    assert r1 == r2 == r3
    assert r1.null_reference == int(np.isnan(a).sum())
    assert r1.null_current == int(np.isnan(b).sum())
    ref = st.ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)])
    assert r1.statistic == pytest.approx(float(ref.statistic))
    assert r1.pvalue == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_column_drift_one_sort_matches_individual_kernels() -> None:
    rng = np.random.default_rng(2)
    a = rng.lognormal(size=40_000)
    b = rng.lognormal(0.05, size=30_000)
    a[:400] = np.nan
    cd = drift.column_drift(a, b)
    ref = st.ks_2samp(a[400:], b)
    assert cd.ks.statistic == pytest.approx(float(ref.statistic))
    assert cd.ks.pvalue == pytest.approx(float(ref.pvalue), rel=1e-9)
    assert cd.wasserstein == pytest.approx(float(st.wasserstein_distance(a[400:], b)), rel=1e-9)
    assert cd.psi.value == drift.psi(a, b).value
    assert cd.null_reference == 400 and cd.null_current == 0


def _psi_reference(ref: np.ndarray, cur: np.ndarray, bins: int, eps: float) -> float:
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    r = np.array([np.sum((ref >= lo) & (ref < hi)) for lo, hi in itertools.pairwise(full)])
    c = np.array([np.sum((cur >= lo) & (cur < hi)) for lo, hi in itertools.pairwise(full)])
    rp, cp = r / ref.size, c / cur.size
    rp = np.where(rp == 0, eps, rp)
    cp = np.where(cp == 0, eps, cp)
    return float(np.sum((cp - rp) * np.log(cp / rp)))


@settings(max_examples=100, deadline=None)
@given(sample, sample, hst.integers(1, 12))
def test_psi_is_reference_quantile_psi(a: np.ndarray, b: np.ndarray, bins: int) -> None:
    got = drift.psi(a, b, bins)
    assert _close(got.value, _psi_reference(a, b, bins, 1e-4))
    assert got.binning == "reference_quantile"
    assert got.reference_proportions.sum() == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(sample, sample, hst.integers(1, 12))
def test_psi_equal_width_is_pooled_histogram_psi(a: np.ndarray, b: np.ndarray, bins: int) -> None:
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=bins)
    rp = np.histogram(a, edges)[0] / a.size
    cp = np.histogram(b, edges)[0] / b.size
    rp = np.where(rp == 0, 1e-4, rp)
    cp = np.where(cp == 0, 1e-4, cp)
    expected = float(np.sum((cp - rp) * np.log(cp / rp)))
    assert _close(drift.psi_equal_width(a, b, bins).value, expected)


def test_the_two_psi_statistics_differ() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=10_000)
    # A real location shift of 0.5 sd, plus ten far outliers in the current sample.
    b = np.concatenate([rng.normal(0.5, size=9_990), [50.0] * 10])
    q, w = drift.psi(a, b).value, drift.psi_equal_width(a, b).value
    assert q > 0.2  # reference-quantile PSI sees the shift
    assert w < q / 3  # equal-width bins over the pooled range are stretched by the outliers
    assert drift.psi(a, a).value == 0.0


def test_constant_and_edge_columns() -> None:
    c = np.full(500, 3.0)
    res = drift.column_drift(c, c)
    assert res.ks.statistic == 0.0 and res.ks.pvalue == 1.0
    assert res.wasserstein == 0.0 and res.psi.value == 0.0
    other = np.full(300, 4.0)
    res2 = drift.column_drift(c, other)
    assert res2.ks.statistic == pytest.approx(float(st.ks_2samp(c, other).statistic))
    assert res2.wasserstein == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no non-null"):
        drift.ks_2samp(np.full(5, np.nan), c)
    with pytest.raises(ValueError):
        drift.ks_2samp(np.ones((2, 2)), c)
    single = drift.ks_2samp([1.0], [2.0])
    assert single.statistic == 1.0


@settings(max_examples=150, deadline=None)
@given(
    hst.lists(hst.integers(0, 50), min_size=2, max_size=8),
    hst.lists(hst.integers(0, 50), min_size=2, max_size=8),
    hst.booleans(),
)
def test_chi_square_matches_chi2_contingency(r: list[int], c: list[int], corr: bool) -> None:
    k = min(len(r), len(c))
    rc, cc = np.array(r[:k]), np.array(c[:k])
    got = drift.chi_square_counts(rc, cc, correction=corr)
    keep = (rc + cc) > 0
    table = np.stack([rc[keep], cc[keep]])
    if keep.sum() < 2 or rc.sum() == 0 or cc.sum() == 0:
        assert got.pvalue == 1.0 and got.statistic == 0.0
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = chi2_contingency(table, correction=corr)
    assert _close(got.statistic, float(ref.statistic))
    assert _close(got.pvalue, float(ref.pvalue))
    assert got.dof == ref.dof
    assert got.yates == (corr and ref.dof == 1)


@settings(max_examples=150, deadline=None)
@given(
    arrays(np.float64, 6, elements=hst.floats(0, 100)),
    arrays(np.float64, 6, elements=hst.floats(0, 100)),
    hst.sampled_from([None, 2.0, 10.0]),
)
def test_jensen_shannon_matches_scipy(p: np.ndarray, q: np.ndarray, base: float | None) -> None:
    if p.sum() == 0 or q.sum() == 0:
        return
    got = drift.jensen_shannon(p, q, base=base)
    ref = float(jensenshannon(p, q, base=base))
    if np.isnan(ref):  # scipy takes sqrt of a rounding-negative ~-1e-17; we clip it to 0
        ref = 0.0
    if np.isinf(ref):  # scipy's mixture underflows for subnormal masses (see the test below)
        ref = 0.0
    assert abs(got.distance - ref) <= 1e-9
    assert got.divergence == pytest.approx(got.distance**2)


def test_jensen_shannon_of_subnormal_masses_is_finite() -> None:
    """Found by the property above on a fresh clone: 5e-324 halves to 0 in the mixture, and
    scipy answers inf where the divergence is below 1e-300."""
    p = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    q = np.array([1.0, *[5e-324] * 5])
    assert np.isinf(jensenshannon(p, q))
    got = drift.jensen_shannon(p, q)
    assert 0.0 <= got.divergence < 1e-300 and got.distance < 1e-150


def test_categorical_drift_counts_strings_and_codes() -> None:
    ref = np.array(["a", "b", "a", None, "c"], dtype=object)
    cur = np.array(["a", "a", "d", "d", None, None], dtype=object)
    res = drift.categorical_drift(ref, cur, base=2)
    assert list(res.categories) == ["a", "b", "c", "d"]
    assert res.reference_counts.tolist() == [2, 1, 1, 0]
    assert res.current_counts.tolist() == [2, 0, 0, 2]
    assert (res.null_reference, res.null_current) == (1, 2)
    table = np.stack([res.reference_counts, res.current_counts])
    assert res.chi_square.statistic == pytest.approx(float(chi2_contingency(table).statistic))
    js = float(jensenshannon([2, 1, 1, 0], [2, 0, 0, 2], base=2))
    assert res.jensen_shannon.distance == pytest.approx(js)
    codes = drift.categorical_drift(np.array([0, 1, 1, 2]), np.array([2, 2, 1]), n_categories=4)
    assert codes.reference_counts.tolist() == [1, 2, 1, 0]
    assert codes.chi_square.dof == 2  # the empty category 3 is dropped
    same = drift.categorical_drift(np.array([1, 1]), np.array([1]))
    assert same.chi_square.pvalue == 1.0 and same.jensen_shannon.distance == 0.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample, sample, hst.booleans())
def test_merge_walk_equals_numpy_reference(a: np.ndarray, b: np.ndarray, same: bool) -> None:
    """The compiled merge walk gives the reference's KS numbers and locations exactly."""
    a = np.sort(a)
    b = a.copy() if same else np.sort(b)
    assert drift._ks_statistic_sorted(a, b) == drift._ks_statistic_sorted_numpy(a, b)
    w_ref = drift._wasserstein_sorted_numpy(a, b)
    assert drift._wasserstein_sorted(a, b) == pytest.approx(w_ref, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(("n1", "n2", "decimals"), [(5_000, 7_777, None), (30_000, 30_000, 1)])
def test_merge_walk_equals_numpy_reference_large(n1: int, n2: int, decimals: int | None) -> None:
    rng = np.random.default_rng(n1)
    a, b = np.sort(rng.normal(size=n1)), np.sort(rng.normal(0.02, size=n2))
    if decimals is not None:
        a, b = np.round(a, decimals), np.round(b, decimals)
    assert drift._ks_statistic_sorted(a, b) == drift._ks_statistic_sorted_numpy(a, b)
    w_ref = drift._wasserstein_sorted_numpy(a, b)
    assert drift._wasserstein_sorted(a, b) == pytest.approx(w_ref, rel=1e-12)
