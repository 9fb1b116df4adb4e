"""Decisions (with replay) and the audit trail: events, verify, export, checkpoints, key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Annotated, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from clearance.api.deps import MAX_ID, UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute
from clearance.api.problems import COMMON, responses
from clearance.api.schemas import AuditPage, PublicKeyOut, ReplayOut, VerifyOut
from clearance.core.audit import key_id
from clearance.errors import InputError, NotFound
from clearance.service.context import require_model
from clearance.service.records import CheckpointRecord, DecisionRecord

router = APIRouter(route_class=GuardedRoute)

DecisionKey = Annotated[
    str,
    Path(
        pattern=r"^[0-9A-Fa-f]{1,64}$",
        description="The decision's number, or a prefix (6+ hex digits) of its digest.",
    ),
]
Since = Annotated[
    dt.datetime | None,
    Query(description="Only events at or after this time (ISO 8601; without a zone, UTC)."),
]
ModelQuery = Annotated[str | None, Query(description="Only events about this model.")]

MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def _key(key: str) -> str:
    # A decision number is a database integer: a longer all-digit key can only be a digest
    # prefix, which the store would still read as a number (and overflow); say so instead.
    if re.fullmatch(r"[0-9]{19,}", key):
        raise InputError(
            f"decision '{key}': a number has at most 18 digits; for a digest prefix, "
            "include a hex letter or give fewer digits"
        )
    return key


def _utc(when: dt.datetime | None) -> dt.datetime | None:
    if when is None:
        return None
    try:
        return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    except (OverflowError, ValueError):
        raise InputError(f"since: {when.isoformat()} is out of range") from None


# --- decisions ----------------------------------------------------------------------------


@router.get(
    "/decisions/{key}",
    tags=["decisions"],
    summary="A stored decision with its recorded inputs (every match of a digest prefix).",
    response_model=list[DecisionRecord],
    responses=responses(*COMMON, 404),
)
def get_decision(key: DecisionKey, user: UserDep, ws: WorkspaceDep) -> list[DecisionRecord]:
    with ws.store.reading() as tx:
        found = tx.get_decision(_key(key))
    if not found:
        raise NotFound(f"no decision '{key}'; give its number or a digest prefix")
    return found


@router.post(
    "/decisions/{key}/replay",
    tags=["decisions"],
    summary="Recompute a stored decision from its recorded inputs and say what differs.",
    response_model=ReplayOut,
    responses=responses(*COMMON, 404),
)
def replay(key: DecisionKey, user: UserDep, ws: WorkspaceDep) -> ReplayOut:
    report = ws.replays.replay(_key(key))
    return ReplayOut(**report.__dict__, identical=report.identical, exit_code=report.exit_code)


# --- the audit trail ----------------------------------------------------------------------


@router.get(
    "/audit/events",
    tags=["audit"],
    summary="Audit events in seq order, paged by a seq cursor.",
    response_model=AuditPage,
    responses=responses(*COMMON, 404),
)
def list_events(
    user: UserDep,
    ws: WorkspaceDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Only events after this seq (the cursor).")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many events.")] = 100,
    model: ModelQuery = None,
    since: Since = None,
) -> AuditPage:
    start = _utc(since)
    with ws.store.reading() as tx:
        if model is not None:
            require_model(tx, model)
        newer = tx.events(model=model, since=start, after=after, batch=min(limit + 1, 1000))
        items = list(itertools.islice(newer, limit + 1))
    more = len(items) > limit
    items = items[:limit]
    return AuditPage(items=items, next_after=items[-1].seq if more else None)


@router.get(
    "/audit/verify",
    tags=["audit"],
    summary="Recompute the hash chain, check every signed checkpoint, and compare the state "
    "the events imply with the tables (and re-hash every blob with blobs=true).",
    response_model=VerifyOut,
    responses=responses(*COMMON),
)
def verify(
    user: UserDep,
    ws: WorkspaceDep,
    blobs: Annotated[bool, Query(description="Also re-hash every stored blob.")] = False,
) -> VerifyOut:
    return VerifyOut.model_validate(
        dataclasses.asdict(ws.auditing.verify(blobs=blobs, actor=user.name))
    )


@router.get(
    "/audit/export",
    tags=["audit"],
    summary="Export the audit trail as JSON Lines or CSV, streamed.",
    response_class=StreamingResponse,
    responses={
        **responses(*COMMON, 404),
        200: {
            "description": "One event per line (CSV: after a header row).",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
    },
)
def export(
    user: UserDep,
    ws: WorkspaceDep,
    fmt: Annotated[
        Literal["jsonl", "csv"], Query(alias="format", description="jsonl or csv.")
    ] = "jsonl",
    model: ModelQuery = None,
    since: Since = None,
) -> StreamingResponse:
    start = _utc(since)
    if model is not None:
        with ws.store.reading() as tx:
            require_model(tx, model)
    lines = ws.auditing.export(fmt, since=start, model=model)
    first = next(lines, None)  # bad input fails here, before the status line is sent
    body: Iterator[str] = itertools.chain([] if first is None else [first], lines)
    name = f"audit-{model or 'all'}.{fmt}"
    return StreamingResponse(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{_safe(name)}"'},
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


@router.get(
    "/audit/checkpoints",
    tags=["audit"],
    summary="Signed checkpoints of the chain's head, oldest first.",
    response_model=list[CheckpointRecord],
    responses=responses(*COMMON),
)
def list_checkpoints(user: UserDep, ws: WorkspaceDep) -> list[CheckpointRecord]:
    with ws.store.reading() as tx:
        return tx.checkpoints()


@router.post(
    "/audit/checkpoints",
    tags=["audit"],
    status_code=201,
    summary="Sign the chain's current head (admin or auditor): truncation becomes visible.",
    response_model=CheckpointRecord,
    responses=responses(*COMMON, 403, 409),
)
def checkpoint(user: UserDep, ws: WorkspaceDep) -> CheckpointRecord:
    return ws.auditing.checkpoint(actor=user.name)


@router.get(
    "/audit/public-key",
    tags=["audit"],
    summary="The Ed25519 public key that verifies the checkpoints (hex and PEM).",
    response_model=PublicKeyOut,
    responses=responses(*COMMON),
)
def public_key(user: UserDep, ws: WorkspaceDep) -> PublicKeyOut:
    raw = ws.auditing.public_key()
    pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKeyOut(key_id=key_id(raw), public_key_hex=raw.hex(), pem=pem.decode("ascii"))
