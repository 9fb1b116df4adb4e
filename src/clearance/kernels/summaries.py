"""Statistics from small summaries: what an engine pushes down (ADR 0009).

A warehouse or an out-of-core engine (``clearance.adapters.warehouse``: DuckDB, Spark) never
returns rows: it returns *summaries* -- value->count histograms, counts per bin, per-category
counts, per-group confusion counts, per-score counts of positives and negatives -- and the
functions here finish the statistic. They equal the in-memory kernels on the same data:

* **Numeric drift** (:func:`drift_from_summary`) works on a :class:`DriftSummary`: the two
  samples' counts in bins ``(-inf, e_1), [e_1, e_2), ..., [e_k, +inf)`` plus, for some bins
  (*resolved* ones), the exact distinct values with their counts in both samples. With every
  bin resolved (the *exact* route: one bin holding the merged value->count histogram, when the
  columns have few distinct values) KS, PSI and Wasserstein are those of
  :func:`clearance.kernels.drift.column_drift`: the KS statistic is the same floating-point
  number (``i/n1 - j/n2`` at every distinct value), the p-value the same function of
  ``(D, n1, n2)`` (exact null distribution from the expanded samples when ``max(n1, n2) <=
  10,000``), PSI the same edges (order statistics found in the cumulative counts) and counts,
  Wasserstein the same sum in another order (1e-12 relative).
* **The sketch route**: when distinct values are many, the engine counts both samples in
  bins at quantiles of a small sample, and the bins that matter are resolved
  (:func:`bins_to_resolve`): for KS, a bin whose values could carry ``|F1 - F2|`` above the
  best value seen (``F1`` and ``F2`` are exact at bin ends and monotone inside: in a bin
  entered at ``(i0, j0)`` and left at ``(i1, j1)``, ``|F1 - F2| <= max(i1/n1 - j0/n2,
  j1/n2 - i0/n1)``); for PSI, the bins holding the reference order statistics the edges
  interpolate and the bins the edges fall into. Once they are resolved the result is exact,
  as above. If the engine's row budget runs out first, the KS statistic is reported as the
  value attained (a lower bound) with ``ks_error`` = the largest bound of an unresolved bin
  minus it -- a deterministic bound, not a probabilistic one -- and Wasserstein with the bound
  from ``min|F1 - F2| <= |F1 - F2| <= max`` over each unresolved bin times its width.
* **Categories, fairness, AUC**: :func:`joint_category_counts` lines two per-category count
  lists up for :func:`~clearance.kernels.drift.categorical_drift_counts`;
  :func:`auc_from_score_counts` is ROC AUC (Mann-Whitney, ties counted one half) from the
  positives and negatives at each distinct score -- exact, the same as sorting the rows.

Every summary is *mergeable*: summaries of partitions add up (:func:`merge_value_counts`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike

from clearance.kernels._arrays import FloatArray, IntArray
from clearance.kernels.drift import (
    _EXACT_MAX_N,
    PSI_EPSILON,
    ColumnDrift,
    KSResult,
    PSIResult,
    _psi_value,
    column_drift,
    kolmogorov_sf,
)

__all__ = [
    "Aggregator",
    "ColumnProfile",
    "DriftSummary",
    "SummaryDrift",
    "ValueCounts",
    "auc_from_score_counts",
    "bins_to_resolve",
    "drift_from_summary",
    "joint_category_counts",
    "merge_value_counts",
    "pushed_numeric_drift",
    "value_counts",
    "wasserstein_uncertain_bins",
]

_KNOT = 64  # the in-memory KS walk's knot stride (its tie rule for the location)


@dataclass(frozen=True, slots=True)
class ValueCounts:
    """Distinct non-null values, ascending, and how many times each occurs."""

    values: FloatArray
    counts: IntArray

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def value_counts(x: ArrayLike) -> ValueCounts:
    """The value->count histogram of a numeric sample (NaN dropped): what an engine's
    ``GROUP BY x`` returns."""
    arr = np.asarray(x, dtype=np.float64)
    arr = arr[~np.isnan(arr)] + 0.0  # -0.0 counts as 0.0, as the in-memory sort reads it
    values, counts = np.unique(arr, return_counts=True)
    return ValueCounts(values.astype(np.float64), counts.astype(np.int64))


def merge_value_counts(parts: Iterable[ValueCounts]) -> ValueCounts:
    """The histogram of the union of partitions (their counts added per value)."""
    items = list(parts)
    if not items:
        return ValueCounts(np.empty(0), np.empty(0, np.int64))
    values = np.concatenate([p.values for p in items])
    counts = np.concatenate([p.counts for p in items])
    uniq, inverse = np.unique(values, return_inverse=True)
    return ValueCounts(
        uniq, np.bincount(inverse, weights=counts, minlength=uniq.shape[0]).astype(np.int64)
    )


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class DriftSummary:
    """Both samples of one numeric column, binned, some bins resolved to exact values.

    ``edges`` are the interior edges (strictly increasing); bin ``b`` is ``[edges[b-1],
    edges[b])`` with ``-inf`` and ``+inf`` at the ends; ``reference``/``current`` hold the
    counts of the ``len(edges) + 1`` bins; ``low``/``high`` the smallest and largest value of
    both samples; ``resolved[b]`` the exact value counts of bin ``b`` in both samples.
    """

    edges: FloatArray
    reference: IntArray
    current: IntArray
    low: float
    high: float
    null_reference: int = 0
    null_current: int = 0
    resolved: Mapping[int, tuple[ValueCounts, ValueCounts]] = field(default_factory=dict)

    @classmethod
    def exact(
        cls, ref: ValueCounts, cur: ValueCounts, null_reference: int = 0, null_current: int = 0
    ) -> DriftSummary:
        """One bin holding both histograms: the exact route."""
        low = min(float(ref.values[0]), float(cur.values[0])) if ref.n and cur.n else 0.0
        high = max(float(ref.values[-1]), float(cur.values[-1])) if ref.n and cur.n else 0.0
        return cls(
            np.empty(0), np.array([ref.n], np.int64), np.array([cur.n], np.int64), low, high,
            null_reference, null_current, {0: (ref, cur)},
        )  # fmt: skip

    def with_resolved(self, more: Mapping[int, tuple[ValueCounts, ValueCounts]]) -> DriftSummary:
        return DriftSummary(
            self.edges, self.reference, self.current, self.low, self.high,
            self.null_reference, self.null_current, {**self.resolved, **more},
        )  # fmt: skip

    def bin_range(self, b: int) -> tuple[float, float]:
        """``[lo, hi)`` of bin ``b`` (infinite at the ends)."""
        lo = -math.inf if b == 0 else float(self.edges[b - 1])
        hi = math.inf if b == self.edges.shape[0] else float(self.edges[b])
        return lo, hi


@dataclass(frozen=True)
class _Points:
    """The summary as a walk: one point per exact value and one per unresolved bin."""

    x: FloatArray  # the value; an unresolved bin: its values are in [start, x)
    start: FloatArray  # an exact value: itself; an unresolved bin: its lower end (clipped)
    i: IntArray  # reference values <= x (cumulative), at the end of the point
    j: IntArray
    di: IntArray  # this point's own counts
    dj: IntArray
    opaque: Any  # bool array: an unresolved bin


def _points(s: DriftSummary) -> _Points:
    nb = s.reference.shape[0]
    resolved = np.zeros(nb, bool)
    resolved[list(s.resolved)] = True
    op = np.flatnonzero(((s.reference + s.current) > 0) & ~resolved)
    lo = np.where(op == 0, -math.inf, s.edges[np.maximum(op - 1, 0)] if s.edges.size else 0.0)
    hi = np.where(
        op == nb - 1, math.inf, s.edges[np.minimum(op, max(nb - 2, 0))] if s.edges.size else 0.0
    )
    bins, xs, starts = (
        [op],
        [np.minimum(hi, np.nextafter(s.high, math.inf))],
        [np.maximum(lo, s.low)],
    )
    di, dj, opaque = [s.reference[op]], [s.current[op]], [np.ones(op.size, bool)]
    for b in sorted(s.resolved):
        vr, vc = s.resolved[b]
        merged = np.union1d(vr.values, vc.values)
        bins.append(np.full(merged.shape[0], b))
        xs.append(merged)
        starts.append(merged)
        di.append(_at(vr, merged))
        dj.append(_at(vc, merged))
        opaque.append(np.zeros(merged.shape[0], bool))
    cat = np.concatenate
    order = np.argsort(cat(bins), kind="stable")  # bins in order, values in order within
    dii, djj = cat(di).astype(np.int64)[order], cat(dj).astype(np.int64)[order]
    return _Points(
        cat(xs).astype(np.float64)[order], cat(starts).astype(np.float64)[order],
        np.cumsum(dii), np.cumsum(djj), dii, djj, cat(opaque)[order],
    )  # fmt: skip


def _at(vc: ValueCounts, grid: FloatArray) -> IntArray:
    out = np.zeros(grid.shape[0], np.int64)
    out[np.searchsorted(grid, vc.values)] = vc.counts
    return out


def _check_resolved(s: DriftSummary) -> None:
    for b, (vr, vc) in s.resolved.items():
        if vr.n != int(s.reference[b]) or vc.n != int(s.current[b]):
            raise ValueError(
                f"bin {b}: resolved values count {vr.n}/{vc.n}, the bin counts "
                f"{int(s.reference[b])}/{int(s.current[b])} (the data changed between queries?)"
            )


def _ks_bounds(p: _Points, n1: int, n2: int) -> tuple[Any, Any]:
    """Per point: the upper bound of ``F1 - F2`` and of ``F2 - F1`` over its values."""
    up = p.i / n1 - (p.j - p.dj) / n2
    dn = p.j / n2 - (p.i - p.di) / n1
    return up, dn


def bins_to_resolve(s: DriftSummary, *, bins: int = 10) -> tuple[list[int], list[int]]:
    """``(for_psi, for_ks)``: the unresolved bins PSI's edges need, and those whose values
    could raise the KS statistic above the value attained so far (largest bound first)."""
    n1, n2 = int(s.reference.sum()), int(s.current.sum())
    if n1 == 0 or n2 == 0:
        return [], []
    cum_r = np.cumsum(s.reference)
    need_psi: set[int] = set()
    h = (n1 - 1) * (np.arange(1, bins, dtype=np.float64) / bins)
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n1 - 1)
    first = np.searchsorted(cum_r, lo, side="right")
    last = np.searchsorted(cum_r, hi, side="right")
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        need_psi.update(range(a, b + 1))
    need_psi = {b for b in need_psi if b not in s.resolved}
    p = _points(s)
    g = p.i / n1 - p.j / n2
    best = max(float(np.max(g)), float(np.max(-g)), 0.0)
    up, dn = _ks_bounds(p, n1, n2)
    bound = np.maximum(up, dn)
    cand = np.flatnonzero(p.opaque & (bound > best))
    order = cand[np.argsort(-bound[cand], kind="stable")]
    need_ks = [_opaque_bin(s, p, k) for k in order]
    need_ks = [b for b in dict.fromkeys(need_ks) if b not in need_psi]
    return sorted(need_psi), need_ks


def wasserstein_uncertain_bins(s: DriftSummary) -> list[int]:
    """The unresolved bins by how much they leave Wasserstein uncertain, largest first."""
    n1, n2 = int(s.reference.sum()), int(s.current.sum())
    p = _points(s)
    op = np.flatnonzero(p.opaque)
    if op.size == 0 or n1 == 0 or n2 == 0:
        return []
    i1, j1 = p.i[op], p.j[op]
    i0, j0 = i1 - p.di[op], j1 - p.dj[op]
    upper = np.maximum(np.abs(i1 * n2 - j0 * n1), np.abs(j1 * n1 - i0 * n2)).astype(np.float64)
    lower = np.maximum(0, np.maximum(i0 * n2 - j1 * n1, j0 * n1 - i1 * n2)).astype(np.float64)
    spread = (upper - lower) * (p.x[op] - p.start[op])
    order = np.argsort(-spread, kind="stable")
    return [_opaque_bin(s, p, int(op[k])) for k in order if spread[k] > 0]


def _opaque_bin(s: DriftSummary, p: _Points, k: int) -> int:
    """The bin of unresolved point ``k`` (its start is in the bin)."""
    return int(np.searchsorted(s.edges, p.start[k], side="right"))


# --------------------------------------------------------------------------- drift


@dataclass(frozen=True, slots=True)
class SummaryDrift:
    """A column's drift from a summary; ``exact`` when every needed bin was resolved (then
    ``drift`` equals the in-memory :func:`~clearance.kernels.drift.column_drift`).

    Otherwise ``drift.ks.statistic`` is the value attained (a lower bound), ``ks_error`` how
    much higher the true statistic can be, and ``drift.wasserstein`` the midpoint of its
    bounds with ``wasserstein_error`` their half-width.
    """

    drift: ColumnDrift
    exact: bool
    ks_error: float
    wasserstein_error: float
    route: Literal["exact", "binned"]
    bins: int


def drift_from_summary(
    s: DriftSummary,
    *,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
    method: Literal["auto", "exact", "asymp"] = "auto",
) -> SummaryDrift:
    """KS, PSI and Wasserstein of one numeric column from its :class:`DriftSummary`.

    ``ValueError`` when a sample has no non-null value, or when a bin PSI needs is unresolved
    (resolve :func:`bins_to_resolve`'s first list first).
    """
    _check_resolved(s)
    n1, n2 = int(s.reference.sum()), int(s.current.sum())
    if n1 == 0:
        raise ValueError("reference has no non-null values")
    if n2 == 0:
        raise ValueError("current has no non-null values")
    route: Literal["exact", "binned"] = "exact" if s.edges.shape[0] == 0 else "binned"
    all_resolved = all(
        b in s.resolved for b in range(s.reference.shape[0]) if s.reference[b] or s.current[b]
    )
    if all_resolved and (max(n1, n2) <= _EXACT_MAX_N or method == "exact"):
        return _expanded(s, bins, epsilon, method, route)
    p = _points(s)
    ks, d_hi = _ks(p, n1, n2, method, s)
    w, w_err = _wasserstein(p, n1, n2)
    psi = _psi(p, n1, n2, bins, epsilon)
    drift = ColumnDrift(ks, psi, w, s.null_reference, s.null_current)
    error = max(0.0, d_hi - ks.statistic)
    return SummaryDrift(
        drift, error == 0.0 and w_err == 0.0, error, w_err, route, s.edges.shape[0] + 1
    )


def _expanded(
    s: DriftSummary, bins: int, epsilon: float, method: Any, route: Literal["exact", "binned"]
) -> SummaryDrift:
    """Small samples: rebuilt from the counts and given to the in-memory kernel (scipy's exact
    null distribution needs them)."""
    parts_r = [s.resolved[b][0] for b in sorted(s.resolved)]
    parts_c = [s.resolved[b][1] for b in sorted(s.resolved)]
    a = np.concatenate([np.repeat(v.values, v.counts) for v in parts_r])
    b = np.concatenate([np.repeat(v.values, v.counts) for v in parts_c])
    drift = column_drift(a, b, bins=bins, epsilon=epsilon, method=method, assume_sorted=True)
    drift = ColumnDrift(drift.ks, drift.psi, drift.wasserstein, s.null_reference, s.null_current)
    return SummaryDrift(drift, True, 0.0, 0.0, route, s.edges.shape[0] + 1)


def _ks(
    p: _Points, n1: int, n2: int, method: Literal["auto", "exact", "asymp"], s: DriftSummary
) -> tuple[KSResult, float]:
    g = p.i / n1 - p.j / n2
    d_p, loc_p = _extreme(g, p, n1, n2, +1)
    d_m, loc_m = _extreme(-g, p, n1, n2, -1)
    if d_m > d_p:
        d, loc, sign = d_m, loc_m, -1
    else:
        d, loc, sign = d_p, loc_p, 1
    up, dn = _ks_bounds(p, n1, n2)
    op = p.opaque
    d_hi = max(
        d, float(np.max(up[op])) if op.any() else d, float(np.max(dn[op])) if op.any() else d
    )
    big, small = max(float(n1), float(n2)), min(float(n1), float(n2))
    en = int(np.round(big * small / (big + small)))
    pvalue = min(1.0, max(0.0, kolmogorov_sf(en, d)))
    return KSResult(d, pvalue, "asymp", loc, sign, n1, n2, s.null_reference, s.null_current), d_hi


def _extreme(g: Any, p: _Points, n1: int, n2: int, sign: int) -> tuple[float, float]:
    """The largest ``g`` and where, with the in-memory walk's tie rule: the first knot (a
    value where a sample passes a multiple of 64 of its order statistics, or its last one)
    attaining it when no other value exceeds it, else the first value of the reference
    attaining it, else of the current sample."""
    i0, j0 = p.i - p.di, p.j - p.dj
    in_a, in_b = p.di > 0, p.dj > 0
    mask = _KNOT - 1
    knot = (in_a & ((((i0 + mask) & ~mask) < p.i) | (p.i == n1))) | (
        in_b & ((((j0 + mask) & ~mask) < p.j) | (p.j == n2))
    )
    best = float(np.max(g))
    top_a = float(np.max(g[in_a])) if in_a.any() else -math.inf
    top_b = float(np.max(g[in_b])) if in_b.any() else -math.inf
    top_k = float(np.max(g[knot])) if knot.any() else -math.inf
    where = knot if top_k >= max(top_a, top_b) else in_a if top_a == best else in_b
    at = int(np.flatnonzero(where & (g == best))[0])
    return max(best, 0.0), float(p.x[at])


def _wasserstein(p: _Points, n1: int, n2: int) -> tuple[float, float]:
    """Σ |F1 - F2|·Δx between consecutive points (exact), plus the bounds inside unresolved
    bins; returns (midpoint, half-width)."""
    diff = np.abs(p.i * n2 - p.j * n1).astype(np.float64)
    gaps = np.maximum(p.start[1:] - p.x[:-1], 0.0)
    exact = float(np.dot(diff[:-1], gaps))
    op = np.flatnonzero(p.opaque)
    lo_sum = hi_sum = 0.0
    if op.size:
        i1, j1 = p.i[op], p.j[op]
        i0, j0 = i1 - p.di[op], j1 - p.dj[op]
        width = p.x[op] - p.start[op]
        upper = np.maximum(np.abs(i1 * n2 - j0 * n1), np.abs(j1 * n1 - i0 * n2)).astype(np.float64)
        lower = np.maximum.reduce(
            [
                np.zeros(op.size),
                (i0 * n2 - j1 * n1).astype(np.float64),
                (j0 * n1 - i1 * n2).astype(np.float64),
            ]
        )
        lo_sum, hi_sum = float(np.dot(lower, width)), float(np.dot(upper, width))
    scale = float(n1) * float(n2)
    low, high = (exact + lo_sum) / scale, (exact + hi_sum) / scale
    return (low + high) / 2.0, (high - low) / 2.0


def _psi(p: _Points, n1: int, n2: int, bins: int, epsilon: float) -> PSIResult:
    if bins < 1:
        raise ValueError("bins must be >= 1")
    qs = np.arange(1, bins, dtype=np.float64) / bins
    h = (n1 - 1) * qs
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n1 - 1)
    t = h - lo
    x0, x1 = _order_stat(p, lo), _order_stat(p, hi)
    d = x1 - x0
    edges = np.unique(np.where(t >= 0.5, x1 - d * (1.0 - t), x0 + d * t))
    ca = np.diff(np.concatenate([[0], _below(p, edges, p.i), [n1]]))
    cb = np.diff(np.concatenate([[0], _below(p, edges, p.j), [n2]]))
    value, rp, cp = _psi_value(ca, cb, n1, n2, epsilon)
    return PSIResult(value, edges, rp, cp, epsilon, "reference_quantile")


def _order_stat(p: _Points, ranks: IntArray) -> FloatArray:
    """The reference's order statistics at 0-based ``ranks`` (their points must be exact)."""
    at = np.searchsorted(p.i, ranks, side="right")
    if p.opaque[at].any():
        raise ValueError("an order statistic PSI needs lies in an unresolved bin")
    out: FloatArray = p.x[at]
    return out


def _below(p: _Points, edges: FloatArray, cum: IntArray) -> IntArray:
    """How many values of a sample (``cum``: its cumulative counts per point) are below each
    edge: an exact value when ``x < edge``, an unresolved bin when ``x <= edge`` (its values
    are in ``[start, x)``); an edge strictly inside an unresolved bin is a ``ValueError``."""
    key = np.where(p.opaque, np.nextafter(p.x, -math.inf), p.x)  # counted iff key < edge
    k = np.searchsorted(key, edges, side="left")
    nxt = np.minimum(k, p.x.shape[0] - 1)
    inside = (k < p.x.shape[0]) & p.opaque[nxt] & (p.start[nxt] < edges)
    if inside.any():
        raise ValueError("a PSI edge falls inside an unresolved bin")
    out: IntArray = np.concatenate([[0], cum])[k]
    return out


# --------------------------------------------------------------------------- categories, AUC


def joint_category_counts(
    reference: Mapping[Any, int], current: Mapping[Any, int]
) -> tuple[list[Any], IntArray, IntArray]:
    """Both samples' category counts over one vocabulary (sorted by text, as the in-memory
    gate orders it)."""
    vocab = sorted(set(reference) | set(current), key=str)
    rc = np.array([int(reference.get(v, 0)) for v in vocab], np.int64)
    cc = np.array([int(current.get(v, 0)) for v in vocab], np.int64)
    return vocab, rc, cc


def auc_from_score_counts(positives: ArrayLike, negatives: ArrayLike) -> float:
    """ROC AUC from the positives and negatives at each distinct score, in ascending score
    order: ``(Σ_s pos_s·(neg below s + neg_s / 2)) / (P·N)`` -- the Mann-Whitney statistic
    with midranks, exact in integer halves. NaN when a class is empty."""
    pos = np.asarray(positives, dtype=np.int64)
    neg = np.asarray(negatives, dtype=np.int64)
    total_p, total_n = int(pos.sum()), int(neg.sum())
    if total_p == 0 or total_n == 0:
        return math.nan
    below = np.cumsum(neg) - neg
    twice = int(np.sum(pos * (2 * below + neg)))  # exact integers (halves doubled)
    return twice / (2.0 * total_p * total_n)


# --------------------------------------------------------------------------- the pushdown driver


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """One column of one table: its kind, non-null rows, nulls, range, distinct (approx.)."""

    kind: Literal["numeric", "text", "other"]
    rows: int
    nulls: int
    minimum: float | None
    maximum: float | None
    distinct: int
    type_name: str = ""


class Aggregator(Protocol):
    """What an engine computes over one table (``clearance.adapters.warehouse``): summaries,
    never rows. ``ranges`` are ``[lo, hi)`` intervals; ``limit`` bounds what comes back
    (None: more than ``limit`` distinct values)."""

    def profile(self, column: str) -> ColumnProfile: ...

    def value_counts(
        self, column: str, limit: int, ranges: Sequence[tuple[float, float]] = ()
    ) -> ValueCounts | None: ...

    def bin_counts(self, column: str, edges: FloatArray) -> IntArray: ...

    def sample(self, column: str, size: int) -> FloatArray: ...

    def category_counts(self, column: str, limit: int) -> tuple[dict[Any, int], int] | None: ...


EXACT_DISTINCT = 1 << 18  # distinct values (both samples) up to which the exact route is used
SKETCH_BINS = 1 << 16  # bins of the sketch route
RESOLVE_ROWS = 1 << 22  # rows (both samples) the sketch route may resolve, in all
SAMPLE_ROWS = 1 << 17  # rows sampled per table for the sketch route's edges


def pushed_numeric_drift(
    ref: Aggregator,
    cur: Aggregator,
    column: str,
    *,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
    exact_distinct: int | None = None,
    sketch_bins: int | None = None,
    resolve_rows: int | None = None,
    wasserstein_rtol: float | None = None,
) -> SummaryDrift:
    """One numeric column's drift, the engines computing only summaries (see the module
    docstring for the two routes and their bounds). The limits default to the module's
    ``EXACT_DISTINCT``, ``SKETCH_BINS`` and ``RESOLVE_ROWS``. With ``wasserstein_rtol``, the
    bins that leave Wasserstein most uncertain are resolved too (within the same row budget)
    until its bound is within that share of its value."""
    exact_distinct = EXACT_DISTINCT if exact_distinct is None else exact_distinct
    if sketch_bins is None:  # an engine may prefer fewer bins (Spark: its splits cross py4j)
        sketch_bins = min(SKETCH_BINS, getattr(ref, "sketch_bins", SKETCH_BINS))
    resolve_rows = RESOLVE_ROWS if resolve_rows is None else resolve_rows
    pr, pc = ref.profile(column), cur.profile(column)
    if pr.rows == 0:
        raise ValueError("reference has no non-null values")
    if pc.rows == 0:
        raise ValueError("current has no non-null values")
    small = max(pr.rows, pc.rows) <= _EXACT_MAX_N  # the exact KS p-value needs every value
    if small or pr.distinct + pc.distinct <= exact_distinct:
        limit = max(exact_distinct, 2 * _EXACT_MAX_N) if small else exact_distinct
        vr = ref.value_counts(column, limit)
        vc = cur.value_counts(column, limit) if vr is not None else None
        if vr is not None and vc is not None:
            summary = DriftSummary.exact(vr, vc, pr.nulls, pc.nulls)
            return drift_from_summary(summary, bins=bins, epsilon=epsilon)
    sample = np.concatenate([ref.sample(column, SAMPLE_ROWS), cur.sample(column, SAMPLE_ROWS)])
    sample = sample[np.isfinite(sample)]
    qs = np.arange(1, sketch_bins, dtype=np.float64) / sketch_bins
    edges = (
        np.unique(np.quantile(sample, qs, method="inverted_cdf")) if sample.size else np.empty(0)
    )
    low = min(v for v in (pr.minimum, pc.minimum) if v is not None)
    high = max(v for v in (pr.maximum, pc.maximum) if v is not None)
    summary = DriftSummary(
        edges.astype(np.float64), ref.bin_counts(column, edges), cur.bin_counts(column, edges),
        float(low), float(high), pr.nulls, pc.nulls,
    )  # fmt: skip
    budget = resolve_rows
    for _ in range(8):
        for_psi, for_ks = bins_to_resolve(summary, bins=bins)
        wanted = for_psi + for_ks
        if not wanted:
            break
        chosen: list[int] = []
        for b in wanted:
            rows = int(summary.reference[b] + summary.current[b])
            if rows > budget and b not in for_psi:
                break
            chosen.append(b)
            budget -= rows
        if not chosen:
            break
        summary = summary.with_resolved(_resolve(ref, cur, column, summary, chosen))
        if len(chosen) < len(wanted):
            for_psi, _ = bins_to_resolve(summary, bins=bins)
            if not for_psi:
                break
    result = drift_from_summary(summary, bins=bins, epsilon=epsilon)
    for _ in range(8 if wasserstein_rtol is not None else 0):
        w = result.drift.wasserstein
        if result.wasserstein_error <= wasserstein_rtol * abs(w) or budget <= 0:  # type: ignore[operator]
            break
        chosen = []
        for b in wasserstein_uncertain_bins(summary):
            rows = int(summary.reference[b] + summary.current[b])
            if rows > budget:
                break
            chosen.append(b)
            budget -= rows
            if len(chosen) >= 256:
                break
        if not chosen:
            break
        summary = summary.with_resolved(_resolve(ref, cur, column, summary, chosen))
        result = drift_from_summary(summary, bins=bins, epsilon=epsilon)
    return result


def _resolve(
    ref: Aggregator, cur: Aggregator, column: str, s: DriftSummary, chosen: list[int]
) -> dict[int, tuple[ValueCounts, ValueCounts]]:
    """The exact values of the ``chosen`` bins, fetched in one query per table."""
    ranges = [s.bin_range(b) for b in sorted(chosen)]
    limit = int(sum(s.reference[b] + s.current[b] for b in chosen)) + 1
    vr = ref.value_counts(column, limit, ranges)
    vc = cur.value_counts(column, limit, ranges)
    if vr is None or vc is None:
        raise ValueError("an engine returned more values than its bins counted")
    out = {}
    for b in sorted(chosen):
        lo, hi = s.bin_range(b)
        out[b] = (_slice(vr, lo, hi), _slice(vc, lo, hi))
    return out


def _slice(vc: ValueCounts, lo: float, hi: float) -> ValueCounts:
    """The values in ``[lo, hi)`` (``vc`` is sorted: two binary searches)."""
    a, b = np.searchsorted(vc.values, [lo, hi], side="left")
    return ValueCounts(vc.values[a:b], vc.counts[a:b])
