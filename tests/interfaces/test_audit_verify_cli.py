"""``clearance audit verify`` as users run it (``cli_runner``): the state comparison, --blobs
and the advice to verify with a public key kept outside the workspace; the checkpoint and the
public key it is verified with, as JSON too."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import text

from clearance.workspace import init_workspace
from cli_runner import Ran, run_cli


def _run(root: Path, *args: str, command: str = "verify") -> Ran:
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "250"}
    env.pop("CLEARANCE_DB_URL", None)
    env.pop("CLEARANCE_URL", None)
    return run_cli("audit", command, *args, env=env)


def test_verify_reports_state_blobs_and_recommends_an_outside_key(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = init_workspace(root)
    ws.registry.add_user("alice", ["ml_engineer"], actor="admin", operator=True)
    key_file = tmp_path / "outside.pub"
    key_file.write_text(ws.auditing.public_key().hex() + "\n")

    ok = _run(root, "--blobs")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "audit chain OK: 1 events" in ok.stdout
    assert "state OK" in ok.stdout and "blobs OK: 0 re-hashed" in ok.stdout
    assert "verify with --public-key FILE" in ok.stdout
    assert "--public-key" not in _run(root, "--public-key", str(key_file)).stdout

    with ws.engine.begin() as conn:
        conn.execute(text("""UPDATE users SET roles = '["admin"]' WHERE name = 'alice'"""))
    bad = _run(root)
    assert bad.returncode == 1
    assert "state DOES NOT MATCH the audit trail: 1 difference(s)" in bad.stdout
    assert (
        "users user:alice: roles is ['admin'] in the table, but the events say "
        "['ml_engineer'] (event seq 1)" in bad.stdout
    )
    data = json.loads(_run(root, "--json").stdout)
    assert data["ok"] is False and data["state_checked"] is True
    [d] = data["differences"]
    assert (d["table"], d["key"], d["field"], d["expected"], d["found"]) == (
        "users",
        "user:alice",
        "roles",
        ["ml_engineer"],
        ["admin"],
    )


def test_checkpoint_and_public_key_print_json(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = init_workspace(root)
    ws.registry.add_user("alice", ["ml_engineer"], actor="admin", operator=True)
    signed = _run(root, "--json", command="checkpoint")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    with ws.store.reading() as tx:
        [stored] = tx.checkpoints()
    assert json.loads(signed.stdout) == stored.model_dump(mode="json")
    key = json.loads(_run(root, "--json", command="public-key").stdout)
    assert key == ws.auditing.audit_key().model_dump(mode="json")
    assert key["key_id"] == stored.key_id
    assert _run(root, command="public-key").stdout.strip() == key["public_key_hex"]
    out = tmp_path / "audit.pub"
    assert _run(root, "-o", str(out), command="public-key").returncode == 0
    assert _run(root, "--public-key", str(out)).returncode == 0
