"""The governance commands as users run them (``cli_runner``; SQLite, the system clock)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import yaml

from clearance.adapters.clock import SystemClock
from clearance.workspace import init_workspace
from cli_runner import Cli

from .conftest import MODEL, TEAM, policy_doc, write_manifest


def test_waivers_rollouts_serving_tick_and_alerts_from_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "200"}
    for var in ("CLEARANCE_DB_URL", "CLEARANCE_USER"):
        env.pop(var, None)

    cli = Cli(env)
    ok = cli.ok

    # the setup goes through the API
    ws = init_workspace(root, clock=SystemClock())
    for name, roles in TEAM.items():
        ws.registry.add_user(name, roles, actor="admin", operator=True)
    policy = tmp_path / "gov.yaml"
    policy.write_text(yaml.safe_dump(policy_doc(), sort_keys=False))
    ws.registry.apply_policy(policy, actor="dave")
    ws.registry.register(write_manifest(tmp_path, "1", latency=350), actor="alice")
    ws.promotions.promote(MODEL, "1", "staging", actor="alice")
    rid = ws.promotions.promote(MODEL, "1", "production", actor="alice").request.id
    assert ws.promotions.reevaluate(rid, actor="alice").request.status == "blocked"

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).date().isoformat()
    granted = ok("waiver", "grant", MODEL, "latency_p95", "--until", until,
                 "--justification", "p95 SLO renegotiated", "--control", "p95 paging",
                 "--as", "dave")  # fmt: skip
    assert "waiver W-1 granted for gate latency_p95" in granted

    # the waiver lets the request through to approval; approved, it waits for its canary
    assert ws.promotions.reevaluate(rid, actor="alice").request.status == "pending"
    assert ws.promotions.approve(rid, actor="carol").request.status == "approved"
    backlog = json.loads(ok("waiver", "list", "--expiring-within", "7d", "--json"))
    assert "serves 10% of traffic" in ok("rollout", "start", MODEL, "1", "--as", "frank")
    assert [(w["id"], w["state"]) for w in backlog["waivers"]] == [("W-1", "active")]

    kpis = ("--kpi", "error_rate=0.02", "--kpi", "ctr=0.05", "--control", "ctr=0.05")
    out = cli.fails(1, "rollout", "observe", MODEL, *kpis, "--as", "frank").stdout
    assert "rollback" in out and "error_rate" in out
    serving = ok("serving", MODEL, "--json")
    first = ok("tick")
    assert json.loads(serving) == {
        "model": MODEL, "champion": None, "canary": None, "canary_weight": 0.0, "rollout": None
    }  # fmt: skip
    assert ws.rollouts.status(MODEL).status == "rolled_back"
    assert "waiver W-1: expiring notice" in first and "tick: 1 action(s)" in first
    listing = ok("alerts", "list", "--json")
    assert "tick: 0 action(s)" in ok("tick")
    alerts = json.loads(listing)
    events = [a["event"] for a in alerts]
    assert events.count("rolled_back") == 1 and events.count("waiver_expiring") == 1
    assert all(a["deliveries"] == [] for a in alerts)  # no channels configured
    with ws.store.reading() as tx:
        actions = [e.action for e in tx.events()]
    assert actions.count("waiver.granted") == 1 and actions.count("rollout.rolled_back") == 1
