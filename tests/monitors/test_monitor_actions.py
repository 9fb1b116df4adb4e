"""The other actions and paths: fallback, a retrain request to its named webhook, dry runs,
a missing batch, a glob of batches, ``tick`` running the due monitors, and KPI monitors
reading a real (recorded) Prometheus."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from clearance.core.results import GateStatus
from receivers import HttpReceiver

from .conftest import MODEL, Env, monitor, policy_doc


def test_fallback_serves_the_previous_version_and_keeps_the_failing_one_a_candidate(
    env: Env, http_receivers: Callable[[], HttpReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    http = http_receivers()
    env.webhook(http, monkeypatch)
    env.apply(policy_doc(monitor(on_fail=["alert", "fallback"], **{"for": None})))
    env.to_production("1")
    env.to_production("2")
    env.batch(shift=3.0)
    [r] = env.ws.monitors.run().results
    assert r.actions == ["alert", "fallback"] and r.notes[-1] == "fell back from 2 to 1"
    # 2 returns to the stage it was promoted from (not retired): it may be promoted again
    assert (env.stage_of("1"), env.stage_of("2")) == ("production", "staging")
    assert env.ws.rollouts.serving(MODEL).champion == "1"
    [fell] = [e for e in env.events() if e.action == "model.fell_back"]
    assert "monitor input_drift" in fell.payload["reason"]
    assert [h.headers["x-clearance-event"] for h in http.at("/ops")] == [
        "monitor_failed",
        "rolled_back",
    ]
    assert json.loads(http.at("/ops")[1].body)["details"]["fallback"] is True
    report = env.ws.auditing.verify()
    assert report.ok, [d.message for d in report.differences]


def test_retrain_posts_to_the_named_webhook_once_per_streak(
    env: Env, http_receivers: Callable[[], HttpReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    http = http_receivers()
    env.webhook(http, monkeypatch)
    spec = monitor(on_fail=["retrain"], retrain={"channel": "retrain-hook"}, **{"for": "1h"})
    env.apply(policy_doc(spec))
    env.to_production("1")
    taken = []
    for _ in range(4):  # runs at 0h, 1h, 2h, 3h: sustained from the second one
        env.batch(shift=3.0)
        [r] = env.ws.monitors.run().results
        taken.append(r.actions)
        env.clock.advance(hours=1)
    assert taken == [[], ["retrain"], [], []]
    [hook] = http.at("/retrain")
    assert hook.headers["x-clearance-event"] == "retrain_requested"
    body = json.loads(hook.body)
    assert body["model"] == MODEL and body["details"]["monitor"] == "input_drift"
    assert "for 1h" in body["summary"]
    assert env.stage_of("1") == "production"  # retraining moves nothing


def test_a_dry_run_records_nothing_and_says_what_it_would_do(env: Env) -> None:
    env.apply(policy_doc(monitor(**{"for": None})))
    env.to_production("1")
    env.to_production("2")
    env.batch(shift=3.0)
    before = env.event_count()
    out = env.ws.monitors.run(dry_run=True)
    [r] = out.results
    assert out.dry_run and not r.recorded and r.actions == ["alert", "rollback"]
    assert env.event_count() == before and env.stage_of("2") == "production"
    assert env.alerts() == [a for a in env.alerts() if a["event"] != "monitor_failed"]


def test_no_batch_is_an_error_result_that_alerts_and_never_moves(env: Env) -> None:
    env.apply(policy_doc(monitor(data="nowhere/*.parquet", **{"for": None})))
    env.to_production("1")
    env.to_production("2")
    [r] = env.ws.monitors.run().results
    assert r.result.status is GateStatus.ERROR
    assert "no production batch at nowhere/*.parquet" in r.result.message
    assert r.actions == ["alert"] and env.stage_of("2") == "production"
    assert [a["event"] for a in env.alerts("monitor_failed")] == ["monitor_failed"]


def test_a_glob_picks_the_newest_batch(env: Env) -> None:
    env.apply(policy_doc(monitor(data="batches/*.parquet")))
    env.to_production("1")
    env.batch(shift=3.0)
    newest = env.batch(shift=0.0)
    [r] = env.ws.monitors.run().results
    assert r.result.status is GateStatus.PASS and r.batch is not None
    assert r.batch.uri == str(newest)


def test_tick_runs_the_due_monitors(env: Env) -> None:
    env.apply(policy_doc(monitor(**{"for": None})))
    env.to_production("1")
    env.to_production("2")
    env.batch(shift=3.0)
    summary = env.ws.scheduler.tick(operator=True)
    assert "monitor input_drift (fraud-scorer 2): fail; alert recorded; rolled back 2 → 1" in (
        summary.actions
    )
    assert env.stage_of("1") == "production"
    # the restored version has no runs yet: due at once (and with no earlier version to
    # restore, its failure alerts and leaves it serving)
    again = env.ws.scheduler.tick(operator=True)
    [line] = [a for a in again.actions if a.startswith("monitor ")]
    assert line.startswith(
        "monitor input_drift (fraud-scorer 1): fail; alert recorded; no rollback"
    )
    assert env.stage_of("1") == "production"
    third = env.ws.scheduler.tick(operator=True)  # nothing due within the cadence
    assert not any(a.startswith("monitor ") for a in third.actions)


def test_ungoverned_models_are_skipped_quietly_unless_named(env: Env) -> None:
    import yaml

    from clearance.errors import NotFound

    env.apply(policy_doc())
    other = env.tmp / "other.yaml"
    other.write_text(yaml.safe_dump({
        "apiVersion": "clearance/v1", "kind": "ModelManifest",
        "model": {"name": "churn", "risk_tier": "low"}, "version": "1",
    }))  # fmt: skip
    env.ws.registry.register(other, actor="alice")
    out = env.ws.monitors.run()
    assert (out.results, out.problems, out.not_due) == ([], [], 0)
    with pytest.raises(NotFound, match="churn"):
        env.ws.monitors.run(model="churn")


def test_a_kpi_monitor_reads_prometheus_and_rolls_back_on_a_sustained_breach(env: Env) -> None:
    from clearance.testing.prometheus import RecordedPrometheus

    query = 'sum(rate(errors{model="$model",version="$version"}[5m]))'
    spec = {"id": "error_rate", "kpi": {"query": query, "max": 0.01}, "every": "5m",
            "for": "10m", "on_fail": ["alert", "rollback"]}  # fmt: skip
    env.apply(policy_doc(spec))
    env.to_production("1")
    env.to_production("2")
    asked = 'sum(rate(errors{model="fraud-scorer",version="2"}[5m]))'
    t0 = env.clock.now()
    with RecordedPrometheus() as prom:
        readings = [
            (t0 + dt.timedelta(minutes=5 * i), v) for i, v in enumerate([0.002, 0.03, 0.04, 0.05])
        ]
        prom.record(asked, readings)
        (env.ws.home / "prometheus.yaml").write_text(f"url: {prom.url}\n")
        seen = []
        for _ in range(4):
            [r] = env.ws.monitors.run().results
            seen.append((r.result.status.value, r.result.observed, r.actions))
            env.clock.advance(minutes=5)
        assert [a.params["query"] for a in prom.requests] == [asked] * 4
    assert seen == [
        ("pass", 0.002, []),
        ("fail", 0.03, ["alert"]),
        ("fail", 0.04, []),  # failing for 5m of the 10m window
        ("fail", 0.05, ["rollback"]),
    ]
    assert env.stage_of("1") == "production"
    [rolled] = [e for e in env.events() if e.action == "model.rolled_back"]
    assert "monitor error_rate (kpi)" in rolled.payload["reason"]
    assert "error_rate = 0.05 violates <= 0.01" in rolled.payload["reason"]


def test_a_kpi_monitor_without_prometheus_is_an_error(env: Env) -> None:
    spec = {"id": "error_rate", "kpi": {"query": "up", "min": 1}, "every": "5m"}
    env.apply(policy_doc(spec))
    env.to_production("1")
    [r] = env.ws.monitors.run().results
    assert r.result.status is GateStatus.ERROR and "prometheus.yaml" in r.result.message
    assert r.actions == ["alert"]


def test_a_huge_result_is_recorded_with_its_summary_only() -> None:
    from clearance.service.monitors import MAX_DETAILS, _bounded

    columns = [{"column": f"c{i}", "psi": 0.5} for i in range(MAX_DETAILS // 10)]
    result = {"status": "fail", "details": {"columns": columns, "worst": [{"name": "c1"}]}}
    kept = _bounded(result)
    assert kept["details"] == {"worst": [{"name": "c1"}], "truncated": True}
    assert kept["status"] == "fail"
    small = {"status": "pass", "details": {"columns": columns[:3]}}
    assert _bounded(small) == small


def test_an_engine_reads_all_the_production_data_with_the_in_memory_result(env: Env) -> None:
    """``engine: duckdb``: the gate runs on every file of ``data`` with the aggregates pushed
    down (the registered reference, a stored Parquet blob, summarised by DuckDB too), and
    gives the result the in-memory monitor gives on the same rows."""
    pytest.importorskip("duckdb")
    quiet = {"for": None, "on_fail": ["alert"]}
    env.apply(
        policy_doc(
            monitor(**quiet),
            monitor(id="all_batches", engine="duckdb", data="batches/*.parquet", **quiet),
        )
    )
    env.to_production("1")
    env.batch(shift=3.0)
    runs = {r.monitor: r for r in env.ws.monitors.run().results}
    newest, pushed = runs["input_drift"], runs["all_batches"]
    assert newest.result.status is pushed.result.status is GateStatus.FAIL
    assert pushed.result.observed == newest.result.observed
    assert pushed.result.message == newest.result.message
    assert pushed.batch is not None and pushed.batch.uri == "duckdb:batches/*.parquet"
    first = pushed.batch.sha256

    for _ in range(5):  # five good batches after the bad one
        env.batch(shift=0.0)
    env.clock.advance(hours=1)
    runs = {r.monitor: r for r in env.ws.monitors.run().results}
    assert runs["input_drift"].result.status is GateStatus.PASS  # the newest batch alone
    pushed = runs["all_batches"]
    assert pushed.batch is not None and pushed.batch.sha256 != first  # six files now
    # all six files were read: the bad batch is a sixth of the rows, far off, so KS is near 1/6
    assert pushed.result.status is GateStatus.FAIL
    amount = next(c for c in pushed.result.details["columns"] if c["column"] == "amount")
    assert 0.12 < amount["ks"] < 0.25, amount
    report = env.ws.auditing.verify()
    assert report.ok, [d.message for d in report.differences]


def test_with_two_production_versions_a_rollback_replaces_the_failing_one(env: Env) -> None:
    """Under ``max_production_versions: 2`` each production version's run acts on that
    version: a failing 2 never retires 3, and every rollback names the version it retired."""
    doc = policy_doc(monitor(**{"for": None}))
    doc["workflow"]["max_production_versions"] = 2
    env.apply(doc)
    for version in ("1", "2", "3"):  # 3 takes 1's slot: 1 is what 3 rolls back to
        env.to_production(version)
    assert {env.stage_of(v) for v in ("2", "3")} == {"production"}
    env.batch(shift=3.0)
    runs = {r.version: r for r in env.ws.monitors.run().results}
    assert runs["2"].notes[-1].startswith("no rollback:")  # 2 replaced no earlier version
    assert runs["3"].notes[-1] == "rolled back 3 → 1"
    assert (env.stage_of("1"), env.stage_of("2"), env.stage_of("3")) == (
        "production",
        "production",
        "deprecated",
    )
    [rolled] = [e for e in env.events() if e.action == "model.rolled_back"]
    assert rolled.payload["from_version"] == "3" and "failing on 3 " in rolled.payload["reason"]
