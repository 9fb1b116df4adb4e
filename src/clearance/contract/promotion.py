# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Promotion requests, sign-offs, re-evaluation, post-incident reviews and rollback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from clearance.contract.operations import Contract, operation
from clearance.contract.types import RecordId
from clearance.service.paging import MAX_PAGE, every

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.contract.schemas import (  # noqa: F401 (named by body=)
        Cursor,
        Limit,
        Offset,
        PromoteBody,
        ReviewBody,
        RollbackBody,
        SignBody,
    )
    from clearance.service.promotion import RequestResult, RollbackOut
    from clearance.service.records import ReviewRecord
    from clearance.service.views import CursorPage, QueueItem, RequestDetail, RequestRow


class PromotionOps(Contract):
    # promotion requests --------------------------------------------------------------------
    @operation(
        "POST",
        "/requests",
        service="promotions",
        tags=("requests",),
        errors=(403, 404, 409),
        body="PromoteBody",
        actor=True,
        idempotent=True,
    )
    def promote(
        self,
        model: str,
        version: str,
        to: str,
        *,
        change_type: str = "standard",
        reason: str = "",
        ticket: str = "",
        idempotency_key: str | None = None,
    ) -> RequestResult:
        """Request a promotion; it executes at once when gates pass and no sign-off is due.

        Carries an idempotency key (yours, or one made for this call), so a retry can never
        open a second request.
        """

    @operation(
        "GET",
        "/requests",
        service="views",
        handler="requests",
        tags=("requests",),
        errors=(404,),
        route="list_requests",
    )
    def request_page(
        self,
        *,
        model: str | None = None,
        status: Annotated[
            Literal["open"] | None, Field(description="open: pending or blocked only.")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> CursorPage[RequestRow]:
        """Promotion requests, oldest first; filter by model and status."""

    def request_list(
        self, *, model: str | None = None, status: Literal["open"] | None = None
    ) -> list[RequestRow]:
        """Every promotion request (of ``model``; ``open``: pending or blocked), oldest first."""
        return every(
            lambda cursor: self.request_page(
                model=model, status=status, limit=MAX_PAGE, cursor=cursor
            )
        )

    def requests(self, *, model: str | None = None, open_only: bool = False) -> list[RequestRow]:
        """Promotion requests (only pending and blocked ones with ``open_only``)."""
        return self.request_list(model=model, status="open" if open_only else None)

    @operation(
        "GET",
        "/requests/{request_id}",
        service="views",
        tags=("requests",),
        errors=(404,),
        route="get_request",
    )
    def request(self, request_id: RecordId) -> RequestDetail:
        """One request with its approvals and latest decision."""

    @operation(
        "GET",
        "/queue",
        service="views",
        handler="approval_queue",
        tags=("requests",),
        actor=True,
        route="approval_queue",
    )
    def queue_page(self, *, limit: Limit = 50, cursor: Cursor = None) -> CursorPage[QueueItem]:
        """Open requests waiting for a sign-off you may give, oldest first.

        Those whose transition (or change type) requires a role you hold, not your own and
        not yet signed by you, each with its age and its approval SLA. Follow ``next`` (as
        ``cursor``) for the page after; ``total`` is always null.
        """

    def approval_queue(self) -> list[QueueItem]:
        """Every open request waiting for a sign-off you may give, oldest first."""
        return every(lambda cursor: self.queue_page(limit=MAX_PAGE, cursor=cursor))

    # sign-offs and re-evaluation -----------------------------------------------------------
    @operation(
        "POST",
        "/requests/{request_id}/approvals",
        service="promotions",
        tags=("requests",),
        errors=(403, 404, 409),
        body="SignBody",
        actor=True,
    )
    def approve(self, request_id: RecordId, *, reason: str = "", ticket: str = "") -> RequestResult:
        """Approve in one of your roles (never your own request)."""

    @operation(
        "POST",
        "/requests/{request_id}/rejections",
        service="promotions",
        tags=("requests",),
        errors=(403, 404, 409),
        body="SignBody",
        actor=True,
    )
    def reject(self, request_id: RecordId, *, reason: str, ticket: str = "") -> RequestResult:
        """Reject with a reason the requester can act on."""

    @operation(
        "POST",
        "/requests/{request_id}/reevaluate",
        service="promotions",
        tags=("requests",),
        errors=(403, 404, 409),
        actor=True,
    )
    def reevaluate(self, request_id: RecordId) -> RequestResult:
        """Evaluate an open request again (after new evidence or a waiver)."""

    @operation(
        "POST",
        "/requests/{request_id}/review",
        service="governance",
        handler="record_review",
        tags=("requests",),
        errors=(403, 404, 409),
        body="ReviewBody",
        actor=True,
        route="record_review",
    )
    def review(
        self, request_id: RecordId, *, summary: str, actions: Sequence[str] = ()
    ) -> ReviewRecord:
        """Record the post-incident review an executed emergency change owes."""

    # rollback ------------------------------------------------------------------------------
    @operation(
        "POST",
        "/models/{model}/rollback",
        service="promotions",
        tags=("requests",),
        errors=(403, 404, 409),
        status=200,
        body="RollbackBody",
        actor=True,
    )
    def rollback(self, model: str, *, reason: str, to_version: str | None = None) -> RollbackOut:
        """Restore the previous production version (or a named one)."""
