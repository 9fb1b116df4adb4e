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
