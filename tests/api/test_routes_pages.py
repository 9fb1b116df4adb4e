"""The registry's lists over HTTP (SQLite and PostgreSQL): pages by cursor and by offset,
summaries that agree with each model's status, and a hostile cursor answered with a 422 that
names the field, never a database error. The SDK walks the same cursors."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from api.test_routes_support import PROBLEM, Api, fields, problem, team
from clearance.client import Client
from clearance.workspace import Workspace

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
MODELS = 12


def _registry(ws: Workspace) -> None:
    """Twelve models (three per team), model-03 with five versions and one in production,
    each version with a pending request; through the store, as a bulk import would."""
    with ws.store.transaction() as tx:
        policy = tx.add_policy(
            name="p", version="1.0.0", content_hash="c" * 64, sources=[], actor="a", at=T0
        )
        for i in range(MODELS):
            model = tx.add_model(
                name=f"model-{i:02d}",
                risk_tier="high" if i % 2 else "low",
                owner="o@x",
                team=f"team-{i % 4}",
                tags={},
                at=T0,
            )
            for v in range(5 if i == 3 else 1):
                version = tx.add_version(
                    model_id=model.id, version=f"{v}", stage="staging", record={}, actor="a", at=T0
                )
                tx.add_request(
                    model_id=model.id,
                    version_id=version.id,
                    policy_id=policy.id,
                    from_stage="staging",
                    to_stage="production",
                    change_type="standard",
                    requester="a",
                    reason="",
                    ticket="",
                    status="pending",
                    created_at=T0,
                )
                if i == 3 and v == 1:
                    tx.set_stage(version.id, "production", slot=0, at=T0)


def _walk(api: Api, path: str, **params: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Every item of a list, two at a time by cursor; and the pages."""
    items, pages, cursor = [], [], None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.call("alice", "GET", path, params=query).json()
        pages.append(page)
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items, pages


def test_lists_page_by_cursor_and_by_offset_alike(server: str, server_ws: Workspace) -> None:
    _registry(server_ws)
    api = team(server, server_ws)
    for path, params in [
        ("/v1/models", {}),
        ("/v1/models", {"team": "team-1"}),
        ("/v1/models", {"risk_tier": "high", "team": "team-1"}),
        ("/v1/models/model-03/versions", {}),
        ("/v1/requests", {"status": "open"}),
        ("/v1/requests", {"model": "model-03"}),
    ]:
        whole = api.call("alice", "GET", path, params={**params, "limit": 500}).json()
        walked, pages = _walk(api, path, **params)
        assert walked == whole["items"] and whole["next"] is None, path
        assert [p["total"] for p in pages] == [whole["total"]] + [None] * (len(pages) - 1), path
        assert len(pages) > 1, path
        by_offset = api.call("alice", "GET", path, params={**params, "limit": 3, "offset": 3})
        assert by_offset.json()["items"] == whole["items"][3:6], path
    # offset after a cursor skips rows past it
    first = api.call("alice", "GET", "/v1/models", params={"limit": 2}).json()
    skipped = api.call(
        "alice", "GET", "/v1/models", params={"limit": 2, "offset": 1, "cursor": first["next"]}
    ).json()
    assert [m["model"] for m in skipped["items"]] == ["model-03", "model-04"]


def test_a_list_row_summarises_what_the_status_shows(server: str, server_ws: Workspace) -> None:
    _registry(server_ws)
    api = team(server, server_ws)
    page = api.call("alice", "GET", "/v1/models", params={"team": "team-3"}).json()
    row = page["items"][0]
    assert page["total"] == 3 and row["model"] == "model-03"
    assert (row["production"], row["latest"], row["versions"], row["open_requests"]) == (
        ["1"],
        "4",
        5,
        5,
    )
    status = api.call("alice", "GET", "/v1/models/model-03").json()
    assert row["versions"] == len(status["versions"])
    assert row["open_requests"] == len(status["open_requests"])
    assert set(row) == {
        "model",
        "risk_tier",
        "owner",
        "team",
        "tags",
        "production",
        "latest",
        "latest_stage",
        "versions",
        "open_requests",
        "compliance",
    }


def _forged(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()


def test_a_hostile_cursor_is_a_422_naming_the_field(server: str, server_ws: Workspace) -> None:
    _registry(server_ws)
    api = team(server, server_ws)
    models = api.call("alice", "GET", "/v1/models", params={"limit": 1}).json()["next"]
    hostile = [
        "' OR 1=1 --",  # refused by the parameter's pattern before the service
        "x" * 5000,
        "%00",
        "not-a-cursor",  # base64url, but not one the server gave out
        _forged({"l": "requests", "f": "0", "k": "1; DROP TABLE requests"}),
        _forged({"l": "requests", "f": "0", "k": 2**70}),
        models,  # another list's
    ]
    for cursor in hostile:
        r = api.call("alice", "GET", "/v1/requests", params={"cursor": cursor})
        body = problem(r, 422)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert "cursor" in (body["detail"] + " ".join(fields(r))), (cursor, body)
        assert "database" not in body["detail"] and "SELECT" not in r.text, body
    r = api.call("alice", "GET", "/v1/models", params={"team": "team-2", "cursor": models})
    assert "other filters" in problem(r, 422)["detail"]
    versions = api.call("alice", "GET", "/v1/models/model-03/versions", params={"cursor": models})
    assert "another list" in problem(versions, 422)["detail"]
    assert "query.limit" in fields(api.call("alice", "GET", "/v1/requests", params={"limit": 501}))
    with server_ws.store.reading() as tx:
        assert len(tx.list_requests()) == 16  # nothing dropped, nothing changed


def test_the_sdk_walks_every_page(server: str, server_ws: Workspace) -> None:
    _registry(server_ws)
    with Client(server, team(server, server_ws).token("alice")) as alice:
        page = alice.model_page(limit=5)
        assert (len(page.items), page.total) == (5, MODELS) and page.next
        assert alice.model_page(limit=5, cursor=page.next).items[0].model == "model-05"
        assert [m.model for m in alice.models()] == [f"model-{i:02d}" for i in range(MODELS)]
        assert [m.model for m in alice.models(team="team-3")] == [
            "model-03",
            "model-07",
            "model-11",
        ]
        assert [v.version for v in alice.versions("model-03")] == ["0", "1", "2", "3", "4"]
        assert len(alice.requests(open_only=True)) == 16
        assert [r.version for r in alice.requests(model="model-03")] == ["0", "1", "2", "3", "4"]
