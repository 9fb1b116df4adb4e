"""Promotion use cases on a real store: requests, sign-offs, execution, rollback.

The base policy (see conftest): draft→staging needs ``auc_floor`` only; staging→production
needs ``auc_floor``, ``auc_vs_champion`` (skipped without a champion) and a model card, and
sign-off by a model_owner and a risk_officer. alice (ml_engineer) requests; carol is a
model_owner; dave holds model_owner AND risk_officer (and policy_admin, to apply policies);
frank is mlops_oncall.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from clearance.core.results import Outcome
from clearance.errors import ApprovalError, InputError, NotFound, TransitionRefused

if TYPE_CHECKING:
    from conftest import Env

BAD_CARD = "# Model card\n\n## Intended use\nScoring.\n"  # lacks 'Limitations'


def _open_production_request(env: Env, version: str = "1", actor: str = "alice") -> int:
    env.to_staging(version)
    result = env.ws.promotions.promote(env.model, version, "production", actor=actor)
    assert result.decision.outcome is Outcome.NEEDS_APPROVAL, result.decision.summary
    return result.request.id


def _status(env: Env, request_id: int) -> str:
    with env.ws.store.reading() as tx:
        request = tx.get_request(request_id)
        assert request is not None
        return request.status


def test_a_transition_without_approvals_executes_at_once(env: Env) -> None:
    env.register("1")
    before = env.event_count()
    result = env.ws.promotions.promote(env.model, "1", "staging", actor="alice", ticket="T-1")

    assert result.executed and result.decision.outcome is Outcome.ALLOW
    assert result.request.status == "executed"
    assert env.stage_of("1") == "staging"
    assert env.actions(after=before) == [
        "request.opened",
        "decision.recorded",
        "version.stage_changed",
        "request.status_changed",
    ]


def test_the_requester_cannot_approve_their_own_request(env: Env) -> None:
    request_id = _open_production_request(env, actor="dave")
    before = env.state()
    with pytest.raises(ApprovalError, match="dave requested this promotion"):
        env.ws.promotions.approve(request_id, actor="dave")
    with pytest.raises(ApprovalError, match="dave requested this promotion"):
        env.ws.promotions.reject(request_id, actor="dave", reason="changed my mind")
    assert env.state() == before


def test_an_approver_without_a_required_role_is_refused(env: Env) -> None:
    request_id = _open_production_request(env)
    before = env.state()
    with pytest.raises(ApprovalError, match="bob holds tech_lead"):
        env.ws.promotions.approve(request_id, actor="bob")
    with pytest.raises(NotFound, match="unknown user 'mallory'"):
        env.ws.promotions.approve(request_id, actor="mallory")
    with pytest.raises(NotFound, match="no promotion request 99"):
        env.ws.promotions.approve(99, actor="carol")
    assert env.state() == before


def test_one_person_with_two_required_roles_counts_once(env: Env) -> None:
    request_id = _open_production_request(env)

    result = env.ws.promotions.approve(request_id, actor="dave")
    assert not result.executed
    assert result.decision.outcome is Outcome.NEEDS_APPROVAL
    filled = {r.role: r.approved_by for r in result.decision.approvals.roles}
    assert sum(len(people) for people in filled.values()) == 1
    assert _status(env, request_id) == "pending"
    assert env.stage_of("1") == "staging"

    # the same person approving again adds nothing and is refused
    before = env.state()
    with pytest.raises(ApprovalError, match="already gave 'approve'"):
        env.ws.promotions.approve(request_id, actor="dave")
    assert env.state() == before

    result = env.ws.promotions.approve(request_id, actor="carol")
    assert result.executed
    assert {r.role: r.approved_by for r in result.decision.approvals.roles} == {
        "model_owner": ["carol"],
        "risk_officer": ["dave"],
    }
    assert env.stage_of("1") == "production"


def test_a_role_can_require_several_distinct_people(env: Env) -> None:
    env.apply(env.policy(version="1.1.0", prod_approvals=[{"role": "model_owner", "count": 2}]))
    request_id = _open_production_request(env)

    result = env.ws.promotions.approve(request_id, actor="carol")
    assert not result.executed
    assert "model_owner (1/2)" in result.decision.summary
    result = env.ws.promotions.approve(request_id, actor="dave")
    assert result.executed
    assert result.decision.approvals.roles[0].approved_by == ["carol", "dave"]


def test_an_approval_goes_stale_when_evidence_is_attached_after_it(env: Env) -> None:
    request_id = _open_production_request(env)
    env.ws.promotions.approve(request_id, actor="carol")
    env.clock.advance(minutes=5)
    card = env.card("card-v2.md", "# Intended use\nx\n# Limitations\ny\n# Fairness\nz\n")
    env.ws.registry.attach(env.model, "1", "model_card", path=card, actor="alice")

    result = env.ws.promotions.approve(request_id, actor="dave")
    assert not result.executed, "carol saw other evidence: her approval must not count"
    result = env.ws.promotions.reevaluate(request_id, actor="alice")
    approvals = result.decision.approvals
    assert not approvals.satisfied
    assert any(i.startswith("carol: stale") for i in approvals.ignored)
    assert [p for r in approvals.roles for p in r.approved_by] == ["dave"]
    assert env.stage_of("1") == "staging"

    # carol signs again, having seen the new card: now it counts
    result = env.ws.promotions.approve(request_id, actor="carol")
    assert result.executed


def test_a_rejection_with_a_reason_ends_the_request(env: Env) -> None:
    request_id = _open_production_request(env)
    before = env.state()
    with pytest.raises(InputError, match="needs a --reason"):
        env.ws.promotions.reject(request_id, actor="carol", reason="  ")
    assert env.state() == before

    result = env.ws.promotions.reject(request_id, actor="carol", reason="calibration drifts")
    assert result.request.status == "rejected"
    assert result.decision.outcome is Outcome.DENY
    assert result.decision.approvals.rejected_by == ["carol"]
    before = env.state()
    with pytest.raises(InputError, match="is rejected"):
        env.ws.promotions.approve(request_id, actor="dave")
    with pytest.raises(InputError, match="is rejected"):
        env.ws.promotions.reevaluate(request_id, actor="alice")
    assert env.state() == before
    assert env.stage_of("1") == "staging"


def test_a_blocked_request_is_allowed_after_corrected_evidence_and_reevaluation(
    env: Env,
) -> None:
    env.to_staging("1", card=BAD_CARD)
    result = env.ws.promotions.promote(env.model, "1", "production", actor="alice")
    assert result.decision.outcome is Outcome.DENY
    assert result.request.status == "blocked"
    assert {g.gate_id: g.status.value for g in result.decision.gates}["model_card"] == "fail"
    request_id = result.request.id

    # a second request for the same move while this one is open is refused
    before = env.state()
    with pytest.raises(InputError, match="already blocked"):
        env.ws.promotions.promote(env.model, "1", "production", actor="alice")
    assert env.state() == before

    fixed = env.card("fixed.md", "# Intended use\nScoring.\n# Limitations\nNone.\n")
    env.ws.registry.attach(env.model, "1", "model_card", path=fixed, actor="alice")
    result = env.ws.promotions.reevaluate(request_id, actor="alice")
    assert result.decision.outcome is Outcome.NEEDS_APPROVAL
    assert result.request.status == "pending"
    env.ws.promotions.approve(request_id, actor="carol")
    assert env.ws.promotions.approve(request_id, actor="dave").executed
    assert env.stage_of("1") == "production"


def test_a_new_production_version_deprecates_the_previous_one(env: Env) -> None:
    env.to_production("1")
    env.to_production("2")
    assert (env.stage_of("1"), env.stage_of("2")) == ("deprecated", "production")
    with env.ws.store.reading() as tx:
        model = tx.get_model(env.model)
        assert model is not None
        v1, v2 = tx.list_versions(model.id)
    assert v2.previous_production_id == v1.id
    assert v1.production_slot is None and v2.production_slot == 0


def test_max_production_versions_lets_two_coexist_and_a_third_retires_the_oldest(
    env: Env,
) -> None:
    env.apply(env.policy(version="1.1.0", max_production_versions=2))
    env.to_production("1")
    env.to_production("2")
    assert (env.stage_of("1"), env.stage_of("2")) == ("production", "production")
    env.to_production("3")
    assert [env.stage_of(v) for v in ("1", "2", "3")] == ["deprecated", "production", "production"]
    with env.ws.store.reading() as tx:
        model = tx.get_model(env.model)
        assert model is not None
        slots = sorted(v.production_slot for v in tx.versions_in_stage(model.id, "production"))
    assert slots == [0, 1]


def test_rollback_restores_the_previous_production_version(env: Env) -> None:
    env.to_production("1")
    env.to_production("2")
    env.to_production("3")
    before = env.state()
    with pytest.raises(InputError, match="needs a --reason"):
        env.ws.promotions.rollback(env.model, actor="frank", reason="")
    with pytest.raises(TransitionRefused, match="3 is in production"):
        env.ws.promotions.rollback(env.model, actor="frank", reason="x", to_version="3")
    with pytest.raises(NotFound, match="no version '9'"):
        env.ws.promotions.rollback(env.model, actor="frank", reason="x", to_version="9")
    assert env.state() == before

    count = env.event_count()
    done = env.ws.promotions.rollback(env.model, actor="frank", reason="p95 spike")
    assert (done.rolled_back.version, done.restored.version) == ("3", "2")
    assert [env.stage_of(v) for v in ("1", "2", "3")] == ["deprecated", "production", "deprecated"]
    assert env.actions(after=count) == [
        "version.stage_changed",
        "version.stage_changed",
        "model.rolled_back",
    ]

    env.clock.advance(minutes=1)
    done = env.ws.promotions.rollback(
        env.model, actor="frank", reason="back to the known good", to_version="1"
    )
    assert (done.rolled_back.version, done.restored.version) == ("2", "1")
    assert [env.stage_of(v) for v in ("1", "2", "3")] == ["production", "deprecated", "deprecated"]


def test_rollback_refuses_when_there_is_nothing_to_roll_back(env: Env) -> None:
    env.register("1")
    before = env.state()
    with pytest.raises(TransitionRefused, match="no production version"):
        env.ws.promotions.rollback(env.model, actor="frank", reason="x")
    assert env.state() == before

    env.to_production("2")
    before = env.state()
    with pytest.raises(TransitionRefused, match="replaced no earlier production version"):
        env.ws.promotions.rollback(env.model, actor="frank", reason="x")
    assert env.state() == before


def test_refused_requests_name_what_is_wrong_and_change_nothing(env: Env) -> None:
    env.register("1")
    before = env.state()
    promote = env.ws.promotions.promote
    with pytest.raises(TransitionRefused, match="no transition from 'draft' to 'production'"):
        promote(env.model, "1", "production", actor="alice")
    with pytest.raises(NotFound, match="'prod' is not a stage"):
        promote(env.model, "1", "prod", actor="alice")
    with pytest.raises(NotFound, match="unknown model 'fraud-net'"):
        promote("fraud-net", "1", "staging", actor="alice")
    with pytest.raises(NotFound, match="no version '7'"):
        promote(env.model, "7", "staging", actor="alice")
    with pytest.raises(NotFound, match="unknown user 'mallory'"):
        promote(env.model, "1", "staging", actor="mallory")
    with pytest.raises(TransitionRefused, match="no 'experiment' change type"):
        promote(env.model, "1", "staging", actor="alice", change_type="experiment")
    assert env.state() == before


def test_an_emergency_skips_only_its_bypassed_gates_and_needs_its_own_approvers(
    env: Env,
) -> None:
    env.to_production("1")  # champion auc 0.80
    env.to_staging("2", auc=0.75, card=BAD_CARD)  # worse than the champion, card incomplete

    result = env.ws.promotions.promote(
        env.model, "2", "production", actor="alice", change_type="emergency", ticket="INC-7"
    )
    gates = {g.gate_id: g.status.value for g in result.decision.gates}
    assert gates == {"auc_floor": "pass", "auc_vs_champion": "skipped", "model_card": "fail"}
    assert result.request.status == "blocked"
    request_id = result.request.id

    fixed = env.card("fixed.md", "# Intended use\nScoring.\n# Limitations\nNone.\n")
    env.ws.registry.attach(env.model, "2", "model_card", path=fixed, actor="alice")
    result = env.ws.promotions.reevaluate(request_id, actor="alice")
    assert result.decision.outcome is Outcome.NEEDS_APPROVAL
    assert [r.role for r in result.decision.approvals.roles] == ["mlops_oncall"]

    before = env.state()
    with pytest.raises(ApprovalError, match="needs sign-off from mlops_oncall"):
        env.ws.promotions.approve(request_id, actor="carol")
    assert env.state() == before
    result = env.ws.promotions.approve(request_id, actor="frank", ticket="INC-7")
    assert result.executed
    assert (env.stage_of("1"), env.stage_of("2")) == ("deprecated", "production")

    # a standard request is still held to the champion (now 2, auc 0.75)
    env.to_staging("3", auc=0.72)
    result = env.ws.promotions.promote(env.model, "3", "production", actor="alice")
    assert {g.gate_id: g.status.value for g in result.decision.gates}["auc_vs_champion"] == "fail"


@pytest.mark.backends("sqlite")  # makes the SQL store fail mid-use-case
def test_a_failing_step_inside_a_use_case_rolls_back_all_of_it(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant 1: the state change and its audit events commit together, or neither."""
    from clearance.adapters.store.sql import SqlTx

    env.register("1")
    before = env.state()
    original = SqlTx.append_event

    def failing(self: SqlTx, **kw: object) -> object:
        if kw["action"] == "request.status_changed":
            raise RuntimeError("disk full")
        return original(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(SqlTx, "append_event", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        env.ws.promotions.promote(env.model, "1", "staging", actor="alice")
    monkeypatch.undo()
    assert env.state() == before
    assert env.stage_of("1") == "draft"
    assert env.ws.auditing.verify().ok
