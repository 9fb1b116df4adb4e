"""Waivers: who may grant them, for how long, where they apply, and that they lapse."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from clearance.core.results import GateResult, GateStatus
from clearance.errors import InputError, NotFound, NotPermitted
from clearance.service.promotion import RequestResult

from .conftest import MODEL, OTHER, Env


def _gate(result: RequestResult, gate_id: str) -> GateResult:
    return next(g for g in result.decision.gates if g.gate_id == gate_id)


def test_only_grantors_grant_within_the_policy_limits_and_nothing_changes_on_refusal(
    env: Env,
) -> None:
    env.to_staging("1", latency=350)
    now = env.clock.now()
    soon = now + dt.timedelta(days=10)
    grant = env.ws.waivers.grant
    common: dict[str, Any] = {
        "justification": "latency SLO renegotiated",
        "controls": ["on-call watches p95"],
    }
    before = env.event_count()

    with pytest.raises(NotPermitted, match="waivers are granted by risk_officer"):
        grant(MODEL, "latency_p95", until=soon, actor="carol", **common)
    with pytest.raises(InputError, match="not waivable"):
        grant(MODEL, "model_card", until=soon, actor="dave", **common)
    with pytest.raises(InputError, match="at most 30d"):
        grant(MODEL, "latency_p95", until=now + dt.timedelta(days=31), actor="dave", **common)
    with pytest.raises(InputError, match="not in the future"):
        grant(MODEL, "latency_p95", until=now - dt.timedelta(hours=1), actor="dave", **common)
    with pytest.raises(NotFound, match="no gate 'nope'"):
        grant(MODEL, "nope", until=soon, actor="dave", **common)
    with pytest.raises(InputError, match="compensating"):
        grant(MODEL, "latency_p95", until=soon, actor="dave", justification="x", controls=[])
    assert env.event_count() == before
    assert env.ws.waivers.backlog().waivers == []

    w = grant(MODEL, "latency_p95", until=soon, actor="dave", **common)
    assert w.label == "W-1"
    [event] = env.events(after=before)
    assert (event.action, event.actor, event.subject) == ("waiver.granted", "dave", "waiver:W-1")
    assert event.payload["controls"] == ["on-call watches p95"]


def test_a_waiver_applies_only_to_its_model_version_and_gate_until_it_expires(env: Env) -> None:
    env.to_staging("1", latency=350)
    env.register("2")
    env.to_staging("1", model=OTHER, latency=350)
    rid = env.request_production("1").request.id
    assert env.request(rid).status == "blocked"
    now = env.clock.now()
    common: dict[str, Any] = {
        "justification": "p95 SLO renegotiated",
        "controls": ["p95 alert"],
        "actor": "dave",
    }
    # three waivers that do not fit: another version, another gate, another model
    env.ws.waivers.grant(
        MODEL, "latency_p95", version="2", until=now + dt.timedelta(days=3), **common
    )
    env.ws.waivers.grant(MODEL, "auc_floor", until=now + dt.timedelta(days=20), **common)
    env.ws.waivers.grant(OTHER, "latency_p95", until=now + dt.timedelta(days=20), **common)
    result = env.ws.promotions.reevaluate(rid, actor="alice")
    assert result.request.status == "blocked"
    assert _gate(result, "latency_p95").status is GateStatus.FAIL

    until = now + dt.timedelta(days=10)
    w = env.ws.waivers.grant(MODEL, "latency_p95", version="1", until=until, **common)
    assert w.label == "W-4"
    result = env.ws.promotions.reevaluate(rid, actor="alice")
    gate = _gate(result, "latency_p95")
    assert gate.status is GateStatus.WAIVED
    assert gate.waiver == "W-4"
    assert gate.message.startswith(f"waived (W-4, expires {until:%Y-%m-%d %H:%M} UTC)")
    assert result.request.status == "pending"  # only the approval is missing now
    assert "waived: latency_p95" in result.decision.summary

    # the backlog: four active, one of them within a week of expiry
    backlog = env.ws.waivers.backlog()
    assert backlog.counts.model_dump() == {
        "active": 4,
        "expiring_within_7d": 1,
        "expired": 0,
        "revoked": 0,
    }
    soon = env.ws.waivers.backlog(expiring_within=dt.timedelta(days=7)).waivers
    assert [(x.id, x.version, x.days_left) for x in soon] == [("W-1", "2", 3.0)]
    assert [x.id for x in env.ws.waivers.backlog(model=OTHER).waivers] == ["W-3"]
    assert [month.model_dump() for month in backlog.trend] == [
        {"month": "2026-11", "granted": 4, "expiring": 1, "revoked": 0},
        {"month": "2026-12", "granted": 0, "expiring": 3, "revoked": 0},
    ]

    # past its expiry (the injected clock moves) the waiver no longer applies
    env.clock.advance(days=10, seconds=1)
    result = env.ws.promotions.reevaluate(rid, actor="alice")
    assert result.request.status == "blocked"
    assert _gate(result, "latency_p95").status is GateStatus.FAIL
    states = {x.id: x.state for x in env.ws.waivers.backlog().waivers}
    assert states == {"W-1": "expired", "W-2": "active", "W-3": "active", "W-4": "expired"}


def test_revoking_a_waiver_ends_it_at_once_and_is_audited(env: Env) -> None:
    env.to_staging("1", latency=350)
    rid = env.request_production("1").request.id
    until = env.clock.now() + dt.timedelta(days=20)
    w = env.ws.waivers.grant(
        MODEL, "latency_p95", until=until, justification="j", controls=["c"], actor="dave"
    )
    assert env.ws.promotions.reevaluate(rid, actor="alice").request.status == "pending"

    with pytest.raises(NotPermitted, match="only its grantor"):
        env.ws.waivers.revoke(w.label, reason="no longer needed", actor="carol")
    with pytest.raises(InputError, match="needs a --reason"):
        env.ws.waivers.revoke(w.label, reason=" ", actor="dave")
    with pytest.raises(NotFound):
        env.ws.waivers.revoke("W-99", reason="x", actor="dave")
    before = env.event_count()
    env.clock.advance(hours=1)
    revoked = env.ws.waivers.revoke("w-1", reason="latency fixed upstream", actor="dave")
    assert revoked.revoked_by == "dave" and revoked.revoked_at == env.clock.now()
    [event] = env.events(after=before)
    assert (event.action, event.subject) == ("waiver.revoked", "waiver:W-1")
    assert event.payload == {"reason": "latency fixed upstream", "gate": "latency_p95"}
    with pytest.raises(InputError, match="already revoked"):
        env.ws.waivers.revoke("W-1", reason="again", actor="dave")

    result = env.ws.promotions.reevaluate(rid, actor="alice")
    assert result.request.status == "blocked"
    backlog = env.ws.waivers.backlog()
    assert backlog.counts.revoked == 1 and backlog.counts.active == 0
    assert backlog.waivers[0].state == "revoked"


def test_tick_warns_once_about_a_waiver_expiring_within_a_week(env: Env) -> None:
    env.to_staging("1", latency=350)
    now = env.clock.now()
    env.ws.waivers.grant(
        MODEL,
        "latency_p95",
        until=now + dt.timedelta(days=9),
        justification="j",
        controls=["c"],
        actor="dave",
    )
    assert env.tick() == []
    env.clock.advance(days=2, hours=1)
    assert env.tick(3) == ["waiver W-1: expiring notice"]
    [alert] = env.alerts("waiver_expiring")
    assert alert["details"]["waiver"] == "W-1" and alert["details"]["controls"] == ["c"]
