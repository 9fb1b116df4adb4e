"""Change-control rules: who may sign a policy change, when it is approved, how it folds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.approvals import Approval
from clearance.core.policy import ApprovalRequirement, ChangeControl, Policy
from clearance.core.policy_change import (
    APPLIED,
    APPROVED,
    PROPOSED,
    REJECTED,
    WITHDRAWN,
    ChangeEvent,
    control_changes,
    fold_changes,
    judge,
    signing_refusal,
)

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
PEOPLE = ["ann", "ben", "cat", "dan", "eve"]
ROLES = ["policy_admin", "admin", "risk_officer", "ml_engineer"]
DEFAULT = ChangeControl()
RISK = ChangeControl(approvals=[ApprovalRequirement(role="risk_officer")], loosening_approvals=3)


def sign(who: str, roles: list[str], minute: int = 0, verdict: str = "approve") -> Approval:
    return Approval.model_validate(
        {
            "approver": who,
            "roles": roles,
            "verdict": verdict,
            "at": T0 + dt.timedelta(minutes=minute),
        }
    )


approvals = st.lists(
    st.builds(
        sign,
        st.sampled_from(PEOPLE),
        st.lists(st.sampled_from(ROLES), max_size=2, unique=True),
        st.integers(0, 5),
        st.sampled_from(["approve", "approve", "reject"]),
    ),
    max_size=8,
)
controls = st.sampled_from([DEFAULT, RISK, ChangeControl(loosening_approvals=4)])


def test_the_default_needs_one_policy_admin_or_admin_other_than_the_author() -> None:
    assert not judge(DEFAULT, [], author="ann", loosening=False).satisfied
    mine = [sign("ann", ["policy_admin"])]
    assert not judge(DEFAULT, mine, author="ann", loosening=False).satisfied
    for roles in (["policy_admin"], ["admin"]):
        assert judge(DEFAULT, [sign("ben", roles)], author="ann", loosening=False).satisfied
    other = judge(DEFAULT, [sign("ben", ["risk_officer"])], author="ann", loosening=False)
    assert not other.satisfied and other.missing == ["policy_admin or admin: 1 more"]


def test_a_loosening_needs_two_distinct_approvers() -> None:
    one = [sign("ben", ["policy_admin", "admin"])]
    verdict = judge(DEFAULT, one, author="ann", loosening=True)
    assert not verdict.satisfied and verdict.distinct_needed == 2
    two = [*one, sign("cat", ["admin"], 1)]
    assert judge(DEFAULT, two, author="ann", loosening=True).satisfied
    with_author = [*one, sign("ann", ["admin"], 1)]
    assert not judge(DEFAULT, with_author, author="ann", loosening=True).satisfied


def test_a_later_rejection_undoes_an_approval() -> None:
    signed = [sign("ben", ["admin"]), sign("ben", ["admin"], 1, "reject")]
    verdict = judge(DEFAULT, signed, author="ann", loosening=False)
    assert not verdict.satisfied and verdict.status.rejected_by == ["ben"]


def test_signing_refusals_name_the_rule() -> None:
    assert "never approves it" in str(
        signing_refusal("ann", ["admin"], author="ann", control=DEFAULT, policy="p")
    )
    refused = signing_refusal("ben", ["admin"], author="ann", control=RISK, policy="p")
    assert refused is not None and "need sign-off from risk_officer" in refused
    assert signing_refusal("ben", ["risk_officer"], author="ann", control=RISK, policy="p") is None
    assert signing_refusal("ben", ["admin"], author="ann", control=DEFAULT, policy="p") is None


@settings(max_examples=300, deadline=None)
@given(controls, approvals, st.sampled_from(PEOPLE), st.booleans())
def test_the_author_never_counts(
    control: ChangeControl, signed: list[Approval], author: str, loosening: bool
) -> None:
    verdict = judge(control, signed, author=author, loosening=loosening)
    assert author not in verdict.approvers
    assert all(author not in r.approved_by for r in verdict.status.roles)
    without = judge(
        control, [a for a in signed if a.approver != author], author=author, loosening=loosening
    )
    assert (without.satisfied, without.approvers, without.status.roles) == (
        verdict.satisfied,
        verdict.approvers,
        verdict.status.roles,
    )


@settings(max_examples=300, deadline=None)
@given(controls, approvals, st.sampled_from(PEOPLE), st.booleans(), st.randoms())
def test_the_order_of_arrival_does_not_matter(
    control: ChangeControl, signed: list[Approval], author: str, loosening: bool, rnd: Any
) -> None:
    shuffled = list(signed)
    rnd.shuffle(shuffled)
    a = judge(control, signed, author=author, loosening=loosening)
    assert judge(control, shuffled, author=author, loosening=loosening) == a


@settings(max_examples=300, deadline=None)
@given(controls, approvals, st.sampled_from(PEOPLE))
def test_a_satisfied_loosening_has_enough_distinct_people(
    control: ChangeControl, signed: list[Approval], author: str
) -> None:
    verdict = judge(control, signed, author=author, loosening=True)
    if verdict.satisfied:
        assert len(set(verdict.approvers)) >= max(2, control.loosening_approvals)
        assert judge(control, signed, author=author, loosening=False).satisfied


def policy(**change_control: Any) -> Policy:
    return Policy.model_validate(
        {
            "apiVersion": "clearance/v1",
            "kind": "Policy",
            "metadata": {"name": "p", "version": "1.0.0", "owner": "o"},
            "workflow": {"transitions": [{"from": "draft", "to": "staging"}]},
            "change_control": change_control,
        }
    )


def test_fewer_approvers_loosen_more_tighten() -> None:
    base = policy()
    stricter = policy(approvals=[{"role": "policy_admin", "count": 2}], loosening_approvals=3)
    up = control_changes(base, stricter)
    assert [(c.note, c.loosens) for c in up] == [
        ("policy changes need 2 policy_admin (was 0)", False),
        ("policy changes no longer need policy_admin or admin (was 1)", True),
        ("a loosening needs 3 approvers (was 2)", False),
    ]
    down = control_changes(stricter, base)
    assert [c.loosens for c in down] == [True, False, True]
    assert control_changes(base, policy()) == []


def test_loosening_approvals_is_at_least_two() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        policy(loosening_approvals=1)


def event(seq: int, action: str, actor: str = "ann", **payload: Any) -> ChangeEvent:
    return ChangeEvent(
        seq=seq, time=T0 + dt.timedelta(minutes=seq), actor=actor, action=action, payload=payload
    )


PROPOSAL = {"name": "p", "version": "1.1.0", "base_version": "1.0.0", "loosening": True,
            "sources": [["p.yaml", "text"]], "files": ["p.yaml"]}  # fmt: skip


def test_fold_follows_a_change_to_its_end() -> None:
    events = [
        event(3, PROPOSED, **PROPOSAL),
        event(4, APPROVED, "ben", change=3, roles=["admin"]),
        event(5, APPLIED, "ann", change=3),
        event(6, APPROVED, "cat", change=3, roles=["admin"]),  # after the end: ignored
        event(7, WITHDRAWN, "ann", change=99),  # unknown change: ignored
    ]
    changes, sources = fold_changes(events)
    (change,) = changes.values()
    assert (change.id, change.status, change.closed_by) == (3, "applied", "ann")
    assert [a.approver for a in change.approvals] == ["ben"]
    assert sources == {3: [["p.yaml", "text"]]}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([APPROVED, REJECTED, WITHDRAWN, APPLIED]),
            st.sampled_from(PEOPLE),
            st.sampled_from([1, 2, 3]),
        ),
        max_size=12,
    )
)
def test_a_closed_change_never_changes_again(steps: list[tuple[str, str, int]]) -> None:
    events = [event(1, PROPOSED, **PROPOSAL), event(2, PROPOSED, **PROPOSAL)]
    events += [
        event(n, action, who, change=target, roles=["admin"], reason="r")
        for n, (action, who, target) in enumerate(steps, start=3)
    ]
    final, _ = fold_changes(events)
    for cut in range(len(events)):
        partial, _ = fold_changes(events[:cut])
        for ident, change in partial.items():
            if change.status != "pending":
                assert final[ident] == change
    assert set(final) == {1, 2}
