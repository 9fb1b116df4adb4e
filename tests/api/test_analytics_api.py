"""``GET /v1/analytics`` through the live server, and the SDK's ``analytics``: the same
figures as the use case in process; bad query parameters are 422s naming the field."""

from __future__ import annotations

import datetime as dt

from api.test_routes_support import MODEL, apply_policy, fields, problem, promote, staged, team
from clearance.client import Client
from clearance.core.analytics import Analytics
from clearance.workspace import Workspace


def test_analytics_over_http_and_the_sdk_match_the_use_case(
    server: str, server_ws: Workspace
) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    staged(api, "7")
    assert promote(api, "7", "production").status_code == 201  # awaits sign-offs or is denied
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    r = api.call("aude", "GET", "/v1/analytics", params={"since": since, "bucket": "day"})
    assert r.status_code == 200, r.text
    served = Analytics.model_validate(r.json())
    assert served.decisions >= 2 and served.bucket == "day"
    assert {g.gate_id for g in served.gates} >= {"auc_floor", "reproducibility"}
    assert served.gates == sorted(
        served.gates, key=lambda g: (-g.failed, -g.near_misses, g.policy, g.gate_id)
    )
    local = server_ws.analytics.analytics(since=served.since, until=served.until, bucket="day")
    assert local.model_dump(exclude={"now"}) == served.model_dump(exclude={"now"})

    sdk = Client(server, token=api.tokens["aude"])
    got = sdk.analytics(since=served.since, until=served.until, model=MODEL, bucket="day")
    assert got.decisions == served.decisions


def test_bad_parameters_are_problems_naming_the_field(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    for query, field in (("bucket=month", "bucket"), ("since=yesterday", "since")):
        r = api.call("aude", "GET", f"/v1/analytics?{query}")
        problem(r, 422)
        assert any(field in f for f in fields(r)), r.text
    r = api.call("aude", "GET", "/v1/analytics", params={"model": "nope"})
    assert "unknown model 'nope'" in problem(r, 404)["detail"]
    r = api.call("aude", "GET", "/v1/analytics?since=2026-02-01&until=2026-01-01")
    assert "must be before until" in problem(r, 422)["detail"]
    assert api.call(None, "GET", "/v1/analytics").status_code == 401
