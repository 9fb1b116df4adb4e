"""``metric_threshold``: a metric must lie within a minimum and/or maximum.

The metric is one the version records (``metrics:``), or, with ``report:``, one of the
numbers a tool's report attached as evidence yields (:mod:`clearance.core.reports`): JUnit's
``failures``, Great Expectations' ``success_percent``, an Evidently metric value, pip-audit's
``vulnerabilities``, a CycloneDX model card's ``performance.accuracy``...
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from clearance.core.gates._evidence_json import read_report
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    check_bound,
    reports_problems,
)
from clearance.core.reports import Format
from clearance.core.results import GateStatus

MiB = 1 << 20


class MetricThresholdParams(GateParams):
    metric: str
    min: float | None = None
    max: float | None = None
    report: str | None = Field(
        default=None, description="Evidence: a tool's report to read the metric from."
    )
    format: Format | None = Field(
        default=None, description="The report's format; default: recognised from its content."
    )
    max_bytes: int = Field(default=64 * MiB, ge=1, le=4096 * MiB)

    @model_validator(mode="after")
    def _a_bound(self) -> MetricThresholdParams:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.format is not None and self.report is None:
            raise ValueError("format applies to a report: name the evidence in report")
        return self


class MetricThreshold:
    name: ClassVar[str] = "metric_threshold"
    summary: ClassVar[str] = (
        "A recorded metric of the version, or a number of an attached report, is at least "
        "`min` / at most `max`."
    )
    Params: ClassVar[type[GateParams]] = MetricThresholdParams

    def evaluate(self, params: MetricThresholdParams, ctx: GateContext) -> Measurement:
        if params.report is not None:
            return self._report(params, ctx)
        value = ctx.version.metrics.get(params.metric)
        if value is None:
            known = ", ".join(sorted(ctx.version.metrics)) or "none"
            return Measurement.error(
                f"needs metric '{params.metric}' in the version's metrics (recorded: {known})",
                details={"missing": [f"metrics.{params.metric}"]},
            )
        return check_bound(value, min=params.min, max=params.max, what=params.metric)

    @reports_problems  # only a report raises ``GateProblem``: a recorded metric takes no wrapper
    def _report(self, params: MetricThresholdParams, ctx: GateContext) -> Measurement:
        assert params.report is not None
        return _from_report(params, params.report, ctx)


def _from_report(params: MetricThresholdParams, name: str, ctx: GateContext) -> Measurement:
    report, sha = read_report(ctx, name, params.max_bytes, params.format)
    value = report.metrics.get(params.metric)
    if value is None:
        known = sorted(report.metrics)
        shown = ", ".join(known[:30]) + (f" and {len(known) - 30} more" if len(known) > 30 else "")
        raise GateProblem(
            f"the {report.format} report '{name}' has no metric '{params.metric}' "
            f"(it has: {shown or 'none'})",
            [f"evidence.{name}.{params.metric}"],
        )
    measured = check_bound(value, min=params.min, max=params.max, what=f"{name}.{params.metric}")
    details: dict[str, Any] = {"report": name, "format": report.format, "content": report.data}
    message = measured.message
    if measured.status is GateStatus.FAIL and report.notes:
        more = len(report.notes) - 3
        message += ": " + "; ".join(report.notes[:3]) + (f" and {more} more" if more > 0 else "")
    return Measurement(
        measured.status,
        message,
        measured.observed,
        measured.threshold,
        measured.operator,
        measured.margin,
        measured.scale,
        details,
        {name: sha},
    )
