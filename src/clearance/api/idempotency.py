"""``Idempotency-Key`` for the mutating calls CI retries (register, promote).

The first call with a key claims it, runs, and stores its response; a retry with the same
key and the same request gets that stored response (marked ``Idempotent-Replayed: true``);
the same key with a different request is refused (422), and a retry while the first call
still runs gets 409. A call that fails on the server's side (5xx) releases its key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from clearance.api.problems import MEDIA_TYPE, problem_for
from clearance.errors import ClearanceError, InputError, StoreConflict
from clearance.workspace import Workspace

HEADER = "Idempotency-Key"


def fingerprint(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


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
    stored = ws.idempotency.claim(user, key, print_, ws.clock.now())
    if stored is not None:
        if stored.fingerprint != print_:
            raise InputError(
                f"{HEADER} '{key}' was already used for a different request; "
                "use a new key for a new request"
            )
        if stored.status is None:
            raise StoreConflict(f"the request with {HEADER} '{key}' is still running; retry")
        assert stored.body is not None
        return JSONResponse(
            json.loads(stored.body),
            status_code=stored.status,
            headers={"Idempotent-Replayed": "true"},
            media_type=MEDIA_TYPE if stored.status >= 400 else None,
        )
    try:
        status, body = call()
    except ClearanceError as exc:
        response = problem_for(request, exc)
        if response.status_code in (409,) or response.status_code >= 500:
            ws.idempotency.release(user, key)  # a lost race or an outage: a retry may succeed
        else:
            ws.idempotency.complete(user, key, response.status_code, bytes(response.body).decode())
        return response
    except BaseException:
        ws.idempotency.release(user, key)
        raise
    ws.idempotency.complete(user, key, status, json.dumps(body))
    return JSONResponse(body, status_code=status)
