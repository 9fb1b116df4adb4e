"""Issue 17's done-when, end to end: a production model whose drift crosses the policy's line
for the stated window is rolled back on its own, the alert reaches a real HTTP receiver at
once, and the rollback's reason is in the audit trail (which still verifies)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from clearance.core.results import GateStatus
from receivers import HttpReceiver

from .conftest import MODEL, SECRET, Env, monitor, policy_doc


@pytest.mark.backends("memory", "sqlite", "postgresql")
def test_sustained_drift_rolls_back_and_alerts_at_once(
    env: Env, http_receivers: Callable[[], HttpReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    http = http_receivers()
    env.webhook(http, monkeypatch)
    env.apply(policy_doc())
    env.to_production("1")
    env.clock.advance(days=1)
    env.to_production("2")
    assert (env.stage_of("1"), env.stage_of("2")) == ("deprecated", "production")
    monitors = env.ws.monitors

    # healthy data: the monitor passes, records its run, alerts nobody
    env.batch(shift=0.0)
    first = monitors.run()
    [ok] = first.results
    assert ok.result.status is GateStatus.PASS and ok.recorded and ok.actions == []
    assert http.at("/ops") == []

    # the data drifts: the first failure only alerts, and the alert is delivered at once
    env.clock.advance(hours=1)
    env.batch(shift=3.0)
    out = monitors.run()
    [failed] = out.results
    assert failed.result.status is GateStatus.FAIL and not failed.sustained
    assert failed.actions == ["alert"] and out.delivered == 1
    [hook] = http.at("/ops")
    assert hook.headers["x-clearance-event"] == "monitor_failed"
    body = json.loads(hook.body)
    assert body["details"]["monitor"] == "input_drift"
    assert body["details"]["gates"][0]["status"] == "fail"
    assert any(e["name"] == "production" for e in body["details"]["evidence"])
    assert env.stage_of("2") == "production"

    # within the cadence nothing is due
    env.clock.advance(minutes=30)
    assert monitors.run().results == [] and monitors.run().not_due == 1

    # failing for 1h (two runs) is short of the 2h window: no action, no second alert
    env.clock.advance(minutes=30)
    env.batch(shift=3.0)
    [second] = monitors.run().results
    assert second.result.status is GateStatus.FAIL
    assert (second.sustained, second.runs_failing, second.actions) == (False, 2, [])
    assert env.stage_of("2") == "production" and len(http.at("/ops")) == 1

    # failing for 2h: sustained, rolled back to version 1, the rollback alert sent at once
    env.clock.advance(hours=1)
    env.batch(shift=3.0)
    before = env.event_count()
    third = monitors.run()
    [acted] = third.results
    assert acted.sustained and acted.runs_failing == 3 and acted.actions == ["rollback"]
    assert acted.notes == ["rolled back 2 → 1"]
    assert (env.stage_of("1"), env.stage_of("2")) == ("production", "deprecated")
    assert [r.headers["x-clearance-event"] for r in http.at("/ops")] == [
        "monitor_failed",
        "rolled_back",
    ]
    assert third.delivered == 1

    # the reason is in the audit trail, on the rollback and on the monitor's own event
    events = env.events(after=before)
    [rolled] = [e for e in events if e.action == "model.rolled_back"]
    assert rolled.actor == "clearance-monitor"
    assert rolled.payload["from_version"] == "2" and rolled.payload["to_version"] == "1"
    assert "monitor input_drift" in rolled.payload["reason"]
    assert "for 2h" in rolled.payload["reason"]
    [checked] = [e for e in events if e.action == "monitor.checked"]
    assert checked.payload["status"] == "fail" and checked.payload["actions"] == ["rollback"]
    assert checked.payload["reason"] == rolled.payload["reason"]
    assert checked.payload["batch"]["sha256"] == acted.batch.sha256  # type: ignore[union-attr]
    report = env.ws.auditing.verify()
    assert report.ok, [d.message for d in report.differences]

    # the restored version starts a fresh history: due at once, the streak starts over
    env.clock.advance(minutes=5)
    [fresh] = monitors.run().results
    assert fresh.version == "1" and fresh.runs_failing == 1 and fresh.actions == ["alert"]
    assert env.stage_of("1") == "production"


def test_a_signed_alert_and_the_status_show_the_monitor(
    env: Env, http_receivers: Callable[[], HttpReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clearance.notify.channels import verify_signature

    http = http_receivers()
    env.webhook(http, monkeypatch)
    env.apply(policy_doc(monitor(every="30m", **{"for": None})))
    env.to_production("1")
    env.batch(shift=3.0)
    out = env.ws.monitors.run()
    [r] = out.results
    # the first failure is sustained (no `for`); with no earlier version nothing is restored,
    # and that is an alert of its own
    assert r.sustained and r.actions == ["alert"]
    assert r.notes[0] == "alert recorded" and r.notes[1].startswith("no rollback: ")
    hooks = http.at("/ops")
    assert len(hooks) == 2 and out.delivered == 2
    hook = hooks[0]
    assert verify_signature(
        SECRET,
        hook.headers["x-clearance-timestamp"],
        hook.body,
        hook.headers["x-clearance-signature"],
        env.clock.now(),
    )
    status = env.ws.monitors.status(MODEL)
    [state] = status.monitors
    assert (state.monitor, state.version, state.status, state.runs_failing) == (
        "input_drift",
        "1",
        "fail",
        1,
    )
    assert state.next_due == env.clock.now() + dt.timedelta(minutes=30)
    [brief] = env.ws.views.model_status(MODEL).monitors
    assert (brief.monitor, brief.status) == ("input_drift", "fail")
    assert any(e.action == "monitor.checked" for e in env.ws.views.history(MODEL))
