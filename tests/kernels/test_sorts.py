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
