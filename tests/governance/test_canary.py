"""Canary rollouts: wait as approved, ramp on healthy KPIs, roll back at once on a breach."""

from __future__ import annotations

from typing import Any

import pytest

from clearance.errors import InputError, NotFound

from .conftest import BREACH, GOOD, MODEL, Env


def test_a_breach_rolls_the_canary_back_at_once_audited_and_alerted(env: Env) -> None:
    env.canary_to_production("1")
    rid = env.approved("2")
    assert env.request(rid).status == "approved"  # waits for its canary, not executed
    assert env.stage_of("2") == "staging"
    serving = env.ws.rollouts.serving(MODEL)
    assert (serving.champion, serving.canary, serving.canary_weight) == ("1", None, 0.0)
    with pytest.raises(NotFound, match="no approved promotion"):
        env.ws.rollouts.start(MODEL, "1", actor="frank")

    rollout = env.ws.rollouts.start(MODEL, "2", actor="frank")
    assert env.request(rid).status == "rolling_out"
    serving = env.ws.rollouts.serving(MODEL)
    assert serving.model_dump() == {
        "model": MODEL,
        "champion": "1",
        "canary": "2",
        "canary_weight": 0.1,
        "rollout": rollout.id,
    }
    status = env.ws.rollouts.status(MODEL)
    assert (status.canary, status.control, status.step) == ("2", "1", 1)
    with pytest.raises(InputError, match="already has a running rollout"):
        env.ws.rollouts.start(MODEL, "2", actor="frank")

    env.clock.advance(hours=2)
    before = env.event_count()
    after, verdict = env.ws.rollouts.observe(MODEL, BREACH, actor="frank")
    assert verdict.action == "rollback"
    assert verdict.breaches == ["error_rate = 0.01 > max 0.005"]
    assert after.status == "rolled_back" and after.traffic == 0.0
    assert env.request(rid).status == "rolled_back"
    assert env.stage_of("2") == "staging" and env.stage_of("1") == "production"
    serving = env.ws.rollouts.serving(MODEL)
    assert (serving.champion, serving.canary, serving.canary_weight) == ("1", None, 0.0)
    actions = [e.action for e in env.events(after=before)]
    assert actions == ["rollout.observed", "rollout.rolled_back"]
    [alert] = env.alerts("rolled_back")
    assert alert["version"] == "2" and alert["severity"] == "critical"
    assert alert["details"]["breaches"] == verdict.breaches
    assert "error_rate" in alert["summary"] and alert["remediation"]
    with pytest.raises(NotFound, match="no running rollout"):
        env.ws.rollouts.observe(MODEL, GOOD, actor="frank")
    assert env.tick(2) == []  # nothing left to do


def test_a_relative_ctr_drop_versus_control_is_a_breach(env: Env) -> None:
    env.approved("1")
    env.ws.rollouts.start(MODEL, "1", actor="frank")
    _, verdict = env.ws.rollouts.observe(
        MODEL, {"error_rate": (0.001, None), "ctr": (0.0490, 0.0500)}, actor="frank"
    )
    assert verdict.action == "rollback"
    assert verdict.breaches == ["ctr dropped 2.00% vs control (0.049 vs 0.05), limit 1.00%"]


def test_healthy_kpis_ramp_step_by_step_and_never_advance_blind(env: Env) -> None:
    env.canary_to_production("1")
    rid = env.approved("2")
    env.ws.rollouts.start(MODEL, "2", actor="frank")

    # no readings at all: past the minimum duration the canary still holds
    env.clock.advance(hours=49)
    assert env.tick(2) == []
    status = env.ws.rollouts.status(MODEL)
    assert (status.step, status.traffic, status.status) == (1, 0.1, "running")

    # readings arrive after the minimum duration: the canary moves to the next step
    _, verdict = env.ws.rollouts.observe(MODEL, GOOD, actor="frank")
    assert verdict.action == "advance" and verdict.traffic == 1.0
    assert env.ws.rollouts.serving(MODEL).canary_weight == 1.0

    # the readings that moved it up were taken at 10 %: they do not count for the 100 % step
    env.clock.advance(minutes=5)
    assert env.tick(3) == []
    status = env.ws.rollouts.status(MODEL)
    assert (status.step, status.status) == (2, "running")
    assert env.stage_of("2") == "staging"

    before = env.event_count()
    _, verdict = env.ws.rollouts.observe(MODEL, GOOD, actor="frank")
    assert verdict.action == "complete"
    assert env.stage_of("2") == "production" and env.stage_of("1") == "deprecated"
    assert env.request(rid).status == "executed"
    serving = env.ws.rollouts.serving(MODEL)
    assert (serving.champion, serving.canary, serving.rollout) == ("2", None, None)
    actions = [e.action for e in env.events(after=before)]
    assert actions[0] == "rollout.observed" and actions[-1] == "rollout.completed"
    assert actions.count("version.stage_changed") == 2
    [promoted] = [a for a in env.alerts("promoted") if a["id"] == f"promoted:request:{rid}"]
    assert promoted["summary"] == "fraud-scorer 2 completed its canary and is in production"


def test_tick_advances_a_rollout_whose_readings_are_fresh_once_its_time_is_up(env: Env) -> None:
    env.approved("1")
    env.ws.rollouts.start(MODEL, "1", actor="frank")
    env.clock.advance(hours=1)
    _, verdict = env.ws.rollouts.observe(MODEL, GOOD, actor="frank")
    assert verdict.action == "hold" and "until" in verdict.reason

    env.clock.advance(hours=46)
    assert env.tick() == []  # 47 h into a 48 h step
    env.clock.advance(hours=2)
    [action] = env.tick(3)
    assert action.startswith("rollout ") and ": advance: " in action
    status = env.ws.rollouts.status(MODEL)
    assert (status.step, status.traffic) == (2, 1.0)
    advanced = [e for e in env.events() if e.action == "rollout.advanced"]
    assert len(advanced) == 1 and advanced[0].actor == "clearance-tick"


def test_an_approval_pending_past_its_sla_is_escalated_once(env: Env) -> None:
    env.to_staging("1")
    rid = env.request_production("1").request.id
    [requested] = env.alerts("approval_requested")
    assert requested["details"]["request"] == rid
    env.clock.advance(hours=23)
    assert env.tick(2) == []
    env.clock.advance(hours=2)
    assert env.tick(5) == [f"request {rid}: approval escalated (SLA 24h)"]
    [escalated] = env.alerts("approval_escalated")
    assert escalated["details"]["escalate_to"] == ["risk-office"]
    assert escalated["severity"] == "warning"
    # routed to the policy's escalation contacts (a channel name), whatever the config says
    assert env.ws.deliveries({}).route() == 3
    with env.ws.store.reading() as tx:
        routed = {d.key for d in tx.all_deliveries()}
    assert routed == {(escalated["id"], "risk-office")}
    env.ws.promotions.approve(rid, actor="carol")
    env.clock.advance(days=3)
    assert env.tick() == [] and len(env.alerts("approval_escalated")) == 1


def test_a_tick_with_nothing_due_opens_no_write_transaction(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What may be due is read first: settled requests, a pending one already escalated and
    models with no rollout or waiver cost reads, not a write (and a head lock) apiece."""
    env.to_staging("1")  # its registration and promotion to staging are settled requests
    rid = env.request_production("1").request.id
    env.clock.advance(hours=25)
    assert env.tick() == [f"request {rid}: approval escalated (SLA 24h)"]
    store = env.ws.store
    writes: list[str] = []
    opened = store.transaction

    def counted() -> Any:
        writes.append("transaction")
        return opened()

    monkeypatch.setattr(store, "transaction", counted)
    assert env.ws.governance.tick().actions == []
    assert writes == []
    env.clock.advance(days=400)  # nothing new falls due for these: still no write
    assert env.ws.governance.tick().actions == []
    assert writes == []
