"""``performance``: a metric computed from the evaluation dataset lies within min/max.

With ``confidence``, the interval's bound on the unsafe side must clear the threshold (the lower
bound for ``min``, the upper bound for ``max``): DeLong for ROC AUC, the Poisson bootstrap for
the others (see ``_metrics``). That is a one-sided test at level ``(1 - c) / 2``; the engine
applies Holm across all such tests of one transition.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from clearance.core.gates import _metrics as pm
from clearance.core.gates._data import (
    DatasetParams,
    aggregator,
    binary,
    complete,
    digests,
    fmt,
    hypothesis,
    mapping,
    numeric,
    pushed,
    read,
    role,
)
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    reports_problems,
)
from clearance.core.results import GateStatus
from clearance.extras import lazy

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy("numpy", "this gate")  # loads without the data extra; computing needs it

MetricName = Literal[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "auc",
    "pr_auc",
    "log_loss",
    "brier",
    "calibration_error",
    "mae",
    "rmse",
    "r2",
]


class PerformanceParams(DatasetParams):
    metric: MetricName
    min: float | None = None
    max: float | None = None
    confidence: float | None = Field(default=None, gt=0, lt=1)
    threshold: float = Field(default=0.5, description="Decision threshold: score >= threshold.")
    n_resamples: int = Field(default=200, ge=20, le=10_000)
    seed: int = 0

    @model_validator(mode="after")
    def _a_bound(self) -> PerformanceParams:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min or max")
        return self


def load(
    ctx: GateContext, params: Any, metric: str, *, extra: tuple[str, ...] = ()
) -> tuple[pm.Data, dict[str, Any], dict[str, Any]]:
    """Label, score/prediction (and ``extra`` roles) of complete rows, plus row-count details."""
    cm = mapping(ctx, params.dataset, params.columns)
    label = role(cm, "label", params.dataset)
    wanted: dict[str, str] = {"label": label}
    if metric in pm.SCORE_BASED:
        wanted["score"] = role(cm, "score", params.dataset)
    elif cm.prediction:
        wanted["prediction"] = cm.prediction
    elif cm.score:
        wanted["score"] = cm.score
    else:
        role(cm, "prediction", params.dataset)  # raises, naming the role
    for r in extra:
        wanted[r] = role(cm, r, params.dataset)
    cols = read(ctx, params.dataset, list(wanted.values()))
    arrays = {r: numeric(cols, c, params.dataset) for r, c in wanted.items()}
    ok = complete(*arrays.values())
    n = int(ok.shape[0])
    arrays = {r: a[ok] if not ok.all() else a for r, a in arrays.items()}
    if arrays["label"].shape[0] == 0:
        raise GateProblem(f"dataset '{params.dataset}' has no complete rows for {metric}")
    if metric not in pm.REGRESSION:
        binary(arrays["label"], label, params.dataset)
    if "prediction" in arrays:
        binary(arrays["prediction"], wanted["prediction"], params.dataset)
    data = pm.Data(arrays["label"], arrays.get("score"), arrays.get("prediction"), params.threshold)
    info = {"rows": n, "dropped_rows": n - int(np.count_nonzero(ok)), "columns": wanted}
    return data, info, arrays


PUSHED = {"roc_auc", "accuracy", "precision", "recall", "f1"}  # point estimates from summaries


def pushed_value(
    engine: Any, ctx: GateContext, params: Any, metric: str
) -> tuple[float, dict[str, Any]]:
    """The metric from the engine's summaries (ADR 0009): ROC AUC from the rank sum over
    per-score counts, the others from confusion counts; equal to :func:`load` then
    ``value``, with the same row details."""
    ds = params.dataset
    cm = mapping(ctx, ds, params.columns)
    label = role(cm, "label", ds)
    if metric == "roc_auc":
        wanted = {"label": label, "score": role(cm, "score", ds)}
        twice, p, n, labels = pushed(ds, metric, engine.auc_counts, wanted["score"], label)
        _binary_values(labels, label, ds)
        complete_rows = p + n
        value = twice / (2.0 * p * n) if p and n else math.nan
    else:
        column = cm.prediction or cm.score or role(cm, "prediction", ds)
        wanted = {"label": label, ("prediction" if cm.prediction else "score"): column}
        threshold = None if cm.prediction else params.threshold
        rows = pushed(ds, metric, engine.confusion_rows, None, label, column, threshold, 64)
        cells = [0, 0, 0, 0]  # TN, FP, FN, TP
        if rows is None:
            raise GateProblem(
                f"columns '{label}' and '{column}' of dataset '{ds}' must be 0/1 for {metric} "
                "(more than 64 distinct pairs)"
            )
        for _, y, d, count in rows:
            if y is None or d is None:
                continue
            _binary_values([y], label, ds)
            _binary_values([d], column, ds)
            cells[2 * int(y) + int(d)] += int(count)
        tn, fp, fn, tp = cells
        complete_rows = tn + fp + fn + tp
        value = _classification(metric, tn, fp, fn, tp)
    total = int(pushed(ds, "row count", engine.rows))
    if complete_rows == 0:
        raise GateProblem(f"dataset '{ds}' has no complete rows for {metric}")
    if math.isnan(value):
        raise GateProblem(f"{metric} is undefined on dataset '{ds}': one class only")
    return value, {"rows": total, "dropped_rows": total - complete_rows, "columns": wanted}


def _binary_values(values: list[Any], name: str, dataset: str) -> None:
    for v in values:
        if v not in (0, 1):
            raise GateProblem(
                f"column '{name}' of dataset '{dataset}' must be 0/1 for this metric (found {v:g})"
            )


def _classification(metric: str, tn: int, fp: int, fn: int, tp: int) -> float:
    """As the kernels (``zero_division`` 0): accuracy, precision, recall, F1 from counts."""
    if metric == "accuracy":
        return (tp + tn) / (tp + fp + tn + fn)
    if metric == "precision":
        return tp / (tp + fp) if tp + fp > 0 else 0.0
    if metric == "recall":
        return tp / (tp + fn) if tp + fn > 0 else 0.0
    return 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else 0.0


class Performance:
    name: ClassVar[str] = "performance"
    summary: ClassVar[str] = (
        "A metric computed from the evaluation dataset is at least `min` / at most `max`, "
        "optionally at a confidence level."
    )
    Params: ClassVar[type[GateParams]] = PerformanceParams
    holm_family: ClassVar[bool] = True  # with ``confidence``: a one-sided hypothesis test

    @reports_problems
    def evaluate(self, params: PerformanceParams, ctx: GateContext) -> Measurement:
        metric = pm.canonical(params.metric)
        op, bound = (">=", params.min) if params.min is not None else ("<=", params.max)
        assert bound is not None
        engine = None
        if params.confidence is None and metric in PUSHED:
            engine = aggregator(ctx, params.dataset)
        if engine is not None:
            observed, info = pushed_value(engine, ctx, params, metric)
        else:
            data, info, _ = load(ctx, params, metric)
        details: dict[str, Any] = {"metric": metric, **info}
        if params.confidence is None:
            if engine is None:
                observed = pm.value(metric, data)
            margin = observed - bound if op == ">=" else bound - observed
            details["interval"] = None
        else:
            est = pm.estimate(metric, data, params.confidence, params.n_resamples, params.seed)
            observed = est.estimate
            edge = est.low if op == ">=" else est.high
            margin = edge - bound if op == ">=" else bound - edge
            p = est.p_value(bound, op)
            details.update(
                interval=est.interval(),
                confidence=params.confidence,
                method=est.method,
                n_resamples=None if est.replicates is None else params.n_resamples,
                seed=None if est.replicates is None else params.seed,
                hypothesis=hypothesis(p, params.confidence, f"{metric} {_neg(op)} {bound:g}"),
            )
        ok = margin >= 0
        where = (
            ""
            if params.confidence is None
            else (
                f" ({'lower' if op == '>=' else 'upper'} bound of the "
                f"{params.confidence:.0%} {details['method']} interval "
                f"[{fmt(details['interval'][0])}, {fmt(details['interval'][1])}])"
            )
        )
        message = (
            f"{metric} = {observed:.4g} on {info['rows'] - info['dropped_rows']} rows of "
            f"'{params.dataset}'{where} {'meets' if ok else 'violates'} {op} {bound:g}"
        )
        return Measurement(
            GateStatus.PASS if ok else GateStatus.FAIL,
            message,
            observed=observed,
            threshold=bound,
            operator=op,
            margin=margin,
            scale=abs(bound) or None,
            details=details,
            evidence=digests(ctx, params.dataset),
        )


def _neg(op: str) -> str:
    return "<" if op == ">=" else ">"
