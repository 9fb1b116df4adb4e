"""Governance: waivers, post-incident reviews, canary rollouts, alerts and the tick."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from clearance.api.deps import IdPath, PageDep, UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute
from clearance.api.problems import COMMON, responses
from clearance.api.schemas import (
    ObserveBody,
    ObserveOut,
    Page,
    ReviewBody,
    RevokeBody,
    RolloutBody,
    RolloutStatus,
    TickOut,
    WaiverBody,
    WaiverOut,
    page,
)
from clearance.core.durations import parse_duration
from clearance.errors import InputError
from clearance.notify.events import Notification
from clearance.service.context import require_model
from clearance.service.records import ReviewRecord, RolloutRecord, WaiverRecord

router = APIRouter(route_class=GuardedRoute)

ModelQuery = Annotated[str | None, Query(description="Only this model's.")]


# --- waivers ------------------------------------------------------------------------------


@router.get(
    "/waivers/backlog",
    tags=["waivers"],
    summary="The exception backlog: every waiver's state, counts, and the monthly trend.",
    response_model=dict[str, Any],
    responses=responses(*COMMON, 404),
)
def waiver_backlog(
    user: UserDep,
    ws: WorkspaceDep,
    model: ModelQuery = None,
    expiring_within: Annotated[
        str | None,
        Query(max_length=12, description="Only active waivers expiring within, e.g. 7d."),
    ] = None,
) -> dict[str, Any]:
    within = None
    if expiring_within is not None:
        try:
            within = parse_duration(expiring_within)
        except ValueError as exc:
            raise InputError(f"expiring_within: {exc}") from None
    return ws.waivers.backlog(model=model, expiring_within=within)


@router.get(
    "/waivers",
    tags=["waivers"],
    summary="Waivers with their state now, oldest first; filter by model and state.",
    response_model=Page[WaiverOut],
    responses=responses(*COMMON, 404),
)
def list_waivers(
    user: UserDep,
    ws: WorkspaceDep,
    paging: PageDep,
    model: ModelQuery = None,
    state: Literal["active", "expired", "revoked"] | None = None,
) -> dict[str, Any]:
    now = ws.clock.now()
    with ws.store.reading() as tx:
        if model is not None:
            require_model(tx, model)
        waivers = tx.list_waivers(model=model)
    rows = [WaiverOut.of(w, now) for w in waivers]
    rows = [w for w in rows if state is None or w.state == state]
    return page(rows, paging.limit, paging.offset)


def _utc(when: dt.datetime, what: str) -> dt.datetime:
    """A time without a zone is UTC (as the CLI reads it)."""
    try:
        return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    except (OverflowError, ValueError):
        raise InputError(f"{what}: {when.isoformat()} is out of range") from None


@router.post(
    "/waivers",
    tags=["waivers"],
    status_code=201,
    summary="Grant a waiver for one gate (only the roles the policy names for waivers may).",
    response_model=WaiverRecord,
    responses=responses(*COMMON, 403, 404, 409),
)
def grant_waiver(body: WaiverBody, user: UserDep, ws: WorkspaceDep) -> WaiverRecord:
    if (body.until is None) == (body.expires_in is None):
        raise InputError("give the waiver's expiry as either until or expires_in (not both)")
    if body.until is not None:
        until = _utc(body.until, "until")
    else:
        assert body.expires_in is not None
        until = ws.clock.now() + parse_duration(body.expires_in)
    return ws.waivers.grant(
        body.model,
        body.gate,
        until=until,
        justification=body.justification,
        controls=body.controls,
        actor=user.name,
        version=body.version,
    )


@router.post(
    "/waivers/{waiver_id}/revoke",
    tags=["waivers"],
    summary="Revoke a waiver before it expires (its grantor, or a grantor role).",
    response_model=WaiverRecord,
    responses=responses(*COMMON, 403, 404, 409),
)
def revoke_waiver(
    waiver_id: Annotated[str, Path(description="A waiver id: W-3 (or 3).")],
    body: RevokeBody,
    user: UserDep,
    ws: WorkspaceDep,
) -> WaiverRecord:
    return ws.waivers.revoke(waiver_id, reason=body.reason, actor=user.name)


# --- post-incident reviews ----------------------------------------------------------------


@router.post(
    "/requests/{request_id}/review",
    tags=["requests"],
    status_code=201,
    summary="Record the post-incident review an executed emergency change owes.",
    response_model=ReviewRecord,
    responses=responses(*COMMON, 403, 404, 409),
)
def record_review(
    request_id: IdPath, body: ReviewBody, user: UserDep, ws: WorkspaceDep
) -> ReviewRecord:
    return ws.governance.record_review(
        request_id, summary=body.summary, actions=body.actions, actor=user.name
    )


# --- canary rollouts ----------------------------------------------------------------------


@router.post(
    "/models/{model}/rollouts",
    tags=["rollouts"],
    status_code=201,
    summary="Start the canary of an approved promotion (the first step of the policy's plan).",
    response_model=RolloutRecord,
    responses=responses(*COMMON, 403, 404, 409),
)
def start_rollout(model: str, body: RolloutBody, user: UserDep, ws: WorkspaceDep) -> RolloutRecord:
    return ws.rollouts.start(model, body.version, actor=user.name)


@router.post(
    "/models/{model}/rollouts/observe",
    tags=["rollouts"],
    summary="Feed KPI readings to the running canary: it holds, advances, completes or rolls back.",
    response_model=ObserveOut,
    responses=responses(*COMMON, 403, 404, 409),
)
def observe_rollout(model: str, body: ObserveBody, user: UserDep, ws: WorkspaceDep) -> ObserveOut:
    readings = {name: (r.canary, r.control) for name, r in body.readings.items()}
    rollout, verdict = ws.rollouts.observe(model, readings, actor=user.name)
    return ObserveOut(
        rollout=rollout, action=verdict.action, reason=verdict.reason, breaches=verdict.breaches
    )


@router.get(
    "/models/{model}/rollouts",
    tags=["rollouts"],
    summary="Where the model's latest rollout stands, with its latest KPI readings.",
    response_model=RolloutStatus,
    responses=responses(*COMMON, 404),
)
def rollout_status(model: str, user: UserDep, ws: WorkspaceDep) -> dict[str, Any]:
    return ws.rollouts.status(model)


# --- alerts and the tick ------------------------------------------------------------------


@router.get(
    "/alerts",
    tags=["alerts"],
    summary="The alerts recorded (newest last).",
    response_model=list[Notification],
    responses=responses(*COMMON),
)
def list_alerts(user: UserDep, ws: WorkspaceDep, model: ModelQuery = None) -> list[Any]:
    with ws.store.reading() as tx:
        return tx.notifications(model=model)


@router.post(
    "/tick",
    tags=["alerts"],
    summary="Run the time-based work once (idempotent): expiries, SLAs, reviews, rollouts, "
    "then route and deliver alerts (admin or mlops_oncall).",
    response_model=TickOut,
    responses=responses(*COMMON, 403, 409),
)
def tick(user: UserDep, ws: WorkspaceDep) -> TickOut:
    return TickOut(**ws.tick(actor=user.name).model_dump())


@router.get(
    "/models/{model}/serving",
    tags=["rollouts"],
    summary="The serving assignment a serving layer reads: champion, canary and its weight.",
    response_model=dict[str, Any],
    responses=responses(*COMMON, 404),
)
def serving(model: str, user: UserDep, ws: WorkspaceDep) -> dict[str, Any]:
    return ws.rollouts.serving(model)
