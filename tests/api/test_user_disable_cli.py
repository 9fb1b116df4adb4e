"""`clearance user disable/enable` and the token-lifetime rule as users run them
(``cli_runner``): locally (the operator) and remotely (CLEARANCE_URL + CLEARANCE_TOKEN)
against a real server."""

from __future__ import annotations

import os
from pathlib import Path

from api_server import running_server, token_for
from clearance.workspace import init_workspace
from cli_runner import Ran, run_cli


def _run(env: dict[str, str], *args: str) -> Ran:
    full = {**os.environ, "COLUMNS": "200", **env}
    for name in ("CLEARANCE_USER", "CLEARANCE_DB_URL"):
        if name not in env:
            full.pop(name, None)
    return run_cli(*args, env=full)


def test_disable_and_enable_locally_and_remotely(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    root = token_for(ws, "root", ["admin"])
    alice = token_for(ws, "alice", ["ml_engineer"])
    token_for(ws, "bob", ["tech_lead"])
    _, short = ws.tokens.create("bob", actor="ops", expires_in="5m", operator=True)
    local = {"CLEARANCE_WORKSPACE": str(ws.root)}
    with running_server(ws) as url:
        remote = {"CLEARANCE_URL": url, "CLEARANCE_WORKSPACE": str(tmp_path / "none")}

        # the operator disables alice: her token is refused at once
        done = _run(local, "user", "disable", "alice", "--as", "ops")
        assert done.returncode == 0, done.stderr
        assert "user alice is disabled: their tokens are revoked" in done.stdout
        me = _run({**remote, "CLEARANCE_TOKEN": alice}, "token", "list")
        assert me.returncode == 2 and "user alice is disabled" in me.stderr
        assert "Traceback" not in me.stderr
        assert _run(local, "user", "disable", "ghost").returncode == 2

        # remotely: only an admin; enabling leaves the old tokens revoked
        denied = _run({**remote, "CLEARANCE_TOKEN": short}, "user", "enable", "alice")
        assert denied.returncode == 1 and "may not manage users" in denied.stderr
        enabled = _run({**remote, "CLEARANCE_TOKEN": root}, "user", "enable", "alice")
        assert enabled.returncode == 0 and "user alice is enabled" in enabled.stdout
        still = _run({**remote, "CLEARANCE_TOKEN": alice}, "token", "list")
        assert still.returncode == 2 and "was revoked" in still.stderr

        # bob's five-minute token cannot mint a token that outlives it
        longer = _run({**remote, "CLEARANCE_TOKEN": short}, "token", "create", "--user", "bob")
        assert longer.returncode == 2, longer.stderr
        assert "expires_in: a token that never expires would outlive" in " ".join(
            longer.stderr.split()
        )

    with ws.store.reading() as tx:
        trail = [(e.action, e.actor) for e in tx.events() if e.subject == "user:alice"]
    assert trail[-2:] == [("user.disabled", "ops"), ("user.enabled", "root")]
