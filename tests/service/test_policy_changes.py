"""Policy change control: a new version of an applied policy is a request that the roles of
the version in force must approve; its author never counts, and a loosening needs two."""

from __future__ import annotations

from typing import Any

import pytest

from clearance.core.policy_change import APPLIED, APPROVED, PROPOSED, REJECTED, WITHDRAWN
from clearance.errors import (
    ApprovalError,
    InputError,
    NotFound,
    NotPermitted,
    PolicyError,
    TransitionRefused,
)
from clearance.service.policy_changes import PolicyChangeOut, PolicyChanges
from clearance.service.registry import current_policy
from conftest import Env, write_policy


def changes(env: Env) -> PolicyChanges:
    return PolicyChanges(env.ws.store, env.clock, env.ws.replays.backtest)


def admins(env: Env, *names: str, roles: tuple[str, ...] = ("policy_admin",)) -> None:
    for name in names:
        env.ws.registry.add_user(name, list(roles), actor="admin", operator=True)


def propose(env: Env, doc: dict[str, Any], actor: str = "dave") -> PolicyChangeOut:
    path = write_policy(env.tmp / "proposed", doc)
    return changes(env).propose_path(path, actor=actor, rationale="why", ticket="CHG-1")


def loosened(env: Env) -> dict[str, Any]:
    """The issue's policy: self-approval allowed, production reachable with nothing."""
    doc = env.policy(version="1.1.0")
    doc["approval_rules"] = {"allow_self_approval": True}
    doc["workflow"]["transitions"].append({"from": "draft", "to": "production"})
    return doc


def versions(env: Env) -> list[str]:
    with env.ws.store.reading() as tx:
        return sorted(p.version for p in tx.list_policies() if p.name == "credit")


def actions(env: Env) -> list[str]:
    with env.ws.store.reading() as tx:
        return [e.action for e in tx.events() if e.action.startswith("policy.")]


def test_policy_admin_alone_cannot_apply_a_loosening(env: Env) -> None:
    """The issue: one policy_admin, a loosened policy, nobody else: refused at every step."""
    path = write_policy(env.tmp / "direct", loosened(env))
    with pytest.raises(ApprovalError, match=r"credit 1.0.0 is in force; 1.1.0 changes it"):
        env.ws.registry.apply_policy(path, actor="dave")
    proposed = propose(env, loosened(env))
    change = proposed.change
    assert (change.status, change.author, change.base_version) == ("pending", "dave", "1.0.0")
    assert change.loosening and change.diff["loosenings"] >= 2
    notes = [c["note"] for c in change.diff["changes"] if c["loosens"]]
    assert "requesters may approve their own requests" in notes
    assert proposed.approval is not None and not proposed.approval.satisfied
    assert proposed.approval.distinct_needed == 2
    assert proposed.sources is not None and proposed.sources[0].text.startswith("apiVersion")
    with pytest.raises(ApprovalError, match="author of a policy change never approves it"):
        changes(env).approve(change.id, actor="dave")
    assert versions(env) == ["1.0.0"]
    env.ws.registry.register(env.manifest("9", auc=0.1), actor="dave")
    with pytest.raises(TransitionRefused):  # 1.0.0 is in force: no way straight to production
        env.ws.promotions.promote(env.model, "9", "production", actor="dave")


@pytest.mark.backends("memory", "sqlite", "postgresql")  # the trail read inside the write
def test_a_loosening_needs_two_approvers_other_than_the_author(env: Env) -> None:
    admins(env, "pat", "quinn")
    change = propose(env, loosened(env)).change
    one = changes(env).approve(change.id, actor="pat", reason="looked at the backtest")
    assert one.change.status == "pending" and versions(env) == ["1.0.0"]
    assert one.approval is not None and one.approval.approvers == ["pat"]
    assert any("2 distinct approvers" in m for m in one.approval.missing)
    with pytest.raises(ApprovalError, match="pat already gave 'approve'"):
        changes(env).approve(change.id, actor="pat")
    two = changes(env).approve(change.id, actor="quinn")
    assert two.change.status == "applied" and two.approval is None
    assert versions(env) == ["1.0.0", "1.1.0"]
    with env.ws.store.reading() as tx:
        assert current_policy(tx, "credit").version == "1.1.0"  # type: ignore[union-attr]
    assert actions(env)[-4:] == [PROPOSED, APPROVED, APPROVED, APPLIED]
    with env.ws.store.reading() as tx:
        applied = [e for e in tx.events() if e.action == APPLIED][-1]
    assert applied.payload["change"] == change.id
    assert applied.payload["approved_by"] == ["pat", "quinn"]
    assert (applied.actor, applied.payload["author"]) == ("quinn", "dave")  # the last sign-off
    assert env.ws.auditing.verify().ok


def test_a_tightening_needs_one_approver(env: Env) -> None:
    admins(env, "pat")
    change = propose(env, env.policy(version="1.1.0", auc_min=0.75)).change
    assert not change.loosening
    done = changes(env).approve(change.id, actor="pat")
    assert done.change.status == "applied" and versions(env) == ["1.0.0", "1.1.0"]


def test_an_admin_fills_the_default_slot_but_other_roles_do_not(env: Env) -> None:
    admins(env, "root", roles=("admin",))
    change = propose(env, env.policy(version="1.1.0", auc_min=0.75)).change
    with pytest.raises(ApprovalError, match="carol holds model_owner; changes to policy credit"):
        changes(env).approve(change.id, actor="carol")
    assert changes(env).approve(change.id, actor="root").change.status == "applied"


def test_approvers_come_from_the_version_in_force_not_the_proposal(env: Env) -> None:
    """A proposal naming its author's role as approver gains nothing: 1.0.0 decides."""
    admins(env, "pat")
    doc = env.policy(version="1.1.0", auc_min=0.75)
    doc["change_control"] = {"approvals": [{"role": "ml_engineer"}]}
    change = propose(env, doc).change
    assert change.loosening  # policy_admin no longer needed: flagged
    with pytest.raises(ApprovalError, match="alice holds ml_engineer"):
        changes(env).approve(change.id, actor="alice")
    admins(env, "quinn")
    changes(env).approve(change.id, actor="pat")
    assert changes(env).approve(change.id, actor="quinn").change.status == "applied"
    # now 1.1.0 is in force: its change_control names ml_engineer, so alice approves the next
    nxt = propose(env, env.policy(version="1.2.0", auc_min=0.8) | {"change_control": doc[
        "change_control"]}).change  # fmt: skip
    assert not nxt.loosening
    with pytest.raises(ApprovalError, match="pat holds policy_admin"):
        changes(env).approve(nxt.id, actor="pat")
    assert changes(env).approve(nxt.id, actor="alice").change.status == "applied"


def test_change_control_roles_and_counts(env: Env) -> None:
    admins(env, "pat", "quinn")
    doc = env.policy(version="1.1.0")
    doc["change_control"] = {
        "approvals": [{"role": "risk_officer"}, {"role": "compliance_officer"}],
        "loosening_approvals": 3,
    }
    first = propose(env, doc).change
    notes = [c["note"] for c in first.diff["changes"] if c["loosens"]]
    assert notes == ["policy changes no longer need policy_admin or admin (was 1)"]
    changes(env).approve(first.id, actor="pat")  # 1.0.0 in force: policy admins decide
    changes(env).approve(first.id, actor="quinn")
    tighter = propose(env, env.policy(version="1.2.0", auc_min=0.8) | {"change_control": doc[
        "change_control"]}).change  # fmt: skip
    changes(env).approve(tighter.id, actor="erin")
    waiting = changes(env).show(tighter.id)
    assert waiting.change.status == "pending"
    assert waiting.approval is not None
    assert waiting.approval.missing == ["risk_officer: 1 more"]
    admins(env, "rita", roles=("risk_officer",))
    assert changes(env).approve(tighter.id, actor="rita").change.status == "applied"


@pytest.mark.backends("memory", "sqlite")
def test_rejected_and_withdrawn_changes_cannot_be_signed(env: Env) -> None:
    admins(env, "pat", "quinn")
    first = propose(env, env.policy(version="1.1.0", auc_min=0.75)).change
    with pytest.raises(InputError, match="needs a --reason"):
        changes(env).reject(first.id, actor="pat", reason=" ")
    rejected = changes(env).reject(first.id, actor="pat", reason="threshold unexplained")
    assert (rejected.change.status, rejected.change.close_reason) == (
        "rejected",
        "threshold unexplained",
    )
    with pytest.raises(ApprovalError, match=r"is rejected \(by pat\)"):
        changes(env).approve(first.id, actor="quinn")
    second = propose(env, env.policy(version="1.1.0", auc_min=0.76)).change
    with pytest.raises(ApprovalError, match="only the author"):
        changes(env).withdraw(second.id, actor="pat")
    gone = changes(env).withdraw(second.id, actor="dave", reason="wrong floor")
    assert gone.change.status == "withdrawn" and gone.approval is None
    with pytest.raises(ApprovalError, match="is withdrawn"):
        changes(env).approve(second.id, actor="pat")
    assert versions(env) == ["1.0.0"]
    assert [c.change.status for c in changes(env).list_changes()] == ["rejected", "withdrawn"]
    assert changes(env).list_changes(open_only=True) == []
    tail = actions(env)[-4:]
    assert tail == [PROPOSED, REJECTED, PROPOSED, WITHDRAWN]
    assert env.ws.auditing.verify().ok


def test_a_change_goes_stale_when_another_applies_first(env: Env) -> None:
    admins(env, "pat")
    a = propose(env, env.policy(version="1.1.0", auc_min=0.75)).change
    b = propose(env, env.policy(version="1.2.0", auc_min=0.8)).change
    changes(env).approve(b.id, actor="pat")
    stale = changes(env).show(a.id)
    assert stale.stale and stale.in_force == "1.2.0"
    with pytest.raises(ApprovalError, match=r"proposed against policy credit 1\.0\.0, but 1\.2\.0"):
        changes(env).approve(a.id, actor="pat")
    assert changes(env).withdraw(a.id, actor="dave").change.status == "withdrawn"


def test_proposals_are_checked_before_anything_is_written(env: Env) -> None:
    before = env.state()
    with pytest.raises(NotPermitted):
        propose(env, env.policy(version="1.1.0"), actor="alice")
    with pytest.raises(InputError, match=r"1\.0\.0 is already applied; bump"):
        propose(env, env.policy(version="1.0.0", auc_min=0.9))
    with pytest.raises(InputError, match=r"only moves forward \(got 0.9.0\)"):
        propose(env, env.policy(version="0.9.0"))
    with pytest.raises(InputError, match="no version of policy other is applied yet"):
        propose(env, env.policy(name="other", version="2.0.0"))
    bad = env.policy(version="1.1.0")
    bad["gates"][0]["min"] = "high"
    with pytest.raises(PolicyError):
        propose(env, bad)
    path = write_policy(env.tmp / "p", env.policy(version="1.1.0"))
    with pytest.raises(InputError, match="rationale: a policy change needs a rationale"):
        changes(env).propose_path(path, actor="dave", rationale="  ", ticket="T")
    with pytest.raises(InputError, match="ticket"):
        changes(env).propose_path(path, actor="dave", rationale="r", ticket="")
    assert env.state() == before
    propose(env, env.policy(version="1.1.0"))
    with pytest.raises(InputError, match=r"already proposes policy credit 1\.1\.0"):
        propose(env, env.policy(version="1.1.0"))
    with pytest.raises(NotFound, match="no policy change 999"):
        changes(env).show(999)


def test_a_proposal_carries_its_backtest_summary(env: Env) -> None:
    env.to_production("1")
    change = propose(env, env.policy(version="1.1.0", auc_min=0.85)).change
    summary = change.backtest
    assert summary is not None and summary["examined"] >= 1
    assert summary["production_at_risk"] == 1
    assert summary["at_risk"] == [f"{env.model} 1: auc_floor"]
    bare = PolicyChanges(env.ws.store, env.clock)  # no backtest wired: none recorded
    path = write_policy(env.tmp / "bare", env.policy(version="1.2.0"))
    out = bare.propose_path(path, actor="dave", rationale="r", ticket="T")
    assert out.change.backtest is None


def test_a_disabled_approver_cannot_sign(env: Env) -> None:
    admins(env, "pat")
    change = propose(env, env.policy(version="1.1.0", auc_min=0.75)).change
    env.ws.users.disable("pat", actor="admin", operator=True)
    with pytest.raises(NotPermitted):
        changes(env).approve(change.id, actor="pat")
