"""Canary rollouts as a pure state machine: hold, advance, complete or roll back.

Given the plan, where the rollout stands, each KPI's readings and the clock, ``assess`` says
what to do next. Any trigger that fires rolls back at once. A step advances only when its
minimum duration has passed *and* every KPI has been observed during the step: a canary
that nobody measured never ramps up on its own.

How triggers read the readings (docs/rollouts.md):

- A reading stands from its time until the next reading of the same KPI (a step function).
- A trigger without ``for`` looks at the latest reading only.
- A trigger with ``for: 15m`` fires when its condition held over the whole window
  ``[now - 15m, now]``: the reading standing at the window's start and every reading since
  all meet it. Before a reading stands at the window's start the window is not covered, and
  the trigger cannot fire yet.
- An error budget's error ratio is the time-weighted mean of its KPI over its window (each
  reading weighted by how long it stood), once a reading stands at the window's start; the
  burn rate is that ratio / (1 - objective).

Comparisons are exact on the decimals as written and as read: ``>= 0.005`` fires at a
reading of 0.005, and ``drop >= 1%`` at a CTR of 0.0495 against 0.05.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Literal

from clearance.core.durations import parse_duration
from clearance.core.policy import Condition, ErrorBudget, KpiLimit, RolloutPlan

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


def exact(value: float) -> Decimal:
    """The decimal a float was written as (its shortest repr), not its binary expansion."""
    return Decimal(repr(float(value)))


def observed(condition: Condition, reading: KpiReading) -> Decimal | None:
    """What ``condition`` compares for this reading; None when it cannot be measured (a
    relative condition without a control reading, or a control of 0)."""
    canary = exact(reading.canary)
    if condition.subject == "value":
        return canary
    if reading.control is None or reading.control == 0:
        return None
    control = exact(reading.control)
    with localcontext(prec=34):
        drop = (control - canary) / abs(control)
    return drop if condition.subject == "drop" else -drop


def _message(limit: KpiLimit, condition: Condition, reading: KpiReading, value: Decimal) -> str:
    name, v, c = limit.name, reading.canary, reading.control
    t = condition.threshold
    if condition.subject == "value":
        if condition.bound:
            side = "max" if condition.op == ">" else "min"
            return f"{name} = {v:.6g} {condition.op} {side} {t:.6g}"
        return f"{name} = {v:.6g} (rollback when {condition.text})"
    verb = "dropped" if condition.subject == "drop" else "rose"
    head = f"{name} {verb} {value:.2%} vs control ({v:.6g} vs {c:.6g})"
    if condition.bound:
        return f"{head}, limit {t:.2%}"
    return f"{head} (rollback when {condition.text})"


def breach(limit: KpiLimit, reading: KpiReading) -> str | None:
    """Why this one reading meets a trigger of ``limit`` (its window aside), or None."""
    for condition in limit.conditions():
        value = observed(condition, reading)
        if value is not None and condition.holds(value):
            return _message(limit, condition, reading, value)
    return None


def standing(history: Sequence[KpiReading], start: dt.datetime, now: dt.datetime) -> (
    list[KpiReading] | None
):  # fmt: skip
    """The readings that stand over ``[start, now]``: the one standing at ``start`` and every
    later one up to ``now``, in time order; None when no reading stands at ``start`` yet."""
    ordered = sorted((r for r in history if r.at <= now), key=lambda r: r.at)  # stable
    anchor = None
    for i, r in enumerate(ordered):
        if r.at <= start:
            anchor = i
    if anchor is None:
        return None
    return ordered[anchor:]


def sustained(
    condition: Condition, history: Sequence[KpiReading], now: dt.datetime, window: dt.timedelta
) -> list[KpiReading] | None:
    """The readings over which ``condition`` held for the whole ``window`` up to ``now``, or
    None: it did not, or no reading stands at the window's start yet."""
    stood = standing(history, now - window, now)
    if stood is None:
        return None
    for r in stood:
        value = observed(condition, r)
        if value is None or not condition.holds(value):
            return None
    return stood


def kpi_breaches(limit: KpiLimit, history: Sequence[KpiReading], now: dt.datetime) -> list[str]:
    """Every trigger of ``limit`` that fires on ``history`` at ``now``."""
    found = []
    window = parse_duration(limit.for_) if limit.for_ is not None else None
    for condition in limit.conditions():
        stood = sustained(condition, history, now, window or dt.timedelta())
        if stood is None:
            continue
        last = stood[-1]
        value = observed(condition, last)
        assert value is not None
        text = _message(limit, condition, last, value)
        if window is not None:
            text += f", held for {limit.for_} ({len(stood)} readings)"
        found.append(text)
    return found


def error_ratio(
    history: Sequence[KpiReading], now: dt.datetime, window: dt.timedelta
) -> Decimal | None:
    """The time-weighted mean canary reading over ``[now - window, now]``, or None while no
    reading stands at the window's start."""
    start = now - window
    stood = standing(history, start, now)
    if stood is None:
        return None
    if window <= dt.timedelta():
        return exact(stood[-1].canary)
    micros = _micros(window)
    total = Decimal(0)
    with localcontext(prec=50):
        for r, nxt in zip(stood, [*stood[1:], None], strict=True):
            begin = max(r.at, start)
            end = nxt.at if nxt is not None else now
            total += exact(r.canary) * _micros(end - begin)
        return total / micros


def _micros(span: dt.timedelta) -> Decimal:
    return Decimal(span // dt.timedelta(microseconds=1))


def budget_breach(
    budget: ErrorBudget, history: Sequence[KpiReading], now: dt.datetime
) -> str | None:
    """Why the canary's burn rate of ``budget`` meets its trigger at ``now``, or None."""
    ratio = error_ratio(history, now, parse_duration(budget.window))
    if ratio is None:
        return None
    with localcontext(prec=34):
        burn = ratio / (1 - exact(budget.objective))
    condition = budget.condition()
    if not condition.holds(burn):
        return None
    return (
        f"error budget of {budget.kpi} ({(exact(budget.objective) * 100).normalize():f}% over "
        f"{budget.window}): error ratio {ratio:.6g}, burn rate {burn:.4g} "
        f"(rollback when {condition.text})"
    )


def _only_relative(limit: KpiLimit) -> bool:
    return all(c.subject != "value" for c in limit.conditions()) and bool(limit.conditions())


def _needs_control(limit: KpiLimit) -> bool:
    return any(c.subject != "value" for c in limit.conditions())


def breaches(
    plan: RolloutPlan, readings: Mapping[str, Sequence[KpiReading]], now: dt.datetime
) -> list[str]:
    """Every KPI trigger and error budget of ``plan`` that fires at ``now``."""
    found = [b for lim in plan.kpis for b in kpi_breaches(lim, readings.get(lim.name, ()), now)]
    for budget in plan.error_budgets:
        if (b := budget_breach(budget, readings.get(budget.kpi, ()), now)) is not None:
            found.append(b)
    return found


def assess(
    plan: RolloutPlan,
    step: int,
    step_started_at: dt.datetime,
    readings: Mapping[str, Sequence[KpiReading]],
    now: dt.datetime,
    *,
    has_control: bool = True,
) -> Verdict:
    """What to do next, from each KPI's readings (time order; at least those standing over
    the plan's longest window). Without a control version (a first release) limits relative
    to the control cannot be measured and are not waited for; absolute limits still apply.

    A reading counts for the step when taken during it: at or after the start of the first
    step, strictly after the start of a later one (a reading taken at the instant a step
    began measured the previous traffic share)."""
    current = plan.steps[step]
    found = breaches(plan, readings, now)
    if found:
        return Verdict("rollback", "; ".join(found), step, current.traffic, found)
    latest = {name: rs[-1] for name, rs in readings.items() if rs}
    fresh = {
        name
        for name, r in latest.items()
        if r.at > step_started_at or (step == 0 and r.at == step_started_at)
    }
    needed = [lim for lim in plan.kpis if has_control or not _only_relative(lim)]
    missing = [
        lim.name
        for lim in needed
        if lim.name not in fresh
        or (has_control and _needs_control(lim) and latest[lim.name].control is None)
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
