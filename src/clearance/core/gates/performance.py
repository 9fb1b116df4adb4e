"""``performance``: a metric computed from the evaluation dataset lies within min/max.

With ``confidence``, the interval's bound on the unsafe side must clear the threshold (the lower
bound for ``min``, the upper bound for ``max``): DeLong for ROC AUC, the Poisson bootstrap for
the others (see ``_metrics``). That is a one-sided test at level ``(1 - c) / 2``; the engine
applies Holm across all such tests of one transition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from clearance.core.gates import _metrics as pm
from clearance.core.gates._data import (
    DatasetParams,
    binary,
    complete,
    digests,
    fmt,
    hypothesis,
    mapping,
    numeric,
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
        data, info, _ = load(ctx, params, metric)
        op, bound = (">=", params.min) if params.min is not None else ("<=", params.max)
        assert bound is not None
        details: dict[str, Any] = {"metric": metric, **info}
        if params.confidence is None:
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
