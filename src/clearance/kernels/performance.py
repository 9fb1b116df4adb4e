"""Performance metrics from numpy columns.

Binary classification metrics take labels ``y`` (0/1 or bool) and either hard predictions
(``pred``) or scores/probabilities (``score``). Regression metrics take ``y`` and ``pred``.
Every function accepts an optional non-negative ``sample_weight``; with weights every count
below becomes a weighted sum (``W`` = total weight). Each agrees with the scikit-learn function
named in its docstring to floating-point rounding.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clearance.kernels._arrays import (
    FloatArray,
    as_binary,
    as_float,
    as_weights,
    check_same_length,
)

__all__ = [
    "ConfusionCounts",
    "accuracy",
    "brier",
    "calibration_error",
    "confusion_at_thresholds",
    "f1",
    "log_loss",
    "mae",
    "pr_auc",
    "precision",
    "r2",
    "recall",
    "rmse",
    "roc_auc",
]


def _weights(sample_weight: ArrayLike | None, n: int) -> FloatArray:
    w = as_weights(sample_weight, n)
    return np.ones(n) if w is None else w


def _confusion(
    y: ArrayLike, pred: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[float, float, float, float]:
    yt = as_binary(y, "y")
    yp = as_binary(pred, "pred")
    n = check_same_length(y=yt, pred=yp)
    w = _weights(sample_weight, n)
    tp = float(w[yt & yp].sum())
    fp = float(w[~yt & yp].sum())
    fn = float(w[yt & ~yp].sum())
    tn = float(w[~yt & ~yp].sum())
    return tp, fp, tn, fn


def accuracy(y: ArrayLike, pred: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """(TP + TN) / W. Reference: ``sklearn.metrics.accuracy_score``."""
    tp, fp, tn, fn = _confusion(y, pred, sample_weight)
    total = tp + fp + tn + fn
    if total == 0:
        raise ValueError("accuracy is undefined: the total sample weight is zero")
    return (tp + tn) / total


def precision(
    y: ArrayLike,
    pred: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    zero_division: float = 0.0,
) -> float:
    """TP / (TP + FP); ``zero_division`` when nothing is predicted positive.

    Reference: ``sklearn.metrics.precision_score`` (binary).
    """
    tp, fp, _, _ = _confusion(y, pred, sample_weight)
    return tp / (tp + fp) if tp + fp > 0 else zero_division


def recall(
    y: ArrayLike,
    pred: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    zero_division: float = 0.0,
) -> float:
    """TP / (TP + FN); ``zero_division`` when there are no positives.

    Reference: ``sklearn.metrics.recall_score`` (binary).
    """
    tp, _, _, fn = _confusion(y, pred, sample_weight)
    return tp / (tp + fn) if tp + fn > 0 else zero_division


def f1(
    y: ArrayLike,
    pred: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    zero_division: float = 0.0,
) -> float:
    """2·TP / (2·TP + FP + FN); ``zero_division`` when TP + FP + FN = 0.

    Reference: ``sklearn.metrics.f1_score`` (binary).
    """
    tp, fp, _, fn = _confusion(y, pred, sample_weight)
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom > 0 else zero_division


def _binary_scores(
    y: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[np.ndarray[tuple[int], np.dtype[np.bool_]], FloatArray, FloatArray]:
    yt = as_binary(y, "y")
    s = as_float(score, "score")
    n = check_same_length(y=yt, score=s)
    return yt, s, _weights(sample_weight, n)


def roc_auc(y: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Area under the ROC curve, the Mann-Whitney statistic with midranks for ties.

    AUC = Σ_{i pos} w_i·(W⁻(s < s_i) + ½·W⁻(s = s_i)) / (W⁺·W⁻), from one sort of the scores
    (Hanley & McNeil 1982). Reference: ``sklearn.metrics.roc_auc_score`` (binary).
    Raises ValueError when ``y`` holds a single class.

    Without weights, from :data:`_RANK_FROM` rows, the sort is the radix sort of
    ``_ranks.rank_scores`` (a third of ``argsort``'s time) and the pair counts are integers:
    the same number, since both sums are exact below 2**52 pairs.
    """
    if sample_weight is None and np.size(score) >= _RANK_FROM:
        yt = as_binary(y, "y")
        s = as_float(score, "score")
        check_same_length(y=yt, score=s)
        n_pos = int(np.count_nonzero(yt))
        n_neg = yt.shape[0] - n_pos
        if 0 < n_pos * n_neg < 2**52:
            return _unit_auc(yt, s, n_pos, n_neg)
    yt, s, w = _binary_scores(y, score, sample_weight)
    order = np.argsort(s, kind="stable")
    ss = s[order]
    pw = np.where(yt[order], w[order], 0.0)
    nw = np.where(yt[order], 0.0, w[order])
    # tie groups: one entry per distinct score
    starts = np.flatnonzero(np.concatenate(([True], ss[1:] != ss[:-1])))
    pg = np.add.reduceat(pw, starts)
    ng = np.add.reduceat(nw, starts)
    wpos, wneg = float(pg.sum()), float(ng.sum())
    if wpos == 0 or wneg == 0:
        raise ValueError(
            "ROC AUC is undefined when y holds a single class "
            f"(positive weight {wpos:g}, negative weight {wneg:g})"
        )
    below = np.cumsum(ng) - ng
    return float(np.dot(pg, below + 0.5 * ng) / (wpos * wneg))


_RANK_FROM = 1 << 16


def _unit_auc(yt: NDArray[np.bool_], s: FloatArray, n_pos: int, n_neg: int) -> float:
    """Unweighted AUC from the radix ranking of the scores (on all CPUs)."""
    from clearance.kernels import _ranks

    threads = os.cpu_count() or 1
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    try:
        ranked = _ranks.rank_scores(yt, s, pool, threads)
    finally:
        if pool is not None:
            pool.shutdown()
    return ranked.unit_auc(n_pos, n_neg)


def pr_auc(y: ArrayLike, score: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Average precision: AP = Σ_k (R_k - R_{k-1})·P_k over distinct score thresholds.

    Thresholds are taken in decreasing order; P_k and R_k are the (weighted) precision and
    recall of ``score ≥ t_k``. Reference: ``sklearn.metrics.average_precision_score``.
    Raises ValueError when there is no positive weight.
    """
    yt, s, w = _binary_scores(y, score, sample_weight)
    order = np.argsort(-s, kind="stable")
    ss = -s[order]
    pw = np.where(yt[order], w[order], 0.0)
    nw = np.where(yt[order], 0.0, w[order])
    ends = np.flatnonzero(np.concatenate((ss[1:] != ss[:-1], [True])))
    tps = np.cumsum(pw)[ends]
    fps = np.cumsum(nw)[ends]
    if tps[-1] <= 0:
        raise ValueError("average precision is undefined when y holds no positive sample")
    denom = tps + fps
    prec = np.divide(tps, denom, out=np.zeros_like(tps), where=denom > 0)
    rec = tps / tps[-1]
    return float(np.sum(np.diff(rec, prepend=0.0) * prec))


def log_loss(y: ArrayLike, prob: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Mean of -[y·ln p + (1-y)·ln(1-p)], with p and 1-p each clipped to [ε, 1-ε].

    ε is the float64 machine epsilon, as in ``sklearn.metrics.log_loss`` (≥ 1.5).
    """
    yt, p, w = _binary_scores(y, prob, sample_weight)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("prob must lie in [0, 1]")
    eps = float(np.finfo(np.float64).eps)
    loss = -np.where(yt, np.log(np.clip(p, eps, 1 - eps)), np.log(np.clip(1 - p, eps, 1 - eps)))
    return _wmean(loss, w)


def brier(y: ArrayLike, prob: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Σ w·(p - y)² / W. Reference: ``sklearn.metrics.brier_score_loss`` (binary)."""
    yt, p, w = _binary_scores(y, prob, sample_weight)
    return _wmean((p - yt) ** 2, w)


def calibration_error(
    y: ArrayLike,
    prob: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    n_bins: int = 10,
    strategy: str = "uniform",
) -> float:
    """Expected calibration error ECE = Σ_b (W_b / W)·|ȳ_b - p̄_b|.

    ȳ_b and p̄_b are the weighted mean label and mean probability in bin b. ``uniform`` bins
    are [k/B, (k+1)/B) with 1.0 in the last bin; ``quantile`` bins have edges at the
    (weighted-free) quantiles of ``prob``, a bin holding values in (q_{k}, q_{k+1}] (the first
    also holds q_0). Reference: Naeini, Cooper & Hauskrecht 2015 (AAAI), binning as in
    ``sklearn.calibration.calibration_curve``.
    """
    yt, p, w = _binary_scores(y, prob, sample_weight)
    if n_bins < 1:
        raise ValueError(f"n_bins must be ≥ 1, got {n_bins}")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("prob must lie in [0, 1]")
    if strategy == "uniform":
        idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    elif strategy == "quantile":
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
        idx = np.clip(np.searchsorted(edges[1:-1], p, side="left"), 0, n_bins - 1)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    wb = np.bincount(idx, weights=w, minlength=n_bins)
    yb = np.bincount(idx, weights=w * yt, minlength=n_bins)
    pb = np.bincount(idx, weights=w * p, minlength=n_bins)
    total = float(wb.sum())
    if total == 0:
        raise ValueError("calibration error is undefined: the total sample weight is zero")
    return float(np.abs(yb - pb).sum() / total)


def _wmean(values: FloatArray, w: FloatArray) -> float:
    total = float(w.sum())
    if total == 0:
        raise ValueError("the total sample weight is zero")
    return float(np.dot(values, w) / total)


def _regression(
    y: ArrayLike, pred: ArrayLike, sample_weight: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    yt = as_float(y, "y")
    yp = as_float(pred, "pred")
    n = check_same_length(y=yt, pred=yp)
    return yt, yp, _weights(sample_weight, n)


def mae(y: ArrayLike, pred: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """Σ w·|y - ŷ| / W. Reference: ``sklearn.metrics.mean_absolute_error``."""
    yt, yp, w = _regression(y, pred, sample_weight)
    return _wmean(np.abs(yt - yp), w)


def rmse(y: ArrayLike, pred: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """√(Σ w·(y - ŷ)² / W). Reference: ``sklearn.metrics.root_mean_squared_error``."""
    yt, yp, w = _regression(y, pred, sample_weight)
    return float(np.sqrt(_wmean((yt - yp) ** 2, w)))


def r2(y: ArrayLike, pred: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
    """1 - Σ w(y - ŷ)² / Σ w(y - ȳ_w)²; for constant y: 1.0 if perfect, else 0.0.

    NaN for a single sample. Reference: ``sklearn.metrics.r2_score`` (``force_finite=True``).
    """
    yt, yp, w = _regression(y, pred, sample_weight)
    if yt.shape[0] < 2:
        return float("nan")
    ss_res = float(np.dot(w, (yt - yp) ** 2))
    # an exactly constant y has SS_tot = 0 (a rounded weighted mean must not make it tiny > 0)
    constant = bool((yt == yt[0]).all())
    ss_tot = 0.0 if constant else float(np.dot(w, (yt - np.average(yt, weights=w)) ** 2))
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


class ConfusionCounts(NamedTuple):
    """Weighted confusion counts per threshold (prediction is ``score ≥ threshold``)."""

    thresholds: FloatArray
    tp: FloatArray
    fp: FloatArray
    tn: FloatArray
    fn: FloatArray


def confusion_at_thresholds(
    y: ArrayLike,
    score: ArrayLike,
    thresholds: ArrayLike,
    sample_weight: ArrayLike | None = None,
) -> ConfusionCounts:
    """TP, FP, TN, FN of the rule ``score ≥ t`` for every ``t`` in ``thresholds``.

    One sort of ``score``, cumulative positive/negative weights, and a ``searchsorted`` of the
    thresholds: O((n + k) log n). Equivalent to ``sklearn.metrics.confusion_matrix`` per t.
    """
    yt, s, w = _binary_scores(y, score, sample_weight)
    t = as_float(thresholds, "thresholds")
    order = np.argsort(s, kind="stable")
    ss = s[order]
    cpos = np.concatenate(([0.0], np.cumsum(np.where(yt[order], w[order], 0.0))))
    cneg = np.concatenate(([0.0], np.cumsum(np.where(yt[order], 0.0, w[order]))))
    k = np.searchsorted(ss, t, side="left")  # rows with score < t
    fn = cpos[k]
    tn = cneg[k]
    return ConfusionCounts(t, cpos[-1] - fn, cneg[-1] - tn, tn, fn)
