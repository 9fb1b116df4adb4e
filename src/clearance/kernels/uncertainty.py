"""Uncertainty for performance metrics: DeLong, McNemar, a fast Poisson bootstrap, Holm.

All randomness is seeded: the same inputs and ``seed`` give bit-identical results on any
machine and with any number of threads.

The bootstrap's parts live in private modules: ``_poisson`` (the weights and the compiled
per-resample loop), ``_ranks`` (the radix sort shared with DeLong) and ``_bootstrap_numpy``
(the vectorized reference engine).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from clearance.kernels import _bootstrap_numpy, _poisson, _ranks
from clearance.kernels._arrays import FloatArray, as_binary, as_float, check_same_length

__all__ = [
    "BootstrapResult",
    "DeLongAUC",
    "DeLongPaired",
    "Interval",
    "McNemarResult",
    "bootstrap_auc_accuracy_f1",
    "delong_auc",
    "delong_paired",
    "holm",
    "mcnemar",
    "percentile_interval",
    "poisson_weights",
]

U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]


# --------------------------------------------------------------------------- DeLong


class DeLongAUC(NamedTuple):
    """AUC and DeLong's variance estimate of it."""

    auc: float
    variance: float


class DeLongPaired(NamedTuple):
    """Two correlated AUCs on the same rows, their difference (a - b) and its DeLong test."""

    auc_a: float
    auc_b: float
    diff: float
    variance_of_diff: float
    z: float
    p_value: float


def _placements(yt: NDArray[np.bool_], s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """DeLong's structural components V10 (per positive) and V01 (per negative).

    V10_i = (#negatives below x_i + ½·#negatives tied with it) / n and V01_j = (#positives
    above y_j + ½·#positives tied with it) / m — Sun & Xu's (2014) midrank form
    (T_z(x_i) - T_x(x_i)) / n and 1 - (T_z(y_j) - T_y(y_j)) / m, read off one pass over the
    rows in score order (:func:`clearance.kernels._ranks.rank_scores`, a radix sort).
    """
    m = int(np.count_nonzero(yt))
    n = yt.shape[0] - m
    if m == 0 or n == 0:
        raise ValueError(
            f"ROC AUC is undefined when y holds a single class ({m} positive, {n} negative)"
        )
    threads = os.cpu_count() or 1
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    try:
        ranked = _ranks.rank_scores(yt, s, pool, threads)
    finally:
        if pool is not None:
            pool.shutdown()
    place = _ranks.placements(ranked, m, n)
    del ranked
    return place[yt], place[~yt]


def delong_auc(y: ArrayLike, score: ArrayLike) -> DeLongAUC:
    """AUC with DeLong's variance: Var = S10/m + S01/n (DeLong, DeLong & Clarke-Pearson 1988).

    S10 and S01 are the sample variances (ddof=1) of the placement values V10 (m positives)
    and V01 (n negatives), computed from one sort of the scores (Sun & Xu 2014).
    """
    yt = as_binary(y, "y")
    s = as_float(score, "score")
    check_same_length(y=yt, score=s)
    v10, v01 = _placements(yt, s)
    m, n = v10.shape[0], v01.shape[0]
    var = _var(v10) / m + _var(v01) / n
    return DeLongAUC(float(v10.mean()), float(var))


def _var(v: FloatArray) -> float:
    return float(v.var(ddof=1)) if v.shape[0] > 1 else 0.0


def _cov(a: FloatArray, b: FloatArray) -> float:
    if a.shape[0] < 2:
        return 0.0
    return float(np.dot(a - a.mean(), b - b.mean()) / (a.shape[0] - 1))


def delong_paired(y: ArrayLike, score_a: ArrayLike, score_b: ArrayLike) -> DeLongPaired:
    """DeLong's test for two correlated AUCs on the same rows (DeLong et al. 1988).

    Var(A - B) = (S10_aa + S10_bb - 2·S10_ab)/m + (S01_aa + S01_bb - 2·S01_ab)/n;
    z = (A - B)/√Var, two-sided p = 2·Φ(-|z|). When Var = 0: z = 0 and p = 1 if A = B, else
    z = ±inf and p = 0.
    """
    yt = as_binary(y, "y")
    sa = as_float(score_a, "score_a")
    sb = as_float(score_b, "score_b")
    check_same_length(y=yt, score_a=sa, score_b=sb)
    a10, a01 = _placements(yt, sa)
    b10, b01 = _placements(yt, sb)
    m, n = a10.shape[0], a01.shape[0]
    auc_a, auc_b = float(a10.mean()), float(b10.mean())
    var = (_var(a10) + _var(b10) - 2 * _cov(a10, b10)) / m + (
        _var(a01) + _var(b01) - 2 * _cov(a01, b01)
    ) / n
    var = max(var, 0.0)
    diff = auc_a - auc_b
    if var > 0:
        z = diff / math.sqrt(var)
        p = float(2 * stats.norm.sf(abs(z)))
    elif diff == 0:
        z, p = 0.0, 1.0
    else:
        z, p = math.copysign(math.inf, diff), 0.0
    return DeLongPaired(auc_a, auc_b, diff, var, z, p)


# --------------------------------------------------------------------------- McNemar


class McNemarResult(NamedTuple):
    """McNemar's test; b = rows only model A gets right, c = rows only model B gets right."""

    statistic: float
    p_value: float
    b: int
    c: int


def mcnemar(
    y: ArrayLike,
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    *,
    exact: bool = True,
    correction: bool = True,
) -> McNemarResult:
    """McNemar's test of equal accuracy of two classifiers on the same rows.

    exact: statistic = min(b, c), p = min(1, 2·BinomCDF(min(b, c); b + c, ½)).
    otherwise: statistic = (|b - c| - 1)²/(b + c) (without the -1 if not ``correction``),
    p = χ²₁ survival. Same definitions as ``statsmodels.stats.contingency_tables.mcnemar``;
    b + c = 0 gives p = 1.
    """
    yt = as_binary(y, "y")
    pa = as_binary(pred_a, "pred_a")
    pb = as_binary(pred_b, "pred_b")
    check_same_length(y=yt, pred_a=pa, pred_b=pb)
    ok_a, ok_b = pa == yt, pb == yt
    b = int(np.count_nonzero(ok_a & ~ok_b))
    c = int(np.count_nonzero(~ok_a & ok_b))
    if exact:
        k = min(b, c)
        p = 1.0 if b + c == 0 else min(1.0, float(2 * stats.binom.cdf(k, b + c, 0.5)))
        return McNemarResult(float(k), p, b, c)
    if b + c == 0:
        return McNemarResult(0.0, 1.0, b, c)
    corr = 1.0 if correction else 0.0
    stat = (abs(b - c) - corr) ** 2 / (b + c)
    return McNemarResult(float(stat), float(stats.chi2.sf(stat, 1)), b, c)


# --------------------------------------------------------------------------- helpers


def percentile_interval(samples: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval: the (1-c)/2 and (1+c)/2 quantiles (linear interpolation) of the
    finite values of ``samples`` (Efron & Tibshirani 1993, §13.3)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(samples, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.shape[0] == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(x, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def holm(p_values: ArrayLike) -> FloatArray:
    """Holm-Bonferroni step-down adjusted p-values (Holm 1979).

    With p sorted ascending, p̃_(i) = max_{j ≤ i} min(1, (m - j + 1)·p_(j)); returned in
    the input order. Reject hypothesis i at family-wise level alpha iff p̃_i ≤ alpha.
    """
    p = as_float(p_values, "p_values")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p_values must lie in [0, 1]")
    m = p.shape[0]
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adj
    return out


# --------------------------------------------------------------------------- Poisson bootstrap


def poisson_weights(seed: int, rows: ArrayLike, n_resamples: int) -> U8:
    """The bootstrap's Poisson(1) weights of ``rows`` (original row numbers): (len, R) uint8.

    Exactly the weights :func:`bootstrap_auc_accuracy_f1` uses with the same seed: a weight
    depends only on (seed, row, resample); see :mod:`clearance.kernels._poisson` for the
    definition (a keyed 32-bit hash and an inverse-CDF lookup, P(w = k) within 2.3e-10 of the
    Poisson(1) probabilities).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be ≥ 1, got {n_resamples}")
    salt, keys = _poisson.stream(seed, n_resamples)
    return _poisson.weights(rows, keys, salt)


def poisson_weight_blocks(
    seed: int, rows: ArrayLike, n_resamples: int, *, max_bytes: int = 1 << 26
) -> Iterator[tuple[int, U8]]:
    """:func:`poisson_weights` a few resamples at a time: (first resample, (len, b) block).

    The same weights, column for column, without an n x R matrix (2 GB at 10M rows x 200
    resamples, and 4 bytes per cell while it is built): each block stays under ``max_bytes``
    including that intermediate.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be ≥ 1, got {n_resamples}")
    r = np.asarray(rows).ravel()
    salt, keys = _poisson.stream(seed, n_resamples)
    block = max(1, min(n_resamples, max_bytes // max(1, 6 * r.shape[0])))
    for start in range(0, n_resamples, block):
        yield start, _poisson.weights(r, keys[start : start + block], salt)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided percentile interval."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimates and percentile intervals from a paired Poisson bootstrap.

    ``auc_diff`` is AUC(challenger) - AUC(champion) on the same resampled rows; ``replicates``
    holds the per-resample values (NaN where a resample has no positive or no negative).
    """

    auc: Interval
    accuracy: Interval
    f1: Interval
    champion_auc: Interval | None
    auc_diff: Interval | None
    n_resamples: int
    confidence: float
    seed: int
    threshold: float
    replicates: dict[str, FloatArray] = field(repr=False, compare=False)


def bootstrap_auc_accuracy_f1(
    y: ArrayLike,
    score: ArrayLike,
    threshold: float,
    *,
    champion_score: ArrayLike | None = None,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int,
    n_threads: int | None = None,
    block_rows: int = 2048,
    engine: Literal["numba", "numpy"] = "numba",
) -> BootstrapResult:
    """ROC AUC, accuracy and F1 (prediction ``score ≥ threshold``) with Poisson-bootstrap
    percentile intervals, and optionally the paired AUC difference to a champion.

    Each resample gives every row an independent Poisson(1) weight (the Poisson bootstrap:
    Hanley & MacGibbon 2006; Chamandy et al. 2012), the same weights for both models. The
    weighted AUC of a resample is Σ_{i pos} w_i·(W⁻(s < s_i) + ½·W⁻(s = s_i)) / (W⁺·W⁻);
    it is computed exactly in integers over the rows in sorted order, with the weights generated
    directly in each model's sorted order (see :func:`poisson_weights`): one sort per model, no
    per-resample sort, gather or n x R matrix. Accuracy and F1 come from the weighted confusion
    counts on either side of the threshold's position in the same pass. Work is spread over
    ``n_threads`` threads (default: all CPUs); the result does not depend on it.

    ``engine="numba"`` (the default) sorts with a parallel radix sort and runs one compiled
    loop per (model, group of resamples) that derives each row's weights for the group from the
    hash in SIMD lanes and accumulates the per-resample totals directly; ``engine="numpy"`` is
    the vectorized reference (argsort; blocks of ``block_rows`` rows x resamples and a pairwise
    tree). Both compute the same integers, so their results are identical.
    """
    yt = as_binary(y, "y")
    s = as_float(score, "score")
    sc = None if champion_score is None else as_float(champion_score, "champion_score")
    n = (
        check_same_length(y=yt, score=s)
        if sc is None
        else check_same_length(y=yt, score=s, champion_score=sc)
    )
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be ≥ 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if block_rows < 2 or block_rows > 8192 or block_rows & (block_rows - 1):
        raise ValueError(f"block_rows must be a power of two in [2, 8192], got {block_rows}")
    n_pos = int(np.count_nonzero(yt))
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"ROC AUC is undefined when y holds a single class ({n_pos} positive, {n_neg} negative)"
        )
    if engine not in ("numba", "numpy"):
        raise ValueError(f"engine must be 'numba' or 'numpy', got {engine!r}")
    threads = max(1, n_threads if n_threads is not None else (os.cpu_count() or 1))
    salt, keys = _poisson.stream(seed, n_resamples)
    split = int(np.count_nonzero(s < threshold))  # sorted positions ≥ split predict positive
    scores = [s] if sc is None else [s, sc]
    if engine == "numpy":
        ref = [_bootstrap_numpy.prepare(yt, x) for x in scores]
        tots = [
            _bootstrap_numpy.totals(m, keys, salt, split if i == 0 else 0, block_rows, threads)
            for i, m in enumerate(ref)
        ]
        units = [m.unit_auc(n_pos, n_neg) for m in ref]
    else:
        tots, units = _totals_numba(yt, scores, keys, salt, split, threads, n_pos, n_neg)
    return _result(yt, s, tots, units, threshold, n_resamples, confidence, seed)


def _lane_chunks(n_resamples: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` ranges of resamples, cut at multiples of 16 (one SIMD register of lanes)."""
    units = -(-n_resamples // 16)
    parts = max(1, min(parts, units))
    cuts = [min(n_resamples, 16 * (units * t // parts)) for t in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _totals_numba(
    yt: NDArray[np.bool_],
    scores: list[FloatArray],
    keys: NDArray[np.uint32],
    salt: int,
    split: int,
    threads: int,
    n_pos: int,
    n_neg: int,
) -> tuple[list[I64], list[float]]:
    """Per-model totals (6 x R, see :func:`_poisson.auc_lanes`) and unit-weight AUCs.

    The models are ranked one after the other (each sort on all threads; memory: 16 bytes per
    row while a sort runs, 6 per ranked model), then the (model, group of resamples) loops run
    on the threads.
    """
    r = keys.shape[0]
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    try:
        ranked = [_ranks.rank_scores(yt, x, pool, threads) for x in scores]
        chunks = _lane_chunks(r, -(-threads // len(scores)))
        tots = [np.empty((6, r), np.int64) for _ in scores]
        jobs = [(i, a, b) for i in range(len(scores)) for a, b in chunks]

        def work(job: tuple[int, int, int]) -> None:
            i, a, b = job
            m = ranked[i]
            out = np.empty((6, b - a), np.int64)
            _poisson.auc_lanes(m.order, m.pos, m.tie, keys[a:b], salt, split if i == 0 else 0,
                               out)  # fmt: skip
            tots[i][:, a:b] = out

        if pool is None:
            for job in jobs:
                work(job)
        else:
            list(pool.map(work, jobs))
    finally:
        if pool is not None:
            pool.shutdown()
    return tots, [m.unit_auc(n_pos, n_neg) for m in ranked]


def _auc_of(tot: I64) -> FloatArray:
    """AUC per resample from the totals: (X - T/2) / (P·N); NaN without both classes."""
    wpos = tot[0].astype(np.float64)
    wneg = tot[1].astype(np.float64)
    num = tot[2].astype(np.float64) - 0.5 * tot[3].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where((wpos > 0) & (wneg > 0), num / (wpos * wneg), np.nan)
    return out


def _rates(tp: FloatArray, fp: FloatArray, tn: FloatArray, fn: FloatArray) -> tuple[Any, Any]:
    """Per-resample accuracy and F1 from weighted confusion counts."""
    total = tp + fp + tn + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_r = np.where(total > 0, (tp + tn) / total, np.nan)
        den = 2 * tp + fp + fn
        f1_r = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)
    return acc_r, f1_r


def _point(
    yt: NDArray[np.bool_], s: FloatArray, threshold: float, n_pos: int, n_neg: int
) -> tuple[float, float]:
    """Accuracy and F1 of ``s ≥ threshold`` with unit weights."""
    n = n_pos + n_neg
    tp0 = int(np.count_nonzero(yt & (s >= threshold)))
    fp0 = int(np.count_nonzero(~yt & (s >= threshold)))
    fn0 = n_pos - tp0
    acc0 = (tp0 + n_neg - fp0) / n
    f10 = 2 * tp0 / (2 * tp0 + fp0 + fn0) if 2 * tp0 + fp0 + fn0 > 0 else 0.0
    return acc0, f10


def _result(
    yt: NDArray[np.bool_],
    s: FloatArray,
    tots: list[I64],
    units: list[float],
    threshold: float,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> BootstrapResult:
    n_pos = int(np.count_nonzero(yt))
    n_neg = yt.shape[0] - n_pos
    a = tots[0]
    tp = (a[0] - a[4]).astype(np.float64)
    fp = (a[1] - a[5]).astype(np.float64)
    fn = a[4].astype(np.float64)
    tn = a[5].astype(np.float64)
    acc_r, f1_r = _rates(tp, fp, tn, fn)
    auc_r = _auc_of(a)
    acc0, f10 = _point(yt, s, threshold, n_pos, n_neg)
    reps: dict[str, FloatArray] = {"auc": auc_r, "accuracy": acc_r, "f1": f1_r}
    champ: Interval | None = None
    diff: Interval | None = None
    if len(tots) > 1:
        reps["champion_auc"] = _auc_of(tots[1])
        reps["auc_diff"] = auc_r - reps["champion_auc"]
        champ = Interval(units[1], *percentile_interval(reps["champion_auc"], confidence))
        diff = Interval(units[0] - units[1], *percentile_interval(reps["auc_diff"], confidence))
    return BootstrapResult(
        auc=Interval(units[0], *percentile_interval(auc_r, confidence)),
        accuracy=Interval(acc0, *percentile_interval(acc_r, confidence)),
        f1=Interval(f10, *percentile_interval(f1_r, confidence)),
        champion_auc=champ,
        auc_diff=diff,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        threshold=float(threshold),
        replicates=reps,
    )
