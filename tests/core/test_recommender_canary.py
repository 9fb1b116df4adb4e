"""examples/recommender/policy.yaml's canary does what seed 004 asks, boundary by boundary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from clearance.core.loading import load_policy
from clearance.core.policy import RolloutPlan
from clearance.core.rollout import KpiReading, assess

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HEALTHY = {"ctr": (0.050, 0.050), "error_rate": (0.001, None), "latency_p95_ms": (120.0, None)}


@pytest.fixture(scope="module")
def plan() -> RolloutPlan:
    loaded = load_policy(ROOT / "examples" / "recommender" / "policy.yaml")
    assert loaded.version == "1.1.0"
    rollout = loaded.policy.transition("staging", "production")
    assert rollout is not None and rollout.rollout is not None
    return rollout.rollout


def history(minutes: int, **changed: tuple[float, float | None]) -> dict[str, list[KpiReading]]:
    """A reading of every KPI each minute from T0 to T0 + ``minutes``; the last ones changed."""
    values = {**HEALTHY, **changed}
    out: dict[str, list[KpiReading]] = {}
    for name, (canary, control) in HEALTHY.items():
        out[name] = [
            KpiReading(name, canary, control, T0 + dt.timedelta(minutes=m)) for m in range(minutes)
        ]
        last_canary, last_control = values[name]
        out[name].append(
            KpiReading(name, last_canary, last_control, T0 + dt.timedelta(minutes=minutes))
        )
    return out


def verdict(plan: RolloutPlan, minutes: int, **changed: tuple[float, float | None]) -> str:
    now = T0 + dt.timedelta(minutes=minutes)
    return assess(plan, 0, T0, history(minutes, **changed), now).action


def test_ten_percent_for_48_hours_then_everyone(plan: RolloutPlan) -> None:
    assert [(s.traffic, s.min_duration) for s in plan.steps] == [(0.1, "48h"), (1.0, "0m")]
    assert verdict(plan, 60) == "hold"
    assert verdict(plan, 48 * 60) == "advance"


@pytest.mark.parametrize(
    ("kpi", "reading", "action"),
    [
        ("ctr", (0.0495, 0.050), "rollback"),  # a drop of exactly 1%
        ("ctr", (0.04951, 0.050), "hold"),
        ("error_rate", (0.005, None), "rollback"),  # exactly 0.5%
        ("error_rate", (0.00499, None), "hold"),
        ("latency_p95_ms", (250.0, None), "hold"),  # one slow minute is no trigger
    ],
)
def test_the_seed_triggers_fire_at_their_boundaries(
    plan: RolloutPlan, kpi: str, reading: tuple[float, float | None], action: str
) -> None:
    assert verdict(plan, 60, **{kpi: reading}) == action


def test_p95_over_200_ms_for_15_minutes_rolls_back(plan: RolloutPlan) -> None:
    readings = history(60)
    slow = [
        KpiReading("latency_p95_ms", 201.0, None, T0 + dt.timedelta(minutes=m))
        for m in range(46, 61)
    ]
    readings["latency_p95_ms"] = readings["latency_p95_ms"][:46] + slow
    now = T0 + dt.timedelta(minutes=60)
    # minutes 46 to 60 over 200, but minute 45's 120 ms stood at the window's start
    assert assess(plan, 0, T0, readings, now).action == "hold"
    readings["latency_p95_ms"][45] = KpiReading(
        "latency_p95_ms", 201.0, None, T0 + dt.timedelta(minutes=45)
    )
    assert assess(plan, 0, T0, readings, now).action == "rollback"  # minutes 45 to 60


def test_the_error_budget_rolls_back_a_steady_0_2_percent_after_six_hours(
    plan: RolloutPlan,
) -> None:
    steady = {
        name: [
            KpiReading(
                name, 0.002 if name == "error_rate" else c, ctl, T0 + dt.timedelta(minutes=m)
            )
            for m in range(0, 361, 5)
        ]
        for name, (c, ctl) in HEALTHY.items()
    }
    six_hours = T0 + dt.timedelta(hours=6)
    result = assess(plan, 0, T0, steady, six_hours)
    assert result.action == "rollback"
    assert result.breaches == [
        "error budget of error_rate (99.9% over 6h): error ratio 0.002, burn rate 2 "
        "(rollback when burn_rate >= 2)"
    ]
    assert assess(plan, 0, T0, steady, six_hours - dt.timedelta(minutes=1)).action == "hold"
