"""Statistics from summaries equal the in-memory kernels on the same data (ADR 0009)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance import kernels as k
from clearance.kernels import summaries as S


class MemoryTable:
    """The Aggregator protocol over an array: what an engine computes, in numpy."""

    def __init__(self, x: np.ndarray, seed: int = 0) -> None:
        self.nulls = int(np.isnan(x).sum())
        self.x = x[~np.isnan(x)]
        self.rng = np.random.default_rng(seed)
        self.value_queries = 0

    def profile(self, column: str) -> S.ColumnProfile:
        lo, hi = (float(self.x.min()), float(self.x.max())) if self.x.size else (None, None)
        distinct = int(np.unique(self.x).size)
        return S.ColumnProfile("numeric", int(self.x.size), self.nulls, lo, hi, distinct)

    def value_counts(
        self, column: str, limit: int, ranges: Sequence[tuple[float, float]] = ()
    ) -> S.ValueCounts | None:
        self.value_queries += 1
        x = self.x
        if ranges:
            keep = np.zeros(x.size, bool)
            for lo, hi in ranges:
                keep |= (x >= lo) & (x < hi)
            x = x[keep]
        v = S.value_counts(x)
        return None if v.values.size > limit else v

    def bin_counts(self, column: str, edges: Any) -> Any:
        return np.bincount(np.searchsorted(edges, self.x, side="right"), minlength=len(edges) + 1)

    def sample(self, column: str, size: int) -> Any:
        return self.rng.choice(self.x, min(size, self.x.size), replace=False)

    def category_counts(self, column: str, limit: int) -> tuple[dict[Any, int], int] | None:
        raise NotImplementedError


samples = st.lists(
    st.one_of(st.integers(-20, 20).map(float), st.just(float("nan"))), min_size=1, max_size=80
)


def _same(got: k.ColumnDrift, want: k.ColumnDrift, w_rel: float = 1e-12) -> None:
    assert got.ks.statistic == want.ks.statistic
    assert got.ks.pvalue == want.ks.pvalue
    assert got.ks.statistic_location == want.ks.statistic_location
    assert got.psi.value == want.psi.value
    assert np.array_equal(got.psi.edges, want.psi.edges)
    assert got.wasserstein == pytest.approx(want.wasserstein, rel=w_rel, abs=1e-15)
    assert (got.null_reference, got.null_current) == (want.null_reference, want.null_current)


@settings(max_examples=60, deadline=None)
@given(samples, samples, st.integers(2, 12))
def test_exact_route_equals_column_drift(a: list[float], b: list[float], bins: int) -> None:
    x, y = np.array(a), np.array(b)
    if np.isnan(x).all() or np.isnan(y).all():
        with pytest.raises(ValueError, match="no non-null values"):
            S.pushed_numeric_drift(MemoryTable(x), MemoryTable(y), "c", bins=bins)
        return
    got = S.pushed_numeric_drift(MemoryTable(x), MemoryTable(y), "c", bins=bins)
    assert got.exact and got.route == "exact"
    _same(got.drift, k.column_drift(x, y, bins=bins))


@pytest.mark.parametrize("decimals", [None, 2])
def test_large_samples_exact_histogram_and_sketch_routes(decimals: int | None) -> None:
    """Past 10,000 values (the asymptotic p-value): the histogram route, and the sketch route
    with its bins resolved, both give the in-memory numbers."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=40_000), rng.normal(0.02, 1.05, size=30_000)
    if decimals is not None:
        x, y = x.round(decimals), y.round(decimals)
    x[:50] = np.nan
    want = k.column_drift(x, y)
    exact = S.pushed_numeric_drift(MemoryTable(x), MemoryTable(y), "c")
    assert exact.route == "exact"
    _same(exact.drift, want)
    sketch = S.pushed_numeric_drift(MemoryTable(x), MemoryTable(y), "c", exact_distinct=0)
    assert sketch.route == "binned" and sketch.ks_error == 0.0
    assert sketch.drift.ks.statistic == want.ks.statistic
    assert sketch.drift.ks.pvalue == want.ks.pvalue
    assert sketch.drift.psi.value == want.psi.value
    assert abs(sketch.drift.wasserstein - want.wasserstein) <= sketch.wasserstein_error + 1e-15
    if decimals is None:  # continuous values: the bins are narrow
        assert sketch.wasserstein_error <= 0.02 * want.wasserstein


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.integers(4, 64), st.integers(0, 3000))
def test_bounds_hold_whatever_is_left_unresolved(seed: int, n_bins: int, budget: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=12_000)
    y = rng.normal(rng.uniform(-0.1, 0.1), 1.0, size=11_000)
    want = k.column_drift(x, y)
    got = S.pushed_numeric_drift(
        MemoryTable(x, seed), MemoryTable(y, seed + 1), "c",
        exact_distinct=0, sketch_bins=n_bins, resolve_rows=budget,
    )  # fmt: skip
    d = got.drift
    assert d.ks.statistic <= want.ks.statistic <= d.ks.statistic + got.ks_error + 1e-15
    assert abs(d.wasserstein - want.wasserstein) <= got.wasserstein_error * (1 + 1e-9) + 1e-15
    assert d.psi.value == want.psi.value  # PSI's bins are always resolved


def test_merged_partitions_are_the_whole() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 30, 1000).astype(float)
    parts = [S.value_counts(p) for p in np.array_split(x, 7)]
    whole = S.value_counts(x)
    merged = S.merge_value_counts(parts)
    assert np.array_equal(merged.values, whole.values)
    assert np.array_equal(merged.counts, whole.counts)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.booleans()), min_size=2, max_size=200))
def test_auc_from_score_counts_equals_roc_auc(rows: list[tuple[int, bool]]) -> None:
    score = np.array([s for s, _ in rows], float)
    y = np.array([lab for _, lab in rows])
    if y.all() or not y.any():
        assert np.isnan(S.auc_from_score_counts(np.bincount(score.astype(int)[y]), [0]))
        return
    pos = np.bincount(score.astype(int)[y], minlength=10)
    neg = np.bincount(score.astype(int)[~y], minlength=10)
    assert S.auc_from_score_counts(pos, neg) == pytest.approx(k.roc_auc(y, score), abs=1e-15)


def test_resolved_counts_that_disagree_are_refused() -> None:
    s = S.DriftSummary(np.array([0.0]), np.array([1, 1]), np.array([1, 1]), -1.0, 1.0)
    wrong = S.ValueCounts(np.array([-1.0]), np.array([2]))
    with pytest.raises(ValueError, match="data changed"):
        S.drift_from_summary(s.with_resolved({0: (wrong, wrong)}))
