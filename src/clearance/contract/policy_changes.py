# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Policy change requests: a new version of an applied policy applies once approved.

The paths live under ``/policy-changes``, not ``/policies/changes``: ``changes`` is a valid
policy name, and ``GET /policies/{name}/{version}`` would read ``/policies/changes/3`` as
version 3 of a policy called ``changes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from clearance.contract.operations import Contract, operation
from clearance.contract.types import RecordId

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.service.policy_changes import (  # noqa: F401 (bodies: named by body=)
        ChangeFile,
        PolicyChangeBody,
        PolicyChangeOut,
        PolicyChangeRejectBody,
        PolicyChangeSignBody,
    )

OpenOnly = Annotated[bool, Field(description="Only the pending changes.")]


class PolicyChangeOps(Contract):
    @operation(
        "POST",
        "/policy-changes",
        service="policy_changes",
        handler="propose",
        tags=("policies",),
        errors=(403, 404),
        body="PolicyChangeBody",
        actor=True,
        route="propose_policy_change",
    )
    def propose_policy_change(
        self,
        files: Sequence[ChangeFile | Mapping[str, str]],
        *,
        rationale: str,
        ticket: str,
    ) -> PolicyChangeOut:
        """Propose a new version of an applied policy (its files, why, and the ticket).

        The answer carries the semantic diff from the version in force, with its loosenings,
        and a backtest summary. The version applies once the roles the version in force names
        under ``change_control`` approve it; a loosening needs two approvers, never the author.
        """

    @operation(
        "GET",
        "/policy-changes",
        service="policy_changes",
        handler="list_changes",
        tags=("policies",),
        route="list_policy_changes",
    )
    def policy_changes(self, *, open_only: OpenOnly = False) -> list[PolicyChangeOut]:
        """Policy change requests, oldest first, with where each stands."""

    @operation(
        "GET",
        "/policy-changes/{change_id}",
        service="policy_changes",
        handler="show",
        tags=("policies",),
        errors=(404,),
        route="get_policy_change",
    )
    def policy_change(self, change_id: RecordId) -> PolicyChangeOut:
        """One change request: its files, diff, backtest summary and sign-offs."""

    @operation(
        "POST",
        "/policy-changes/{change_id}/approve",
        service="policy_changes",
        handler="approve",
        tags=("policies",),
        errors=(403, 404),
        status=200,
        body="PolicyChangeSignBody",
        actor=True,
        route="approve_policy_change",
    )
    def approve_policy_change(self, change_id: RecordId, *, reason: str = "") -> PolicyChangeOut:
        """Approve a change (never your own); the approval that completes it applies it."""

    @operation(
        "POST",
        "/policy-changes/{change_id}/reject",
        service="policy_changes",
        handler="reject",
        tags=("policies",),
        errors=(403, 404),
        status=200,
        body="PolicyChangeRejectBody",
        actor=True,
        route="reject_policy_change",
    )
    def reject_policy_change(self, change_id: RecordId, *, reason: str) -> PolicyChangeOut:
        """Reject a change with a reason its author can act on; it is closed."""

    @operation(
        "POST",
        "/policy-changes/{change_id}/withdraw",
        service="policy_changes",
        handler="withdraw",
        tags=("policies",),
        errors=(403, 404),
        status=200,
        body="PolicyChangeSignBody",
        actor=True,
        route="withdraw_policy_change",
    )
    def withdraw_policy_change(self, change_id: RecordId, *, reason: str = "") -> PolicyChangeOut:
        """Withdraw a pending change (its author, or an admin); it can no longer be approved."""
