"""``champion_comparison``: the candidate against the version it would replace.

On recorded metrics (this module), the comparison is of two numbers: the candidate may not
be worse than the champion by more than ``max_degradation`` (absolute) or
``max_relative_degradation`` (a share of the champion's value), or must improve by at least
``min_improvement`` / ``min_relative_improvement``. ``higher_is_better: false`` flips the
direction for losses, errors and latencies.

On data (``dataset:`` given), both models' scores on the **same rows** are compared paired:
``test: non_inferiority`` ("not worse than the champion by more than delta", the
``max_degradation`` limits) or ``superiority`` ("better by at least delta", the
``min_improvement`` limits); with ``confidence`` the interval's lower bound of
(candidate - champion, signed so that positive is better) must clear ``-delta`` / ``+delta``:
DeLong's paired test for ROC AUC, a paired Poisson bootstrap for the other metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from clearance.core.column_roles import ColumnMapping
from clearance.core.gates import _metrics as pm
from clearance.core.gates._data import (
    ColumnsField,
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

_LIMITS = (
    "max_degradation",
    "max_relative_degradation",
    "min_improvement",
    "min_relative_improvement",
)


class ChampionComparisonParams(GateParams):
    metric: str
    higher_is_better: bool = True
    max_degradation: float | None = Field(default=None, ge=0)
    max_relative_degradation: float | None = Field(default=None, ge=0)
    min_improvement: float | None = Field(default=None, ge=0)
    min_relative_improvement: float | None = Field(default=None, ge=0)
    when_no_champion: Literal["error", "skip", "pass"] = "error"
    # on data: paired on the same rows of an evaluation dataset
    dataset: str | None = Field(
        default=None, description="Evaluation dataset: compare both models on its rows."
    )
    champion_dataset: str | None = Field(
        default=None,
        description="Dataset holding the champion's scores, row-aligned with `dataset` "
        "(default: `dataset` itself, column role champion_score).",
    )
    test: Literal["non_inferiority", "superiority"] | None = None
    confidence: float | None = Field(default=None, gt=0, lt=1)
    threshold: float = Field(default=0.5, description="Decision threshold: score >= threshold.")
    n_resamples: int = Field(default=200, ge=20, le=10_000)
    seed: int = 0
    columns: ColumnMapping | None = ColumnsField

    @model_validator(mode="after")
    def _one_limit(self) -> ChampionComparisonParams:
        given = [name for name in _LIMITS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(_LIMITS)} (found {len(given)})")
        data_only = ("champion_dataset", "test", "confidence", "columns")
        if self.dataset is None:
            used = [n for n in data_only if getattr(self, n) is not None]
            if used:
                raise ValueError(f"{', '.join(used)} need dataset: (a comparison on data)")
            return self
        if pm.canonical(self.metric) not in pm.METRICS:
            raise ValueError(
                f"metric '{self.metric}' cannot be computed from data; use one of "
                f"{', '.join(pm.METRICS)}"
            )
        implied = "non_inferiority" if given[0].startswith("max_") else "superiority"
        if self.test is not None and self.test != implied:
            raise ValueError(
                f"test: {self.test} does not match {given[0]} "
                f"({implied} is tested with {'max_*' if implied == 'non_inferiority' else 'min_*'})"
            )
        return self

    @property
    def limit(self) -> tuple[str, float]:
        for name in _LIMITS:
            value = getattr(self, name)
            if value is not None:
                return name, float(value)
        raise AssertionError("validated to have one limit")


class ChampionComparison:
    name: ClassVar[str] = "champion_comparison"
    summary: ClassVar[str] = "The candidate is not worse than (or improves on) the champion."
    Params: ClassVar[type[GateParams]] = ChampionComparisonParams
    holm_family: ClassVar[bool] = True  # on data with ``confidence``: a paired hypothesis test

    @reports_problems
    def evaluate(self, params: ChampionComparisonParams, ctx: GateContext) -> Measurement:
        if params.dataset is not None:
            return self._on_data(params, ctx)
        metric = params.metric
        candidate = ctx.version.metrics.get(metric)
        if candidate is None:
            return Measurement.error(
                f"needs metric '{metric}' in the version's metrics",
                details={"missing": [f"metrics.{metric}"]},
            )
        champion = ctx.version.champion
        if champion is None or metric not in champion.metrics:
            return self._no_champion(params, ctx)
        base = champion.metrics[metric]
        sign = 1.0 if params.higher_is_better else -1.0
        gain = sign * (candidate - base)  # > 0: the candidate is better
        kind, limit = params.limit
        relative = kind.endswith("relative_degradation") or kind.endswith("relative_improvement")
        if relative and base == 0:
            return Measurement.error(
                f"champion {metric} is 0, so a relative change is undefined; use an absolute limit"
            )
        change = gain / abs(base) if relative else gain
        unit = " (relative)" if relative else ""
        if kind.startswith("max_"):
            margin, op, threshold = change + limit, ">=", -limit
        else:
            margin, op, threshold = change - limit, ">=", limit
        ok = margin >= 0
        message = (
            f"{metric}: candidate {candidate:.6g} vs champion {base:.6g}, "
            f"change {change:+.4g}{unit} {'meets' if ok else 'violates'} {op} {threshold:+.4g}"
        )
        return Measurement(
            GateStatus.PASS if ok else GateStatus.FAIL,
            message,
            observed=change,
            threshold=threshold,
            operator=op,
            margin=margin,
            scale=limit if limit else None,
            details={
                "candidate": candidate,
                "champion": base,
                "champion_version": champion.version,
                "relative": relative,
                "higher_is_better": params.higher_is_better,
            },
        )

    def _no_champion(self, params: ChampionComparisonParams, ctx: GateContext) -> Measurement:
        if params.when_no_champion == "error":
            return Measurement.error(
                f"needs the champion's '{params.metric}' (champion.metrics.{params.metric}); "
                "record the current champion, or set when_no_champion: skip for a first release",
                details={"missing": [f"champion.metrics.{params.metric}"]},
            )
        status = GateStatus.SKIPPED if params.when_no_champion == "skip" else GateStatus.PASS
        return Measurement(status, f"no champion for {ctx.to_stage}: nothing to compare with")

    def _on_data(self, params: ChampionComparisonParams, ctx: GateContext) -> Measurement:
        assert params.dataset is not None
        metric = pm.canonical(params.metric)
        cand, champ, info = _paired_data(params, ctx, metric)
        if cand is None or champ is None:
            return self._no_champion(params, ctx)
        kind, limit = params.limit
        test = "non_inferiority" if kind.startswith("max_") else "superiority"
        confidence = params.confidence
        if confidence is None and params.test is not None:
            confidence = 0.95
        est = pm.paired(metric, cand, champ, confidence or 0.95, params.n_resamples, params.seed)
        relative = "relative" in kind
        base = est.champion
        if relative and base == 0:
            return Measurement.error(
                f"champion {metric} is 0, so a relative change is undefined; use an absolute limit"
            )
        delta = limit * abs(base) if relative else limit
        threshold = -delta if test == "non_inferiority" else delta
        diff = est.diff
        details: dict[str, Any] = {
            "metric": metric,
            "test": test,
            "candidate": est.candidate,
            "champion": est.champion,
            "champion_version": ctx.version.champion.version if ctx.version.champion else None,
            "delta": delta,
            "relative": relative,
            "higher_is_better": pm.HIGHER_IS_BETTER[metric],
            **info,
            **est.extra,
        }
        if confidence is None:
            margin = diff.estimate - threshold
            details["interval"] = None
            how = ""
        else:
            margin = diff.low - threshold
            statement = (
                f"candidate - champion <= {threshold:+.4g} ({test.replace('_', '-')} not shown)"
            )
            details.update(
                interval=diff.interval(),
                confidence=confidence,
                method=est.method,
                n_resamples=None if diff.replicates is None else params.n_resamples,
                seed=None if diff.replicates is None else params.seed,
                hypothesis=hypothesis(diff.p_value(threshold, ">="), confidence, statement),
            )
            how = f", {confidence:.0%} {est.method} interval [{fmt(diff.low)}, {fmt(diff.high)}]"
        ok = margin >= 0
        message = (
            f"{metric} on {info['rows'] - info['dropped_rows']} paired rows: candidate "
            f"{est.candidate:.4g} vs champion {est.champion:.4g}, difference "
            f"{diff.estimate:+.4g}{how} {'meets' if ok else 'violates'} >= {threshold:+.4g} "
            f"({test.replace('_', '-')})"
        )
        names = [params.dataset] + ([params.champion_dataset] if params.champion_dataset else [])
        return Measurement(
            GateStatus.PASS if ok else GateStatus.FAIL,
            message,
            observed=diff.estimate,
            threshold=threshold,
            operator=">=",
            margin=margin,
            scale=delta or None,
            details=details,
            evidence=digests(ctx, *names),
        )


def _paired_data(
    params: ChampionComparisonParams, ctx: GateContext, metric: str
) -> tuple[pm.Data | None, pm.Data | None, dict[str, Any]]:
    """Candidate and champion data on the same complete rows (None when no champion scores)."""
    assert params.dataset is not None
    cm = mapping(ctx, params.dataset, params.columns)
    label = role(cm, "label", params.dataset)
    regression = metric in pm.REGRESSION
    cand_role = "prediction" if regression and cm.prediction else "score"
    cand_col = role(cm, cand_role, params.dataset)
    if params.champion_dataset is None:
        champ_ds = params.dataset
        if cm.champion_score is None and params.when_no_champion != "error":
            return None, None, {}
        champ_col = role(cm, "champion_score", params.dataset)
        cols = read(ctx, params.dataset, [label, cand_col, champ_col])
        champ_cols = cols
    else:
        champ_ds = params.champion_dataset
        if champ_ds not in ctx.version.evidence and params.when_no_champion != "error":
            return None, None, {}
        ccm = mapping(ctx, champ_ds, params.columns)
        champ_col = ccm.champion_score or role(ccm, "score", champ_ds)
        cols = read(ctx, params.dataset, [label, cand_col])
        champ_cols = read(ctx, champ_ds, [champ_col])
    y = numeric(cols, label, params.dataset)
    a = numeric(cols, cand_col, params.dataset)
    b = numeric(champ_cols, champ_col, champ_ds)
    if b.shape[0] != y.shape[0]:
        raise GateProblem(
            f"champion scores in '{champ_ds}' have {b.shape[0]} rows but '{params.dataset}' "
            f"has {y.shape[0]}: a paired comparison needs the same rows in the same order"
        )
    ok = complete(y, a, b)
    y, a, b = y[ok], a[ok], b[ok]
    if y.shape[0] == 0:
        raise GateProblem(f"dataset '{params.dataset}' has no complete rows for {metric}")
    if not regression:
        binary(y, label, params.dataset)
    info = {
        "rows": int(ok.shape[0]),
        "dropped_rows": int(ok.shape[0] - np.count_nonzero(ok)),
        "columns": {"label": label, "candidate": cand_col, "champion": f"{champ_ds}.{champ_col}"},
    }
    pred_a = a if cand_role == "prediction" else None
    score_a = None if cand_role == "prediction" else a
    pred_b = b if cand_role == "prediction" else None
    score_b = None if cand_role == "prediction" else b
    return (
        pm.Data(y, score_a, pred_a, params.threshold),
        pm.Data(y, score_b, pred_b, params.threshold),
        info,
    )
