"""``POST /mlflow/webhook``: MLflow's registry webhooks (ADR 16).

MLflow signs, not a user: no bearer token is asked for, and the route is not a
``GuardedRoute``. Instead the body is read here, capped at ``MAX_BODY`` (1 MiB; MLflow's
payloads are a few hundred bytes) before anything else looks at it, and the use case
(``MlflowWebhooks``) verifies its HMAC signature and freshness before it acts: a bad one is
``401``. Without ``.clearance/mlflow.yaml`` there is nothing to deliver to: ``404``, the body
unread.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from clearance.api.problems import responses
from clearance.errors import NotFound
from clearance.problem_types import TooLarge
from clearance.service.mlflow_webhooks import MAX_BODY, WebhookOutcome
from clearance.workspace import Workspace

router = APIRouter()


@router.post(
    "/mlflow/webhook",
    tags=["mlflow"],
    summary="An MLflow registry webhook delivery (HMAC-signed, no token): syncs the model.",
    response_model=WebhookOutcome,
    responses=responses(400, 401, 404, 413, 422),
)
async def mlflow_webhook(request: Request) -> WebhookOutcome:
    ws: Workspace = request.app.state.workspace
    governance = await run_in_threadpool(lambda: ws.mlflow)
    if governance is None:
        raise NotFound("MLflow is not configured on this server (no .clearance/mlflow.yaml)")
    body = await _capped_body(request)
    headers = dict(request.headers)
    return await run_in_threadpool(governance.receive, headers, body)


async def _capped_body(request: Request) -> bytes:
    """The body, refused (413) as soon as it is announced or streams past ``MAX_BODY``."""
    declared = request.headers.get("content-length", "")
    too_large = f"an MLflow webhook delivery is at most {MAX_BODY:,} bytes"
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(too_large)
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > MAX_BODY:
            raise TooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)
