"""Canary triggers as written: inclusive and exclusive comparisons, ``for`` windows over a
step function of readings, relative changes against the control, and error budgets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from clearance.core.policy import KpiLimit, RolloutPlan, parse_condition
from clearance.core.rollout import (
    KpiReading,
    assess,
    breach,
    budget_breach,
    error_ratio,
    kpi_breaches,
    sustained,
)

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
OPS = [">", ">=", "<", "<="]


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def reading(value: float, minutes: float, control: float | None = None, name: str = "k") -> Any:
    return KpiReading(name=name, canary=value, control=control, at=at(minutes))


def plan(**rollout: Any) -> RolloutPlan:
    return RolloutPlan.model_validate({"steps": [{"traffic": 0.1}], **rollout})


# --- the condition language -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "subject", "op", "threshold"),
    [
        (">= 0.005", "value", ">=", "0.005"),
        ("error_rate >= 0.5%", "value", ">=", "0.005"),
        ("error_rate ≥ 0.5 %", "value", ">=", "0.005"),
        ("value<200", "value", "<", "200"),
        ("drop >= 1%", "drop", ">=", "0.01"),
        ("rise > 10%", "rise", ">", "0.1"),
        ("≤ -2.5e-3", "value", "<=", "-0.0025"),
    ],
)
def test_conditions_parse_to_the_decimal_written(
    text: str, subject: str, op: str, threshold: str
) -> None:
    c = parse_condition(text, kpi="error_rate")
    assert (c.subject, c.op, c.threshold) == (subject, op, Decimal(threshold))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("== 0.5", "is not a condition like"),
        ("=> 0.5", "is not a condition like"),
        ("error_rate >=", "is not a condition like"),
        ("latency > 200", "unknown subject 'latency'; use one of drop, error_rate, rise, value"),
        ("burn_rate > 2", "unknown subject 'burn_rate'"),
        (">= 1" + "0" * 300, "at most 200 characters"),
    ],
)
def test_a_bad_condition_says_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_condition(text, kpi="error_rate")


@given(
    st.sampled_from(["", "value ", "k ", "drop ", "rise ", "k"]),
    st.sampled_from([">", ">=", "<", "<=", "≥", "≤"]),
    st.sampled_from(["", " ", "  "]),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9),
                max_value=10**9),
    st.booleans(),
)  # fmt: skip
def test_any_condition_written_in_the_grammar_parses_to_its_parts(
    subject: str, op: str, space: str, number: Decimal, percent: bool
) -> None:
    text = f"{subject}{op}{space}{number:f}{'%' if percent else ''}"
    c = parse_condition(text, kpi="k")
    assert c.subject == {"": "value", "k": "value"}.get(subject.strip(), subject.strip())
    assert c.op == {"≥": ">=", "≤": "<="}.get(op, op)
    assert c.threshold == (number / 100 if percent else number)
    assert c.text == text.strip()


def test_a_budget_condition_is_on_the_burn_rate() -> None:
    assert parse_condition(">= 2", budget=True).subject == "burn_rate"
    assert parse_condition("burn_rate > 14.4", budget=True).threshold == Decimal("14.4")
    with pytest.raises(ValueError, match="use one of burn_rate"):
        parse_condition("drop > 1", budget=True)


def test_the_plan_names_the_field_of_a_bad_trigger() -> None:
    with pytest.raises(ValidationError) as err:
        plan(kpis=[{"name": "ctr", "rollback_when": ["drop >= 1%", "fall > 1%"]}])
    [e] = err.value.errors()
    assert e["ctx"]["at"] == ("rollback_when", 1) and "unknown subject 'fall'" in e["msg"]
    with pytest.raises(ValidationError, match="give rollback_when, max, min"):
        plan(kpis=[{"name": "ctr"}])
    with pytest.raises(ValidationError, match="'errors' is not one of this rollout's kpis"):
        plan(
            kpis=[{"name": "ctr", "max": 1}],
            error_budgets=[{"kpi": "errors", "objective": 0.99, "window": "1h",
                            "rollback_when": ">= 1"}],
        )  # fmt: skip
    with pytest.raises(ValidationError, match="objective"):
        plan(
            kpis=[{"name": "e"}],
            error_budgets=[{"kpi": "e", "objective": "100%", "window": "1h",
                            "rollback_when": ">= 1"}],
        )  # fmt: skip


def test_a_budget_alone_is_enough_for_a_kpi_and_objectives_read_as_percentages() -> None:
    p = plan(
        kpis=[{"name": "e"}],
        error_budgets=[{"kpi": "e", "objective": "99.5%", "window": "1h", "rollback_when": ">= 2"}],
    )
    assert p.error_budgets[0].objective == 0.995
    assert p.windows() == [dt.timedelta(hours=1)]


# --- inclusive and exclusive, exactly ---------------------------------------------------

DECIMALS = st.builds(
    lambda m, e: Decimal(m).scaleb(e),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=-12, max_value=6),
)


@given(DECIMALS, st.booleans())
def test_a_reading_equal_to_the_threshold_meets_inclusive_and_misses_exclusive(
    threshold: Decimal, percent: bool
) -> None:
    text = f"{threshold * 100:f}%" if percent else f"{threshold:f}"
    r = reading(float(threshold), 0)
    for op, fires in ((">=", True), ("<=", True), (">", False), ("<", False)):
        limit = KpiLimit(name="k", rollback_when=[f"{op} {text}"])
        assert (breach(limit, r) is not None) is fires, (op, text)
    # the bounds written as max/min allow their own value
    assert breach(KpiLimit(name="k", max=float(threshold)), r) is None
    assert breach(KpiLimit(name="k", min=float(threshold)), r) is None


@given(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=0, max_value=10**4),
)
def test_a_drop_of_exactly_the_share_written_meets_drop_at_least(c: int, p: int) -> None:
    control, share = Decimal(c).scaleb(-4), Decimal(p).scaleb(-4)
    canary = control - control * share
    r = reading(float(canary), 0, control=float(control))
    at_least = KpiLimit(name="k", rollback_when=[f"drop >= {share:f}"])
    more_than = KpiLimit(name="k", rollback_when=[f"drop > {share:f}"])
    assert breach(at_least, r) is not None
    assert breach(more_than, r) is None
    assert breach(KpiLimit(name="k", max_relative_drop=float(share)), r) is None


def test_seed_004_ctr_and_error_rate_at_their_boundaries() -> None:
    ctr = KpiLimit(name="ctr", rollback_when=["drop >= 1%"])
    assert breach(ctr, reading(0.0495, 0, 0.05)) == (
        "ctr dropped 1.00% vs control (0.0495 vs 0.05) (rollback when drop >= 1%)"
    )
    assert breach(ctr, reading(0.04951, 0, 0.05)) is None
    # in binary floating point this drop is 0.009999999999999966: compared as written, 1%
    assert breach(ctr, reading(0.1287, 0, 0.13)) is not None
    assert breach(ctr, reading(0.0495, 0, None)) is None  # no control: cannot be measured
    assert breach(ctr, reading(0.0495, 0, 0.0)) is None
    errors = KpiLimit(name="error_rate", rollback_when="error_rate >= 0.5%")
    assert breach(errors, reading(0.005, 0)) == "error_rate = 0.005 (rollback when " + (
        "error_rate >= 0.5%)"
    )
    assert breach(errors, reading(0.0049999, 0)) is None
    # the old spelling still means "at most": 0.005 is allowed, as it always was
    assert breach(KpiLimit(name="error_rate", max=0.005), reading(0.005, 0)) is None
    assert breach(KpiLimit(name="error_rate", max=0.005), reading(0.0051, 0)) == (
        "error_rate = 0.0051 > max 0.005"
    )


# --- windows ----------------------------------------------------------------------------

OVER = KpiLimit(name="p95", rollback_when="> 200", **{"for": "15m"})
[OVER_200] = OVER.conditions()


def test_p95_over_200_for_15_minutes_needs_every_reading_of_the_window() -> None:
    history = [reading(v, m) for m, v in [(0, 250), (5, 250), (10, 190), (15, 260), (20, 260)]]
    # not covered yet: nothing stood at minute -1
    assert sustained(OVER_200, history, at(14), dt.timedelta(minutes=15)) is None
    # the dip at minute 10 stands at the start of [10, 25] and of [14, 29]
    for now in (25, 29):
        assert sustained(OVER_200, [*history, reading(260, now)], at(now), WINDOW) is None
    # [15, 30]: the reading of minute 15 stands at the start, all over 200
    stood = sustained(OVER_200, [*history, reading(260, 25)], at(30), WINDOW)
    assert stood is not None and [r.at for r in stood] == [at(15), at(20), at(25)]
    assert kpi_breaches(OVER, [*history, reading(260, 25)], at(30)) == [
        "p95 = 260 (rollback when > 200), held for 15m (3 readings)"
    ]
    # exactly 200 is not over 200
    flat = [reading(200, m) for m in range(0, 31, 5)]
    assert kpi_breaches(OVER, flat, at(30)) == []


WINDOW = dt.timedelta(minutes=15)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[KpiReading], int, int]:
    minutes = draw(st.lists(st.integers(0, 60), unique=True, max_size=12))
    values = draw(st.lists(st.sampled_from([150.0, 200.0, 250.0]), min_size=len(minutes),
                           max_size=len(minutes)))  # fmt: skip
    now = draw(st.integers(0, 70))
    window = draw(st.integers(0, 40))
    return [reading(v, m) for m, v in zip(minutes, values, strict=True)], now, window


@given(histories())
def test_sustained_means_over_200_at_every_minute_of_the_window(
    case: tuple[list[KpiReading], int, int],
) -> None:
    """The oracle samples the step function (a reading stands until the next) each minute."""
    history, now, window = case

    def standing_at(minute: int) -> KpiReading | None:
        before = [r for r in history if r.at <= at(minute)]
        return max(before, key=lambda r: r.at) if before else None

    every = [standing_at(m) for m in range(now - window, now + 1)]
    expected = all(r is not None and r.canary > 200 for r in every)
    got = sustained(OVER_200, history, at(now), dt.timedelta(minutes=window))
    assert (got is not None) is expected


@given(histories(), st.integers(0, 40))
def test_a_condition_held_over_a_window_held_over_every_shorter_one(
    case: tuple[list[KpiReading], int, int], shorter: int
) -> None:
    history, now, window = case
    if sustained(OVER_200, history, at(now), dt.timedelta(minutes=window)) is not None:
        span = dt.timedelta(minutes=min(shorter, window))
        assert sustained(OVER_200, history, at(now), span) is not None


@given(histories(), st.integers(0, 70))
def test_one_healthy_reading_inside_the_window_stops_the_breach(
    case: tuple[list[KpiReading], int, int], minute: int
) -> None:
    history, now, window = case
    if now - window <= minute <= now:
        healthy = [*history, reading(150.0, minute)]
        assert sustained(OVER_200, healthy, at(now), dt.timedelta(minutes=window)) is None


def test_readings_after_now_are_not_read() -> None:
    assert sustained(OVER_200, [reading(250, 0), reading(150, 20)], at(15), WINDOW) is not None


# --- error budgets ----------------------------------------------------------------------


def test_the_error_ratio_is_time_weighted_over_the_window() -> None:
    history = [reading(0.0, -10), reading(0.01, 30), reading(0.04, 45)]
    # [0, 60]: 0 for 30 min, 0.01 for 15, 0.04 for 15 -> (0.15 + 0.6) / 60
    assert error_ratio(history, at(60), dt.timedelta(hours=1)) == Decimal("0.0125")
    assert error_ratio(history, at(49), dt.timedelta(hours=1)) is None  # nothing at -11
    # [-10, 50] from its first instant: 0 for 40 min, 0.01 for 15, 0.04 for 5 -> 0.35 / 60
    ratio = error_ratio(history, at(50), dt.timedelta(hours=1))
    assert ratio is not None and abs(ratio - Decimal("0.35") / 60) < Decimal("1e-25")
    assert error_ratio(history, at(50), dt.timedelta()) == Decimal("0.04")


def test_a_burn_rate_of_exactly_the_threshold_rolls_back() -> None:
    def budget(condition: str) -> Any:
        return plan(
            kpis=[{"name": "e"}],
            error_budgets=[
                {"kpi": "e", "objective": "99.9%", "window": "1h", "rollback_when": condition}
            ],
        ).error_budgets[0]

    twice = [reading(0.002, m) for m in range(0, 61, 10)]  # 0.002 / 0.001 = exactly 2
    assert budget_breach(budget(">= 2"), twice, at(60)) == (
        "error budget of e (99.9% over 1h): error ratio 0.002, burn rate 2 (rollback when >= 2)"
    )
    assert budget_breach(budget("> 2"), twice, at(60)) is None
    assert budget_breach(budget(">= 2"), twice, at(59)) is None  # the window is not covered
    below = [reading(0.0019, m) for m in range(0, 61, 10)]
    assert budget_breach(budget(">= 2"), below, at(60)) is None


# --- assess -----------------------------------------------------------------------------


def test_assess_rolls_back_on_a_sustained_trigger_and_otherwise_waits_its_time() -> None:
    p = RolloutPlan.model_validate(
        {
            "steps": [{"traffic": 0.1, "min_duration": "1h"}, {"traffic": 1.0}],
            "kpis": [{"name": "p95", "rollback_when": "> 200", "for": "15m"}],
        }
    )
    spikes = {"p95": [reading(260, 0, name="p95"), reading(150, 5, name="p95")]}
    assert assess(p, 0, T0, spikes, at(20)).action == "hold"
    assert assess(p, 0, T0, spikes, at(61)).action == "advance"
    high = {"p95": [reading(260, m, name="p95") for m in range(0, 16, 5)]}
    verdict = assess(p, 0, T0, high, at(15))
    assert verdict.action == "rollback" and verdict.breaches == [
        "p95 = 260 (rollback when > 200), held for 15m (4 readings)"
    ]
    # a reading at the instant a later step began measured the step before: not fresh
    later = {"p95": [reading(150, 61, name="p95")]}
    assert assess(p, 1, at(61), later, at(62)).action == "hold"
    assert assess(p, 1, at(61), {"p95": [reading(150, 62, name="p95")]}, at(62)).action == (
        "complete"
    )
