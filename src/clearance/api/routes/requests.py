"""Promotion requests, sign-offs, re-evaluation and rollback."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from clearance.api.deps import IdPath, PageDep, UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute
from clearance.api.idempotency import fingerprint, run_once
from clearance.api.problems import COMMON, responses
from clearance.api.routes.registry import IdempotencyKey
from clearance.api.schemas import (
    Page,
    PromoteBody,
    RequestDetail,
    RequestResultOut,
    RequestRow,
    RollbackBody,
    RollbackOut,
    SignBody,
    paged,
)
from clearance.service.promotion import RequestResult

router = APIRouter(tags=["requests"], route_class=GuardedRoute)


def result_body(request: Request, result: RequestResult) -> dict[str, Any]:
    request.app.state.metrics.observe_decision(result.decision)
    return RequestResultOut(
        request=result.request,
        decision=result.decision,
        decision_number=result.decision_number,
        executed=result.executed,
        exit_code=result.exit_code,
    ).model_dump(mode="json")


@router.post(
    "/requests",
    status_code=201,
    summary="Request a promotion; it executes at once when gates pass and no sign-off is due.",
    response_model=RequestResultOut,
    responses=responses(*COMMON, 403, 404, 409),
)
def promote(
    request: Request,
    body: PromoteBody,
    user: UserDep,
    ws: WorkspaceDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def call() -> tuple[int, Any]:
        result = ws.promotions.promote(
            body.model,
            body.version,
            body.to,
            actor=user.name,
            reason=body.reason,
            ticket=body.ticket,
            change_type=body.change_type,
        )
        return 201, result_body(request, result)

    print_ = fingerprint("promote", body.model_dump_json())
    return run_once(request, ws, user.name, idempotency_key, print_, call)


@router.get(
    "/requests",
    summary="Promotion requests, oldest first; filter by model and status.",
    response_model=Page[RequestRow],
    responses=responses(*COMMON, 404),
)
def list_requests(
    user: UserDep,
    ws: WorkspaceDep,
    paging: PageDep,
    model: str | None = None,
    status: Annotated[
        Literal["open"] | None, Query(description="open: pending or blocked only.")
    ] = None,
) -> dict[str, Any]:
    rows, total = ws.views.requests_page(
        model=model, open_only=status == "open", limit=paging.limit, offset=paging.offset
    )
    return paged(rows, total, paging.limit, paging.offset)


@router.get(
    "/requests/{request_id}",
    summary="One request with its approvals and latest decision.",
    response_model=RequestDetail,
    responses=responses(*COMMON, 404),
)
def get_request(request_id: IdPath, user: UserDep, ws: WorkspaceDep) -> dict[str, Any]:
    return ws.views.request(request_id)


@router.post(
    "/requests/{request_id}/approvals",
    status_code=201,
    summary="Approve in one of your roles (never your own request).",
    response_model=RequestResultOut,
    responses=responses(*COMMON, 403, 404, 409),
)
def approve(
    request: Request, request_id: IdPath, body: SignBody, user: UserDep, ws: WorkspaceDep
) -> dict[str, Any]:
    result = ws.promotions.approve(
        request_id, actor=user.name, reason=body.reason, ticket=body.ticket
    )
    return result_body(request, result)


@router.post(
    "/requests/{request_id}/rejections",
    status_code=201,
    summary="Reject with a reason the requester can act on.",
    response_model=RequestResultOut,
    responses=responses(*COMMON, 403, 404, 409),
)
def reject(
    request: Request, request_id: IdPath, body: SignBody, user: UserDep, ws: WorkspaceDep
) -> dict[str, Any]:
    result = ws.promotions.reject(
        request_id, actor=user.name, reason=body.reason, ticket=body.ticket
    )
    return result_body(request, result)


@router.post(
    "/requests/{request_id}/reevaluate",
    summary="Evaluate an open request again (after new evidence or a waiver).",
    response_model=RequestResultOut,
    responses=responses(*COMMON, 403, 404, 409),
)
def reevaluate(
    request: Request, request_id: IdPath, user: UserDep, ws: WorkspaceDep
) -> dict[str, Any]:
    return result_body(request, ws.promotions.reevaluate(request_id, actor=user.name))


@router.post(
    "/models/{model}/rollback",
    summary="Restore the previous production version (or a named one).",
    response_model=RollbackOut,
    responses=responses(*COMMON, 403, 404, 409),
)
def rollback(model: str, body: RollbackBody, user: UserDep, ws: WorkspaceDep) -> RollbackOut:
    gone, restored = ws.promotions.rollback(
        model, actor=user.name, reason=body.reason, to_version=body.to_version
    )
    return RollbackOut(rolled_back=gone, restored=restored)
