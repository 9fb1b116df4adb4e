"""Canary rollouts as a pure state machine: hold, advance, complete or roll back.

Given the plan, where the rollout stands, the latest KPI readings and the clock, ``assess``
says what to do next. Any KPI breach rolls back at once. A step advances only when its
minimum duration has passed *and* every KPI has been observed during the step: a canary
that nobody measured never ramps up on its own.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from clearance.core.durations import parse_duration
from clearance.core.policy import KpiLimit, RolloutPlan

Action = Literal["hold", "advance", "complete", "rollback"]


@dataclass(frozen=True)
class KpiReading:
    name: str
    canary: float
    control: float | None
    at: dt.datetime


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    step: int
    traffic: float
    breaches: list[str] = field(default_factory=list)


def reading_problem(name: str, canary: float, control: float | None) -> str | None:
    """Why a KPI reading cannot be used, or None: NaN compares false with every limit, so a
    NaN reading would never breach one (and infinity cannot be recorded)."""
    for what, value in (("canary", canary), ("control", control)):
        if value is not None and not math.isfinite(value):
            return f"KPI {name}: the {what} reading {value} is not a finite number"
    return None


def breach(limit: KpiLimit, reading: KpiReading) -> str | None:
    """Why ``reading`` violates ``limit``, or None; relative limits need a control value."""
    v, c = reading.canary, reading.control
    if limit.max is not None and v > limit.max:
        return f"{limit.name} = {v:.6g} > max {limit.max:.6g}"
    if limit.min is not None and v < limit.min:
        return f"{limit.name} = {v:.6g} < min {limit.min:.6g}"
    if c is not None and c != 0:
        change = (v - c) / abs(c)
        if limit.max_relative_drop is not None and -change > limit.max_relative_drop:
            return (
                f"{limit.name} dropped {-change:.2%} vs control ({v:.6g} vs {c:.6g}), "
                f"limit {limit.max_relative_drop:.2%}"
            )
        if limit.max_relative_increase is not None and change > limit.max_relative_increase:
            return (
                f"{limit.name} rose {change:.2%} vs control ({v:.6g} vs {c:.6g}), "
                f"limit {limit.max_relative_increase:.2%}"
            )
    return None


def _only_relative(limit: KpiLimit) -> bool:
    return limit.max is None and limit.min is None


def _needs_control(limit: KpiLimit) -> bool:
    return limit.max_relative_drop is not None or limit.max_relative_increase is not None


def assess(
    plan: RolloutPlan,
    step: int,
    step_started_at: dt.datetime,
    readings: Mapping[str, KpiReading],
    now: dt.datetime,
    *,
    has_control: bool = True,
) -> Verdict:
    """What to do next. Without a control version (a first release) limits relative to the
    control cannot be measured and are not waited for; absolute limits still apply."""
    current = plan.steps[step]
    found = [b for lim in plan.kpis if (r := readings.get(lim.name)) and (b := breach(lim, r))]
    if found:
        return Verdict("rollback", "; ".join(found), step, current.traffic, found)
    fresh = {name for name, r in readings.items() if r.at >= step_started_at}
    needed = [lim for lim in plan.kpis if has_control or not _only_relative(lim)]
    missing = [
        lim.name
        for lim in needed
        if lim.name not in fresh
        or (has_control and _needs_control(lim) and readings[lim.name].control is None)
    ]
    due = step_started_at + parse_duration(current.min_duration)
    if now < due:
        hours = (due - now).total_seconds() / 3600
        return Verdict(
            "hold",
            f"step {step + 1} at {current.traffic:.0%} until {due:%Y-%m-%d %H:%M} "
            f"UTC ({hours:.1f} h left)",
            step,
            current.traffic,
        )
    if missing:
        return Verdict(
            "hold",
            f"waiting for KPI readings during this step: {', '.join(missing)}",
            step,
            current.traffic,
        )
    if step + 1 < len(plan.steps):
        nxt = plan.steps[step + 1]
        return Verdict(
            "advance",
            f"step {step + 1} held its KPIs; moving to {nxt.traffic:.0%}",
            step + 1,
            nxt.traffic,
        )
    return Verdict("complete", "every step held its KPIs", step, current.traffic)
