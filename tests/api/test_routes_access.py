"""Users, roles and API tokens through the live server: only an admin manages users and other
people's tokens; anyone manages their own; a revoked or expired token stops working."""

from __future__ import annotations

import datetime as dt

import httpx

from api.test_routes_support import fields, problem, team
from clearance.adapters.clock import FixedClock
from clearance.service.access import Tokens
from clearance.workspace import Workspace


def test_users_and_roles(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    # anyone signed in may list users (paginated, by name)
    page = api.call("alice", "GET", "/v1/users", params={"limit": 2}).json()
    assert page["total"] == 10 and [u["name"] for u in page["items"]] == ["adam", "alice"]
    # only an admin adds users
    new = {"name": "bob", "roles": ["ml_engineer"]}
    body = problem(api.call("alice", "POST", "/v1/users", json=new), 403)
    assert "admin" in body["detail"]
    r = api.call("adam", "POST", "/v1/users", json=new)
    assert r.status_code == 201 and r.json()["roles"] == ["ml_engineer"]
    assert (
        "already exists" in problem(api.call("adam", "POST", "/v1/users", json=new), 422)["detail"]
    )
    r = api.call("adam", "POST", "/v1/users", json={"name": "has space", "roles": []})
    assert "body.name" in fields(r)
    assert "body.roles" in fields(api.call("adam", "POST", "/v1/users", json={"name": "x"}))
    # roles are replaced by an admin only; the change is in the audit trail with the old ones
    roles = {"roles": ["ml_engineer", "model_owner"]}
    problem(api.call("alice", "PUT", "/v1/users/bob/roles", json=roles), 403)
    r = api.call("adam", "PUT", "/v1/users/bob/roles", json=roles)
    assert r.status_code == 200 and r.json()["roles"] == ["ml_engineer", "model_owner"]
    missing = api.call("adam", "PUT", "/v1/users/ghost/roles", json=roles)
    assert "ghost" in problem(missing, 404)["detail"]
    assert "body.roles" in fields(api.call("adam", "PUT", "/v1/users/bob/roles", json={}))
    events = api.call("aude", "GET", "/v1/audit/events", params={"after": 0, "limit": 1000})
    changed = [e for e in events.json()["items"] if e["action"] == "user.roles_changed"]
    assert changed[-1]["payload"] == {"roles": roles["roles"], "before": ["ml_engineer"]}
    assert changed[-1]["actor"] == "adam"


def test_tokens_create_list_revoke(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    # a token for yourself: the secret is shown once, and it works
    r = api.call("alice", "POST", "/v1/tokens", json={"name": "notebook", "expires_in": "90d"})
    assert r.status_code == 201, r.text
    token, secret = r.json()["token"], r.json()["secret"]
    assert token["user"] == "alice" and token["name"] == "notebook"
    assert secret.startswith("clr_") and secret.startswith(token["prefix"])
    expires = dt.datetime.fromisoformat(token["expires_at"])
    assert dt.timedelta(days=89) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=90)
    me = httpx.get(f"{server}/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["name"] == "alice"
    # not for someone else, unless you are an admin
    problem(api.call("alice", "POST", "/v1/tokens", json={"user": "carol"}), 403)
    r = api.call("adam", "POST", "/v1/tokens", json={"user": "carol", "name": "ci"})
    assert r.status_code == 201 and r.json()["token"]["created_by"] == "adam"
    assert (
        "ghost"
        in problem(api.call("adam", "POST", "/v1/tokens", json={"user": "ghost"}), 404)["detail"]
    )
    assert "body.expires_in" in fields(
        api.call("alice", "POST", "/v1/tokens", json={"expires_in": "soon"})
    )
    # listing: your own by default; everyone's for an admin; someone else's only for an admin
    mine = api.call("alice", "GET", "/v1/tokens").json()
    assert {t["user"] for t in mine} == {"alice"} and len(mine) == 2
    assert all("secret" not in t for t in mine)
    everyone = api.call("adam", "GET", "/v1/tokens").json()
    assert {"alice", "carol", "adam"} <= {t["user"] for t in everyone}
    problem(api.call("alice", "GET", "/v1/tokens", params={"user": "carol"}), 403)
    carols = api.call("adam", "GET", "/v1/tokens", params={"user": "carol"}).json()
    assert len(carols) == 2
    # revoking: your own yes, someone else's no (unless admin); then the token is refused
    problem(api.call("carol", "DELETE", f"/v1/tokens/{token['id']}"), 403)
    r = api.call("alice", "DELETE", f"/v1/tokens/{token['id']}")
    assert r.status_code == 200 and r.json()["revoked_by"] == "alice"
    refused = httpx.get(f"{server}/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert "revoked" in problem(refused, 401)["detail"]
    problem(api.call("adam", "DELETE", "/v1/tokens/999999"), 404)
    assert "path.token_id" in fields(api.call("adam", "DELETE", "/v1/tokens/abc"))


def test_an_expired_token_is_refused(server: str, server_ws: Workspace) -> None:
    team(server, server_ws)
    # minted two days ago for one day (a clock in the past), so it expired yesterday
    two_days_ago = FixedClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    _, secret = Tokens(server_ws.store, two_days_ago).create(
        "alice", actor="operator", expires_in="1d", operator=True
    )
    r = httpx.get(f"{server}/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert "expired" in problem(r, 401)["detail"]
