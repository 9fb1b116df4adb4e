"""Token and role commands as users run them (``cli_runner``): the local CLI is the operator.

``token create`` prints the secret once (and says so), ``token list`` never prints it,
``token revoke`` ends it at once; ``user roles`` replaces a user's roles, audited.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from clearance.adapters.clock import SystemClock
from clearance.errors import Unauthenticated
from clearance.workspace import init_workspace
from cli_runner import Cli


def test_tokens_and_roles_from_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "200"}
    for var in ("CLEARANCE_DB_URL", "CLEARANCE_USER"):
        env.pop(var, None)

    cli = Cli(env)

    def done(*args: str, code: int = 0) -> tuple[str, str]:
        ran = cli.fails(code, *args)
        assert "Traceback" not in ran.stderr
        return ran.stdout, " ".join(ran.stderr.split())

    # the setup goes through the API
    ws = init_workspace(root, clock=SystemClock())
    ws.registry.add_user("alice", ["ml_engineer"], actor="ops", operator=True)
    ws.registry.add_user("bob", ["tech_lead"], actor="ops", operator=True)

    created = json.loads(done("token", "create", "--user", "alice", "--name", "ci", "--json")[0])
    secret = created.pop("secret")
    assert created["user"] == "alice" and created["name"] == "ci"
    assert created["state"] == "active" and created["expires_at"] is None
    assert secret.startswith(created["prefix"]) and secret.startswith("clr_")

    # the secret alone on stdout, the rest on stderr
    out, err = done("token", "create", "--user", "bob", "--expires", "90d", "--as", "ops")
    bob_secret = out.strip()
    assert bob_secret.startswith("clr_") and len(bob_secret) == 47 and out.count("\n") == 1
    match = re.match(r"token (\d+) \(token for bob\) for bob, expires [0-9-]+ [0-9:]+ UTC:", err)
    assert match is not None, err
    bob_id = int(match.group(1))
    assert "This secret is shown once" in err

    roles = done("user", "roles", "bob", "--role", "tech_lead", "--role", "admin", "--as", "ops")
    assert roles[0].strip() == "user bob now holds admin, tech_lead"
    assert "unknown user 'zed'" in done("token", "create", "--user", "zed", code=2)[1]
    bad_expiry = done("token", "create", "--user", "alice", "--expires", "soon", code=2)
    assert "'soon' is not a duration" in bad_expiry[1]
    assert "no token with id 999" in done("token", "revoke", "999", code=2)[1]
    assert "unknown user 'zed'" in done("user", "roles", "zed", "--role", "admin", code=2)[1]

    assert ws.tokens.authenticate(secret).name == "alice"
    assert ws.tokens.authenticate(bob_secret).roles == ["admin", "tech_lead"]

    rows = json.loads(done("token", "list", "--json")[0])
    assert [(r["id"], r["user"], r["state"]) for r in rows] == sorted(
        [(created["id"], "alice", "active"), (bob_id, "bob", "active")]
    )
    assert all("secret" not in r and "secret_sha256" not in r for r in rows)
    text_out = done("token", "list", "--user", "bob")[0]
    assert "bob" in text_out and "alice" not in text_out
    assert secret not in text_out and bob_secret not in text_out

    revoked, _ = done("token", "revoke", str(created["id"]), "--as", "ops")
    assert revoked.strip() == f"token {created['id']} ({created['prefix']}…) of alice is revoked"
    with pytest.raises(Unauthenticated, match="was revoked"):
        ws.tokens.authenticate(secret)
    rows = json.loads(done("token", "list", "--user", "alice", "--json")[0])
    assert [(r["id"], r["state"]) for r in rows] == [(created["id"], "revoked")]

    with ws.store.reading() as tx:
        trail = [(e.action, e.actor, e.subject) for e in tx.events()]
    assert ("user.roles_changed", "ops", "user:bob") in trail
    assert ("token.revoked", "ops", "user:alice") in trail
    assert [a for a, _, _ in trail].count("token.created") == 2
