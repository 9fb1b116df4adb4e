"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the service raises on purpose maps to one status here, so the API and the CLI
agree on what went wrong: input errors are 422 with the fields (or file:line) at fault,
role refusals 403, unknown things 404, refused transitions and lost races 409.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from clearance.api.logs import log
from clearance.errors import ClearanceError, ManifestError, PolicyError
from clearance.problem_types import KINDS

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str = Field(description="Where: a dotted field path (body.to) or file:line:column.")
    message: str


class Problem(BaseModel):
    """An error response (RFC 9457)."""

    type: str = Field(description="A URN naming the kind of problem.")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)


STATUS_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not permitted",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal server error",
    503: "Service unavailable",
}


def classify(exc: ClearanceError) -> tuple[int, str, str]:
    for kind in KINDS:
        if isinstance(exc, kind.error):
            return kind.status, kind.slug, kind.title
    raise AssertionError("ClearanceError is the last entry")  # pragma: no cover


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:clearance:problem:{slug or _slug(status)}",
        title=title or STATUS_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


# What a client is told when the store fails: where the database is and who connects to it
# (host, user, driver text) is for the operator, so it goes to the server log only.
STORE_DOWN = "the database is unavailable; retry later, or give the operator the request id"


def store_down(request: Request, reason: str) -> JSONResponse:
    """503 with the short message; ``reason`` (which may name hosts or users) is logged."""
    request_id = getattr(request.state, "request_id", None)
    log(logging.ERROR, "store unavailable", request_id=request_id, reason=reason)
    return problem_response(
        request, 503, STORE_DOWN, slug="store-unavailable", title="Store unavailable"
    )


def problem_for(request: Request, exc: ClearanceError) -> JSONResponse:
    status, slug, title = classify(exc)
    if status == 503:
        return store_down(request, str(exc))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    located = _located(exc)
    detail = str(exc).splitlines()[0] if located else str(exc)
    if located:
        detail = f"{len(located)} problem(s), first: {located[0].field}: {located[0].message}"
    return problem_response(
        request, status, detail, slug=slug, title=title, errors=located, headers=headers
    )


def _slug(status: int) -> str:
    if status == 413:  # a body cut off while streaming: the same type as an oversized file
        return "too-large"
    return STATUS_TITLES.get(status, "error").lower().replace(" ", "-")


def _located(exc: ClearanceError) -> list[FieldProblem]:
    if isinstance(exc, PolicyError | ManifestError):
        return [
            FieldProblem(
                field=f"{p.location}" + (f" {p.field}" if p.field else ""), message=p.message
            )
            for p in exc.problems
            if p.severity == "error"
        ]
    return []


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(ClearanceError)
    async def clearance_error(request: Request, exc: ClearanceError) -> JSONResponse:
        return problem_for(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldProblem(field=_field(e["loc"]), message=e["msg"]) for e in exc.errors()]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "invalid request"
        return problem_response(request, 422, detail, slug="invalid-input", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # A body FastAPI could not parse (not UTF-8, broken multipart): bad input like
            # any other, so the same 422 as a malformed JSON body, naming the body.
            detail = str(exc.detail)
            return problem_response(
                request,
                422,
                detail,
                slug="invalid-input",
                errors=[FieldProblem(field="body", message=detail)],
            )
        return problem_response(
            request, exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None
        )

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        # The store maps the failures it expects; these are the ones that slip through: a
        # value the database cannot hold (422) or a driver failure (503), never a 500.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if isinstance(exc, DataError):
            return problem_response(
                request, 422, f"the database refused a value: {reason}", slug="invalid-input"
            )
        return store_down(request, f"database error: {reason}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the log (see logs.py); the client gets the request id only.
        return problem_response(
            request, 500, "the server failed; quote the request id when you report it"
        )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses an operation can give."""
    return {
        status: {
            "model": Problem,
            "description": STATUS_TITLES[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


# Every authenticated operation can answer these.
COMMON = (401, 422, 503)
# And every upload this: a file over the size limit.
UPLOAD = (413,)
