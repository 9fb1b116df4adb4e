"""Group-fairness kernels: per-group rates with Wilson intervals, and disparity aggregates.

Everything is computed from ONE aggregation pass: the rows are binned by
``4 * group + 2 * y_true + y_pred`` with ``numpy.bincount``, giving each group's confusion
counts (TN, FP, FN, TP); every rate, interval and disparity below is arithmetic on those
``4 k`` numbers. Pass groups as integer codes ``0..k-1`` for the fast path; any other array
(strings, floats, negative codes) is first encoded with ``numpy.unique``.

Per group ``g`` with ``n_g`` rows, ``P_g`` actual positives, ``N_g`` actual negatives:

* selection rate ``(TP + FP) / n_g``; TPR ``TP / P_g``; FPR ``FP / N_g``;
  precision ``TP / (TP + FP)``. A rate whose denominator is 0 is NaN in
  :class:`GroupMetrics` (the counts are reported next to it).
* Wilson score interval at confidence ``c`` (``z = Phi^-1((1 + c) / 2)``) for ``x`` successes in
  ``m`` trials: ``(p + z^2/2m +- z sqrt(p(1-p)/m + z^2/4m^2)) / (1 + z^2/m)``; NaN for m = 0.
  Equal to ``scipy.stats.binomtest(x, m).proportion_ci(c, method="wilson")``.

Aggregates match :mod:`fairlearn.metrics` (0.15) on the same data:

* ``*_difference`` with ``method="between_groups"``: ``max_g r_g - min_g r_g``;
  ``"to_overall"``: ``max_g |r_g - r_all|`` where ``r_all`` is the rate over all rows.
* ``*_ratio`` with ``"between_groups"``: ``min_g r_g / max_g r_g`` (NaN when the max is 0, as
  fairlearn's 0/0); ``"to_overall"``: ``min_g min(r_g / r_all, r_all / r_g)`` ignoring groups
  where both are 0.
* equalized odds: the worse (``agg="worst_case"``: larger difference, smaller ratio) of the
  TPR and FPR disparities, or their mean (``agg="mean"``). NaN handling follows fairlearn's use
  of Python's ``max``/``min`` on ``[tpr, fpr]`` (a NaN TPR term propagates, a NaN FPR term is
  ignored) and pandas' NaN-skipping mean.

Definitional choices (documented differences from a naive reading):

* **Groups with no rows** (an integer code in ``0..n_groups-1`` that never occurs) appear in
  :class:`GroupMetrics` with count 0 and NaN rates, and are left out of every aggregate --
  fairlearn never sees such groups, so the aggregates agree.
* **Undefined rates** (a group with no actual positives has no TPR; no actual negatives, no
  FPR): fairlearn computes TPR/FPR through scikit-learn's ``confusion_matrix(normalize="true")``
  which turns 0/0 into **0**. ``undefined="zero"`` (default) reproduces that; ``"exclude"``
  leaves such groups out of that rate's aggregate instead (recommended for gates: a group with
  no positives says nothing about its TPR). The selection rate is always defined for a
  non-empty group.
* Every :class:`Disparity` names the groups that decided it (the min and max group, or for
  ``to_overall`` the group farthest from the overall rate), and which rate decided equalized
  odds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.special as sps
from numpy.typing import ArrayLike, NDArray

from clearance.kernels._arrays import BoolArray, FloatArray, IntArray, as_binary, check_same_length

__all__ = [
    "Disparity",
    "GroupMetrics",
    "MinGroupSize",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "encode_groups",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "group_metrics",
    "min_group_size",
    "wilson_interval",
]

Method = Literal["between_groups", "to_overall"]
Undefined = Literal["zero", "exclude"]
Rate = Literal["selection_rate", "tpr", "fpr"]


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval (low, high) for each ``successes / trials``; NaN where trials = 0."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    x = np.asarray(successes, dtype=np.float64)
    m = np.asarray(trials, dtype=np.float64)
    z = float(sps.ndtri(0.5 + confidence / 2.0))
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / m
        denom = 1.0 + z2 / m
        center = (p + z2 / (2.0 * m)) / denom
        half = z * np.sqrt(p * (1.0 - p) / m + z2 / (4.0 * m * m)) / denom
    low = np.where(m > 0, np.clip(center - half, 0.0, 1.0), np.nan)
    high = np.where(m > 0, np.clip(center + half, 0.0, 1.0), np.nan)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def encode_groups(groups: ArrayLike, n_groups: int | None = None) -> tuple[IntArray, NDArray[Any]]:
    """(codes, labels): non-negative integer codes pass through, anything else via ``unique``."""
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ValueError(f"groups must be a 1-D array, got shape {g.shape}")
    if g.dtype.kind in "iub" and g.size and int(g.min()) >= 0:
        k = int(g.max()) + 1
        if n_groups is not None:
            if k > n_groups:
                raise ValueError(f"groups has code {k - 1} but n_groups={n_groups}")
            k = n_groups
        return g.astype(np.intp, copy=False), np.arange(k)
    if n_groups is not None:
        raise ValueError("n_groups applies only to non-negative integer group codes")
    labels, codes = np.unique(g, return_inverse=True)
    return codes.astype(np.intp, copy=False).reshape(-1), labels


def _rate(num: IntArray, den: IntArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


@dataclass(frozen=True)
class GroupMetrics:
    """Per-group confusion counts, rates (NaN where undefined) and Wilson intervals."""

    labels: NDArray[Any]
    count: IntArray
    positives: IntArray  # y_true = 1
    negatives: IntArray  # y_true = 0
    predicted_positive: IntArray
    true_positive: IntArray
    false_positive: IntArray
    selection_rate: FloatArray
    tpr: FloatArray
    fpr: FloatArray
    precision: FloatArray
    confidence: float
    selection_rate_ci: tuple[FloatArray, FloatArray] = field(repr=False)
    tpr_ci: tuple[FloatArray, FloatArray] = field(repr=False)
    fpr_ci: tuple[FloatArray, FloatArray] = field(repr=False)
    precision_ci: tuple[FloatArray, FloatArray] = field(repr=False)

    def label(self, i: int) -> object:
        """The group label at position ``i`` as a plain Python value."""
        v = self.labels[i]
        return v.item() if isinstance(v, np.generic) else v

    def overall(self, rate: Rate) -> float:
        """The rate over all rows (NaN if its denominator is 0)."""
        if rate == "selection_rate":
            num, den = self.predicted_positive.sum(), self.count.sum()
        elif rate == "tpr":
            num, den = self.true_positive.sum(), self.positives.sum()
        else:
            num, den = self.false_positive.sum(), self.negatives.sum()
        return float(num / den) if den > 0 else math.nan


def group_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    groups: ArrayLike,
    *,
    confidence: float = 0.95,
    n_groups: int | None = None,
) -> GroupMetrics:
    """Per-group counts, selection rate, TPR, FPR, precision and Wilson intervals (one pass).

    ``y_true``/``y_pred`` are binary (0/1 or bool). ``n_groups`` declares the number of integer
    codes so that groups absent from the data are still listed (with count 0).
    """
    yt = as_binary(y_true, "y_true")
    yp = as_binary(y_pred, "y_pred")
    codes, labels = encode_groups(groups, n_groups)
    check_same_length(y_true=yt, y_pred=yp, groups=codes)
    k = labels.shape[0]
    idx = np.multiply(codes, 4, dtype=np.intp)
    idx += yt
    idx += yt
    idx += yp
    cells = np.bincount(idx, minlength=4 * k).reshape(k, 4).astype(np.int64)
    tn, fp, fn, tp = cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3]
    count = tn + fp + fn + tp
    pos, neg, pp = tp + fn, tn + fp, tp + fp
    return GroupMetrics(
        labels=labels,
        count=count,
        positives=pos,
        negatives=neg,
        predicted_positive=pp,
        true_positive=tp,
        false_positive=fp,
        selection_rate=_rate(pp, count),
        tpr=_rate(tp, pos),
        fpr=_rate(fp, neg),
        precision=_rate(tp, pp),
        confidence=confidence,
        selection_rate_ci=wilson_interval(pp, count, confidence),
        tpr_ci=wilson_interval(tp, pos, confidence),
        fpr_ci=wilson_interval(fp, neg, confidence),
        precision_ci=wilson_interval(tp, pp, confidence),
    )


@dataclass(frozen=True)
class Disparity:
    """A fairness aggregate and the groups (and rate) that decided it."""

    value: float
    kind: Literal["difference", "ratio"]
    rate: str  # "selection_rate", "tpr", "fpr" -- for equalized odds, the deciding one
    method: Method
    group_low: object | None  # group with the lowest rate (to_overall: the deciding group)
    group_high: object | None  # group with the highest rate (to_overall: None)
    rate_low: float
    rate_high: float  # to_overall: the overall rate
    components: tuple[Disparity, ...] = ()


def _values(gm: GroupMetrics, rate: Rate, undefined: Undefined) -> tuple[FloatArray, BoolArray]:
    """Rates used by aggregates and the mask of groups that take part."""
    r = {"selection_rate": gm.selection_rate, "tpr": gm.tpr, "fpr": gm.fpr}[rate]
    present = gm.count > 0
    if undefined == "zero":
        return np.where(present, np.nan_to_num(r, nan=0.0), np.nan), present
    if undefined == "exclude":
        return r, present & ~np.isnan(r)
    raise ValueError(f"undefined must be 'zero' or 'exclude', got {undefined!r}")


def _overall(gm: GroupMetrics, rate: Rate, undefined: Undefined) -> float:
    value = gm.overall(rate)
    if math.isnan(value) and undefined == "zero" and gm.count.sum() > 0:
        return 0.0
    return value


def _disparity(
    gm: GroupMetrics,
    rate: Rate,
    kind: Literal["difference", "ratio"],
    method: Method,
    undefined: Undefined,
) -> Disparity:
    r, use = _values(gm, rate, undefined)
    idx = np.flatnonzero(use)
    nan = math.nan
    if idx.size == 0:
        return Disparity(nan, kind, rate, method, None, None, nan, nan)
    vals = r[idx]
    if method == "between_groups":
        lo, hi = int(idx[np.argmin(vals)]), int(idx[np.argmax(vals)])
        rlo, rhi = float(r[lo]), float(r[hi])
        ratio = rlo / rhi if rhi != 0.0 else nan
        value = rhi - rlo if kind == "difference" else ratio
        return Disparity(value, kind, rate, method, gm.label(lo), gm.label(hi), rlo, rhi)
    if method != "to_overall":
        raise ValueError(f"method must be 'between_groups' or 'to_overall', got {method!r}")
    overall = _overall(gm, rate, undefined)
    if kind == "difference":
        dev = np.abs(vals - overall)
        if np.all(np.isnan(dev)):
            return Disparity(nan, kind, rate, method, None, None, nan, overall)
        j = int(idx[np.nanargmax(dev)])
        return Disparity(float(np.nanmax(dev)), kind, rate, method, gm.label(j), None,
                         float(r[j]), overall)  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = vals / overall
        rel = np.where(raw > 1.0, 1.0 / raw, raw)
    if np.all(np.isnan(rel)):
        return Disparity(nan, kind, rate, method, None, None, nan, overall)
    j = int(idx[np.nanargmin(rel)])
    return Disparity(float(np.nanmin(rel)), kind, rate, method, gm.label(j), None,
                     float(r[j]), overall)  # fmt: skip


def _gm(
    y_true: ArrayLike | GroupMetrics, y_pred: ArrayLike | None, groups: ArrayLike | None
) -> GroupMetrics:
    if isinstance(y_true, GroupMetrics):
        return y_true
    if y_pred is None or groups is None:
        raise TypeError("pass y_true, y_pred and groups, or a GroupMetrics")
    return group_metrics(y_true, y_pred, groups)


def demographic_parity_difference(
    y_true: ArrayLike | GroupMetrics,
    y_pred: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    method: Method = "between_groups",
) -> Disparity:
    """Spread of group selection rates (fairlearn ``demographic_parity_difference``)."""
    return _disparity(_gm(y_true, y_pred, groups), "selection_rate", "difference", method, "zero")


def demographic_parity_ratio(
    y_true: ArrayLike | GroupMetrics,
    y_pred: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    method: Method = "between_groups",
) -> Disparity:
    """Min/max ratio of group selection rates -- disparate impact (fairlearn's ratio)."""
    return _disparity(_gm(y_true, y_pred, groups), "selection_rate", "ratio", method, "zero")


def equal_opportunity_difference(
    y_true: ArrayLike | GroupMetrics,
    y_pred: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    method: Method = "between_groups",
    undefined: Undefined = "zero",
) -> Disparity:
    """Spread of group TPRs (fairlearn ``equal_opportunity_difference``)."""
    return _disparity(_gm(y_true, y_pred, groups), "tpr", "difference", method, undefined)


def equal_opportunity_ratio(
    y_true: ArrayLike | GroupMetrics,
    y_pred: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    method: Method = "between_groups",
    undefined: Undefined = "zero",
) -> Disparity:
    """Min/max ratio of group TPRs (fairlearn ``equal_opportunity_ratio``)."""
    return _disparity(_gm(y_true, y_pred, groups), "tpr", "ratio", method, undefined)


def _combine(
    parts: tuple[Disparity, Disparity], kind: str, agg: Literal["worst_case", "mean"]
) -> Disparity:
    tpr, fpr = parts
    if agg == "mean":
        vals = [p.value for p in parts if not math.isnan(p.value)]
        value = sum(vals) / len(vals) if vals else math.nan
        return Disparity(value, tpr.kind, "mean(tpr, fpr)", tpr.method, None, None,
                         math.nan, math.nan, parts)  # fmt: skip
    if agg != "worst_case":
        raise ValueError(f"agg must be 'worst_case' or 'mean', got {agg!r}")
    # Python's max/min on [tpr, fpr], exactly as fairlearn applies them to its Series: the
    # FPR term wins only if it compares strictly worse, so a NaN TPR term propagates.
    if kind == "difference":
        pick = fpr if fpr.value > tpr.value else tpr
    else:
        pick = fpr if fpr.value < tpr.value else tpr
    value = pick.value
    return Disparity(value, pick.kind, pick.rate, pick.method, pick.group_low, pick.group_high,
                     pick.rate_low, pick.rate_high, parts)  # fmt: skip


def equalized_odds_difference(
    y_true: ArrayLike | GroupMetrics,
    y_pred: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    method: Method = "between_groups",
    agg: Literal["worst_case", "mean"] = "worst_case",
    undefined: Undefined = "zero",
) -> Disparity:
    """Larger (or mean) of the TPR and FPR differences (fairlearn ``equalized_odds_difference``)."""
    gm = _gm(y_true, y_pred, groups)
    parts = (
        _disparity(gm, "tpr", "difference", method, undefined),
        _disparity(gm, "fpr", "difference", method, undefined),
    )
    return _combine(parts, "difference", agg)


def equalized_odds_ratio(
    y_true: ArrayLike | GroupMetrics,
    y_pred: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    method: Method = "between_groups",
    agg: Literal["worst_case", "mean"] = "worst_case",
    undefined: Undefined = "zero",
) -> Disparity:
    """Smaller (or mean) of the TPR and FPR ratios (fairlearn ``equalized_odds_ratio``)."""
    gm = _gm(y_true, y_pred, groups)
    parts = (
        _disparity(gm, "tpr", "ratio", method, undefined),
        _disparity(gm, "fpr", "ratio", method, undefined),
    )
    return _combine(parts, "ratio", agg)


@dataclass(frozen=True, slots=True)
class MinGroupSize:
    """Smallest group by rows, actual positives or actual negatives, and which group it is."""

    size: int
    group: object | None
    of: str


def min_group_size(
    groups: ArrayLike | GroupMetrics,
    *,
    of: Literal["rows", "positives", "negatives"] = "rows",
    include_empty: bool = False,
) -> MinGroupSize:
    """Size of the smallest group (groups with no rows are ignored unless ``include_empty``).

    With plain ``groups`` only ``of="rows"`` is available; pass a :class:`GroupMetrics` for
    positives/negatives.
    """
    if isinstance(groups, GroupMetrics):
        gm = groups
        sizes = {"rows": gm.count, "positives": gm.positives, "negatives": gm.negatives}[of]
        present = gm.count > 0 if not include_empty else np.ones(gm.count.shape[0], dtype=bool)
        labels: NDArray[Any] = gm.labels
    else:
        if of != "rows":
            raise ValueError("of='positives'/'negatives' needs a GroupMetrics")
        codes, labels = encode_groups(groups)
        sizes = np.bincount(codes, minlength=labels.shape[0]).astype(np.int64)
        present = sizes > 0 if not include_empty else np.ones(sizes.shape[0], dtype=bool)
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return MinGroupSize(0, None, of)
    j = int(idx[np.argmin(sizes[idx])])
    label = labels[j]
    return MinGroupSize(int(sizes[j]), label.item() if isinstance(label, np.generic) else label, of)
