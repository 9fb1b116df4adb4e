"""Canary triggers end to end: inclusive thresholds, sustained windows, error budgets, and KPIs
pulled by ``tick`` from a real Prometheus-compatible HTTP server (``RecordedPrometheus``)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from clearance.testing.prometheus import RecordedPrometheus

from .conftest import MODEL, Env, policy_doc

ERRORS = 'sum(rate(requests_total{track="canary",code=~"5.."}[5m])) / sum(rate(requests_total{track="canary"}[5m]))'  # noqa: E501
CTR = 'sum(rate(clicks_total{track="canary"}[10m])) / sum(rate(impressions_total{track="canary"}[10m]))'  # noqa: E501
CTR_CONTROL = CTR.replace('"canary"', '"control"')
P95 = "1000 * histogram_quantile(0.95, sum by (le) (rate(duration_seconds_bucket[5m])))"


def with_rollout(rollout: dict[str, Any], version: str = "1.1.0") -> dict[str, Any]:
    doc = copy.deepcopy(policy_doc())
    doc["metadata"]["version"] = version
    doc["workflow"]["transitions"][1]["rollout"] = rollout
    return doc


def observe(env: Env, **readings: float | tuple[float, float]) -> Any:
    pairs = {k: v if isinstance(v, tuple) else (v, None) for k, v in readings.items()}
    return env.ws.rollouts.observe(MODEL, pairs, actor="frank")[1]


def test_an_error_rate_of_exactly_the_threshold_rolls_back(env: Env) -> None:
    env.apply(
        with_rollout(
            {
                "steps": [{"traffic": 0.1, "min_duration": "48h"}],
                "kpis": [{"name": "error_rate", "rollback_when": ">= 0.5%"}],
            }
        )
    )
    env.approved("1")
    env.ws.rollouts.start(MODEL, "1", actor="frank")
    assert observe(env, error_rate=0.0049).action == "hold"
    env.clock.advance(minutes=1)
    verdict = observe(env, error_rate=0.005)
    assert verdict.action == "rollback"
    assert verdict.breaches == ["error_rate = 0.005 (rollback when >= 0.5%)"]
    assert env.ws.rollouts.status(MODEL).status == "rolled_back"


@pytest.mark.backends("memory", "sqlite")  # readings_since through SQL too
def test_p95_over_200_ms_for_15_minutes_rolls_back_only_when_sustained(env: Env) -> None:
    env.apply(with_rollout({"steps": [{"traffic": 0.1, "min_duration": "48h"}],
                            "kpis": [{"name": "latency_p95_ms", "rollback_when": "> 200",
                                      "for": "15m"}]}))  # fmt: skip
    env.approved("1")
    env.ws.rollouts.start(MODEL, "1", actor="frank")
    # every five minutes; a dip at minute 10 breaks the run
    for p95 in (250, 250, 190, 260, 260, 260):
        assert observe(env, latency_p95_ms=p95).action == "hold"
        env.clock.advance(minutes=4)
        assert env.tick() == []  # [now - 15m, now] still reaches back to the dip (or before)
        env.clock.advance(minutes=1)
    # minute 30: the readings of minutes 15 to 30 are all over 200
    [action] = env.tick()
    assert ": rollback: latency_p95_ms = 260 (rollback when > 200), held for 15m" in action
    [event] = [e for e in env.events() if e.action == "rollout.rolled_back"]
    assert event.actor == "clearance-tick"
    assert event.payload["breaches"] == [
        "latency_p95_ms = 260 (rollback when > 200), held for 15m (3 readings)"
    ]


def test_a_canary_burning_its_error_budget_twice_as_fast_rolls_back(env: Env) -> None:
    env.apply(with_rollout({
        "steps": [{"traffic": 0.1, "min_duration": "48h"}],
        "kpis": [{"name": "error_rate", "rollback_when": ">= 0.5%"}],
        "error_budgets": [{"kpi": "error_rate", "objective": "99.9%", "window": "1h",
                           "rollback_when": "burn_rate >= 2"}],
    }))  # fmt: skip
    env.approved("1")
    env.ws.rollouts.start(MODEL, "1", actor="frank")
    for _ in range(6):  # 0.2 % errors: under the 0.5 % trigger, twice the budget's pace
        assert observe(env, error_rate=0.002).action == "hold"
        env.clock.advance(minutes=10)
    env.clock.advance(minutes=-1)
    assert env.tick() == []  # 59 minutes of readings do not cover the hour
    env.clock.advance(minutes=1)
    [action] = env.tick()
    assert action.endswith(
        "rollback: error budget of error_rate (99.9% over 1h): error ratio 0.002, "
        "burn rate 2 (rollback when burn_rate >= 2)"
    )


# --- pulled from Prometheus -------------------------------------------------------------


@pytest.fixture
def prometheus() -> Iterator[RecordedPrometheus]:
    with RecordedPrometheus() as server:
        yield server


def pulled_plan(env: Env, prometheus: RecordedPrometheus) -> None:
    (env.ws.home / "prometheus.yaml").write_text(f"url: {prometheus.url}\nstep: 1m\n")
    env.apply(with_rollout({
        "steps": [{"traffic": 0.1, "min_duration": "1h"}, {"traffic": 1.0}],
        "kpis": [
            {"name": "ctr", "rollback_when": "drop >= 1%",
             "source": {"prometheus": {"query": CTR, "control_query": CTR_CONTROL}}},
            {"name": "error_rate", "rollback_when": "error_rate >= 0.5%",
             "source": {"prometheus": {"query": ERRORS}}},
            {"name": "latency_p95_ms", "rollback_when": "> 200", "for": "15m",
             "source": {"prometheus": {"query": P95}}},
        ],
    }))  # fmt: skip


def record(prom: RecordedPrometheus, query: str, start: dt.datetime, values: list[float]) -> None:
    prom.clear(query)
    prom.record(query, [(start + dt.timedelta(minutes=i), v) for i, v in enumerate(values)])


def test_tick_pulls_the_kpis_from_prometheus_and_rolls_back_at_exactly_the_threshold(
    env: Env, prometheus: RecordedPrometheus
) -> None:
    env.canary_to_production("1")  # the control, on the first policy
    pulled_plan(env, prometheus)
    env.approved("2")
    started = env.ws.rollouts.start(MODEL, "2", actor="frank").started_at
    before = env.event_count()
    t0 = started - dt.timedelta(hours=1)  # the series began before the canary
    record(prometheus, CTR, t0, [0.050] * 240)
    record(prometheus, CTR_CONTROL, t0, [0.050] * 240)
    record(prometheus, ERRORS, t0, [0.001] * 240)
    record(prometheus, P95, t0, [120.0] * 240)

    env.clock.advance(minutes=30)
    assert env.tick() == []  # healthy, inside the step's hour
    asked = prometheus.requests[-1]
    assert asked.path == "/api/v1/query_range" and asked.params["step"] == "60"
    assert float(asked.params["end"]) == (started + dt.timedelta(minutes=30)).timestamp()
    # the 15-minute window and one step more, so that a point stands at the window's start
    assert float(asked.params["end"]) - float(asked.params["start"]) == 16 * 60
    assert {a.params["query"] for a in prometheus.requests} == {CTR, CTR_CONTROL, ERRORS, P95}

    env.clock.advance(minutes=31)
    [advanced] = env.tick()
    assert ": advance: step 1 held its KPIs; moving to 100%" in advanced
    [event] = [e for e in env.events(after=before) if e.action == "rollout.advanced"]
    assert event.payload["pulled"]["error_rate"]["canary"] == 0.001
    assert event.payload["pulled"]["ctr"]["control"] == 0.050

    # from minute 121 of the series on (the advance happened at 120), 0.5 % errors exactly
    record(prometheus, ERRORS, t0, [0.001] * 121 + [0.005] * 119)
    env.clock.advance(minutes=1)
    [rolled] = env.tick()
    assert rolled.endswith("rollback: error_rate = 0.005 (rollback when error_rate >= 0.5%)")
    assert env.stage_of("2") == "staging" and env.stage_of("1") == "production"
    [event] = [e for e in env.events(after=before) if e.action == "rollout.rolled_back"]
    assert event.payload["pulled"]["error_rate"]["canary"] == 0.005


def test_a_pulled_ctr_drop_of_one_percent_against_the_control_rolls_back(
    env: Env, prometheus: RecordedPrometheus
) -> None:
    env.canary_to_production("1")
    pulled_plan(env, prometheus)
    env.approved("2")
    started = env.ws.rollouts.start(MODEL, "2", actor="frank").started_at
    record(prometheus, CTR, started, [0.050] * 5 + [0.0495] * 5)
    record(prometheus, CTR_CONTROL, started, [0.050] * 10)
    record(prometheus, ERRORS, started, [0.001] * 10)
    record(prometheus, P95, started, [230.0] * 10)  # over 200, but not for 15 minutes yet
    env.clock.advance(minutes=4)
    assert env.tick() == []
    env.clock.advance(minutes=1)
    [rolled] = env.tick()
    assert rolled.endswith(
        "rollback: ctr dropped 1.00% vs control (0.0495 vs 0.05) (rollback when drop >= 1%)"
    )


def test_kpis_that_cannot_be_pulled_are_reported_and_the_canary_holds(
    env: Env, prometheus: RecordedPrometheus
) -> None:
    pulled_plan(env, prometheus)
    env.approved("1")
    env.ws.rollouts.start(MODEL, "1", actor="frank")
    env.clock.advance(hours=2)
    prometheus.fail(ERRORS, 422, "1:5: parse error: unexpected character", "execution")
    lines = env.tick()
    assert lines == [
        f"rollout 1 ({MODEL}): KPI error_rate not pulled: Prometheus at {prometheus.url} "
        f"refused {ERRORS!r} (HTTP 422): execution: 1:5: parse error: unexpected character"
    ]
    assert env.ws.rollouts.status(MODEL).step == 1  # unobserved KPIs: never advance blind

    (env.ws.home / "prometheus.yaml").write_text("url: prometheus:9090\n")
    [line] = env.tick()
    assert line.startswith(f"model {MODEL}: KPIs not pulled: ")
    assert "prometheus.yaml:1:6: error: url: 'prometheus:9090' is not an http(s) URL" in line

    (env.ws.home / "prometheus.yaml").unlink()
    assert env.tick() == [
        f"model {MODEL}: KPIs not pulled: the rollout pulls them from Prometheus, but this "
        "workspace has no .clearance/prometheus.yaml (docs/rollouts.md)"
    ]
    # pushed readings still count for a pulled KPI
    verdict = observe(env, error_rate=0.006, ctr=0.05, latency_p95_ms=100)
    assert verdict.action == "rollback" and verdict.breaches == [
        "error_rate = 0.006 (rollback when error_rate >= 0.5%)"
    ]
