"""Who has signed off, and whether that satisfies the policy's approval requirements.

Rules (invariant 5): a requester cannot approve their own request; a stale approval (one
that saw different evidence) does not count; a person's latest verdict is the one that
counts; and under the two-person rule one person fills at most one role slot, whatever
roles they hold. Slots are filled by a maximum bipartite matching, so the answer does not
depend on the order approvals arrived in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clearance.core.policy import ApprovalRequirement, ApprovalRules
from clearance.core.results import ApprovalStatus, RoleStatus, assemble

Verdict = Literal["approve", "reject"]


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    approver: str
    roles: list[str] = Field(description="Roles the approver held when signing.")
    verdict: Verdict = "approve"
    reason: str = ""
    ticket: str = ""
    at: dt.datetime
    evidence_digest: str | None = Field(
        default=None, description="Digest of the evidence the approver saw."
    )


def approval_status(
    requirements: Sequence[ApprovalRequirement],
    approvals: Sequence[Approval],
    rules: ApprovalRules,
    *,
    requester: str | None,
    evidence_digest: str | None,
) -> ApprovalStatus:
    required_roles = {r.role for r in requirements}
    ignored: list[str] = []
    latest: dict[str, Approval] = {}
    for a in sorted(approvals, key=_arrival):
        latest[a.approver] = a
    valid: list[Approval] = []
    rejected: list[str] = []
    for who, a in sorted(latest.items()):
        if who == requester and not rules.allow_self_approval:
            ignored.append(f"{who}: the requester cannot approve their own request")
        elif a.evidence_digest and evidence_digest and a.evidence_digest != evidence_digest:
            ignored.append(f"{who}: stale, the evidence changed after this {a.verdict}")
        elif not required_roles & set(a.roles):
            ignored.append(f"{who}: holds none of the required roles ({', '.join(a.roles)})")
        elif a.verdict == "reject":
            rejected.append(who)
        else:
            valid.append(a)
    if not valid:  # nobody to place: no slot is filled
        assigned: dict[str, list[str]] = {}
    elif rules.one_person_counts_once:
        assigned = _match([r.role for r in requirements for _ in range(r.count)], valid)
    else:
        assigned = _per_role(requirements, valid)
    roles = [_role(r.role, r.count, assigned.get(r.role, [])) for r in requirements]
    if not _all_text(rejected):
        return ApprovalStatus(roles=roles, ignored=ignored, rejected_by=rejected)
    fields = {"roles": roles, "ignored": ignored, "rejected_by": rejected}
    return assemble(ApprovalStatus, fields, _STATUS_GIVEN)


# Built without validation (issue 12.3: every decision makes one, ``results.assemble``): the
# lists are made here, of names that are exact ``str`` (an ``Approval`` validates them); a role
# or count of another type is validated, as before.
_ROLE_GIVEN = set(RoleStatus.model_fields)
_STATUS_GIVEN = set(ApprovalStatus.model_fields)


def _role(role: str, required: int, approved_by: list[str]) -> RoleStatus:
    if type(role) is not str or type(required) is not int or not _all_text(approved_by):
        return RoleStatus(role=role, required=required, approved_by=approved_by)
    fields = {"role": role, "required": required, "approved_by": list(approved_by)}
    return assemble(RoleStatus, fields, _ROLE_GIVEN)


def _arrival(a: Approval) -> tuple[dt.datetime, bool, str]:
    """Time order; at the same instant a rejection is taken as the later verdict (the safe
    side), and the content breaks any remaining tie, so input order never decides."""
    return (a.at, a.verdict == "reject", a.model_dump_json())


def _match(slots: list[str], approvals: list[Approval]) -> dict[str, list[str]]:
    """Maximum matching of people to role slots (Kuhn's augmenting paths; sizes are tiny)."""
    holder: list[str | None] = [None] * len(slots)
    roles_of = {a.approver: set(a.roles) for a in approvals}

    def place(person: str, seen: set[int]) -> bool:
        for i, role in enumerate(slots):
            if role in roles_of[person] and i not in seen:
                seen.add(i)
                current = holder[i]
                if current is None or place(current, seen):
                    holder[i] = person
                    return True
        return False

    for person in sorted(roles_of):
        place(person, set())
    out: dict[str, list[str]] = {}
    for role, filled in zip(slots, holder, strict=True):
        if filled is not None:
            out.setdefault(role, []).append(filled)
    return {role: sorted(people) for role, people in out.items()}


def _per_role(
    requirements: Sequence[ApprovalRequirement], approvals: list[Approval]
) -> dict[str, list[str]]:
    """Without the two-person rule, each role counts everyone who holds it."""
    return {
        r.role: sorted(a.approver for a in approvals if r.role in a.roles)[: r.count]
        for r in requirements
    }


def _all_text(names: list[str]) -> bool:
    return all(type(name) is str for name in names)
