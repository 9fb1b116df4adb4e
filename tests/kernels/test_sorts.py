"""The sorts chosen by measurement give what numpy's sort gives."""

from __future__ import annotations

import numpy as np
import pytest

from clearance.kernels import _radix, column_drift, drift, sort_column, uniqueness

N = 70_000  # above the sizes from which the radix / side-by-side paths are taken


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint16, np.uint64])
def test_integer_radix_sort_equals_numpy(dtype: type[np.integer]) -> None:
    info = np.iinfo(dtype)
    x = np.random.default_rng(3).integers(info.min, info.max, N, dtype=dtype, endpoint=True)
    x[:4] = [info.min, info.max, 0, info.max]
    want = np.sort(x).astype(np.uint64 if dtype is np.uint64 else np.int64)
    for threads in (1, 2):
        np.testing.assert_array_equal(_radix.sort_integers(x, threads), want)


def test_uniqueness_of_large_integer_keys_equals_the_small_path() -> None:
    ids = np.random.default_rng(4).permutation(N).astype(np.int64) - N // 2
    ids[[10, 20, 30, 40]] = ids[[11, 11, 12, 12]]
    big = uniqueness(ids)
    assert (big.duplicate_rows, big.duplicated_values) == (4, 2)
    assert big == uniqueness(np.sort(ids), assume_sorted=True)


def test_side_by_side_sorts_equal_one_after_the_other() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=N), np.round(rng.normal(0.1, size=N + 7), 1)
    a[rng.random(N) < 0.01] = np.nan
    b[:3] = [-0.0, np.nan, 0.0]
    paired = column_drift(a, b)
    alone = column_drift(sort_column(a, n_threads=1), sort_column(b, n_threads=2))
    assert (paired.ks, paired.wasserstein, paired.psi.value) == (
        alone.ks,
        alone.wasserstein,
        alone.psi.value,
    )
    np.testing.assert_array_equal(paired.psi.edges, alone.psi.edges)
    assert (paired.null_reference, paired.null_current) == (alone.null_reference, 1)
    ref, cur = drift._columns(a, b, False)
    np.testing.assert_array_equal(ref.values, np.sort(a[~np.isnan(a)]))
    assert (ref.null_count, cur.null_count) == (int(np.isnan(a).sum()), 1)


def test_side_by_side_sorts_name_the_empty_sample() -> None:
    with pytest.raises(ValueError, match="current has no non-null values"):
        column_drift(np.ones(N), np.full(N, np.nan))
    with pytest.raises(ValueError, match="reference has no non-null values"):
        column_drift(np.full(N, np.nan), np.full(N, np.nan))


@pytest.mark.parametrize(
    "x",
    [
        np.array([]),
        np.full(9, np.nan),
        np.full(N, 2.5),
        np.array([0.0, -0.0, np.nan, -np.inf, np.inf, 5e-324, -5e-324, 1.0, -1.0]),
        np.round(np.random.default_rng(6).normal(size=N), 1),
        -np.random.default_rng(7).lognormal(size=N),
        np.random.default_rng(8).integers(-3, 3, N).astype(np.float64),
    ],
    ids=["empty", "all-nan", "constant", "specials", "rounded", "negative", "few-values"],
)
def test_one_thread_float_sort_equals_numpy(x: np.ndarray) -> None:
    """The one-thread sort (one counting pass, 10-bit digits, floats written by the last
    scatter) gives numpy's values bit for bit, -0.0 as 0.0, NaNs dropped and counted."""
    x = x.copy()
    if x.size > 100:
        x[np.random.default_rng(9).random(x.size) < 0.01] = np.nan
    want = np.sort(x[~np.isnan(x)]) + 0.0  # -0.0 + 0.0 is 0.0
    for threads in (1, 2):
        values, nans = _radix.sort_values(x, threads)
        np.testing.assert_array_equal(values.view(np.uint64), want.view(np.uint64))
        assert nans == int(np.isnan(x).sum())


def test_many_columns_at_once_equal_one_by_one() -> None:
    """``column_drifts`` spreads columns over threads (one column per thread); each result is
    ``column_drift``'s, in order, and an undefined column's ValueError stands in its place."""
    rng = np.random.default_rng(10)
    pairs = [(rng.normal(size=N), rng.normal(0.05 * j, size=N - j)) for j in range(5)]
    pairs.insert(2, (rng.normal(size=N), np.full(N, np.nan)))
    # small integers and powers of two end their sort in the other scratch buffer than
    # normal values do (an even number of live digits): the current sample must not land on it
    ints = rng.integers(0, 4, N).astype(np.float64)
    pairs += [(ints, rng.normal(size=N)), (2.0 ** rng.integers(0, 30, N), ints + 0.5)]
    got = drift.column_drifts(pairs, bins=7, n_threads=2)
    assert len(got) == len(pairs)
    for (a, b), result in zip(pairs, got, strict=True):
        if np.isnan(b).all():
            assert isinstance(result, ValueError) and "current has no non-null" in str(result)
            continue
        want = column_drift(a, b, bins=7)
        assert isinstance(result, drift.ColumnDrift)
        assert (result.ks, result.wasserstein, result.psi.value) == (
            want.ks,
            want.wasserstein,
            want.psi.value,
        )
        np.testing.assert_array_equal(result.psi.edges, want.psi.edges)
    one = drift.column_drifts(pairs[:1])[0]
    assert isinstance(one, drift.ColumnDrift) and one.ks == column_drift(*pairs[0]).ks
