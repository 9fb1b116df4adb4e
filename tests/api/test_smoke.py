"""The server process answers over HTTP: health, readiness, authentication, problem+json."""

from __future__ import annotations

import httpx

from api_server import token_for
from clearance.workspace import Workspace


def test_health_ready_and_authentication(server: str, server_ws: Workspace) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server}/readyz").status_code == 200
    anonymous = httpx.get(f"{server}/v1/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["type"] == "urn:clearance:problem:unauthenticated"
    token = token_for(server_ws, "alice", ["ml_engineer"])
    me = httpx.get(f"{server}/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["name"] == "alice"
    assert me.headers["x-request-id"]


OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# signed by MLflow with the webhook's HMAC key instead of a token (tests/mlflow_governance)
HMAC = {"/v1/mlflow/webhook"}


def test_every_operation_but_the_health_checks_needs_a_token(server: str) -> None:
    """Walk the published spec: an operation without a token is refused with 401 before it
    looks at anything else (path ids that do not exist, bodies that are missing)."""
    spec = httpx.get(f"{server}/openapi.json").json()
    assert OPEN - {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"} <= set(
        spec["paths"]
    )
    checked = 0
    for path, operations in spec["paths"].items():
        if path in OPEN | HMAC:
            continue
        url = server + path.replace("{", "").replace("}", "")  # /v1/requests/request_id ...
        url = url.replace("request_id", "1").replace("token_id", "1").replace("waiver_id", "1")
        for method in operations:
            r = httpx.request(method.upper(), url)
            assert r.status_code == 401, f"{method.upper()} {path}: {r.status_code} {r.text}"
            checked += 1
    assert checked >= 40
