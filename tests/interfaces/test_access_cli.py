"""Token and role commands through the real console script: the local CLI is the operator.

``token create`` prints the secret once (and says so), ``token list`` never prints it,
``token revoke`` ends it at once; ``user roles`` replaces a user's roles, audited.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clearance.adapters.clock import SystemClock
from clearance.errors import Unauthenticated
from clearance.workspace import init_workspace

EXE = str(Path(sys.executable).parent / "clearance")


def test_tokens_and_roles_from_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "200"}
    for var in ("CLEARANCE_DB_URL", "CLEARANCE_USER"):
        env.pop(var, None)

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def done(process: subprocess.Popen[str], code: int = 0) -> tuple[str, str]:
        out, err = process.communicate(timeout=120)
        assert process.returncode == code, out + err
        assert "Traceback" not in err
        return out, " ".join(err.split())

    # the setup goes through the API (each console-script start costs seconds)
    ws = init_workspace(root, clock=SystemClock())
    ws.registry.add_user("alice", ["ml_engineer"], actor="ops", operator=True)
    ws.registry.add_user("bob", ["tech_lead"], actor="ops", operator=True)

    # independent commands run side by side
    json_create = start("token", "create", "--user", "alice", "--name", "ci", "--json")
    text_create = start("token", "create", "--user", "bob", "--expires", "90d", "--as", "ops")
    roles = start("user", "roles", "bob", "--role", "tech_lead", "--role", "admin", "--as", "ops")
    unknown_user = start("token", "create", "--user", "zed")
    bad_expiry = start("token", "create", "--user", "alice", "--expires", "soon")
    unknown_token = start("token", "revoke", "999")
    nobody = start("user", "roles", "zed", "--role", "admin")

    created = json.loads(done(json_create)[0])
    secret = created.pop("secret")
    assert created["user"] == "alice" and created["name"] == "ci"
    assert created["state"] == "active" and created["expires_at"] is None
    assert secret.startswith(created["prefix"]) and secret.startswith("clr_")

    out, err = done(text_create)  # the secret alone on stdout, the rest on stderr
    bob_secret = out.strip()
    assert bob_secret.startswith("clr_") and len(bob_secret) == 47 and out.count("\n") == 1
    match = re.match(r"token (\d+) \(token for bob\) for bob, expires [0-9-]+ [0-9:]+ UTC:", err)
    assert match is not None, err
    bob_id = int(match.group(1))
    assert "This secret is shown once" in err

    assert done(roles)[0].strip() == "user bob now holds admin, tech_lead"
    assert "unknown user 'zed'" in done(unknown_user, 2)[1]
    assert "'soon' is not a duration" in done(bad_expiry, 2)[1]
    assert "no token with id 999" in done(unknown_token, 2)[1]
    assert "unknown user 'zed'" in done(nobody, 2)[1]

    assert ws.tokens.authenticate(secret).name == "alice"
    assert ws.tokens.authenticate(bob_secret).roles == ["admin", "tech_lead"]

    listing = start("token", "list", "--json")
    table = start("token", "list", "--user", "bob")
    rows = json.loads(done(listing)[0])
    assert [(r["id"], r["user"], r["state"]) for r in rows] == sorted(
        [(created["id"], "alice", "active"), (bob_id, "bob", "active")]
    )
    assert all("secret" not in r and "secret_sha256" not in r for r in rows)
    text_out = done(table)[0]
    assert "bob" in text_out and "alice" not in text_out
    assert secret not in text_out and bob_secret not in text_out

    revoked, _ = done(start("token", "revoke", str(created["id"]), "--as", "ops"))
    assert revoked.strip() == f"token {created['id']} ({created['prefix']}…) of alice is revoked"
    with pytest.raises(Unauthenticated, match="was revoked"):
        ws.tokens.authenticate(secret)
    rows = json.loads(done(start("token", "list", "--user", "alice", "--json"))[0])
    assert [(r["id"], r["state"]) for r in rows] == [(created["id"], "revoked")]

    with ws.store.reading() as tx:
        trail = [(e.action, e.actor, e.subject) for e in tx.events()]
    assert ("user.roles_changed", "ops", "user:bob") in trail
    assert ("token.revoked", "ops", "user:alice") in trail
    assert [a for a, _, _ in trail].count("token.created") == 2
