"""Distribution-drift kernels: two-sample KS, PSI, Wasserstein, chi-square, Jensen-Shannon.

Every numeric kernel here works on **sorted** columns, so a caller that sorts each numeric
column of the reference and current tables once (:func:`sort_column`) can compute the KS
statistic and p-value, PSI and the Wasserstein distance from that single sort
(:func:`column_drift`). That is the "hardware floor" route of issue 4: one sort per column plus
a few linear or sub-linear passes.

Missing values (NaN) are dropped and counted; every result reports the null counts separately
from the statistic, which is computed on the non-null values only.

Definitions (n1 = reference size, n2 = current size, F1/F2 the empirical CDFs)
-----------------------------------------------------------------------------
* **KS statistic** ``D = sup_x |F1(x) - F2(x)|`` (two-sided), exactly as
  :func:`scipy.stats.ks_2samp`. Computed by one compiled (numba) merge walk over the two sorted
  samples that evaluates ``F1 - F2`` at every distinct value -- the same walk also yields the
  Wasserstein distance. The pure-numpy reference (:func:`_ks_statistic_sorted_numpy`) is a
  coarse-to-fine search: F1 - F2 is evaluated exactly at every 64th order statistic of each
  sample; only the intervals whose bound ``F1(right) - F2(left)`` (resp.
  ``F1(left) - F2(right)``) could beat the best value seen are refined point by point. Both give
  the exact supremum (the same floating-point number) and the same location.
* **KS p-value**, chosen like ``scipy.stats.ks_2samp(method="auto")``:

  - ``max(n1, n2) <= 10_000`` (scipy's exact regime): the exact null distribution of
    ``D_{n1,n2}``, delegated to ``scipy.stats.ks_2samp(method="exact")`` (at most ~60 ms there);
    if scipy's exact computation fails it falls back to the asymptotic route, as scipy does.
  - otherwise the asymptotic route scipy uses: ``P = kstwo.sf(D, round(n1 n2 / (n1 + n2)))``,
    the one-sample Kolmogorov distribution at the effective size ``n``. scipy computes
    ``kstwo.sf`` with the Simard-L'Ecuyer (2011) dispatch; we follow the same dispatch and
    call scipy for the branches that are already fast (Ruben-Gambino closed forms, n <= 140,
    Pelz-Good), and replace the two that are slow for large ``n``:

    * ``n x^2 >= 2.2`` (the region that decides drift, p < 0.025): ``2 * smirnov(n, x)`` -- the
      exact Birnbaum-Tingey one-sided sum ``x * sum_j C(n,j)(1-x-j/n)^(n-j)(x+j/n)^(j-1)``,
      which scipy evaluates term by term in double-double (0.5-5 s at n = 1e5..1e6). We evaluate
      the same sum with every term in log space via Stirling's series (no cancellation: each
      piece is O(n x)), summing every term when the bell-shaped window of non-negligible terms
      (within e^-50 of the largest) has at most 20,000 terms, and otherwise by the trapezoidal
      rule on a stride of ``window / 400`` terms. The summand is analytic and bell-shaped with
      a width of thousands of terms, so the stride sum differs from the full sum by an aliasing
      term of order ``exp(-2 pi^2 (sigma / stride)^2)`` -- far below double precision; tests
      check agreement with scipy to 1e-12 relative. For ``n > 1_000_000`` scipy's ``smirnov``
      itself switches to the approximation ``exp(-(6 n x + 1)^2 / (18 n))``; we do the same, so
      results still agree.
    * ``n <= 100_000`` and ``n x^1.5 <= 1.4``: the Durbin matrix of Marsaglia-Tsang-Wang
      (2003), as scipy, but with the final ``n!/n^n`` factor applied in log space (Stirling)
      instead of an ``n``-step Python loop.

* **PSI** (:func:`psi`): bins at reference quantiles. ``edges_i = Q_ref(i / bins)`` for
  ``i = 1..bins-1`` (linear interpolation, ``numpy.quantile`` default), duplicate edges merged,
  bins left-closed ``[e_{i-1}, e_i)`` with ``e_0 = -inf`` and ``e_bins = +inf``. With
  proportions ``r_i`` (reference) and ``c_i`` (current), zero proportions replaced by
  ``epsilon`` (default 1e-4, the convention of Evidently and most PSI write-ups; no
  renormalisation): ``PSI = sum_i (c_i - r_i) ln(c_i / r_i)``.
* **PSI on equal-width bins** (:func:`psi_equal_width`): a *different* statistic. Edges are
  ``bins + 1`` equally spaced points from ``min`` to ``max`` of **both samples pooled**
  (``numpy.histogram_bin_edges``), bins ``[e_i, e_{i+1})`` with the last one closed (as
  ``numpy.histogram``), same epsilon and formula. Its value depends on the current sample's
  range and on outliers, so it is not comparable with the quantile PSI thresholds (0.1 / 0.25).
* **Wasserstein-1** ``W = integral |F1 - F2| dx = integral_0^1 |Q1(u) - Q2(u)| du``, as
  :func:`scipy.stats.wasserstein_distance` (unweighted). Computed in the KS merge walk from the
  CDF form ``sum_k |i_k n2 - j_k n1| (x_{k+1} - x_k) / (n1 n2)`` over the distinct values
  ``x_k`` (integer CDF differences, so only the products and the sum round; summed in blocks of
  1024 terms). The numpy reference (:func:`_wasserstein_sorted_numpy`) uses the quantile form on
  the merged grid ``{k/n1} U {l/n2}``; the two agree to ~1e-15 relative (tests: 1e-12).
* **Chi-square** (:func:`chi_square_counts`): Pearson's test of homogeneity on the 2 x k table
  (reference counts, current counts), identical to
  ``scipy.stats.chi2_contingency(table, correction=correction)``: Yates' continuity correction
  is applied only when the table has one degree of freedom (k = 2) and ``correction`` is true
  (scipy's default). Categories with zero count in both samples are dropped first (scipy
  raises on them); ``dof = k' - 1`` for the k' remaining categories.
* **Jensen-Shannon** (:func:`jensen_shannon`): with ``p, q`` normalised to sum 1 and
  ``m = (p + q) / 2``, divergence ``JSD = (KL(p||m) + KL(q||m)) / 2`` in the given log base
  (natural log by default) and distance ``sqrt(JSD)`` -- the value of
  :func:`scipy.spatial.distance.jensenshannon` (except that a divergence rounded to a tiny
  negative number for identical distributions is clipped to 0, where scipy returns NaN).
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.special as sps
import scipy.stats as sst
from numpy.typing import ArrayLike, NDArray

from clearance.kernels import _jit, _radix
from clearance.kernels._arrays import BoolArray, FloatArray, IntArray, as_float

__all__ = [
    "CategoricalDrift",
    "ChiSquareResult",
    "ColumnDrift",
    "JensenShannonResult",
    "KSResult",
    "PSIResult",
    "SortedColumn",
    "categorical_drift",
    "categorical_drift_counts",
    "category_counts",
    "chi_square",
    "chi_square_counts",
    "column_drift",
    "column_drifts",
    "jensen_shannon",
    "kolmogorov_sf",
    "ks_2samp",
    "psi",
    "psi_equal_width",
    "sort_column",
    "wasserstein",
]

PSI_EPSILON = 1e-4
"""Proportion substituted for an empty bin in PSI (no renormalisation)."""

_EXACT_MAX_N = 10_000  # scipy's 'auto' uses the exact distribution up to this sample size
_KS_STRIDE = 64  # coarse-grid stride of the KS search
_PAIR_FROM = 1 << 16  # samples from this size are sorted side by side (:func:`_columns`)
_W_CHUNK = 1 << 13  # grid points per Wasserstein chunk: temporaries stay in cache and below
# glibc's 128 KiB mmap threshold (larger chunks page-fault on every allocation: 4x slower)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class SortedColumn:
    """A numeric column sorted ascending with its NaNs removed (``values``) and counted."""

    values: FloatArray
    null_count: int

    @property
    def n(self) -> int:
        """Number of non-null values."""
        return int(self.values.shape[0])


def sort_column(
    x: ArrayLike | SortedColumn, *, assume_sorted: bool = False, n_threads: int | None = None
) -> SortedColumn:
    """Sort a numeric column once, dropping and counting NaNs.

    The sort is a parallel radix sort on ``n_threads`` threads (default: all CPUs; the values
    are those of ``numpy.sort``, -0.0 read as 0.0). With ``assume_sorted=True`` the input must
    already be ascending with any NaNs at the end (what ``numpy.sort`` produces); it is then
    only scanned for the NaN boundary (O(log n)).
    """
    if isinstance(x, SortedColumn):
        return x
    arr = as_float(x, "column", allow_nan=True)
    if not assume_sorted:
        threads = n_threads if n_threads is not None else (os.cpu_count() or 1)
        values, nulls = _radix.sort_values(arr, threads)
        return SortedColumn(values=values, null_count=nulls)
    # numpy orders NaN after every number in both sort and searchsorted.
    n_valid = int(np.searchsorted(arr, np.nan, side="left"))
    return SortedColumn(values=arr[:n_valid], null_count=int(arr.shape[0] - n_valid))


def _columns(
    reference: ArrayLike | SortedColumn,
    current: ArrayLike | SortedColumn,
    assume_sorted: bool,
    n_threads: int | None = None,
) -> tuple[SortedColumn, SortedColumn]:
    """Both samples sorted. Two large unsorted samples are sorted side by side, one thread
    each: the same CPU time as one after the other on all threads, without the radix sort's
    hand-offs between threads at every pass (which wait on a busy core). With
    ``n_threads=1`` both are sorted on this thread, one after the other."""
    unsorted = not (
        assume_sorted or isinstance(reference, SortedColumn) or isinstance(current, SortedColumn)
    )
    large = min(np.size(reference), np.size(current)) >= _PAIR_FROM  # type: ignore[arg-type]
    threads = n_threads if n_threads is not None else (os.cpu_count() or 1)
    if unsorted and large and threads > 1:
        with ThreadPoolExecutor(max_workers=2) as pool:
            ref = pool.submit(sort_column, reference, n_threads=1)
            cur = pool.submit(sort_column, current, n_threads=1)
            return _nonempty(ref.result(), "reference"), _nonempty(cur.result(), "current")
    return (
        _column(reference, assume_sorted, "reference", n_threads),
        _column(current, assume_sorted, "current", n_threads),
    )


def _size(x: ArrayLike | SortedColumn) -> int:
    return x.n + x.null_count if isinstance(x, SortedColumn) else int(np.size(x))


def _nonempty(col: SortedColumn, name: str) -> SortedColumn:
    if col.n == 0:
        raise ValueError(f"{name} has no non-null values")
    return col


def _column(
    x: ArrayLike | SortedColumn, assume_sorted: bool, name: str, n_threads: int | None = None
) -> SortedColumn:
    return _nonempty(sort_column(x, assume_sorted=assume_sorted, n_threads=n_threads), name)


# --------------------------------------------------------------------------- KS statistic


def _ranges(starts: IntArray, stops: IntArray) -> IntArray:
    """Concatenate ``arange(starts[i], stops[i])`` for all i (empty ranges allowed)."""
    lens = np.maximum(stops - starts, 0)
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    keep = lens > 0
    starts, lens = starts[keep], lens[keep]
    offsets = np.cumsum(lens) - lens
    return np.repeat(starts - offsets, lens) + np.arange(total, dtype=np.int64)


def _ks_statistic_sorted(a: FloatArray, b: FloatArray) -> tuple[float, float, float, float]:
    """Return (D+, location of D+, D-, location of D-) with D+ = max(F1 - F2).

    The compiled merge walk (:func:`_ks_wasserstein_walk`); the pure-numpy coarse-to-fine search
    :func:`_ks_statistic_sorted_numpy` is the reference and gives identical results.
    """
    return _ks_wasserstein_walk(a, b)[0]


def _ks_wasserstein_walk(
    a: FloatArray, b: FloatArray
) -> tuple[tuple[float, float, float, float], float]:
    """KS (D+, location, D-, location) and the Wasserstein-1 distance from one merge walk.

    The walk evaluates g = F1 - F2 exactly (as ``i/n1 - j/n2``, the same floating-point
    expression as the reference) at every distinct value, so D+ and D- are the same numbers.
    The locations follow the reference's tie rule: the first (smallest) knot of the coarse grid
    (every 64th order statistic of each sample, and the last) attaining the extreme if no other
    value exceeds it; otherwise the smallest value of ``a`` attaining it, else of ``b``. The
    Wasserstein distance is the CDF form ``Σ |F1 - F2|·Δx`` (as scipy) with a compensated sum.
    """
    kp, lkp, ap, lap, bp, lbp, km, lkm, am, lam, bm, lbm, w = _jit.ks_wasserstein(a, b)
    best_p = max(ap, bp)
    if kp >= best_p:
        d_p, loc_p = kp, lkp
    else:
        d_p, loc_p = (ap, lap) if ap == best_p else (bp, lbp)
    best_m = min(am, bm)
    if km <= best_m:
        d_m, loc_m = -km, lkm
    else:
        d_m, loc_m = (-am, lam) if am == best_m else (-bm, lbm)
    wd = w / (float(a.shape[0]) * float(b.shape[0]))
    return (max(d_p, 0.0), loc_p, max(d_m, 0.0), loc_m), wd


def _ks_statistic_sorted_numpy(a: FloatArray, b: FloatArray) -> tuple[float, float, float, float]:
    """Reference for :func:`_ks_statistic_sorted`: a coarse-to-fine search with numpy."""
    n1, n2 = a.shape[0], b.shape[0]
    if n1 == n2 and np.array_equal(a, b):
        return 0.0, float(a[0]), 0.0, float(a[0])
    s = _KS_STRIDE
    knots = np.concatenate([a[::s], a[-1:], b[::s], b[-1:]])
    knots.sort()
    ra = np.searchsorted(a, knots, side="right")
    rb = np.searchsorted(b, knots, side="right")
    la = np.searchsorted(a, knots, side="left")
    lb = np.searchsorted(b, knots, side="left")
    g = ra / n1 - rb / n2
    i_max, i_min = int(np.argmax(g)), int(np.argmin(g))
    best_p, loc_p = float(g[i_max]), float(knots[i_max])
    best_m, loc_m = float(-g[i_min]), float(knots[i_min])
    # Strictly between consecutive knots k < k+1 (F1 - F2 is exact at the knots themselves):
    # F1 <= la[k+1]/n1 and F2 >= rb[k]/n2, so F1 - F2 <= la[k+1]/n1 - rb[k]/n2, and
    # F1 - F2 >= ra[k]/n1 - lb[k+1]/n2. Refine only the intervals that could beat the best,
    # at the sample points strictly inside them (ties at a knot never need a second look).
    upper = la[1:] / n1 - rb[:-1] / n2
    lower = ra[:-1] / n1 - lb[1:] / n2
    cand = np.flatnonzero((upper > best_p) | (-lower > best_m))
    if cand.size:
        ia = _ranges(ra[cand].astype(np.int64), la[cand + 1].astype(np.int64))
        ib = _ranges(rb[cand].astype(np.int64), lb[cand + 1].astype(np.int64))
        pts = np.concatenate([a[ia], b[ib]])
        gp = np.searchsorted(a, pts, side="right") / n1 - np.searchsorted(b, pts, side="right") / n2
        j_max, j_min = int(np.argmax(gp)), int(np.argmin(gp))
        if gp[j_max] > best_p:
            best_p, loc_p = float(gp[j_max]), float(pts[j_max])
        if -gp[j_min] > best_m:
            best_m, loc_m = float(-gp[j_min]), float(pts[j_min])
    return max(best_p, 0.0), loc_p, max(best_m, 0.0), loc_m


# --------------------------------------------------------------------------- KS p-value

_LOG_2PI = math.log(2.0 * math.pi)
_E128 = 2.0**128


def _stirlerr(k: FloatArray) -> FloatArray:
    """``log(k!) - (k + 1/2) log k + k - log(2 pi)/2`` for k >= 1, accurate to ~1 ulp."""
    out = np.empty_like(k)
    small = k < 16.0
    ks = k[small]
    out[small] = sps.gammaln(ks + 1.0) - (ks + 0.5) * np.log(ks) + ks - 0.5 * _LOG_2PI
    r = 1.0 / k[~small]
    r2 = r * r
    out[~small] = r * (
        1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 / 1188)))
    )
    return out


def _smirnov_log_terms(n: int, x: float, j: FloatArray, se_n: float) -> FloatArray:
    """log of ``C(n,j) (1-x-j/n)^(n-j) (x+j/n)^(j-1)`` for 1 <= j < n(1-x)."""
    nx = n * x
    return (
        (n - j) * np.log1p(-nx / (n - j))
        + j * np.log1p(nx / j)
        - np.log(x + j / n)
        + 0.5 * np.log(n / (2.0 * math.pi * j * (n - j)))
        + se_n
        - _stirlerr(j)
        - _stirlerr(n - j)
    )


def _smirnov_sf(n: int, x: float) -> float:
    """One-sided ``P(D_n^+ >= x)`` for ``1/n < x < 1 - 1/n`` and ``n x^2 >= 2.2``.

    Same quantity (and, for n > 1e6, the same approximation) as ``scipy.special.smirnov``.
    """
    if -2.0 * n * x * x < -708.3964185322641:
        return 0.0
    if n > 1_000_000:
        return math.exp(-((6.0 * n * x + 1.0) ** 2) / 18.0 / n)
    nx = n * x
    nxfl = math.floor(nx)
    jmax = n - nxfl - 1  # last j with j < n (1 - x)
    if nx == nxfl:
        jmax -= 1
    log_a0 = n * math.log1p(-x) - math.log(x)
    if jmax < 1:
        return min(1.0, x * math.exp(log_a0))
    se_n = float(_stirlerr(np.array([float(n)]))[0])
    if jmax <= 20_000:
        j = np.arange(1, jmax + 1, dtype=np.float64)
        logs = _smirnov_log_terms(n, x, j, se_n)
        m = max(float(logs.max()), log_a0)
        total = float(np.exp(logs - m).sum()) + math.exp(log_a0 - m)
        return x * math.exp(m) * total
    grid = np.unique(np.linspace(1.0, float(jmax), 4096).round())
    lg = _smirnov_log_terms(n, x, grid, se_n)
    m = max(float(lg.max()), log_a0)
    keep = np.flatnonzero(lg > m - 50.0)
    lo = int(grid[max(int(keep[0]) - 1, 0)])
    hi = int(grid[min(int(keep[-1]) + 1, grid.shape[0] - 1)])
    width = hi - lo + 1
    stride = 1 if width <= 20_000 else max(1, width // 400)
    j = np.arange(lo, hi + 1, stride, dtype=np.float64)
    total = stride * float(np.exp(_smirnov_log_terms(n, x, j, se_n) - m).sum())
    if lo == 1:
        total += math.exp(log_a0 - m)
    return x * math.exp(m) * total


def _kolmogorov_cdf_dmtw(n: int, d: float) -> float:
    """Durbin / Marsaglia-Tsang-Wang ``P(D_n <= d)``; the n!/n^n factor taken in log space."""
    nd = n * d
    k = math.ceil(nd)
    h = k - nd
    m = 2 * k - 1
    intm = np.arange(1, m + 1, dtype=np.float64)
    v = 1.0 - h**intm
    w = np.empty(m)
    fac = 1.0
    for jj in range(1, m + 1):
        w[jj - 1] = fac
        fac /= jj
        v[jj - 1] *= fac
    tt = max(2 * h - 1.0, 0.0) ** m - 2 * h**m
    v[-1] = (1.0 + tt) * fac
    hmat = np.zeros((m, m))
    for i in range(1, m):
        hmat[i - 1 :, i] = w[: m - i + 1]
    hmat[:, 0] = v
    hmat[-1, :] = np.flip(v)
    hpwr = np.eye(m)
    nn, expnt, hexpnt = n, 0, 0
    while nn > 0:
        if nn % 2:
            hpwr = hpwr @ hmat
            expnt += hexpnt
        hmat = hmat @ hmat
        hexpnt *= 2
        if abs(hmat[k - 1, k - 1]) > _E128:
            hmat /= _E128
            hexpnt += 128
        nn //= 2
    p = float(hpwr[k - 1, k - 1])
    if p <= 0.0:
        return 0.0
    # log(n!/n^n) = log(2 pi n)/2 - n + stirlerr(n)
    log_fact = 0.5 * (_LOG_2PI + math.log(n)) - n + float(_stirlerr(np.array([float(n)]))[0])
    return min(1.0, math.exp(math.log(p) + expnt * math.log(2.0) + log_fact))


def kolmogorov_sf(n: int, x: float) -> float:
    """``P(D_n >= x)`` for the one-sample two-sided Kolmogorov statistic of size ``n``.

    Equals ``scipy.stats.kstwo.sf(x, n)`` (to 1e-12 relative in tests) but avoids scipy's slow
    branches for large ``n`` (see the module docstring for the routes).
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if x >= 1.0:
        return 0.0
    if x <= 0.0:
        return 1.0
    t = n * x
    if t <= 1.0 or t >= n - 1 or x >= 0.5 or n <= 140:
        return float(sst.kstwo.sf(x, n))
    nx2 = t * x
    if nx2 >= 370.0:
        return 0.0
    if nx2 >= 2.2:
        return min(1.0, max(0.0, 2.0 * _smirnov_sf(n, x)))
    if n <= 100_000 and n * x**1.5 <= 1.4:
        return min(1.0, max(0.0, 1.0 - _kolmogorov_cdf_dmtw(n, x)))
    return float(sst.kstwo.sf(x, n))  # Pelz-Good: already fast in scipy


@dataclass(frozen=True, slots=True)
class KSResult:
    """Two-sample, two-sided Kolmogorov-Smirnov test."""

    statistic: float
    pvalue: float
    method: Literal["exact", "asymp"]
    statistic_location: float
    statistic_sign: int  # +1 if F_ref - F_cur attains D, -1 otherwise (as scipy)
    n_reference: int
    n_current: int
    null_reference: int
    null_current: int


def _ks_from_sorted(
    ref: SortedColumn,
    cur: SortedColumn,
    method: Literal["auto", "exact", "asymp"],
    stat: tuple[float, float, float, float] | None = None,
) -> KSResult:
    a, b = ref.values, cur.values
    n1, n2 = a.shape[0], b.shape[0]
    d_p, loc_p, d_m, loc_m = _ks_statistic_sorted(a, b) if stat is None else stat
    if d_m > d_p:
        d, loc, sign = d_m, loc_m, -1
    else:
        d, loc, sign = d_p, loc_p, 1
    use_exact = method == "exact" or (method == "auto" and max(n1, n2) <= _EXACT_MAX_N)
    chosen: Literal["exact", "asymp"] = "asymp"
    if use_exact:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res: Any = sst.ks_2samp(a, b, method="exact")
        if not any("Switching to" in str(wm.message) for wm in caught):
            chosen = "exact"
            d = float(res.statistic)  # scipy rounds D to a multiple of 1/lcm(n1, n2)
            p = float(res.pvalue)
    if chosen == "asymp":
        big, small = max(float(n1), float(n2)), min(float(n1), float(n2))
        en = int(np.round(big * small / (big + small)))
        p = min(1.0, max(0.0, kolmogorov_sf(en, d)))
    return KSResult(
        statistic=d,
        pvalue=p,
        method=chosen,
        statistic_location=loc,
        statistic_sign=sign,
        n_reference=n1,
        n_current=n2,
        null_reference=ref.null_count,
        null_current=cur.null_count,
    )


def ks_2samp(
    reference: ArrayLike | SortedColumn,
    current: ArrayLike | SortedColumn,
    *,
    assume_sorted: bool = False,
    method: Literal["auto", "exact", "asymp"] = "auto",
) -> KSResult:
    """Two-sample two-sided KS test; statistic and p-value as ``scipy.stats.ks_2samp``.

    ``assume_sorted=True`` (or passing :class:`SortedColumn`) reuses existing sorts. ``method``
    has scipy's meaning; ``"auto"`` is exact up to 10,000 values per sample, asymptotic above.
    """
    ref = _column(reference, assume_sorted, "reference")
    cur = _column(current, assume_sorted, "current")
    return _ks_from_sorted(ref, cur, method)


# --------------------------------------------------------------------------- Wasserstein


def _wasserstein_sorted(a: FloatArray, b: FloatArray) -> float:
    """Wasserstein-1 of two sorted samples: the compiled merge walk (CDF form)."""
    return _ks_wasserstein_walk(a, b)[1]


def _wasserstein_sorted_numpy(a: FloatArray, b: FloatArray) -> float:
    """Reference for :func:`_wasserstein_sorted`: the quantile form with numpy (chunked)."""
    n1, n2 = int(a.shape[0]), int(b.shape[0])
    if n1 == n2:
        total = 0.0
        for s in range(0, n1, _W_CHUNK):
            total += float(np.abs(a[s : s + _W_CHUNK] - b[s : s + _W_CHUNK]).sum())
        return total / n1
    # Quantile form on the merged grid {k/n1} U {l/n2}, in units of 1/(n1 n2): a-breakpoints
    # k*n2 (k = 1..n1), b-breakpoints l*n1. Piece j of the merged grid ends at M[j]; on it
    # Q1 = a[#a-breakpoints before j] and Q2 = b[#b-breakpoints before j] (a tie puts the
    # a-breakpoint first; the piece between tied breakpoints has width 0). Chunks end at
    # a-breakpoints. Floats hold these integers exactly while n1 * n2 < 2**50.
    exact_float = n1 * n2 < 2**50
    total = 0.0
    step = max(1, _W_CHUNK * n1 // (n1 + n2))
    for k0 in range(0, n1, step):
        k1 = min(n1, k0 + step)
        lb0 = (k0 * n2) // n1  # b-breakpoints <= k0 * n2
        lb1 = (k1 * n2) // n1
        na, nb = k1 - k0, lb1 - lb0
        size = na + nb
        pa = np.arange(k0 + 1, k1 + 1, dtype=np.float64) * n2
        if exact_float:
            before = np.floor((pa - 1.0) / n1).astype(np.intp)  # b-breakpoints < k*n2
        else:
            kk = np.arange(k0 + 1, k1 + 1, dtype=np.int64)
            before = ((kk * n2 - 1) // n1).astype(np.intp)
        pos = before + np.arange(-lb0, na - lb0, dtype=np.intp)
        is_a = np.zeros(size, dtype=bool)
        is_a[pos] = True
        merged = np.empty(size)
        merged[pos] = pa
        merged[~is_a] = np.arange(lb0 + 1, lb1 + 1, dtype=np.float64) * n1
        widths = np.empty(size)
        widths[0] = merged[0] - float(k0) * n2
        np.subtract(merged[1:], merged[:-1], out=widths[1:])
        ia = np.cumsum(is_a, dtype=np.intp)
        ia -= is_a
        ib = np.arange(lb0, lb0 + size, dtype=np.intp) - ia
        ia += k0
        # mode="clip": only zero-width pieces can index one past the end
        diff = a.take(ia, mode="clip") - b.take(ib, mode="clip")
        np.abs(diff, out=diff)
        total += float(np.dot(widths, diff))
    return total / (float(n1) * float(n2))


def wasserstein(
    reference: ArrayLike | SortedColumn,
    current: ArrayLike | SortedColumn,
    *,
    assume_sorted: bool = False,
) -> float:
    """First Wasserstein distance between two samples (``scipy.stats.wasserstein_distance``)."""
    ref = _column(reference, assume_sorted, "reference")
    cur = _column(current, assume_sorted, "current")
    return _wasserstein_sorted(ref.values, cur.values)


# --------------------------------------------------------------------------- PSI


@dataclass(frozen=True, slots=True)
class PSIResult:
    """Population stability index with the bins it was computed on."""

    value: float
    edges: FloatArray  # interior edges (len = number of bins - 1)
    reference_proportions: FloatArray  # before the epsilon substitution
    current_proportions: FloatArray
    epsilon: float
    binning: Literal["reference_quantile", "equal_width_pooled"]


def _quantiles_sorted(a: FloatArray, qs: FloatArray) -> FloatArray:
    """``numpy.quantile(a, qs)`` (method='linear') for an already sorted ``a``."""
    n = a.shape[0]
    h = (n - 1) * qs
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    t = h - lo
    x0, x1 = a[lo], a[hi]
    diff = x1 - x0
    out: FloatArray = np.where(t >= 0.5, x1 - diff * (1.0 - t), x0 + diff * t)
    return out


def _psi_value(rc: IntArray, cc: IntArray, n1: int, n2: int, eps: float) -> tuple[float, Any, Any]:
    rp = rc / n1
    cp = cc / n2
    r = np.where(rp == 0.0, eps, rp)
    c = np.where(cp == 0.0, eps, cp)
    return float(np.sum((c - r) * np.log(c / r))), rp, cp


def _psi_sorted(a: FloatArray, b: FloatArray, bins: int, eps: float) -> PSIResult:
    if bins < 1:
        raise ValueError("bins must be >= 1")
    qs = np.arange(1, bins, dtype=np.float64) / bins
    edges = np.unique(_quantiles_sorted(a, qs))
    n1, n2 = a.shape[0], b.shape[0]
    ca = np.diff(np.concatenate([[0], np.searchsorted(a, edges, side="left"), [n1]]))
    cb = np.diff(np.concatenate([[0], np.searchsorted(b, edges, side="left"), [n2]]))
    value, rp, cp = _psi_value(ca, cb, n1, n2, eps)
    return PSIResult(value, edges, rp, cp, eps, "reference_quantile")


def psi(
    reference: ArrayLike | SortedColumn,
    current: ArrayLike | SortedColumn,
    bins: int = 10,
    *,
    epsilon: float = PSI_EPSILON,
    assume_sorted: bool = False,
) -> PSIResult:
    """PSI with ``bins`` bins at reference quantiles (see the module docstring)."""
    ref = _column(reference, assume_sorted, "reference")
    cur = _column(current, assume_sorted, "current")
    return _psi_sorted(ref.values, cur.values, bins, epsilon)


def psi_equal_width(
    reference: ArrayLike | SortedColumn,
    current: ArrayLike | SortedColumn,
    bins: int = 10,
    *,
    epsilon: float = PSI_EPSILON,
    assume_sorted: bool = False,
) -> PSIResult:
    """PSI on ``bins`` equal-width bins over the pooled range of both samples.

    A different statistic from :func:`psi` (it is what some monitoring tools report as "PSI");
    see the module docstring.
    """
    ref = _column(reference, assume_sorted, "reference")
    cur = _column(current, assume_sorted, "current")
    a, b = ref.values, cur.values
    lo, hi = min(a[0], b[0]), max(a[-1], b[-1])
    full = np.histogram_bin_edges(np.array([lo, hi]), bins=bins)
    inner = full[1:-1]
    n1, n2 = a.shape[0], b.shape[0]
    ca = np.diff(np.concatenate([[0], np.searchsorted(a, inner, side="left"), [n1]]))
    cb = np.diff(np.concatenate([[0], np.searchsorted(b, inner, side="left"), [n2]]))
    value, rp, cp = _psi_value(ca, cb, n1, n2, epsilon)
    return PSIResult(value, inner, rp, cp, epsilon, "equal_width_pooled")


# --------------------------------------------------------------------------- one column


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """KS, PSI and Wasserstein of one numeric column, from one sort of each sample."""

    ks: KSResult
    psi: PSIResult
    wasserstein: float
    null_reference: int
    null_current: int


def column_drift(
    reference: ArrayLike | SortedColumn,
    current: ArrayLike | SortedColumn,
    *,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
    assume_sorted: bool = False,
    method: Literal["auto", "exact", "asymp"] = "auto",
    n_threads: int | None = None,
) -> ColumnDrift:
    """All numeric drift statistics of a column; sorts each sample at most once.

    Pass :class:`SortedColumn` (from :func:`sort_column`) or ``assume_sorted=True`` to reuse
    sorts made elsewhere (e.g. for data-quality range checks). ``n_threads=1`` keeps all the
    work on this thread (what :func:`column_drifts` does per column); the results do not
    depend on it.
    """
    ref, cur = _columns(reference, current, assume_sorted, n_threads)
    return _drift_of(ref, cur, bins, epsilon, method)


def _drift_of(
    ref: SortedColumn,
    cur: SortedColumn,
    bins: int,
    epsilon: float,
    method: Literal["auto", "exact", "asymp"],
) -> ColumnDrift:
    stat, wd = _ks_wasserstein_walk(ref.values, cur.values)
    return ColumnDrift(
        ks=_ks_from_sorted(ref, cur, method, stat),
        psi=_psi_sorted(ref.values, cur.values, bins, epsilon),
        wasserstein=wd,
        null_reference=ref.null_count,
        null_current=cur.null_count,
    )


def column_drifts(
    pairs: Sequence[tuple[ArrayLike | SortedColumn, ArrayLike | SortedColumn]],
    *,
    bins: int = 10,
    epsilon: float = PSI_EPSILON,
    method: Literal["auto", "exact", "asymp"] = "auto",
    n_threads: int | None = None,
) -> list[ColumnDrift | ValueError]:
    """:func:`column_drift` of each (reference, current) pair, the columns spread over
    ``n_threads`` threads (default: all CPUs).

    Each column's two sorts and merge walk run on one thread, so no thread waits on another
    inside a column and one column's walk overlaps the others' sorts (sorting each pair side
    by side leaves the walks on one core). Each thread sorts all its columns into the same
    three buffers, not fresh memory per sort: a column's results keep nothing of its sorts. A
    pair whose statistics are undefined (a sample with no non-null value) gets its
    ``ValueError`` in its place: the caller reports the first in its own order. The results
    are :func:`column_drift`'s, whatever the threads.
    """
    threads = n_threads if n_threads is not None else (os.cpu_count() or 1)
    if len(pairs) == 1:  # one column: its two sorts side by side
        try:
            return [column_drift(*pairs[0], bins=bins, epsilon=epsilon, method=method,
                                 n_threads=threads)]  # fmt: skip
        except ValueError as exc:
            return [exc]
    largest = max((max(_size(a), _size(b)) for a, b in pairs), default=0)
    local = threading.local()

    def one(pair: tuple[ArrayLike | SortedColumn, ArrayLike | SortedColumn]) -> Any:
        scratch = getattr(local, "scratch", None)
        if scratch is None:
            scratch = local.scratch = [np.empty(largest, np.uint64) for _ in range(3)]
        a, b, c = scratch
        try:
            ref = _nonempty(_sort_into(pair[0], a, b), "reference")
            free = a if np.may_share_memory(ref.values, b) else b  # ref's sort ended in a or b
            cur = _nonempty(_sort_into(pair[1], free, c), "current")
            return _drift_of(ref, cur, bins, epsilon, method)
        except ValueError as exc:
            return exc

    rows = sum(_size(a) + _size(b) for a, b in pairs)
    if threads <= 1 or rows < _PAIR_FROM:
        return [one(p) for p in pairs]
    with ThreadPoolExecutor(max_workers=min(threads, len(pairs))) as pool:
        return list(pool.map(one, pairs))


def _sort_into(
    x: ArrayLike | SortedColumn, keys: NDArray[np.uint64], tmp: NDArray[np.uint64]
) -> SortedColumn:
    """:func:`sort_column` on this thread, into the scratch ``keys`` and ``tmp``."""
    if isinstance(x, SortedColumn):
        return x
    values, nulls = _radix.sort_values_one(as_float(x, "column", allow_nan=True), keys, tmp)
    return SortedColumn(values=values, null_count=nulls)


# --------------------------------------------------------------------------- categorical


@dataclass(frozen=True, slots=True)
class ChiSquareResult:
    """Pearson chi-square test of homogeneity on the 2 x k table."""

    statistic: float
    pvalue: float
    dof: int
    yates: bool  # whether Yates' continuity correction was applied


@dataclass(frozen=True, slots=True)
class JensenShannonResult:
    """Jensen-Shannon divergence and distance (``distance = sqrt(divergence)``)."""

    divergence: float
    distance: float
    base: float | None


@dataclass(frozen=True, slots=True)
class CategoricalDrift:
    """Chi-square and Jensen-Shannon of one categorical column, from one counting pass."""

    categories: NDArray[Any]
    reference_counts: IntArray
    current_counts: IntArray
    chi_square: ChiSquareResult
    jensen_shannon: JensenShannonResult
    null_reference: int
    null_current: int


def chi_square_counts(
    reference_counts: ArrayLike, current_counts: ArrayLike, *, correction: bool = True
) -> ChiSquareResult:
    """Chi-square homogeneity test of two count vectors over the same categories."""
    rc = np.asarray(reference_counts, dtype=np.float64)
    cc = np.asarray(current_counts, dtype=np.float64)
    if rc.shape != cc.shape or rc.ndim != 1:
        raise ValueError("count vectors must be one-dimensional and of equal length")
    if np.any(rc < 0) or np.any(cc < 0):
        raise ValueError("counts must be non-negative")
    keep = (rc + cc) > 0
    rc, cc = rc[keep], cc[keep]
    k = rc.shape[0]
    n1, n2 = rc.sum(), cc.sum()
    if k < 2 or n1 == 0 or n2 == 0:
        return ChiSquareResult(statistic=0.0, pvalue=1.0, dof=max(k - 1, 0), yates=False)
    total = n1 + n2
    col = rc + cc
    observed = np.stack([rc, cc])
    expected = np.stack([col * (n1 / total), col * (n2 / total)])
    dof = k - 1
    yates = bool(correction and dof == 1)
    if yates:
        diff = expected - observed
        direction = np.sign(diff)
        magnitude = np.minimum(0.5, np.abs(diff))
        observed = observed + magnitude * direction
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return ChiSquareResult(
        statistic=stat, pvalue=float(sst.chi2.sf(stat, dof)), dof=dof, yates=yates
    )


def jensen_shannon(p: ArrayLike, q: ArrayLike, *, base: float | None = None) -> JensenShannonResult:
    """Jensen-Shannon divergence/distance of two (unnormalised) distributions or count vectors."""
    pa = np.asarray(p, dtype=np.float64)
    qa = np.asarray(q, dtype=np.float64)
    if pa.shape != qa.shape or pa.ndim != 1:
        raise ValueError("p and q must be one-dimensional and of equal length")
    pa = pa / pa.sum()
    qa = qa / qa.sum()
    m = (pa + qa) / 2.0
    terms = sps.rel_entr(pa, m) + sps.rel_entr(qa, m)
    # The smallest subnormal masses halve to 0 in m; their true term is mass * log 2, not inf.
    lost = m == 0.0
    terms[lost] = (pa[lost] + qa[lost]) * math.log(2.0)
    js = float(np.sum(terms)) / 2.0
    if base is not None:
        js /= math.log(base)
    js = max(js, 0.0)
    return JensenShannonResult(divergence=js, distance=math.sqrt(js), base=base)


def _null_mask(x: NDArray[Any]) -> BoolArray:
    if x.dtype.kind == "f":
        mask: BoolArray = np.isnan(x)
        return mask
    if x.dtype.kind == "O":
        return np.fromiter((v is None or v != v for v in x), dtype=bool, count=x.shape[0])
    return np.zeros(x.shape[0], dtype=bool)


def category_counts(
    reference: ArrayLike, current: ArrayLike, *, n_categories: int | None = None
) -> tuple[NDArray[Any], IntArray, IntArray, int, int]:
    """Count categories of two samples: (categories, ref counts, cur counts, ref nulls, cur nulls).

    Integer codes ``0..n_categories-1`` are counted with ``bincount`` (one pass, categories are
    the codes; negative codes are treated as null). Any other values go through ``numpy.unique``
    on the pooled samples. ``None``/NaN are nulls.
    """
    r = np.asarray(reference)
    c = np.asarray(current)
    if n_categories is not None:
        if r.dtype.kind not in "iub" or c.dtype.kind not in "iub":
            raise TypeError("n_categories requires integer codes")
        r_ok = r[r >= 0] if r.dtype.kind == "i" else r
        c_ok = c[c >= 0] if c.dtype.kind == "i" else c
        rc = np.bincount(r_ok, minlength=n_categories).astype(np.int64)
        cc = np.bincount(c_ok, minlength=n_categories).astype(np.int64)
        if rc.shape[0] > n_categories or cc.shape[0] > n_categories:
            raise ValueError("a code is >= n_categories")
        cats = np.arange(n_categories)
        return cats, rc, cc, int(r.shape[0] - r_ok.shape[0]), int(c.shape[0] - c_ok.shape[0])
    rn, cn = _null_mask(r), _null_mask(c)
    rv, cv = r[~rn], c[~cn]
    cats, inverse = np.unique(np.concatenate([rv, cv]), return_inverse=True)
    k = cats.shape[0]
    rc = np.bincount(inverse[: rv.shape[0]], minlength=k).astype(np.int64)
    cc = np.bincount(inverse[rv.shape[0] :], minlength=k).astype(np.int64)
    return cats, rc, cc, int(rn.sum()), int(cn.sum())


def chi_square(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    correction: bool = True,
    n_categories: int | None = None,
) -> ChiSquareResult:
    """Chi-square homogeneity test of two categorical samples (see :func:`category_counts`)."""
    _, rc, cc, _, _ = category_counts(reference, current, n_categories=n_categories)
    return chi_square_counts(rc, cc, correction=correction)


def categorical_drift(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    correction: bool = True,
    base: float | None = None,
    n_categories: int | None = None,
) -> CategoricalDrift:
    """Chi-square and Jensen-Shannon for a categorical column from a single count."""
    cats, rc, cc, rn, cn = category_counts(reference, current, n_categories=n_categories)
    return categorical_drift_counts(
        rc, cc, null_reference=rn, null_current=cn, categories=cats, correction=correction,
        base=base,
    )  # fmt: skip


def categorical_drift_counts(
    reference_counts: ArrayLike,
    current_counts: ArrayLike,
    *,
    null_reference: int = 0,
    null_current: int = 0,
    categories: ArrayLike | None = None,
    correction: bool = True,
    base: float | None = None,
) -> CategoricalDrift:
    """:func:`categorical_drift` from counts already made (per category, the same categories
    in both; ``categories`` default to their positions): what a caller holding category codes
    gets from one ``bincount`` per sample."""
    rc = np.asarray(reference_counts, dtype=np.int64)
    cc = np.asarray(current_counts, dtype=np.int64)
    if rc.sum() == 0 or cc.sum() == 0:
        raise ValueError("both samples need at least one non-null value")
    return CategoricalDrift(
        categories=np.arange(rc.shape[0]) if categories is None else np.asarray(categories),
        reference_counts=rc,
        current_counts=cc,
        chi_square=chi_square_counts(rc, cc, correction=correction),
        jensen_shannon=jensen_shannon(rc, cc, base=base),
        null_reference=int(null_reference),
        null_current=int(null_current),
    )
