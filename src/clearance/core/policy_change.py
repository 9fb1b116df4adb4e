"""Change control for policies: who must approve a new version, and the state of a change.

A new version of an applied policy is a *change request*: it applies only once the roles that
the version **in force** names under ``change_control`` have signed it. The proposed version's
own ``change_control`` is never consulted, so a change cannot grant its author the power to
approve it. The author never counts, whatever ``approval_rules.allow_self_approval`` says (that
rule is about promotions), and one person fills one slot. A change the semantic diff flags as
a loosening needs at least ``loosening_approvals`` (two or more) distinct approvers.

Change requests are folded from their audit events (:func:`fold_changes`), so the chain is
their only record: ``policy.change_proposed`` (the text, the diff, the backtest summary),
``policy.change_approved`` / ``policy.change_rejected``, ``policy.change_withdrawn`` and the
``policy.applied`` that names the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clearance.core.approvals import Approval, approval_status
from clearance.core.policy import ApprovalRequirement, ApprovalRules, ChangeControl, Policy
from clearance.core.policy_diff import Change
from clearance.core.results import ApprovalStatus

DEFAULT_ROLE = "policy_admin"
DEFAULT_ROLES = ("policy_admin", "admin")  # who approves when a policy names nobody
PROPOSED = "policy.change_proposed"
APPROVED = "policy.change_approved"
REJECTED = "policy.change_rejected"
WITHDRAWN = "policy.change_withdrawn"
APPLIED = "policy.applied"
CHANGE_ACTIONS = frozenset({PROPOSED, APPROVED, REJECTED, WITHDRAWN, APPLIED})
ChangeStatus = Literal["pending", "applied", "rejected", "withdrawn"]
_SEPARATION = ApprovalRules(allow_self_approval=False, one_person_counts_once=True)


# who approves ------------------------------------------------------------------------------
def requirements(control: ChangeControl) -> list[ApprovalRequirement]:
    """The sign-offs a change needs (the default: one policy_admin, an admin counting as one)."""
    return list(control.approvals) or [ApprovalRequirement(role=DEFAULT_ROLE)]


def approver_roles(control: ChangeControl) -> list[str]:
    """Roles whose holders may approve or reject a change."""
    if control.approvals:
        return sorted({r.role for r in control.approvals})
    return list(DEFAULT_ROLES)


def effective_roles(roles: Sequence[str], control: ChangeControl) -> list[str]:
    """An admin fills the default policy_admin slot; a policy that names roles means them."""
    if not control.approvals and "admin" in roles and DEFAULT_ROLE not in roles:
        return sorted({*roles, DEFAULT_ROLE})
    return sorted(set(roles))


def signing_refusal(
    actor: str, roles: Sequence[str], *, author: str, control: ChangeControl, policy: str
) -> str | None:
    """Why ``actor`` may not sign a change to ``policy`` (None: they may)."""
    who = ", ".join(approver_roles(control))
    if actor == author:
        return (
            f"{actor} proposed this change and cannot sign it: the author of a policy change "
            f"never approves it (whatever approval_rules say); ask someone holding {who}"
        )
    if not set(effective_roles(roles, control)) & set(approver_roles(control)):
        return (
            f"{actor} holds {', '.join(roles) or 'no roles'}; changes to policy {policy} need "
            f"sign-off from {who} (its change_control, as applied now)"
        )
    return None


class ChangeApprovals(BaseModel):
    """Where a change stands against the change control of the version in force."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: ApprovalStatus
    approvers: list[str] = Field(description="Distinct people whose approval counts.")
    loosening: bool
    distinct_needed: int = Field(description="Distinct approvers needed (0: the roles decide).")
    satisfied: bool
    missing: list[str] = Field(description="What is still needed, in words.")


def judge(
    control: ChangeControl, approvals: Sequence[Approval], *, author: str, loosening: bool
) -> ChangeApprovals:
    """Whether ``approvals`` suffice; independent of the order they arrived in."""
    counted = [a.model_copy(update={"roles": effective_roles(a.roles, control)}) for a in approvals]
    reqs = requirements(control)
    status = approval_status(reqs, counted, _SEPARATION, requester=author, evidence_digest=None)
    roles = set(approver_roles(control))
    latest: dict[str, Approval] = {}
    for a in sorted(counted, key=lambda a: (a.at, a.verdict == "reject", a.model_dump_json())):
        latest[a.approver] = a
    people = sorted(
        who
        for who, a in latest.items()
        if who != author and a.verdict == "approve" and roles & set(a.roles)
    )
    needed = control.loosening_approvals if loosening else 0
    label = " or ".join(DEFAULT_ROLES) if not control.approvals else None
    missing = [
        f"{label or r.role}: {r.required - len(r.approved_by)} more"
        for r in status.roles
        if not r.satisfied
    ]
    if len(people) < needed:
        missing.append(
            f"a loosening needs {needed} distinct approvers other than the author "
            f"({', '.join(sorted(roles))}); {len(people)} so far"
        )
    if status.rejected_by:
        missing.append(f"rejected by {', '.join(status.rejected_by)}")
    return ChangeApprovals(
        status=status,
        approvers=people,
        loosening=loosening,
        distinct_needed=needed,
        satisfied=status.satisfied and len(people) >= needed,
        missing=missing,
    )


# the change to change control itself -------------------------------------------------------
def control_changes(old: Policy, new: Policy) -> list[Change]:
    """How ``change_control`` moved: fewer or other approvers loosen, more tighten."""
    a, b = old.change_control, new.change_control
    out: list[Change] = []
    before, after = _slots(a), _slots(b)
    for role in sorted(set(before) | set(after)):
        was, now = before.get(role, 0), after.get(role, 0)
        if was == now:
            continue
        looser = now < was
        out.append(
            Change(
                path="change_control.approvals",
                kind="loosened" if looser else "tightened",
                old=was or None,
                new=now or None,
                note=f"policy changes no longer need {role} (was {was})"
                if now == 0
                else f"policy changes need {now} {role} (was {was})",
                loosens=looser,
            )
        )
    if a.loosening_approvals != b.loosening_approvals:
        looser = b.loosening_approvals < a.loosening_approvals
        out.append(
            Change(
                path="change_control.loosening_approvals",
                kind="loosened" if looser else "tightened",
                old=a.loosening_approvals,
                new=b.loosening_approvals,
                note=f"a loosening needs {b.loosening_approvals} approvers "
                f"(was {a.loosening_approvals})",
                loosens=looser,
            )
        )
    return out


def _slots(control: ChangeControl) -> dict[str, int]:
    if not control.approvals:
        return {" or ".join(DEFAULT_ROLES): 1}
    counts: dict[str, int] = {}
    for r in control.approvals:
        counts[r.role] = counts.get(r.role, 0) + r.count
    return counts


# the changes, folded from their events -----------------------------------------------------
class PolicyChange(BaseModel):
    """A proposed policy version and what has happened to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(description="The audit seq of its proposal.")
    name: str
    version: str = Field(description="The proposed version.")
    base_version: str = Field(description="The version in force when it was proposed.")
    base_hash: str
    content_hash: str
    author: str
    proposed_at: dt.datetime
    rationale: str
    ticket: str
    files: list[str]
    diff: dict[str, Any] = Field(description="The semantic diff from the base version.")
    loosening: bool
    backtest: dict[str, Any] | None = Field(description="Backtest summary, when one ran.")
    approvals: list[Approval] = Field(default_factory=list)
    status: ChangeStatus = "pending"
    closed_by: str | None = None
    closed_at: dt.datetime | None = None
    close_reason: str = ""


class ChangeEvent(BaseModel):
    """The fields of an audit event a change is folded from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    time: dt.datetime
    actor: str
    action: str
    payload: dict[str, Any]


def fold_changes(events: Iterable[ChangeEvent]) -> tuple[dict[int, PolicyChange], dict[int, Any]]:
    """Every change by id, and each one's source files, from events in seq order.

    Events that name an unknown change, or act on a closed one, change nothing: the use cases
    never write them, and a fold must not fail on the chain it reads.
    """
    changes: dict[int, PolicyChange] = {}
    sources: dict[int, Any] = {}
    for e in events:
        if e.action == PROPOSED:
            changes[e.seq] = _proposed(e)
            sources[e.seq] = e.payload.get("sources", [])
            continue
        ident = e.payload.get("change")
        change = changes.get(ident) if isinstance(ident, int) else None
        if change is None or change.status != "pending":
            continue
        changes[change.id] = _next(change, e)
    return changes, sources


def _proposed(e: ChangeEvent) -> PolicyChange:
    p = e.payload
    diff = p.get("diff") if isinstance(p.get("diff"), dict) else {}
    return PolicyChange(
        id=e.seq,
        name=str(p.get("name", "")),
        version=str(p.get("version", "")),
        base_version=str(p.get("base_version", "")),
        base_hash=str(p.get("base_hash", "")),
        content_hash=str(p.get("content_hash", "")),
        author=e.actor,
        proposed_at=e.time,
        rationale=str(p.get("rationale", "")),
        ticket=str(p.get("ticket", "")),
        files=[str(f) for f in p.get("files", [])],
        diff=diff or {},
        loosening=bool(p.get("loosening", False)),
        backtest=p.get("backtest") if isinstance(p.get("backtest"), dict) else None,
    )


def _next(change: PolicyChange, e: ChangeEvent) -> PolicyChange:
    p: Mapping[str, Any] = e.payload
    reason = str(p.get("reason", ""))
    if e.action in (APPROVED, REJECTED):
        verdict: Literal["approve", "reject"] = "approve" if e.action == APPROVED else "reject"
        roles = [str(r) for r in p.get("roles", [])]
        signed = Approval(approver=e.actor, roles=roles, verdict=verdict, reason=reason, at=e.time)
        update: dict[str, Any] = {"approvals": [*change.approvals, signed]}
        if verdict == "reject":
            update |= {"status": "rejected", "closed_by": e.actor, "closed_at": e.time}
            update["close_reason"] = reason
        return change.model_copy(update=update)
    status: ChangeStatus = "withdrawn" if e.action == WITHDRAWN else "applied"
    return change.model_copy(
        update={"status": status, "closed_by": e.actor, "closed_at": e.time, "close_reason": reason}
    )
