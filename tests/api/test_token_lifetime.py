"""Tokens and users through the live server: a short-lived token cannot mint a longer-lived
one (only an admin can); a user with no roles reads nothing; a disabled user cannot sign in."""

from __future__ import annotations

import datetime as dt

import httpx

from api.test_routes_support import problem, team
from clearance.workspace import Workspace


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _short(ws: Workspace, user: str) -> tuple[dt.datetime, str]:
    """A five-minute token, as `clearance token create --expires 5m` makes it."""
    record, secret = ws.tokens.create(user, actor="ops", expires_in="5m", operator=True)
    assert record.expires_at is not None
    return record.expires_at, secret


def test_a_five_minute_token_cannot_mint_a_longer_one(server: str, server_ws: Workspace) -> None:
    team(server, server_ws)
    expires, secret = _short(server_ws, "alice")
    with httpx.Client(base_url=server, headers=_bearer(secret), timeout=30) as alice:
        for asked in ({}, {"expires_in": "90d"}, {"expires_in": "1h"}):
            body = problem(alice.post("/v1/tokens", json=asked), 422)
            assert body["type"] == "urn:clearance:problem:invalid-input"
            assert body["detail"].startswith("expires_in: a token ")
            assert f"expires at {expires:%Y-%m-%d %H:%M:%S} UTC" in body["detail"]
            assert "or ask an admin for a longer-lived token" in body["detail"]
        assert len(alice.get("/v1/tokens").json()) == 2  # the team's and this one: none made
        made = alice.post("/v1/tokens", json={"expires_in": "2m"})
        assert made.status_code == 201, made.text
        assert dt.datetime.fromisoformat(made.json()["token"]["expires_at"]) <= expires
    # an admin's short token mints a long-lived one (for the bootstrap and for CI tokens)
    _, root = _short(server_ws, "adam")
    r = httpx.post(f"{server}/v1/tokens", json={"user": "alice"}, headers=_bearer(root))
    assert r.status_code == 201 and r.json()["token"]["expires_at"] is None


def test_a_user_without_roles_reads_nothing(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert api.call("alice", "GET", "/v1/models").status_code == 200
    api.call("adam", "PUT", "/v1/users/alice/roles", json={"roles": []}).raise_for_status()
    for method, path in [("GET", "/v1/models"), ("GET", "/v1/me"), ("POST", "/v1/tokens")]:
        body = problem(api.call("alice", method, path, json={}), 403)
        assert body["detail"].startswith("alice holds no roles, so the server refuses")


def test_a_disabled_user_cannot_sign_in(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    path = "/v1/users/alice/disabled"
    problem(api.call("carol", "PUT", path, json={"disabled": True}), 403)
    assert api.call("alice", "GET", "/v1/me").status_code == 200
    r = api.call("adam", "PUT", path, json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled_at"] is not None
    body = problem(api.call("alice", "GET", "/v1/me"), 401)
    assert body["detail"].startswith("user alice is disabled (since ")
    assert "clearance user enable alice" in body["detail"]
    events = api.call("aude", "GET", "/v1/audit/events", params={"after": 0, "limit": 1000})
    [disabled] = [e for e in events.json()["items"] if e["action"] == "user.disabled"]
    assert disabled["actor"] == "adam" and len(disabled["payload"]["revoked_tokens"]) == 1
    assert "ghost" in problem(api.call("adam", "PUT", "/v1/users/ghost/disabled",
                                       json={"disabled": True}), 404)["detail"]  # fmt: skip
    r = api.call("adam", "PUT", path, json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled_at"] is None
    assert "was revoked" in problem(api.call("alice", "GET", "/v1/me"), 401)["detail"]
