"""Uncertainty for performance metrics: DeLong, McNemar, a fast Poisson bootstrap, Holm.

All randomness is seeded: the same inputs and ``seed`` give bit-identical results on any
machine and with any number of threads.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from clearance.kernels import _jit
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

U64 = NDArray[np.uint64]
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


def _midranks(x: FloatArray) -> FloatArray:
    """1-based midranks (ties get the mean of their ranks), from one sort."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    n = xs.shape[0]
    starts = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1])))
    ends = np.concatenate((starts[1:], [n]))
    mid = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    out = np.empty(n)
    out[order] = np.repeat(mid, ends - starts)
    return out


def _placements(yt: NDArray[np.bool_], s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """DeLong's structural components V10 (per positive) and V01 (per negative).

    Sun & Xu (2014): with midranks T_z over all rows, T_x within positives, T_y within
    negatives, V10_i = (T_z(x_i) - T_x(x_i)) / n, V01_j = 1 - (T_z(y_j) - T_y(y_j)) / m.
    """
    x, y = s[yt], s[~yt]
    m, n = x.shape[0], y.shape[0]
    if m == 0 or n == 0:
        raise ValueError(
            f"ROC AUC is undefined when y holds a single class ({m} positive, {n} negative)"
        )
    tz = _midranks(s)
    v10 = (tz[yt] - _midranks(x)) / n
    v01 = 1.0 - (tz[~yt] - _midranks(y)) / m
    return v10, v01


def delong_auc(y: ArrayLike, score: ArrayLike) -> DeLongAUC:
    """AUC with DeLong's variance: Var = S10/m + S01/n (DeLong, DeLong & Clarke-Pearson 1988).

    S10 and S01 are the sample variances (ddof=1) of the placement values V10 (m positives)
    and V01 (n negatives), computed in O(N log N) from midranks (Sun & Xu 2014).
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


# --------------------------------------------------------------------------- Poisson weights
#
# Weights are Poisson(1) draws keyed by (row, resample): the 64-bit SplitMix64 output number
# k = row·q + j + 1 of the stream seeded by ``seed`` (Steele, Lea & Flood 2014) supplies four
# 16-bit uniforms u, for resamples 4j .. 4j+3; each u is mapped to a Poisson(1) value through
# a 65,536-entry lookup table, TABLE[u] = #{k : u ≥ round(65536·F(k))}, F the Poisson(1)
# CDF, evaluated as eight vectorized comparisons (numpy does that ~3x faster than a gather).
# So P(w = k) is F(k) - F(k-1) rounded to a multiple of 2⁻¹⁶ (largest error 1.3e-5; w ≤ 8).
# Because a weight depends only on (seed, row, resample), it can be generated in any
# row order — directly in the sorted order of each model's scores, with no per-resample sort
# and no gather — and the result does not depend on block sizes or thread count.
# The default engine (clearance.kernels._jit.auc_blocks, numba) evaluates the same hash and
# table row by row inside one compiled loop per block; ``_WeightStream.fill`` is the numpy form
# used by the reference engine and by :func:`poisson_weights`.

_GAMMA = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_MASK = (1 << 64) - 1


def _poisson_edges() -> list[int]:
    cdf, term, edges = 0.0, math.exp(-1.0), []
    for k in range(8):
        cdf += term
        term /= k + 1
        edges.append(round(65536 * cdf))
    return edges


_EDGES = [np.uint16(e) for e in _poisson_edges()]
#: the lookup table u -> Poisson(1) value (uint16 uniform -> uint8 weight, max 8)
TABLE = np.searchsorted(np.asarray(_poisson_edges()), np.arange(65536), side="right").astype(
    np.uint8
)


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * _C1) & _MASK
    z = ((z ^ (z >> 27)) * _C2) & _MASK
    return z ^ (z >> 31)


class _WeightStream:
    """Poisson(1) weights for (row, resample), generated blockwise into caller buffers."""

    def __init__(self, seed: int, n_resamples: int) -> None:
        self.r4 = 4 * ((n_resamples + 3) // 4)
        q = self.r4 // 4
        key = _mix64((seed * _GAMMA) & _MASK)
        self.row_mult = np.uint64((q * _GAMMA) & _MASK)
        self.lane = np.array([(key + (j + 1) * _GAMMA) & _MASK for j in range(q)], dtype=np.uint64)

    def fill(self, rows: U64, z: U64, tmp: U64, flag: NDArray[np.bool_], out: U8) -> None:
        """Weights for ``rows`` (m,) into ``out`` (m, r4) uint8.

        ``z``, ``tmp`` are (m, r4/4) uint64 scratch, ``flag`` is (m, r4) bool scratch.
        """
        np.multiply(rows[:, None], self.row_mult, out=z)
        np.add(z, self.lane[None, :], out=z)
        np.right_shift(z, np.uint64(30), out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        np.multiply(z, np.uint64(_C1), out=z)
        np.right_shift(z, np.uint64(27), out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        np.multiply(z, np.uint64(_C2), out=z)
        np.right_shift(z, np.uint64(31), out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        u = z.view(np.uint16).reshape(out.shape)
        # TABLE[u] as eight SIMD comparisons: much faster than a gather in numpy
        np.greater_equal(u, _EDGES[0], out=out.view(np.bool_))
        for edge in _EDGES[1:]:
            np.greater_equal(u, edge, out=flag)
            np.add(out, flag.view(np.uint8), out=out)


def poisson_weights(seed: int, rows: ArrayLike, n_resamples: int) -> U8:
    """The bootstrap's Poisson(1) weights of ``rows`` (original row numbers): (len, R) uint8.

    Exactly the weights :func:`bootstrap_auc_accuracy_f1` uses with the same seed.
    """
    r = np.asarray(rows, dtype=np.uint64)
    ws = _WeightStream(seed, n_resamples)
    m = r.shape[0]
    z = np.empty((m, ws.r4 // 4), np.uint64)
    out = np.empty((m, ws.r4), np.uint8)
    ws.fill(r, z, np.empty_like(z), np.empty((m, ws.r4), np.bool_), out)
    return out[:, :n_resamples]


# --------------------------------------------------------------------------- weighted AUC engine


def _tree(p: U8, n: U8) -> tuple[I64, I64, I64]:
    """Per-lane (P, N, X) of a block of 2^k sorted rows (k ≥ 1).

    P and N are the positive and negative weight totals; X = sum_{j<i} N_j*P_i is the weight of
    (negative below positive) pairs inside the block. A pairwise tree: each merge adds
    P_right*N_left. Exact integers: uint8 for the first merge (w ≤ 8), uint16 while nodes hold
    ≤ 32 rows, int32 above (exact for blocks ≤ 8192 rows: X ≤ (8*8192)²/4 < 2³¹).
    """
    x: NDArray[np.integer] = np.multiply(p[1::2], n[0::2])
    pa: NDArray[np.integer] = np.add(p[0::2], p[1::2], dtype=np.uint16)
    na: NDArray[np.integer] = np.add(n[0::2], n[1::2], dtype=np.uint16)
    xa: NDArray[np.integer] = x.astype(np.uint16)
    size = 2
    while pa.shape[0] > 1:
        if size == 32:
            pa, na, xa = pa.astype(np.int32), na.astype(np.int32), xa.astype(np.int32)
        cross = pa[1::2] * na[0::2]
        cross += xa[0::2]
        cross += xa[1::2]
        xa = cross
        pa = pa[0::2] + pa[1::2]
        na = na[0::2] + na[1::2]
        size *= 2
    return pa[0].astype(np.int64), na[0].astype(np.int64), xa[0].astype(np.int64)


@dataclass
class _SortedModel:
    """One model's scores prepared once: sort order (ties: negatives first), labels in that
    order, and the rows of tie groups holding both classes."""

    order: NDArray[np.integer]
    pos: U8
    tie_rows: NDArray[np.integer]
    tie_pos: U8
    tie_group: I64
    sorted_scores: FloatArray | None = None


def _prepare(yt: NDArray[np.bool_], s: FloatArray, keep_sorted: bool) -> _SortedModel:
    n = s.shape[0]
    order: NDArray[np.integer] = np.argsort(s)
    ss = s[order]
    tie = ss[1:] == ss[:-1]
    tie_rows: NDArray[np.integer] = np.empty(0, np.int64)
    tie_group: I64 = np.empty(0, np.int64)
    if tie.any():
        grp = np.concatenate(([0], np.cumsum(~tie)))
        order = order[np.argsort(grp * 2 + yt[order], kind="stable")]
        size = np.bincount(grp)
        npos = np.bincount(grp, weights=yt[order])
        mixed = (npos > 0) & (npos < size)
        sel = mixed[grp]
        tie_rows, tie_group = order[sel], grp[sel]
    small = np.int32 if n < 2**31 else np.int64
    return _SortedModel(
        order=order.astype(small),
        pos=yt[order].astype(np.uint8),
        tie_rows=tie_rows.astype(small),
        tie_pos=yt[tie_rows].astype(np.uint8),
        tie_group=tie_group,
        sorted_scores=ss if keep_sorted else None,
    )


@dataclass
class _Totals:
    """Per-resample integer totals over a row range (int64 lanes)."""

    p: I64
    n: I64
    x: I64


def _blocks(n: int, split: int, m: int) -> list[tuple[int, int]]:
    """Row ranges of at most m rows covering [0, n), never straddling ``split``."""
    out = []
    for a, b in ((0, split), (split, n)):
        out += [(i, min(i + m, b)) for i in range(a, b, m)]
    return out


def _run_blocks(
    model: _SortedModel,
    ws: _WeightStream,
    blocks: list[tuple[int, int]],
    block_rows: int,
    n_threads: int,
) -> tuple[I64, I64, I64]:
    """(P, N, X) per block (rows n_blocks x lanes), computed on ``n_threads`` threads."""
    nb, r4 = len(blocks), ws.r4
    pc = np.empty((nb, r4), np.int64)
    nc = np.empty((nb, r4), np.int64)
    xc = np.empty((nb, r4), np.int64)

    def work(first: int) -> None:
        m = block_rows
        rows = np.empty(m, np.uint64)
        z = np.empty((m, r4 // 4), np.uint64)
        tmp = np.empty_like(z)
        flag = np.empty((m, r4), np.bool_)
        w = np.empty((m, r4), np.uint8)
        p = np.empty((m, r4), np.uint8)
        q = np.empty((m, r4), np.uint8)
        pos = np.empty((m, 1), np.uint8)
        neg = np.empty((m, 1), np.uint8)
        for b in range(first, nb, n_threads):
            a, e = blocks[b]
            k = e - a
            rows[:k] = model.order[a:e]
            pos[:k, 0] = model.pos[a:e]
            np.subtract(np.uint8(1), pos[:k], out=neg[:k])
            if k < m:
                rows[k:] = 0
                pos[k:] = 0
                neg[k:] = 0
            ws.fill(rows, z, tmp, flag, w)
            np.multiply(w, pos, out=p)
            np.multiply(w, neg, out=q)
            pc[b], nc[b], xc[b] = _tree(p, q)

    if n_threads == 1 or nb < 2:
        work(0)
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            list(pool.map(work, range(n_threads)))
    return pc, nc, xc


def _tie_pairs(model: _SortedModel, ws: _WeightStream, chunk: int) -> I64:
    """Σ_g P_g·N_g over tie groups holding both classes, per lane (chunked, with a carry for a
    group that continues into the next chunk)."""
    total = np.zeros(ws.r4, np.int64)
    t = model.tie_rows.shape[0]
    carry_g = -1
    carry_p = np.zeros(ws.r4, np.int64)
    carry_n = np.zeros(ws.r4, np.int64)
    for a in range(0, t, chunk):
        rows = model.tie_rows[a : a + chunk].astype(np.uint64)
        grp = model.tie_group[a : a + chunk]
        k = rows.shape[0]
        z = np.empty((k, ws.r4 // 4), np.uint64)
        w = np.empty((k, ws.r4), np.uint8)
        ws.fill(rows, z, np.empty_like(z), np.empty((k, ws.r4), np.bool_), w)
        starts = np.flatnonzero(np.concatenate(([True], grp[1:] != grp[:-1])))
        gp = np.add.reduceat((w * model.tie_pos[a : a + k, None]).astype(np.int64), starts, axis=0)
        gn = np.add.reduceat(w.astype(np.int64), starts, axis=0) - gp
        if grp[0] == carry_g:
            gp[0] += carry_p
            gn[0] += carry_n
        last_open = a + k < t and model.tie_group[a + k] == grp[-1]
        upto = gp.shape[0] - 1 if last_open else gp.shape[0]
        total += (gp[:upto] * gn[:upto]).sum(axis=0)
        if last_open:
            carry_g, carry_p, carry_n = int(grp[-1]), gp[-1].copy(), gn[-1].copy()
        else:
            carry_g = -1
    return total


def _unit_auc(model: _SortedModel, n_pos: int, n_neg: int) -> float:
    """Point AUC with unit weights from the prepared order (ties: ½ per tied pair)."""
    neg_before = np.cumsum(1 - model.pos.astype(np.int64))
    pairs = int(neg_before[model.pos.astype(bool)].sum())
    if model.tie_rows.shape[0]:
        grp, tpos = model.tie_group, model.tie_pos.astype(np.int64)
        size = np.bincount(grp)
        npos = np.bincount(grp, weights=tpos)
        pairs_f = pairs - 0.5 * float((npos * (size - npos)).sum())
    else:
        pairs_f = float(pairs)
    return pairs_f / (n_pos * n_neg)


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
    it is computed exactly in integers over the rows in sorted order, in blocks of
    ``block_rows`` rows x all resamples (a pairwise tree inside a block, a running sum across
    blocks), with weights generated directly in each model's sorted order (see
    :func:`poisson_weights`): one sort per model, no per-resample sort, gather or nxR matrix.
    Accuracy and F1 come from the weighted confusion counts at the threshold's position in
    the same pass. Work is spread over ``n_threads`` threads (default: all CPUs); the result
    does not depend on it.

    ``engine="numba"`` (the default) runs one compiled loop per block of rows that derives each
    row's weights for all resamples from the hash and accumulates the per-resample totals
    directly (``block_rows`` is then unused); ``engine="numpy"`` is the vectorized reference
    (blocks of ``block_rows`` rows x resamples, pairwise tree). Both compute the same integers,
    so their results are identical.
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
    ws = _WeightStream(seed, n_resamples)
    if engine == "numba":
        return _bootstrap_numba(
            yt, s, sc, threshold, ws, n_pos, n_neg, threads, n_resamples, confidence, seed
        )
    m = min(block_rows, 1 << max(1, (n - 1).bit_length()))

    # challenger: blocks split at the threshold so the confusion counts are block sums
    ma = _prepare(yt, s, keep_sorted=True)
    assert ma.sorted_scores is not None
    split = int(np.searchsorted(ma.sorted_scores, threshold, side="left"))
    ma.sorted_scores = None
    blocks = _blocks(n, split, m)
    pc, nc, xc = _run_blocks(ma, ws, blocks, m, threads)
    auc_r = _combine_auc(pc, nc, xc, _tie_pairs(ma, ws, 65536))
    above = np.array([a >= split for a, _ in blocks])
    tp = pc[above].sum(axis=0).astype(np.float64)
    fp = nc[above].sum(axis=0).astype(np.float64)
    fn = pc[~above].sum(axis=0).astype(np.float64)
    tn = nc[~above].sum(axis=0).astype(np.float64)
    del pc, nc, xc
    acc_r, f1_r = _rates(tp, fp, tn, fn)
    auc0 = _unit_auc(ma, n_pos, n_neg)
    del ma
    acc0, f10 = _point(yt, s, threshold, n_pos, n_neg)

    champion: tuple[FloatArray, float] | None = None
    if sc is not None:
        mb = _prepare(yt, sc, keep_sorted=False)
        pcb, ncb, xcb = _run_blocks(mb, ws, _blocks(n, n, m), m, threads)
        aucb_r = _combine_auc(pcb, ncb, xcb, _tie_pairs(mb, ws, 65536))
        del pcb, ncb, xcb
        champion = (aucb_r, _unit_auc(mb, n_pos, n_neg))
        del mb
    return _result(
        (auc_r, acc_r, f1_r), (auc0, acc0, f10), champion, n_resamples, confidence, seed, threshold
    )


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
    reps3: tuple[FloatArray, FloatArray, FloatArray],
    points: tuple[float, float, float],
    champion: tuple[FloatArray, float] | None,
    n_resamples: int,
    confidence: float,
    seed: int,
    threshold: float,
) -> BootstrapResult:
    auc_r, acc_r, f1_r = reps3
    auc0, acc0, f10 = points
    reps: dict[str, FloatArray] = {
        "auc": auc_r[:n_resamples],
        "accuracy": acc_r[:n_resamples],
        "f1": f1_r[:n_resamples],
    }
    champ: Interval | None = None
    diff: Interval | None = None
    if champion is not None:
        aucb_r, aucb0 = champion
        reps["champion_auc"] = aucb_r[:n_resamples]
        reps["auc_diff"] = (auc_r - aucb_r)[:n_resamples]
        champ = Interval(aucb0, *percentile_interval(reps["champion_auc"], confidence))
        diff = Interval(auc0 - aucb0, *percentile_interval(reps["auc_diff"], confidence))
    return BootstrapResult(
        auc=Interval(auc0, *percentile_interval(reps["auc"], confidence)),
        accuracy=Interval(acc0, *percentile_interval(reps["accuracy"], confidence)),
        f1=Interval(f10, *percentile_interval(reps["f1"], confidence)),
        champion_auc=champ,
        auc_diff=diff,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        threshold=float(threshold),
        replicates=reps,
    )


# --------------------------------------------------------------------------- numba engine


@dataclass
class _JitModel:
    """One model prepared for the compiled loop: sort order with negatives first inside tie
    groups, labels and tie flags in that order, unit-weight pair counts, sorted scores."""

    order: NDArray[np.integer]
    pos: U8
    tie: U8
    pairs: int
    tie_pairs: int
    sorted_scores: FloatArray

    def unit_auc(self, n_pos: int, n_neg: int) -> float:
        pairs_f = self.pairs - 0.5 * float(self.tie_pairs) if self.tie_pairs else float(self.pairs)
        return pairs_f / (n_pos * n_neg)


def _prepare_jit(yt: NDArray[np.bool_], s: FloatArray) -> _JitModel:
    n = s.shape[0]
    order: NDArray[np.integer] = np.argsort(s)
    ss = s[order]
    order = order.astype(np.int32 if n < 2**31 else np.int64)
    pos = np.empty(n, np.uint8)
    tie = np.empty(n, np.uint8)
    pairs, tie_pairs = _jit.tie_order(order, ss, yt, pos, tie)
    return _JitModel(order, pos, tie, pairs, tie_pairs, ss)


def _jit_bounds(model: _JitModel, split: int, n_blocks: int) -> tuple[I64, I64]:
    """Block [start, stop) ranges: about ``n_blocks`` equal blocks, one boundary at ``split``,
    none inside a tie group holding both classes."""
    n = model.pos.shape[0]
    cuts = {0, n, split}
    for k in range(1, n_blocks):
        c = k * n // n_blocks
        while 0 < c < n and model.tie[c] == 2:
            c += 1
        cuts.add(c)
    edges = sorted(cuts)
    return np.array(edges[:-1], np.int64), np.array(edges[1:], np.int64)


def _bootstrap_numba(
    yt: NDArray[np.bool_],
    s: FloatArray,
    sc: FloatArray | None,
    threshold: float,
    ws: _WeightStream,
    n_pos: int,
    n_neg: int,
    threads: int,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> BootstrapResult:
    scores = [s] if sc is None else [s, sc]
    with ThreadPoolExecutor(max_workers=min(threads, len(scores))) as pool:
        models = list(pool.map(lambda x: _prepare_jit(yt, x), scores))
    split = int(np.searchsorted(models[0].sorted_scores, threshold, side="left"))
    for mod in models:
        mod.sorted_scores = np.empty(0)
    table = TABLE
    jobs = []
    outs = []
    for mod in models:
        starts, stops = _jit_bounds(mod, split if mod is models[0] else 0, 4 * threads)
        nb = starts.shape[0]
        out = tuple(np.empty((nb, ws.r4), np.int64) for _ in range(4))
        outs.append((starts, out))
        for t in range(min(threads, nb)):
            jobs.append(
                (mod.order, mod.pos, mod.tie, starts, stops, t, min(threads, nb),
                 ws.row_mult, ws.lane, table, out)
            )  # fmt: skip

    def work(job: tuple[Any, ...]) -> None:
        _jit.auc_blocks(*job)

    if threads == 1:
        for job in jobs:
            work(job)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(work, jobs))
    aucs = []
    for _, (pc, nc, xc, tc) in outs:
        aucs.append(_combine_auc(pc, nc, xc, tc.sum(axis=0)))
    starts, (pc, nc, _, _) = outs[0]
    above = starts >= split
    tp = pc[above].sum(axis=0).astype(np.float64)
    fp = nc[above].sum(axis=0).astype(np.float64)
    fn = pc[~above].sum(axis=0).astype(np.float64)
    tn = nc[~above].sum(axis=0).astype(np.float64)
    acc_r, f1_r = _rates(tp, fp, tn, fn)
    acc0, f10 = _point(yt, s, threshold, n_pos, n_neg)
    points = (models[0].unit_auc(n_pos, n_neg), acc0, f10)
    champion = None if sc is None else (aucs[1], models[1].unit_auc(n_pos, n_neg))
    return _result(
        (aucs[0], acc_r, f1_r), points, champion, n_resamples, confidence, seed, threshold
    )


def _combine_auc(pc: I64, nc: I64, xc: I64, tie_pairs: I64) -> FloatArray:
    """AUC per lane from block totals: Σ X_b + Σ P_b·N(blocks before b) - ½·tied pairs."""
    n_before = np.cumsum(nc, axis=0) - nc
    pairs = xc.sum(axis=0) + (pc * n_before).sum(axis=0)
    wpos = pc.sum(axis=0).astype(np.float64)
    wneg = nc.sum(axis=0).astype(np.float64)
    num = pairs.astype(np.float64) - 0.5 * tie_pairs.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where((wpos > 0) & (wneg > 0), num / (wpos * wneg), np.nan)
    return out
