"""Change types: an emergency is fast, bounded and owes a review; an experiment stays low."""

from __future__ import annotations

import datetime as dt

import pytest

from clearance.core.results import GateStatus
from clearance.errors import ApprovalError, InputError, TransitionRefused
from clearance.service.promotion import RequestResult

from .conftest import MODEL, Env, policy_doc


def _statuses(result: RequestResult) -> dict[str, GateStatus]:
    return {g.gate_id: g.status for g in result.decision.gates}


def test_an_emergency_bypasses_only_its_gates_needs_oncall_and_skips_the_canary(env: Env) -> None:
    env.to_staging("1", auc=0.60, latency=350)
    env.to_staging("2", auc=0.60)
    env.to_staging("3", auc=0.60)

    # latency_p95 is not bypassed: the emergency is blocked by it, auc_floor is skipped
    blocked = env.request_production("1", "emergency")
    assert blocked.request.status == "blocked"
    assert _statuses(blocked)["auc_floor"] is GateStatus.SKIPPED
    assert _statuses(blocked)["latency_p95"] is GateStatus.FAIL

    # a standard request is blocked by auc_floor; the emergency skips it
    standard = env.request_production("3")
    assert standard.request.status == "blocked"
    assert _statuses(standard)["auc_floor"] is GateStatus.FAIL
    result = env.request_production("2", "emergency")
    rid = result.request.id
    assert _statuses(result) == {
        "auc_floor": GateStatus.SKIPPED,
        "latency_p95": GateStatus.PASS,
        "model_card": GateStatus.PASS,
    }
    assert result.request.status == "pending"
    assert "mlops_oncall" in result.decision.summary

    before = env.event_count()
    with pytest.raises(ApprovalError, match="needs sign-off from mlops_oncall"):
        env.ws.promotions.approve(rid, actor="carol")  # the transition's own approver
    with pytest.raises(ApprovalError, match="separation of duties"):
        env.ws.promotions.approve(rid, actor="alice")
    assert env.event_count() == before

    # frank signs: it executes at once although the transition has a canary plan
    done = env.ws.promotions.approve(rid, actor="frank")
    assert done.executed and done.request.status == "executed"
    assert env.stage_of("2") == "production"
    serving = env.ws.rollouts.serving(MODEL)
    assert (serving.champion, serving.canary) == ("2", None)
    [promoted] = [a for a in env.alerts("promoted") if a["details"]["request"] == rid]
    assert "(emergency change)" in promoted["summary"]
    [status] = env.ws.views.status(MODEL)
    assert [e.request for e in status.emergency_changes] == [rid]
    assert status.emergency_changes[0].review is False

    # only an executed emergency owes (and may record) a review
    with pytest.raises(InputError, match="not an executed emergency"):
        env.ws.governance.record_review(standard.request.id, summary="s", actions=[], actor="frank")
    with pytest.raises(InputError, match="not an executed emergency"):
        env.ws.governance.record_review(blocked.request.id, summary="s", actions=[], actor="frank")


def test_an_experiment_may_reach_only_its_allowed_stages(env: Env) -> None:
    env.register("1")
    result = env.ws.promotions.promote(
        MODEL, "1", "staging", actor="alice", change_type="experiment"
    )
    assert result.executed
    before = env.event_count()
    with pytest.raises(TransitionRefused, match="experiment change may only reach staging"):
        env.request_production("1", "experiment")
    assert env.event_count() == before


def test_an_overdue_review_alerts_once_flags_non_compliance_and_rolls_back_once(env: Env) -> None:
    env.canary_to_production("1")
    rid = env.emergency("2", auc=0.60)  # auc_floor bypassed: still failing underneath
    executed = env.request(rid).updated_at
    assert env.stage_of("1") == "deprecated" and env.stage_of("2") == "production"

    env.clock.advance(hours=1)
    assert env.tick(2) == []

    # the bypass lasts 72 h: then auc_floor must pass on its own, and it does not
    env.clock.advance(hours=72)
    assert env.tick(3) == [f"request {rid}: bypass expired, auc_floor still failing"]
    [nc] = env.alerts("non_compliant")
    assert nc["details"]["gates"][0]["id"] == "auc_floor"
    assert nc["details"]["gates"][0]["status"] == "fail"
    assert nc["severity"] == "critical" and nc["policy"] == "gov@1.0.0"

    # within 24 h of the 5-day deadline: one reminder, however often tick runs
    env.clock.at = executed + dt.timedelta(days=4, hours=1)
    assert env.tick(3) == [f"request {rid}: review due soon"]
    assert len(env.alerts("review_due")) == 1
    assert env.alerts("review_overdue") == []
    assert env.ws.views.status(MODEL)[0].non_compliant == []

    # past the deadline: overdue + non-compliant + automatic rollback, each exactly once
    env.clock.advance(days=1)
    actions = env.tick(5)
    assert actions == [f"request {rid}: review overdue", f"request {rid}: rolled back 2 → 1"]
    assert len(env.alerts("review_overdue")) == 1
    assert len(env.alerts("review_due")) == 1
    non_compliant = [a["id"] for a in env.alerts("non_compliant")]
    assert sorted(non_compliant) == [
        f"non-compliant:bypass-expired:request:{rid}",
        f"non-compliant:review:request:{rid}",
    ]
    assert env.stage_of("2") == "deprecated" and env.stage_of("1") == "production"
    rolled = [e for e in env.events() if e.action == "model.rolled_back"]
    assert len(rolled) == 1 and rolled[0].actor == "clearance-tick"
    assert rolled[0].payload["from_version"] == "2" and rolled[0].payload["to_version"] == "1"
    assert len(env.alerts("rolled_back")) == 1
    [status] = env.ws.views.status(MODEL)
    assert len(status.non_compliant) == 1 and f"request {rid}" in status.non_compliant[0]

    # a late review is still recorded, and marked late in the audit trail
    env.ws.governance.record_review(
        rid, summary="hotfix for fraud spike", actions=[], actor="frank"
    )
    [recorded] = [e for e in env.events() if e.action == "review.recorded"]
    assert recorded.payload["late"] is True
    assert env.ws.views.status(MODEL)[0].non_compliant == []
    assert env.tick(2) == []


def test_reviews_recorded_in_time_settle_the_emergencies(env: Env) -> None:
    first = env.emergency("1", auc=0.60)  # auc_floor bypassed, and failing underneath
    env.clock.advance(hours=1)
    second = env.emergency("2")  # the real fix replaces it before its bypass expires
    assert env.stage_of("1") == "deprecated"
    env.clock.advance(days=2)
    env.ws.governance.record_review(
        first, summary="card fraud spike; hotfix", actions=["add canary KPI"], actor="frank"
    )
    env.ws.governance.record_review(second, summary="proper fix", actions=[], actor="frank")
    with pytest.raises(InputError, match="already has its post-incident review"):
        env.ws.governance.record_review(first, summary="again", actions=[], actor="frank")
    [recorded, _] = [e for e in env.events() if e.action == "review.recorded"]
    assert recorded.payload == {
        "summary": "card fraud spike; hotfix",
        "actions": ["add canary KPI"],
        "late": False,
    }
    # past both bypass expiries and review deadlines: nothing is owed, nothing is flagged
    env.clock.advance(days=4)
    assert env.tick(3) == []
    assert env.alerts("review_due") == env.alerts("review_overdue") == []
    assert env.alerts("non_compliant") == []
    [status] = env.ws.views.status(MODEL)
    assert status.non_compliant == []
    assert [e.review for e in status.emergency_changes] == [True, True]
    assert env.stage_of("2") == "production"


def test_an_overdue_review_alerts_even_when_there_is_nothing_to_roll_back_to(env: Env) -> None:
    rid = env.emergency("1")  # the first production version: no previous one exists
    env.clock.advance(days=5, minutes=1)
    actions = env.tick(4)
    assert actions == [
        f"request {rid}: review overdue",
        f"request {rid}: no automatic rollback: fraud-scorer 1 replaced no earlier production "
        "version; name the version to restore with --to VERSION",
    ]
    assert len(env.alerts("review_overdue")) == 1
    assert [a["id"] for a in env.alerts("non_compliant")] == [f"non-compliant:review:request:{rid}"]
    assert env.stage_of("1") == "production"
    assert env.ws.views.status(MODEL)[0].non_compliant


def test_without_the_policy_flag_an_overdue_review_does_not_roll_back(env: Env) -> None:
    doc = policy_doc(rollback_if_review_overdue=False)
    doc["metadata"]["version"] = "1.1.0"
    env.apply(doc)
    env.canary_to_production("1")
    rid = env.emergency("2")
    env.clock.advance(days=5, minutes=1)
    assert env.tick(3) == [f"request {rid}: review overdue"]
    assert env.stage_of("2") == "production"
    assert env.alerts("rolled_back") == []
