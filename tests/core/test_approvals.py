"""Approval counting: no self-approval, two-person rule, stale and superseded sign-offs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from clearance.core.approvals import Approval, approval_status
from clearance.core.policy import ApprovalRequirement, ApprovalRules
from clearance.core.results import ApprovalStatus

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
DIGEST = "a" * 64
STRICT = ApprovalRules()


def req(*roles: str | tuple[str, int]) -> list[ApprovalRequirement]:
    out = []
    for r in roles:
        role, count = (r, 1) if isinstance(r, str) else r
        out.append(ApprovalRequirement(role=role, count=count))
    return out


def ok(who: str, *roles: str, at: dt.datetime = T0, **kw: Any) -> Approval:
    return Approval(approver=who, roles=list(roles), at=at, **kw)


def no(who: str, *roles: str, at: dt.datetime = T0, **kw: Any) -> Approval:
    return Approval(approver=who, roles=list(roles), at=at, verdict="reject", **kw)


def status(
    requirements: list[ApprovalRequirement],
    approvals: list[Approval],
    rules: ApprovalRules = STRICT,
    requester: str | None = "rita",
    evidence_digest: str | None = DIGEST,
) -> ApprovalStatus:
    return approval_status(
        requirements, approvals, rules, requester=requester, evidence_digest=evidence_digest
    )


def filled(s: ApprovalStatus) -> dict[str, list[str]]:
    return {r.role: r.approved_by for r in s.roles}


def test_nothing_required_is_satisfied() -> None:
    assert status([], []).satisfied


def test_one_approval_satisfies_one_role() -> None:
    s = status(req("owner"), [ok("olivia", "owner")])
    assert s.satisfied
    assert filled(s) == {"owner": ["olivia"]}
    assert s.pending == []


def test_requester_cannot_approve_their_own_request() -> None:
    s = status(req("owner"), [ok("rita", "owner")])
    assert not s.satisfied
    assert s.ignored == ["rita: the requester cannot approve their own request"]
    assert [r.role for r in s.pending] == ["owner"]


def test_self_approval_when_the_policy_allows_it() -> None:
    rules = ApprovalRules(allow_self_approval=True)
    assert status(req("owner"), [ok("rita", "owner")], rules).satisfied


def test_requester_rejection_is_also_ignored() -> None:
    s = status(req("owner"), [no("rita", "owner"), ok("olivia", "owner")])
    assert s.satisfied and s.rejected_by == []


@pytest.mark.parametrize(
    ("approvals", "expected"),
    [
        # one person holding both roles fills one slot only
        ([ok("alice", "A", "B")], {"A": ["alice"]}),
        ([ok("alice", "A", "B"), ok("bob", "A")], {"A": ["bob"], "B": ["alice"]}),
        ([ok("bob", "A"), ok("alice", "A", "B")], {"A": ["bob"], "B": ["alice"]}),
        # same shape, names sorting the other way
        ([ok("zed", "A", "B"), ok("amy", "A")], {"A": ["amy"], "B": ["zed"]}),
        ([ok("alice", "A", "B"), ok("bob", "B")], {"A": ["alice"], "B": ["bob"]}),
        ([ok("alice", "A"), ok("bob", "A")], {"A": ["alice"]}),
    ],
)
def test_two_person_rule_matches_people_to_roles(
    approvals: list[Approval], expected: dict[str, list[str]]
) -> None:
    s = status(req("A", "B"), approvals)
    assert {role: people for role, people in filled(s).items() if people} == expected
    assert s.satisfied is (len(expected) == 2)


def test_two_person_rule_with_counts() -> None:
    # A needs 2, B needs 1; carol holds both and must go to B for the requirement to hold
    approvals = [ok("carol", "A", "B"), ok("alice", "A"), ok("bob", "A")]
    s = status(req(("A", 2), "B"), approvals)
    assert s.satisfied
    assert filled(s) == {"A": ["alice", "bob"], "B": ["carol"]}
    s = status(req(("A", 2), "B"), approvals[:2])
    assert not s.satisfied
    assert [(r.role, len(r.approved_by), r.required) for r in s.pending] in (
        [("A", 1, 2)],
        [("B", 0, 1)],
    )


def test_without_the_two_person_rule_one_person_fills_every_role() -> None:
    rules = ApprovalRules(one_person_counts_once=False)
    s = status(req("A", "B"), [ok("alice", "A", "B")], rules)
    assert s.satisfied
    assert filled(s) == {"A": ["alice"], "B": ["alice"]}
    # counts still need distinct people
    assert not status(req(("A", 2)), [ok("alice", "A")], rules).satisfied


@pytest.mark.parametrize(
    ("seen", "counts"),
    [(DIGEST, True), ("b" * 64, False), (None, True)],
)
def test_stale_approval_does_not_count(seen: str | None, counts: bool) -> None:
    s = status(req("owner"), [ok("olivia", "owner", evidence_digest=seen)])
    assert s.satisfied is counts
    if not counts:
        assert s.ignored == ["olivia: stale, the evidence changed after this approve"]


def test_stale_rejection_does_not_deny() -> None:
    s = status(req("owner"), [no("olivia", "owner", evidence_digest="b" * 64)])
    assert s.rejected_by == []
    assert s.ignored == ["olivia: stale, the evidence changed after this reject"]


@pytest.mark.parametrize(
    ("approvals", "satisfied", "rejected"),
    [
        ([ok("olivia", "owner"), no("olivia", "owner", at=T0 + MIN)], False, ["olivia"]),
        ([no("olivia", "owner"), ok("olivia", "owner", at=T0 + MIN)], True, []),
        ([ok("olivia", "owner", at=T0 + MIN), no("olivia", "owner")], True, []),
        ([no("olivia", "owner", at=T0 + MIN), ok("olivia", "owner")], False, ["olivia"]),
    ],
)
def test_latest_verdict_per_person_wins(
    approvals: list[Approval], satisfied: bool, rejected: list[str]
) -> None:
    s = status(req("owner"), approvals)
    assert s.satisfied is satisfied
    assert s.rejected_by == rejected


def test_rejection_denies_even_with_every_role_filled() -> None:
    s = status(req("A", "B"), [ok("alice", "A"), ok("bob", "B"), no("carol", "A")])
    assert all(r.satisfied for r in s.roles)
    assert s.rejected_by == ["carol"]
    assert not s.satisfied


def test_approver_without_a_required_role_is_ignored() -> None:
    s = status(req("owner"), [ok("ivan", "intern"), no("ivan2", "intern")])
    assert not s.satisfied
    assert s.rejected_by == []
    assert s.ignored == [
        "ivan: holds none of the required roles (intern)",
        "ivan2: holds none of the required roles (intern)",
    ]
