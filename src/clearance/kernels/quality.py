"""Data-quality kernels: nulls, ranges, allowed sets, schema, row counts, uniqueness, freshness.

Conventions:

* **Null** means NaN for float columns, NaT for datetime/timedelta columns, ``None`` or NaN for
  object columns; integer, boolean and string columns have no in-band null, so callers holding
  an Arrow-style validity mask pass it as ``mask`` (True = null).
* Violation shares are over the **non-null** values checked (nulls are reported separately);
  an all-null column has 0 values checked and share NaN.
* Range bounds are inclusive by default; a sorted column (e.g. the one the drift kernels
  already sorted) can be checked in O(log n) with ``assume_sorted=True``.
* Type names in schemas: ``bool``, ``int8``..``int64``, ``uint8``..``uint64``, ``float16``..
  ``float64``, ``string`` (numpy ``U``/``S`` or an object column holding only ``str``),
  ``datetime`` (``datetime64`` of any unit), ``timedelta``, ``object``. An expected type may
  also name a family: ``int`` (any signed or unsigned integer), ``float``, ``numeric``
  (int, uint or float).
* Freshness compares against an injected ``now``; the kernels never read the clock.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clearance.kernels._arrays import BoolArray

__all__ = [
    "AllowedSetViolations",
    "Freshness",
    "NullCount",
    "RangeViolations",
    "RowCountCheck",
    "SchemaCheck",
    "TypeMismatch",
    "Uniqueness",
    "allowed_set_violations",
    "dtype_name",
    "freshness",
    "null_fraction",
    "null_mask",
    "range_violations",
    "row_count_bounds",
    "schema_check",
    "uniqueness",
]


def _column(x: ArrayLike, name: str = "column") -> NDArray[Any]:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    return arr


def null_mask(x: ArrayLike, mask: ArrayLike | None = None) -> BoolArray:
    """True where ``x`` is null (see the module conventions); ``mask`` is OR-ed in."""
    arr = _column(x)
    kind = arr.dtype.kind
    if kind == "f" or kind == "c":
        out: BoolArray = np.isnan(arr)
    elif kind in "mM":
        out = np.isnat(arr)
    elif kind == "O":
        out = np.fromiter(
            (v is None or (isinstance(v, float) and math.isnan(v)) for v in arr),
            dtype=bool,
            count=arr.shape[0],
        )
    else:
        out = np.zeros(arr.shape[0], dtype=bool)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != out.shape:
            raise ValueError(f"mask has shape {m.shape}, column has {out.shape}")
        out = out | m
    return out


@dataclass(frozen=True, slots=True)
class NullCount:
    """Null count and fraction of a column (fraction is NaN for an empty column)."""

    nulls: int
    rows: int
    fraction: float


def null_fraction(x: ArrayLike, mask: ArrayLike | None = None) -> NullCount:
    """Number and share of null values (one pass)."""
    nulls = int(np.count_nonzero(null_mask(x, mask)))
    rows = int(np.asarray(x).shape[0])
    return NullCount(nulls, rows, nulls / rows if rows else math.nan)


@dataclass(frozen=True, slots=True)
class RangeViolations:
    """Values outside ``[minimum, maximum]`` (bounds None = unbounded)."""

    below: int
    above: int
    checked: int  # non-null values
    nulls: int

    @property
    def count(self) -> int:
        """Total number of out-of-range values."""
        return self.below + self.above

    @property
    def share(self) -> float:
        """Out-of-range share of the non-null values (NaN if none were checked)."""
        return self.count / self.checked if self.checked else math.nan


def range_violations(
    x: ArrayLike,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    inclusive: bool = True,
    assume_sorted: bool = False,
    mask: ArrayLike | None = None,
) -> RangeViolations:
    """Count values below ``minimum`` / above ``maximum`` (inclusive bounds by default).

    With ``assume_sorted=True`` (ascending, NaNs last, no ``mask``) the counts come from two
    binary searches instead of a pass over the column.
    """
    arr = _column(x)
    if arr.dtype.kind not in "biufmM":
        raise TypeError(f"range check needs a numeric or datetime column, got {arr.dtype}")
    if assume_sorted and mask is None:
        if arr.dtype.kind in "fc":
            n_valid = int(np.searchsorted(arr, np.nan, side="left"))
        elif arr.dtype.kind in "mM":
            n_valid = int(np.searchsorted(arr, np.array("NaT", dtype=arr.dtype), side="left"))
        else:
            n_valid = arr.shape[0]
        valid = arr[:n_valid]
        below = above = 0
        if minimum is not None:
            below = int(np.searchsorted(valid, minimum, side="left" if inclusive else "right"))
        if maximum is not None:
            cut = int(np.searchsorted(valid, maximum, side="right" if inclusive else "left"))
            above = n_valid - cut
        return RangeViolations(below, above, n_valid, arr.shape[0] - n_valid)
    nulls = null_mask(arr, mask)
    n_null = int(np.count_nonzero(nulls))
    below = above = 0
    with np.errstate(invalid="ignore"):
        if minimum is not None:
            low = arr < minimum if inclusive else arr <= minimum
            below = int(np.count_nonzero(low & ~nulls)) if n_null else int(np.count_nonzero(low))
        if maximum is not None:
            high = arr > maximum if inclusive else arr >= maximum
            above = int(np.count_nonzero(high & ~nulls)) if n_null else int(np.count_nonzero(high))
    return RangeViolations(below, above, arr.shape[0] - n_null, n_null)


@dataclass(frozen=True, slots=True)
class AllowedSetViolations:
    """Non-null values outside the allowed set, with up to 5 example values."""

    count: int
    checked: int
    nulls: int
    examples: tuple[object, ...]

    @property
    def share(self) -> float:
        """Violating share of the non-null values (NaN if none were checked)."""
        return self.count / self.checked if self.checked else math.nan


def allowed_set_violations(
    x: ArrayLike, allowed: ArrayLike, *, mask: ArrayLike | None = None
) -> AllowedSetViolations:
    """Count non-null values not in ``allowed`` (``numpy.isin``: a table for small ints)."""
    arr = _column(x)
    nulls = null_mask(arr, mask)
    n_null = int(np.count_nonzero(nulls))
    values = arr[~nulls] if n_null else arr
    allowed_arr = np.asarray(list(allowed) if isinstance(allowed, set | frozenset) else allowed)
    bad = ~np.isin(values, allowed_arr)
    n_bad = int(np.count_nonzero(bad))
    examples: tuple[object, ...] = ()
    if n_bad:
        first = values[bad][:1000]
        seen: list[object] = []
        for v in first:
            item = v.item() if isinstance(v, np.generic) else v
            if item not in seen:
                seen.append(item)
            if len(seen) == 5:
                break
        examples = tuple(seen)
    return AllowedSetViolations(n_bad, int(values.shape[0]), n_null, examples)


_FAMILIES = {
    "int": {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"},
    "float": {"float16", "float32", "float64"},
}
_FAMILIES["numeric"] = _FAMILIES["int"] | _FAMILIES["float"]


def dtype_name(x: ArrayLike) -> str:
    """The schema type name of a column (see the module conventions)."""
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iuf":
        return str(arr.dtype.name)
    if kind in "US":
        return "string"
    if kind == "M":
        return "datetime"
    if kind == "m":
        return "timedelta"
    if kind == "O":
        non_null = [v for v in arr if v is not None and not (isinstance(v, float) and v != v)]
        if non_null and all(isinstance(v, str) for v in non_null):
            return "string"
        return "object"
    return str(arr.dtype.name)


def _type_matches(expected: str, actual: str) -> bool:
    return expected == actual or actual in _FAMILIES.get(expected, set())


@dataclass(frozen=True, slots=True)
class TypeMismatch:
    """A column whose type differs from the expected one."""

    column: str
    expected: str
    actual: str


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    """Schema comparison: missing and unexpected columns, wrong types."""

    missing: tuple[str, ...]
    extra: tuple[str, ...]
    wrong_type: tuple[TypeMismatch, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is missing, extra or mistyped."""
        return not (self.missing or self.extra or self.wrong_type)


def schema_check(
    expected: Mapping[str, str],
    actual: Mapping[str, str] | Mapping[str, ArrayLike],
    *,
    allow_extra: bool = False,
) -> SchemaCheck:
    """Compare expected ``{name: type}`` with actual ``{name: type}`` or ``{name: column}``.

    Column order is ignored; ``missing``/``extra`` keep the order of the respective mapping.
    ``allow_extra`` drops the ``extra`` list (it is then always empty).
    """
    actual_types = {
        name: value if isinstance(value, str) else dtype_name(value)
        for name, value in actual.items()
    }
    missing = tuple(n for n in expected if n not in actual_types)
    extra = () if allow_extra else tuple(n for n in actual_types if n not in expected)
    wrong = tuple(
        TypeMismatch(n, t, actual_types[n])
        for n, t in expected.items()
        if n in actual_types and not _type_matches(t, actual_types[n])
    )
    return SchemaCheck(missing, extra, wrong)


@dataclass(frozen=True, slots=True)
class RowCountCheck:
    """Row count against inclusive bounds (None = unbounded)."""

    rows: int
    minimum: int | None
    maximum: int | None

    @property
    def ok(self) -> bool:
        """True when ``minimum <= rows <= maximum``."""
        low_ok = self.minimum is None or self.rows >= self.minimum
        return low_ok and (self.maximum is None or self.rows <= self.maximum)


def row_count_bounds(
    rows: int | ArrayLike, minimum: int | None = None, maximum: int | None = None
) -> RowCountCheck:
    """Check a row count (or a column's length) against ``[minimum, maximum]``."""
    n = rows if isinstance(rows, int) else int(np.asarray(rows).shape[0])
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ValueError(f"minimum {minimum} exceeds maximum {maximum}")
    return RowCountCheck(n, minimum, maximum)


@dataclass(frozen=True, slots=True)
class Uniqueness:
    """Duplicates in a key column (nulls excluded and counted separately)."""

    rows: int
    nulls: int
    distinct: int
    duplicate_rows: int  # non-null rows minus distinct values
    duplicated_values: int  # distinct values occurring more than once
    examples: tuple[object, ...]

    @property
    def unique(self) -> bool:
        """True when no non-null value repeats."""
        return self.duplicate_rows == 0


_RADIX_FROM = 1 << 16  # integer keys from this many rows are radix-sorted


def _sorted(values: NDArray[Any]) -> NDArray[Any]:
    """``np.sort(values)``; large integer keys (ids) by the radix sort, in half the time."""
    if values.dtype.kind in "iu" and values.shape[0] >= _RADIX_FROM:
        from clearance.kernels import _radix  # numba: loaded only for large integer keys

        return _radix.sort_integers(values, os.cpu_count() or 1)
    return np.sort(values)


def uniqueness(
    key: ArrayLike, *, mask: ArrayLike | None = None, assume_sorted: bool = False
) -> Uniqueness:
    """Count duplicate keys with one sort (or none when ``assume_sorted``)."""
    arr = _column(key, "key")
    nulls = null_mask(arr, mask)
    n_null = int(np.count_nonzero(nulls))
    values = arr[~nulls] if n_null else arr
    if values.dtype.kind == "O":
        values = values.astype(str) if all(isinstance(v, str) for v in values) else values
    s = values if assume_sorted else _sorted(values)
    n = int(s.shape[0])
    if n == 0:
        return Uniqueness(int(arr.shape[0]), n_null, 0, 0, 0, ())
    same = s[1:] == s[:-1]
    dup_rows = int(np.count_nonzero(same))
    # A duplicated value starts where `same` switches on.
    starts = same & ~np.concatenate([[False], same[:-1]])
    dup_values = int(np.count_nonzero(starts))
    examples: tuple[object, ...] = ()
    if dup_values:
        ex = s[1:][starts][:5]
        examples = tuple(v.item() if isinstance(v, np.generic) else v for v in ex)
    return Uniqueness(int(arr.shape[0]), n_null, n - dup_rows, dup_rows, dup_values, examples)


@dataclass(frozen=True, slots=True)
class Freshness:
    """Age of the newest timestamp relative to an injected ``now``."""

    newest: np.datetime64 | None
    age_seconds: float  # NaN when the column has no timestamp
    max_age_seconds: float
    nulls: int

    @property
    def ok(self) -> bool:
        """True when the newest timestamp is at most ``max_age`` old (False if none)."""
        return not math.isnan(self.age_seconds) and self.age_seconds <= self.max_age_seconds


def _epoch_ns(value: np.datetime64 | dt.datetime | str) -> int:
    """Nanoseconds since the Unix epoch (naive = UTC; aware datetimes converted to UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return int(np.array(value, dtype="datetime64[ns]").astype(np.int64))


def freshness(
    timestamps: ArrayLike,
    now: np.datetime64 | dt.datetime | str,
    max_age: dt.timedelta | np.timedelta64 | float,
    *,
    unit: str = "s",
) -> Freshness:
    """How old the newest timestamp is at ``now`` (never reads the clock).

    ``timestamps`` are ``datetime64`` values (naive = UTC) or numbers since the Unix epoch in
    ``unit``. ``max_age`` is a timedelta or a number of seconds. Timezone-aware ``now`` is
    converted to UTC.
    """
    arr = _column(timestamps, "timestamps")
    newest: np.datetime64 | None = None
    if arr.dtype.kind in "iuf":
        nulls = np.isnan(arr) if arr.dtype.kind == "f" else np.zeros(arr.shape[0], dtype=bool)
        valid = arr[~nulls]
        if valid.size:
            one = np.array(1, dtype=f"timedelta64[{unit}]").astype("timedelta64[ns]")
            ns_per_unit = float(one.astype(np.int64))
            newest = np.datetime64(round(float(valid.max()) * ns_per_unit), "ns")
    elif arr.dtype.kind == "M":
        nulls = np.isnat(arr)
        valid = arr[~nulls]
        if valid.size:
            newest = np.datetime64(valid.max(), "ns")
    else:
        raise TypeError(f"timestamps must be datetime64 or numeric, got {arr.dtype}")
    if isinstance(max_age, dt.timedelta):
        max_s = max_age.total_seconds()
    elif isinstance(max_age, np.timedelta64):
        max_s = float(max_age / np.timedelta64(1, "ns")) / 1e9
    else:
        max_s = float(max_age)
    n_null = int(np.count_nonzero(nulls))
    if newest is None:
        return Freshness(None, math.nan, max_s, n_null)
    age = (_epoch_ns(now) - int(newest.astype(np.int64))) / 1e9
    return Freshness(newest, age, max_s, n_null)
