"""Data-quality kernels: counts agree with straightforward numpy on random data and edge cases."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra.numpy import arrays

from clearance.kernels import quality as q

col = arrays(
    np.float64,
    hst.integers(0, 80),
    elements=hst.one_of(hst.floats(-100, 100), hst.just(np.nan), hst.integers(-3, 3).map(float)),
)


@settings(max_examples=150, deadline=None)
@given(col, hst.floats(-50, 0), hst.floats(0, 50), hst.booleans())
def test_range_and_nulls_match_numpy(x: np.ndarray, lo: float, hi: float, incl: bool) -> None:
    nan = np.isnan(x)
    v = x[~nan]
    below = int(np.sum(v < lo if incl else v <= lo))
    above = int(np.sum(v > hi if incl else v >= hi))
    for sort in (False, True):
        arr = np.sort(x) if sort else x
        r = q.range_violations(arr, lo, hi, inclusive=incl, assume_sorted=sort)
        assert (r.below, r.above, r.checked, r.nulls) == (below, above, v.size, int(nan.sum()))
        if v.size:
            assert r.share == pytest.approx((below + above) / v.size)
        else:
            assert math.isnan(r.share)
    nf = q.null_fraction(x)
    assert nf.nulls == int(nan.sum())
    assert math.isnan(nf.fraction) if x.size == 0 else nf.fraction == nan.sum() / x.size


@settings(max_examples=100, deadline=None)
@given(arrays(np.int64, hst.integers(0, 60), elements=hst.integers(-5, 5)))
def test_uniqueness_matches_np_unique(x: np.ndarray) -> None:
    u = q.uniqueness(x)
    vals, counts = np.unique(x, return_counts=True)
    assert u.distinct == vals.size
    assert u.duplicate_rows == x.size - vals.size
    assert u.duplicated_values == int(np.sum(counts > 1))
    assert set(u.examples) <= set(vals[counts > 1].tolist())
    assert u.unique == (x.size == vals.size)


def test_nulls_for_other_dtypes_and_masks() -> None:
    obj = np.array(["a", None, float("nan"), "b"], dtype=object)
    assert q.null_fraction(obj).nulls == 2
    ints = np.array([1, 2, 3, 4])
    assert q.null_fraction(ints).nulls == 0
    assert q.null_fraction(ints, mask=[True, False, True, False]).fraction == 0.5
    ts = np.array(["2024-01-01", "NaT"], dtype="datetime64[s]")
    assert q.null_fraction(ts).nulls == 1
    all_null = np.full(4, np.nan)
    nf = q.null_fraction(all_null)
    assert nf.fraction == 1.0
    r = q.range_violations(all_null, 0, 1)
    assert r.count == 0 and r.checked == 0 and math.isnan(r.share)
    assert q.uniqueness(all_null).distinct == 0


def test_allowed_set() -> None:
    x = np.array(["a", "b", "z", None, "y", "z"], dtype=object)
    r = q.allowed_set_violations(x, {"a", "b"})
    assert (r.count, r.checked, r.nulls) == (3, 5, 1)
    assert r.examples == ("z", "y")
    codes = q.allowed_set_violations(np.array([0, 1, 2, 7]), [0, 1, 2])
    assert codes.count == 1 and codes.examples == (7,)
    assert codes.share == 0.25


def test_schema_check() -> None:
    data = {
        "age": np.array([1.0, 2.0]),
        "n": np.array([1, 2], dtype=np.int32),
        "name": np.array(["x", "y"], dtype=object),
        "flag": np.array([True, False]),
        "when": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ms]"),
        "extra": np.array([1, 2]),
    }
    expected = {
        "age": "float64",
        "n": "int64",
        "name": "string",
        "flag": "bool",
        "when": "datetime",
        "missing": "float64",
    }
    res = q.schema_check(expected, data)
    assert res.missing == ("missing",)
    assert res.extra == ("extra",)
    assert res.wrong_type == (q.TypeMismatch("n", "int64", "int32"),)
    assert not res.ok
    fam = q.schema_check({"n": "int", "age": "numeric"}, data, allow_extra=True)
    assert fam.ok
    assert q.schema_check({"a": "string"}, {"a": "string"}).ok
    assert q.dtype_name(np.array(["a"])) == "string"


def test_row_count_bounds() -> None:
    assert q.row_count_bounds(10, 5, 10).ok
    assert not q.row_count_bounds(np.zeros(3), minimum=5).ok
    assert q.row_count_bounds(3).ok
    with pytest.raises(ValueError):
        q.row_count_bounds(3, 5, 4)


def test_freshness_uses_injected_now() -> None:
    ts = np.array(["2026-01-01T00:00:00", "2026-01-02T06:00:00", "NaT"], dtype="datetime64[s]")
    now = dt.datetime(2026, 1, 2, 12, 0, tzinfo=dt.UTC)
    f = q.freshness(ts, now, dt.timedelta(hours=6))
    assert f.age_seconds == 6 * 3600 and f.ok and f.nulls == 1
    assert not q.freshness(ts, now, 3600).ok
    epoch = np.array([0.0, 86_400.0, np.nan])
    f2 = q.freshness(epoch, np.datetime64("1970-01-03T00:00:00"), np.timedelta64(1, "D"))
    assert f2.age_seconds == 86_400 and f2.ok
    empty = q.freshness(np.array([], dtype="datetime64[s]"), now, 10)
    assert empty.newest is None and not empty.ok and math.isnan(empty.age_seconds)
    # a timezone-aware `now` is converted to UTC
    cet = dt.timezone(dt.timedelta(hours=1))
    f3 = q.freshness(ts, dt.datetime(2026, 1, 2, 13, 0, tzinfo=cet), 6 * 3600)
    assert f3.age_seconds == 6 * 3600


def test_kernels_read_no_clock() -> None:
    import ast
    from pathlib import Path

    import clearance.kernels.quality as mod

    tree = ast.parse(Path(mod.__file__).read_text())
    calls = {
        ast.unparse(n.func)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    assert not {c for c in calls if c.endswith((".now", ".utcnow", ".today", ".time"))}
