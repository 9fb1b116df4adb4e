"""Metrics from columns, with intervals, for ``performance`` and ``champion_comparison``.

* ROC AUC: DeLong's variance (one model) and DeLong's paired test (two models, same rows);
  the interval is ``estimate ± z·se`` with ``z = Φ⁻¹((1 + c)/2)``.
* accuracy and F1: the kernels' vectorized Poisson bootstrap (``bootstrap_auc_accuracy_f1``),
  percentile interval; two models on the same rows get the same weights (same seed), so the
  difference of their replicates is a paired bootstrap.
* every other metric: the same Poisson(1) weights (``poisson_weights``), one weighted
  re-evaluation of the metric per resample (R passes over the rows), percentile interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clearance import kernels as k
from clearance.core.gates._data import bootstrap_p, normal_sf, z_of
from clearance.core.gates.base import GateProblem
from clearance.extras import lazy

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    F = NDArray[np.float64]
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it

HIGHER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "calibration_error": False,
    "mae": False,
    "rmse": False,
    "r2": True,
}
METRICS = tuple(HIGHER_IS_BETTER)
ALIASES = {"auc": "roc_auc", "average_precision": "pr_auc", "ece": "calibration_error"}
CLASSIFICATION = {"accuracy", "precision", "recall", "f1"}
SCORE_BASED = {"roc_auc", "pr_auc", "log_loss", "brier", "calibration_error"}
REGRESSION = {"mae", "rmse", "r2"}


def canonical(metric: str) -> str:
    return ALIASES.get(metric, metric)


@dataclass
class Data:
    """Complete rows of one model's evaluation: label, score and/or prediction."""

    y: F
    score: F | None
    pred: F | None
    threshold: float

    def decision(self) -> F:
        """0/1 decisions: the prediction column, else ``score >= threshold``."""
        if self.pred is not None:
            return self.pred
        assert self.score is not None
        return (self.score >= self.threshold).astype(np.float64)


def value(metric: str, d: Data, w: NDArray[Any] | None = None) -> float:
    """The metric on ``d`` (optionally weighted), through the kernels."""
    if metric in CLASSIFICATION:
        fn: Callable[..., float] = getattr(k, metric)
        return float(fn(d.y == 1, d.decision() == 1, sample_weight=w))
    if metric in SCORE_BASED:
        assert d.score is not None
        return float(getattr(k, metric)(d.y == 1, d.score, sample_weight=w))
    target = d.pred if d.pred is not None else d.score
    assert target is not None
    return float(getattr(k, metric)(d.y, target, sample_weight=w))


@dataclass
class Estimate:
    """A point estimate, its two-sided interval and what one-sided p-values come from."""

    estimate: float
    low: float
    high: float
    method: str
    se: float | None = None
    replicates: F | None = field(default=None, repr=False)

    def p_value(self, bound: float, side: str) -> float:
        """One-sided p of H0 "not on the ``side`` of ``bound``" (``>=``: estimate ≤ bound)."""
        if self.replicates is not None:
            return bootstrap_p(self.replicates, bound, side)
        assert self.se is not None
        gap = self.estimate - bound if side == ">=" else bound - self.estimate
        if self.se == 0:
            return 0.0 if gap > 0 else 1.0
        return normal_sf(gap / self.se)

    def interval(self) -> list[float | None]:
        return [_num(self.low), _num(self.high)]


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


def _percentile(reps: F, confidence: float) -> tuple[float, float]:
    return k.percentile_interval(reps, confidence)


def _replicates(
    n: int, n_resamples: int, seed: int, stat: Callable[[NDArray[np.uint8]], float]
) -> F:
    """``stat(weights)`` for each Poisson resample, NaN where it is undefined (e.g. a resample
    without one class); the weights come a block of resamples at a time, never n x R."""
    out = np.empty(n_resamples)
    with np.errstate(all="ignore"):
        for start, block in k.poisson_weight_blocks(seed, np.arange(n), n_resamples):
            for j in range(block.shape[1]):
                try:
                    out[start + j] = stat(block[:, j])
                except ValueError:
                    out[start + j] = math.nan
    return out


def _fast(d: Data) -> F:
    """The score the fast bootstrap ranks: the prediction (0/1) when given, else the score."""
    return d.pred if d.pred is not None else d.score  # type: ignore[return-value]


def _fast_threshold(d: Data) -> float:
    return 0.5 if d.pred is not None else d.threshold


def estimate(metric: str, d: Data, confidence: float, n_resamples: int, seed: int) -> Estimate:
    """The metric with a two-sided interval at ``confidence``."""
    point = value(metric, d)
    if metric == "roc_auc":
        assert d.score is not None
        _check_classes(d.y)
        de = k.delong_auc(d.y == 1, d.score)
        se = math.sqrt(max(de.variance, 0.0))
        z = z_of(confidence)
        return Estimate(point, point - z * se, point + z * se, "DeLong", se=se)
    if metric in ("accuracy", "f1") and (d.score is not None or d.pred is not None):
        _check_classes(d.y)
        b = k.bootstrap_auc_accuracy_f1(
            d.y == 1,
            _fast(d),
            _fast_threshold(d),
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
        reps = b.replicates[metric]
        low, high = _percentile(reps, confidence)
        return Estimate(point, low, high, "Poisson bootstrap (percentile)", replicates=reps)
    reps = _generic(metric, d, n_resamples, seed)
    low, high = _percentile(reps, confidence)
    return Estimate(point, low, high, "Poisson bootstrap (percentile)", replicates=reps)


def _generic(metric: str, d: Data, n_resamples: int, seed: int) -> F:
    return _replicates(d.y.shape[0], n_resamples, seed, lambda w: value(metric, d, w))


def _check_classes(y: F) -> None:
    pos = int(np.count_nonzero(y == 1))
    if pos == 0 or pos == y.shape[0]:
        raise GateProblem(
            f"the label column holds a single class ({pos} positive of {y.shape[0]} rows): "
            "AUC and its interval are undefined"
        )


@dataclass
class Paired:
    """Candidate minus champion on the same rows (sign: positive = candidate better)."""

    candidate: float
    champion: float
    diff: Estimate
    method: str
    extra: dict[str, Any] = field(default_factory=dict)


def paired(
    metric: str,
    cand: Data,
    champ: Data,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Paired:
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    if metric == "roc_auc":
        assert cand.score is not None and champ.score is not None
        _check_classes(cand.y)
        t = k.delong_paired(cand.y == 1, cand.score, champ.score)
        se = math.sqrt(max(t.variance_of_diff, 0.0))
        z = z_of(confidence)
        diff = Estimate(t.diff, t.diff - z * se, t.diff + z * se, "DeLong paired", se=se)
        return Paired(t.auc_a, t.auc_b, diff, "DeLong paired", {"two_sided_p": t.p_value})
    a, b = value(metric, cand), value(metric, champ)
    if metric in ("accuracy", "f1"):
        _check_classes(cand.y)
        kw: dict[str, Any] = {
            "n_resamples": n_resamples,
            "confidence": confidence,
            "seed": seed,
        }
        ra = k.bootstrap_auc_accuracy_f1(cand.y == 1, _fast(cand), _fast_threshold(cand), **kw)
        rb = k.bootstrap_auc_accuracy_f1(champ.y == 1, _fast(champ), _fast_threshold(champ), **kw)
        reps = sign * (ra.replicates[metric] - rb.replicates[metric])
    else:
        reps = _replicates(
            cand.y.shape[0],
            n_resamples,
            seed,
            lambda w: sign * (value(metric, cand, w) - value(metric, champ, w)),
        )
    low, high = _percentile(reps, confidence)
    method = "paired Poisson bootstrap (percentile)"
    diff = Estimate(sign * (a - b), low, high, method, replicates=reps)
    return Paired(a, b, diff, method)
