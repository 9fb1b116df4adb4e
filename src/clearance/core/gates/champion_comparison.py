"""``champion_comparison``: the candidate against the version it would replace.

On recorded metrics (this module), the comparison is of two numbers: the candidate may not
be worse than the champion by more than ``max_degradation`` (absolute) or
``max_relative_degradation`` (a share of the champion's value), or must improve by at least
``min_improvement`` / ``min_relative_improvement``. ``higher_is_better: false`` flips the
direction for losses, errors and latencies.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.results import GateStatus

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

    @model_validator(mode="after")
    def _one_limit(self) -> ChampionComparisonParams:
        given = [name for name in _LIMITS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(_LIMITS)} (found {len(given)})")
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

    def evaluate(self, params: ChampionComparisonParams, ctx: GateContext) -> Measurement:
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
