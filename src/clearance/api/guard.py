"""Authorize before the body is read, and bound the body while it streams.

FastAPI reads (and spools to disk) a multipart body before any dependency runs, so a role
check inside the route comes after the server has taken the whole upload. Upload routes
are marked with ``before_body(action)``; ``GuardedRoute`` then authenticates the token and
checks that the user may take that action at all (for model actions: on some model; the
use case checks the exact model once the body names it) before a byte of the body is read.
Every guarded body is also capped: an announced ``Content-Length`` over the limit is
refused at once, and a body that streams past it is cut off (413).

A route without a body reads through one shared session (``sessions.sharing_reads``): the
token's sign-in and the use case's reads take one connection checkout. Sign-in still
reads the token and its user on every request, so a revocation or a disable holds from the
next request on, in every server process. A GET or HEAD whose database connection turned out
dead (``Disconnected``: the pool is not pinged per checkout) runs once more on a fresh one;
nothing else is retried (a write may have committed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import Message

from clearance.adapters.store.database import Disconnected
from clearance.adapters.store.sessions import sharing_reads
from clearance.api.logs import log
from clearance.core.access import ModelAction, ServerAction
from clearance.problem_types import TooLarge
from clearance.service.access import authorize_attempt
from clearance.workspace import Workspace

_GUARD = "__clearance_before_body__"
_RETRYABLE = frozenset({"GET", "HEAD"})  # reads: running one twice changes nothing
F = TypeVar("F", bound=Callable[..., Any])


def before_body(action: ModelAction | ServerAction) -> Callable[[F], F]:
    """Mark a route: authorize ``action`` before its body is read."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _GUARD, action)
        return endpoint

    return mark


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class GuardedRoute(APIRoute):
    """Upload routes: sign-in and the action's role check before the body, capped at the
    request limit. Every other route with a body (JSON): sign-in before the body, capped at
    the document limit. Routes without a body: their reads share one session."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        action: ModelAction | ServerAction | None = getattr(self.endpoint, _GUARD, None)
        if action is None and self.body_field is None:
            return _sharing(handler)

        async def guarded(request: Request) -> Response:
            await run_in_threadpool(_authorize, request, action)
            settings = request.app.state.settings
            limit = settings.max_request_bytes if action else settings.max_document_bytes
            _cap_body(request, limit)
            return await handler(request)

        return guarded


def _sharing(handler: Handler) -> Handler:
    """``handler`` with its reads in one shared session, released when it returns (a
    streamed body read later reads on its own); a safe method retried once on a lost
    connection."""

    async def shared(request: Request) -> Response:
        retry = request.method in _RETRYABLE
        while True:
            with sharing_reads() as reads:
                try:
                    return await handler(request)
                except Disconnected as exc:
                    if not retry:
                        raise
                    retry = False
                    log(
                        logging.WARNING,
                        "database connection lost; running the read again",
                        request_id=getattr(request.state, "request_id", None),
                        path=request.url.path,
                        error=str(exc),
                    )
                finally:
                    reads.release()  # cheap: PostgreSQL reads hold no transaction open

    return shared


def _authorize(request: Request, action: ModelAction | ServerAction | None) -> None:
    ws: Workspace = request.app.state.workspace
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    with sharing_reads():  # sign-in and the role check: one session, released before the body
        user, token = ws.tokens.sign_in(secret.strip() if scheme.lower() == "bearer" else None)
        request.state.user = user.name
        request.state.signed_in = (user, token)  # the route's user dependency reuses it
        if action is not None:
            with ws.store.reading() as tx:
                authorize_attempt(tx, user.name, action)


def _cap_body(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(_too_large(limit))
    receive, seen = request.receive, 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:  # FastAPI turns other errors raised while it parses into a 400
            raise HTTPException(413, _too_large(limit))
        return message

    request._receive = counted  # the body is read through this from here on


def _too_large(limit: int) -> str:
    return (
        f"the request body is larger than the server's limit of {limit:,} bytes "
        "(CLEARANCE_MAX_REQUEST_BYTES for uploads, CLEARANCE_MAX_DOCUMENT_BYTES otherwise)"
    )
