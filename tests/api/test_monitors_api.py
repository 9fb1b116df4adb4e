"""Production monitors through the live server: ``POST /v1/monitors/run`` (tick roles only)
and ``GET /v1/models/{model}/monitors``; the results in the model's status and history."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.test_routes_support import Api, problem
from clearance.adapters.clock import FixedClock, SystemClock
from clearance.workspace import Workspace
from monitors.conftest import MODEL, TEAM, Env, monitor, policy_doc
from stories import REVIEWERS


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_run_and_read_monitors_over_http(server: str, server_ws: Workspace, tmp_path: Path) -> None:
    for name, roles in {**TEAM, **{r: ["policy_admin"] for r in REVIEWERS}}.items():
        server_ws.registry.add_user(name, roles, actor="admin", operator=True)
    story = Env(server_ws, FixedClock(SystemClock().now()), tmp_path)
    story.apply(policy_doc(monitor(**{"for": None})))
    story.to_production("1")
    story.to_production("2")
    story.batch(shift=3.0)
    api = Api(server, server_ws)
    api.token("alice"), api.token("frank")  # made first: a token is an audited event

    # only the roles that may run the tick may run the monitors; a refusal changes nothing
    before = story.event_count()
    assert "tick" in problem(api.call("alice", "POST", "/v1/monitors/run"), 403)["detail"]
    assert story.event_count() == before
    bad = api.call("frank", "POST", "/v1/monitors/run", params={"model": "x" * 300})
    assert bad.status_code == 422 and "model" in bad.text

    dry = api.call("frank", "POST", "/v1/monitors/run", params={"dry_run": "true"})
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and story.event_count() == before

    ran = api.call("frank", "POST", "/v1/monitors/run", params={"model": MODEL})
    assert ran.status_code == 200, ran.text
    [result] = ran.json()["results"]
    assert result["result"]["gate_id"] == "input_drift"
    assert result["result"]["status"] == "fail" and result["recorded"] is True
    assert result["notes"][-1] == "rolled back 2 → 1"
    assert story.stage_of("1") == "production"

    state = api.call("alice", "GET", f"/v1/models/{MODEL}/monitors")
    assert state.status_code == 200, state.text
    [m] = state.json()["monitors"]
    assert (m["monitor"], m["version"], m["runs"]) == ("input_drift", "1", 0)  # restored: fresh
    assert problem(api.call("alice", "GET", "/v1/models/nope/monitors"), 404)

    model = api.call("alice", "GET", f"/v1/models/{MODEL}").json()
    assert model["monitors"] == []  # the restored version has not been checked yet
    history = api.call("alice", "GET", f"/v1/models/{MODEL}/history")
    assert history.status_code == 200, history.text
    checked = [e for e in history.json()["items"] if e["action"] == "monitor.checked"]
    assert [e["payload"]["actions"] for e in checked] == [["alert", "rollback"]]
