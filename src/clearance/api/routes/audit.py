"""The audit trail's export: a stream, so its route is written here (the other decision and
audit routes are made from their declarations in ``clearance.contract.audit``)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from clearance.api.deps import UserDep, WorkspaceDep
from clearance.api.guard import GuardedRoute
from clearance.api.problems import COMMON, responses

router = APIRouter(route_class=GuardedRoute)

MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


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
    model: Annotated[str | None, Query(description="Only events about this model.")] = None,
    since: Annotated[
        dt.datetime | None,
        Query(description="Only events at or after this time (ISO 8601; without a zone, UTC)."),
    ] = None,
) -> StreamingResponse:
    lines = ws.auditing.export(fmt, since=since, model=model)
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
