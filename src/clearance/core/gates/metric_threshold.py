"""``metric_threshold``: a recorded metric must lie within a minimum and/or maximum."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from clearance.core.gates.base import GateContext, GateParams, Measurement, check_bound


class MetricThresholdParams(GateParams):
    metric: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> MetricThresholdParams:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class MetricThreshold:
    name: ClassVar[str] = "metric_threshold"
    summary: ClassVar[str] = "A recorded metric of the version is at least `min` / at most `max`."
    Params: ClassVar[type[GateParams]] = MetricThresholdParams

    def evaluate(self, params: MetricThresholdParams, ctx: GateContext) -> Measurement:
        value = ctx.version.metrics.get(params.metric)
        if value is None:
            known = ", ".join(sorted(ctx.version.metrics)) or "none"
            return Measurement.error(
                f"needs metric '{params.metric}' in the version's metrics (recorded: {known})",
                details={"missing": [f"metrics.{params.metric}"]},
            )
        return check_bound(value, min=params.min, max=params.max, what=params.metric)
