"""``clearance monitor run`` / ``monitor status`` as users run them (SQLite, the system clock),
and the results in ``status`` and ``history``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clearance.adapters.clock import FixedClock, SystemClock
from clearance.workspace import init_workspace
from cli_runner import Cli
from stories import REVIEWERS

from .conftest import MODEL, TEAM, Env, monitor, policy_doc


def test_monitor_commands_status_and_history(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "200"}
    for var in ("CLEARANCE_DB_URL", "CLEARANCE_USER", "CLEARANCE_URL"):
        env.pop(var, None)
    cli = Cli(env)
    ws = init_workspace(root, clock=SystemClock())
    for name, roles in {**TEAM, **{r: ["policy_admin"] for r in REVIEWERS}}.items():
        ws.registry.add_user(name, roles, actor="admin", operator=True)
    story = Env(ws, FixedClock(SystemClock().now()), tmp_path)
    story.apply(policy_doc(monitor(**{"for": None})))
    story.to_production("1")
    story.to_production("2")

    before = cli.ok("monitor", "status", MODEL)
    assert "input_drift" in before and "never" in before
    story.batch(shift=3.0)

    dry = cli.fails(1, "monitor", "run", "--dry-run").stdout
    assert "would run 1" in dry and "alert; rollback" in dry and story.stage_of("2") == "production"

    ran = cli.fails(1, "monitor", "run", "--model", MODEL).stdout
    assert "fail (sustained)" in ran and "rolled back 2 → 1" in ran
    assert story.stage_of("1") == "production"

    story.batch(shift=0.0)  # the data recovers: version 1, due at once, passes
    healthy = json.loads(cli.ok("monitor", "run", "--json"))
    assert [(r["version"], r["result"]["status"]) for r in healthy["results"]] == [("1", "pass")]
    assert "ran 0, 1 not due; 0 failing" in cli.ok("monitor", "run")

    state = json.loads(cli.ok("monitor", "status", MODEL, "--json"))
    [m] = state["monitors"]
    assert (m["version"], m["status"], m["runs"], m["failing_since"]) == ("1", "pass", 1, None)
    status = json.loads(cli.ok("status", MODEL, "--json"))
    assert [(b["monitor"], b["version"], b["status"]) for b in status[0]["monitors"]] == [
        ("input_drift", "1", "pass")
    ]
    assert "monitor input_drift (1): pass at " in cli.ok("status", MODEL)
    history = cli.ok("history", MODEL)
    assert "monitor.checked" in history and "model.rolled_back" in history

    missing = cli.fails(2, "monitor", "run", "--model", "no-such-model")
    assert "unknown model 'no-such-model'" in missing.stderr
    assert cli.fails(2, "monitor", "status").returncode == 2  # MODEL is required


@pytest.mark.backends("sqlite")
def test_the_model_page_shows_each_monitors_latest_run(env: Env) -> None:
    """The web dashboard's model page: a failing monitor in its own table, the time by the
    pages' display rule."""
    import re

    import httpx

    from api_server import running_server, token_for

    env.apply(policy_doc(monitor(**{"for": None, "on_fail": ["alert"]})))
    env.to_production("1")
    env.batch(shift=3.0)
    assert env.ws.monitors.run().results[0].result.status.value == "fail"
    token = token_for(env.ws, "frank", ["mlops_oncall"])
    with running_server(env.ws) as url, httpx.Client(base_url=url) as client:
        form = client.get("/signin").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        signed = client.post("/signin", data={"token": token, "csrf": csrf.group(1), "next": "/"})
        assert signed.status_code == 303
        page = client.get(f"/models/{MODEL}").text
    table = re.search(r'<table id="monitors">(.*?)</table>', page, re.S)
    assert table is not None, page
    row = " ".join(re.sub(r"<[^>]+>", " ", table.group(1).split("<tbody>")[1]).split())
    assert re.match(
        r"input_drift 1 fail : 2 of 2 columns drifted .+ \d{4}-\d\d-\d\d \d\d:\d\d UTC", row
    ), row
    assert '<strong class="bad">fail</strong>' in table.group(1)
