"""``Idempotency-Key`` for the mutating calls CI retries (register, promote).

The first call with a key claims it and runs; its response is stored in the same transaction
as its work, so work that committed always answers with its response. A retry with the same
key and request gets that response (``Idempotent-Replayed: true``); the same key with a
different request is refused (422). A retry while the first call runs gets 409 of type
``in-progress`` (retryable); the claim is a lease of ``$CLEARANCE_IDEMPOTENCY_LEASE`` seconds,
so a key whose server died mid-call runs again once it lapses. A call that fails on the
server's side (409 lost race, 5xx) committed nothing and releases its key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from clearance.adapters.store.access import LEASE
from clearance.api.problems import MEDIA_TYPE, problem_for
from clearance.errors import ClearanceError, InputError
from clearance.problem_types import InProgress
from clearance.service.ports import KeptResponse
from clearance.workspace import Workspace

HEADER = "Idempotency-Key"
LEASE_ENV = "CLEARANCE_IDEMPOTENCY_LEASE"


def fingerprint(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def lease() -> dt.timedelta:
    """How long a claim holds its key ($CLEARANCE_IDEMPOTENCY_LEASE seconds): longer than a
    call takes: a retry after the lease runs the call again (only one of the two commits)."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return LEASE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86_400:
        raise InputError(f"{LEASE_ENV}={raw} is not a number of seconds from 1 to 86400")
    return dt.timedelta(seconds=seconds)


def run_once(
    request: Request,
    ws: Workspace,
    user: str,
    key: str | None,
    print_: str,
    call: Callable[[], tuple[int, Any]],
) -> Response:
    """Run ``call`` (returning status and a JSON-able body) at most once per key."""
    if key is None:
        status, body = call()
        return JSONResponse(body, status_code=status)
    if not 1 <= len(key) <= 200:
        raise InputError(f"{HEADER} must be 1 to 200 characters")
    now, held_for = ws.clock.now(), lease()
    stored = ws.idempotency.claim(user, key, print_, now, held_for)
    if stored is not None:
        return _answer(request, key, print_, stored, now, held_for)
    try:
        stored, ours = ws.idempotency.run(user, key, print_, now, lambda: _encoded(call()))
    except ClearanceError as exc:
        response = problem_for(request, exc)
        if response.status_code == 409 or response.status_code >= 500:
            other = ws.idempotency.release(user, key)  # nothing committed: a retry may succeed
        else:
            text = bytes(response.body).decode()
            other = ws.idempotency.refuse(user, key, print_, now, response.status_code, text)
        return response if other is None else _answer(request, key, print_, other, now, held_for)
    except BaseException:
        ws.idempotency.release(user, key)
        raise
    if not ours:  # another call with this key committed first; ours was rolled back
        return _answer(request, key, print_, stored, now, held_for)
    assert stored.status is not None and stored.body is not None
    return JSONResponse(json.loads(stored.body), status_code=stored.status)


def _encoded(result: tuple[int, Any]) -> tuple[int, str]:
    status, body = result
    return status, json.dumps(body)


def _answer(
    request: Request,
    key: str,
    print_: str,
    stored: KeptResponse,
    now: dt.datetime,
    held_for: dt.timedelta,
) -> Response:
    """What a call answers when its key is taken: the stored response, or why not."""
    if stored.fingerprint != print_:
        raise InputError(
            f"{HEADER} '{key}' was already used for a different request; "
            "use a new key for a new request"
        )
    if stored.status is None:
        left = max(1, int((stored.claimed_at + held_for - now).total_seconds() + 0.999))
        response = problem_for(
            request,
            InProgress(
                f"the request with {HEADER} '{key}' is still running; retry in a moment "
                f"(if its server stopped, the key is free again in {left} s)"
            ),
        )
        response.headers["Retry-After"] = str(min(left, 2))
        return response
    assert stored.body is not None
    return JSONResponse(
        json.loads(stored.body),
        status_code=stored.status,
        headers={"Idempotent-Replayed": "true"},
        media_type=MEDIA_TYPE if stored.status >= 400 else None,
    )
