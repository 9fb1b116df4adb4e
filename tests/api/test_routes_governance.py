"""Waivers, canary rollouts, alerts and the tick through the live server, on a second model
governed by the credit-risk policy with a waiver section and a canary plan to production."""

from __future__ import annotations

import datetime as dt

from api.test_routes_support import (
    CANARY,
    MODEL,
    apply_policy,
    canary_running,
    fields,
    problem,
    register,
    team,
)
from clearance.client import Client
from clearance.local import LocalClearance
from clearance.service.waivers import read_until
from clearance.workspace import Workspace


def waiver(**changes: object) -> dict[str, object]:
    return {
        "model": CANARY,
        "gate": "latency_p95",
        "expires_in": "14d",
        "justification": "p95 was measured on the old hardware",
        "controls": ["latency alert at 150 ms", "weekly review"],
        **changes,
    }


def test_waivers_grant_list_revoke(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    assert canary_running(api).status_code == 201
    # only a grantor role the policy names (risk_officer) may grant
    body = problem(api.call("alice", "POST", "/v1/waivers", json=waiver()), 403)
    assert "risk_officer" in body["detail"]
    r = api.call("rita", "POST", "/v1/waivers", json=waiver())
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["gate_id"], first["granted_by"], first["version"]) == (
        "latency_p95",
        "rita",
        None,
    )
    left = dt.datetime.fromisoformat(first["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=13) < left <= dt.timedelta(days=14)
    # until (a time; without a zone it is UTC), for one version
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(tzinfo=None, microsecond=0)
    r = api.call(
        "rita",
        "POST",
        "/v1/waivers",
        json=waiver(expires_in=None, until=until.isoformat(), version="7", gate="auc_floor"),
    )
    assert r.status_code == 201, r.text
    second = r.json()
    assert dt.datetime.fromisoformat(second["expires_at"]) == until.replace(tzinfo=dt.UTC)
    # refusals: not waivable, unknown gate, too long, both or neither expiry, no controls
    assert (
        "not waivable"
        in problem(api.call("rita", "POST", "/v1/waivers", json=waiver(gate="model_card")), 422)[
            "detail"
        ]
    )
    assert (
        "no_such"
        in problem(api.call("rita", "POST", "/v1/waivers", json=waiver(gate="no_such")), 404)[
            "detail"
        ]
    )
    assert (
        "30d"
        in problem(api.call("rita", "POST", "/v1/waivers", json=waiver(expires_in="60d")), 422)[
            "detail"
        ]
    )
    problem(api.call("rita", "POST", "/v1/waivers", json=waiver(until=until.isoformat())), 422)
    problem(api.call("rita", "POST", "/v1/waivers", json=waiver(expires_in=None)), 422)
    assert "body.controls" in fields(
        api.call("rita", "POST", "/v1/waivers", json=waiver(controls=[]))
    )
    problem(api.call("rita", "POST", "/v1/waivers", json=waiver(model="nope")), 404)
    # revoke: a reason is needed; someone who is neither grantor nor grantor role may not
    url = f"/v1/waivers/W-{first['id']}/revoke"
    assert "body.reason" in fields(api.call("rita", "POST", url, json={}))
    problem(api.call("alice", "POST", url, json={"reason": "fixed"}), 403)
    r = api.call("rita", "POST", url, json={"reason": "hardware upgraded"})
    assert r.status_code == 200 and r.json()["revoked_by"] == "rita"
    assert (
        "already revoked"
        in problem(api.call("rita", "POST", url, json={"reason": "x"}), 422)["detail"]
    )
    problem(api.call("rita", "POST", "/v1/waivers/W-999/revoke", json={"reason": "x"}), 404)
    problem(api.call("rita", "POST", "/v1/waivers/banana/revoke", json={"reason": "x"}), 422)
    # the list: each with its state; filters by state and model; 404 for an unknown model
    listed = api.call("carol", "GET", "/v1/waivers").json()
    assert [(w["id"], w["state"]) for w in listed["items"]] == [
        (first["id"], "revoked"),
        (second["id"], "active"),
    ]
    active = api.call("carol", "GET", "/v1/waivers", params={"state": "active"}).json()
    assert [w["id"] for w in active["items"]] == [second["id"]]
    assert api.call("carol", "GET", "/v1/waivers", params={"model": CANARY}).json()["total"] == 2
    problem(api.call("carol", "GET", "/v1/waivers", params={"model": "nope"}), 404)
    assert "query.state" in fields(api.call("carol", "GET", "/v1/waivers", params={"state": "x"}))
    # the credit-risk policy itself names no grantors: nobody may waive its gates
    assert apply_policy(api).status_code == 201
    assert register(api, "7").status_code == 201
    body = problem(api.call("rita", "POST", "/v1/waivers", json=waiver(model=MODEL)), 403)
    assert "grantors" in body["detail"]


def test_a_date_as_until_means_the_end_of_that_day_utc_on_every_transport(
    server: str, server_ws: Workspace
) -> None:
    """``--until 2026-12-31`` covers all of the 31st, whether the CLI grants it on the
    workspace, or the SDK or a raw JSON body sends it to the server."""
    api = team(server, server_ws)
    assert canary_running(api).status_code == 201
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).date()
    end = dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC)
    controls = ["latency alert at 150 ms"]
    over_json = api.call(
        "rita", "POST", "/v1/waivers", json=waiver(expires_in=None, until=day.isoformat())
    )
    assert over_json.status_code == 201, over_json.text
    with Client(server, api.token("rita")) as sdk:
        over_sdk = sdk.grant_waiver(
            CANARY, "latency_p95", until=day, justification="j", controls=controls
        )
    on_workspace = LocalClearance(server_ws, "rita").grant_waiver(
        CANARY,
        "latency_p95",
        until=read_until(day.isoformat(), "--until"),  # as ``clearance waiver grant`` reads it
        justification="j",
        controls=controls,
    )
    expiries = {
        dt.datetime.fromisoformat(over_json.json()["expires_at"]),
        over_sdk.expires_at,
        on_workspace.expires_at,
    }
    assert expiries == {end}
    # a time is kept as given (without a zone: UTC), and a date-time at midnight stays midnight
    midnight = dt.datetime.combine(day, dt.time(0, 0))
    at_midnight = api.call(
        "rita", "POST", "/v1/waivers", json=waiver(expires_in=None, until=midnight.isoformat())
    ).json()
    assert dt.datetime.fromisoformat(at_midnight["expires_at"]) == midnight.replace(tzinfo=dt.UTC)
    assert "body.until" in fields(
        api.call("rita", "POST", "/v1/waivers", json=waiver(expires_in=None, until="soon"))
    )


def test_canary_rollout_start_observe_status_and_rollback(
    server: str, server_ws: Workspace
) -> None:
    api = team(server, server_ws)
    started = canary_running(api)
    assert started.status_code == 201, started.text
    assert (started.json()["status"], started.json()["traffic"]) == ("running", 0.1)
    url = f"/v1/models/{CANARY}/rollouts"
    # a second start while one runs is refused; the wrong role may not start or observe
    assert (
        "already has a running rollout"
        in problem(api.call("frank", "POST", url, json={"version": "7"}), 422)["detail"]
    )
    problem(api.call("rita", "POST", url, json={"version": "7"}), 403)
    healthy = {"readings": {"error_rate": {"canary": 0.001, "control": 0.0012}}}
    problem(api.call("rita", "POST", f"{url}/observe", json=healthy), 403)
    # readings must be finite numbers and at least one
    r = api.call("frank", "POST", f"{url}/observe", json={"readings": {}})
    assert "body.readings" in fields(r)
    r = api.call("frank", "POST", f"{url}/observe", json={"readings": {"e": {"canary": "x"}}})
    assert "body.readings.e.canary" in fields(r)
    # healthy readings during the 48 h first step: hold
    r = api.call("frank", "POST", f"{url}/observe", json=healthy)
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["rollout"]["status"]) == ("hold", "running")
    status = api.call("carol", "GET", url).json()
    assert (status["canary"], status["step"], status["status"]) == ("7", 1, "running")
    assert status["readings"]["error_rate"]["canary"] == 0.001
    # a breach rolls back at once, and an alert records it
    breach = {"readings": {"error_rate": {"canary": 0.02}}}
    r = api.call("frank", "POST", f"{url}/observe", json=breach)
    assert r.json()["action"] == "rollback" and r.json()["breaches"], r.text
    assert api.call("carol", "GET", url).json()["status"] == "rolled_back"
    assert (
        "no running rollout"
        in problem(api.call("frank", "POST", f"{url}/observe", json=healthy), 404)["detail"]
    )
    # nothing approved waits for a rollout now; unknown models and models without rollouts
    problem(api.call("frank", "POST", url, json={"version": "7"}), 404)
    problem(api.call("carol", "GET", "/v1/models/nope/rollouts"), 404)
    assert apply_policy(api).status_code == 201
    assert register(api, "7").status_code == 201
    assert (
        "no rollout"
        in problem(api.call("carol", "GET", f"/v1/models/{MODEL}/rollouts"), 404)["detail"]
    )

    # alerts: recorded for the canary model, filtered by model
    alerts = api.call("carol", "GET", "/v1/alerts", params={"model": CANARY}).json()
    events = [a["event"] for a in alerts]
    assert "rolled_back" in events and {a["model"] for a in alerts} == {CANARY}
    assert api.call("carol", "GET", "/v1/alerts", params={"model": MODEL}).json() == []
    # the tick: admin or mlops_oncall; runs and reports (idempotent: nothing new again)
    body = problem(api.call("carol", "POST", "/v1/tick"), 403)
    assert "admin, mlops_oncall" in body["detail"]
    r = api.call("adam", "POST", "/v1/tick")
    assert r.status_code == 200 and isinstance(r.json()["actions"], list)
    assert api.call("adam", "POST", "/v1/tick").json()["actions"] == []
    problem(api.call(None, "POST", "/v1/tick"), 401)
