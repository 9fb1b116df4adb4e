# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Decisions, replay and the audit trail.

Two reads are not one page of a list: the audit events come by a seq cursor (each page says
where the next starts), and the export is a stream. The events are an ordinary operation
(``audit_page``, one ``AuditPage``) and ``audit_events`` walks the cursor on either transport;
the export is ``custom`` (its route and SDK method stream, by hand).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from clearance.contract.operations import Contract, operation
from clearance.contract.types import MAX_ID
from clearance.service.paging import MAX_EVENTS_PAGE

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.core.audit import AuditEvent, VerifyReport
    from clearance.service.auditing import AuditPage, PublicKeyOut
    from clearance.service.records import CheckpointRecord, DecisionRecord
    from clearance.service.replay import ReplayReport

# A decision's number, or a prefix of its digest: what the API's path takes.
DecisionKey = Annotated[
    str,
    Field(
        pattern=r"^[0-9A-Fa-f]{1,64}$",
        description="The decision's number, or a prefix (6+ hex digits) of its digest.",
    ),
]
ModelFilter = Annotated[str | None, Field(description="Only events about this model.")]
SinceFilter = Annotated[
    dt.datetime | None,
    Field(description="Only events at or after this time (ISO 8601; without a zone, UTC)."),
]
EVENTS_PAGE = 500  # events per request when ``audit_events`` walks the trail


class AuditOps(Contract):
    # decisions -----------------------------------------------------------------------------
    @operation(
        "GET",
        "/decisions/{key}",
        service="replays",
        handler="decisions",
        tags=("decisions",),
        errors=(404,),
        route="get_decision",
    )
    def decision_matches(self, key: DecisionKey) -> list[DecisionRecord]:
        """A stored decision with its recorded inputs (every match of a digest prefix)."""

    def decisions(self, key: str | int) -> list[DecisionRecord]:
        """The stored decisions a number or digest prefix names, with their recorded inputs."""
        return self.decision_matches(str(key))

    @operation(
        "POST",
        "/decisions/{key}/replay",
        service="replays",
        handler="replay",
        tags=("decisions",),
        errors=(404,),
        route="replay",
    )
    def replay_decision(self, key: DecisionKey) -> ReplayReport:
        """Recompute a stored decision from its recorded inputs and say what differs."""

    def replay(self, key: str | int) -> ReplayReport:
        """Recompute a stored decision from its recorded inputs (on the server, remotely)."""
        return self.replay_decision(str(key))

    # the audit trail -----------------------------------------------------------------------
    @operation(
        "GET",
        "/audit/events",
        service="auditing",
        handler="events",
        tags=("audit",),
        errors=(404,),
        route="list_events",
    )
    def audit_page(
        self,
        *,
        after: Annotated[
            int, Field(ge=0, le=MAX_ID, description="Only events after this seq (the cursor).")
        ] = 0,
        limit: Annotated[
            int, Field(ge=1, le=MAX_EVENTS_PAGE, description="At most this many events.")
        ] = 100,
        model: ModelFilter = None,
        since: SinceFilter = None,
    ) -> AuditPage:
        """Audit events in seq order, paged by a seq cursor."""

    def audit_events(
        self,
        *,
        after: int | None = None,
        model: str | None = None,
        since: dt.datetime | None = None,
        page_size: int = EVENTS_PAGE,
    ) -> Iterator[AuditEvent]:
        """Every audit event after ``after`` (a seq), oldest first, fetched page by page.

        Lazy: a consumer that stops early fetches no further pages.
        """
        cursor = after or 0
        while True:
            page = self.audit_page(after=cursor, limit=page_size, model=model, since=since)
            yield from page.items
            if page.next_after is None or not page.items:
                return
            cursor = page.next_after

    @operation(
        "GET",
        "/audit/verify",
        service="auditing",
        handler="verify",
        tags=("audit",),
        actor=True,
        route="verify",
    )
    def verify_audit(
        self,
        *,
        blobs: Annotated[bool, Field(description="Also re-hash every stored blob.")] = False,
    ) -> VerifyReport:
        """Recompute the hash chain, check every signed checkpoint, and compare the state
        the events imply with the tables (and re-hash every blob with blobs=true).

        To trust nobody, verify the events and checkpoints yourself with the public key
        (``clearance audit verify --public-key``).
        """

    @operation(
        "GET",
        "/audit/export",
        service="auditing",
        handler="export",
        tags=("audit",),
        errors=(404,),
        route="export",
        custom=True,  # a stream: api/routes/audit.py and Client.export_audit
    )
    def export_audit(
        self,
        format: Literal["jsonl", "csv"] = "jsonl",
        *,
        since: dt.datetime | None = None,
        model: str | None = None,
    ) -> Iterator[str]:
        """Export the audit trail as JSON Lines or CSV, streamed."""

    # signed checkpoints --------------------------------------------------------------------
    @operation(
        "GET",
        "/audit/checkpoints",
        service="auditing",
        tags=("audit",),
        route="list_checkpoints",
    )
    def checkpoints(self) -> list[CheckpointRecord]:
        """Signed checkpoints of the chain's head, oldest first."""

    @operation(
        "POST",
        "/audit/checkpoints",
        service="auditing",
        tags=("audit",),
        errors=(403, 409),
        status=201,
        actor=True,
    )
    def checkpoint(self) -> CheckpointRecord:
        """Sign the chain's current head (admin or auditor): truncation becomes visible."""

    @operation("GET", "/audit/public-key", service="auditing", tags=("audit",), route="public_key")
    def audit_key(self) -> PublicKeyOut:
        """The Ed25519 public key that verifies the checkpoints (hex and PEM)."""

    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 key that verifies the checkpoints."""
        return bytes.fromhex(self.audit_key().public_key_hex)
