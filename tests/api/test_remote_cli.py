"""The CLI in remote mode (CLEARANCE_URL + CLEARANCE_TOKEN) drives a real server over HTTP.

The commands run from an empty folder with no workspace, so everything they show came
through the API; where the CLI prints JSON, it must equal what the local CLI prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_server import running_server, token_for
from clearance.workspace import Workspace, init_workspace
from cli_runner import Ran, run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"


class Remote:
    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder

    def run(self, token: str, *args: str | Path) -> Ran:
        env = {**os.environ, "CLEARANCE_URL": self.url, "CLEARANCE_TOKEN": token, "COLUMNS": "200"}
        for name in ("CLEARANCE_WORKSPACE", "CLEARANCE_DB_URL", "CLEARANCE_USER"):
            env.pop(name, None)
        return run_cli(*args, env=env, cwd=self.folder)

    def ok(self, token: str, *args: str | Path) -> str:
        result = self.run(token, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Remote, str]]:
    ws = init_workspace(tmp_path_factory.mktemp("server"))
    empty = tmp_path_factory.mktemp("elsewhere")
    with running_server(ws) as url:
        yield ws, Remote(url, empty), token_for(ws, "root", ["admin"])


def test_the_promotion_story_through_the_remote_cli(
    setup: tuple[Workspace, Remote, str], tmp_path: Path
) -> None:
    ws, cli, root = setup
    for name, role in [("alice", "ml_engineer"), ("bob", "tech_lead"), ("paula", "policy_admin")]:
        cli.ok(root, "user", "add", name, "--role", role)
    tokens = {n: cli.ok(root, "token", "create", "--user", n).strip() for n in ("alice", "bob")}
    tokens["paula"] = json.loads(cli.ok(root, "token", "create", "--user", "paula", "--json"))[
        "secret"
    ]
    alice, bob, paula = tokens["alice"], tokens["bob"], tokens["paula"]

    assert "applied" in cli.ok(paula, "policy", "apply", EXAMPLE / "policy")
    out = cli.ok(alice, "register", EXAMPLE / "v7-pass" / "manifest.yaml")
    assert "registered credit-default 7 in stage draft" in out
    opened = json.loads(
        cli.ok(alice, "promote", "credit-default", "7", "--to", "staging", "--json")
    )
    request_id = opened["request"]["id"]
    assert opened["request"]["status"] == "pending"
    signed = json.loads(cli.ok(bob, "approve", str(request_id), "--json"))
    assert signed["executed"] is True

    # What the remote CLI prints is what the local CLI prints over the same store.
    assert json.loads(cli.ok(alice, "status", "credit-default", "--json")) == [
        s.model_dump(mode="json", by_alias=True) for s in ws.views.status("credit-default")
    ]
    assert json.loads(cli.ok(alice, "request", "list", "--json")) == [
        r.model_dump(mode="json", by_alias=True) for r in ws.views.requests().items
    ]
    history = json.loads(cli.ok(alice, "history", "credit-default", "--json"))
    assert [e["hash"] for e in history] == [e.hash for e in ws.views.history("credit-default")]
    assert cli.ok(alice, "audit", "export") == "".join(ws.auditing.export("jsonl"))

    # Verified here, against a key the auditor holds, not by the server.
    key = tmp_path / "key.hex"
    key.write_text(ws.auditing.public_key().hex())
    assert "audit chain OK" in cli.ok(alice, "audit", "verify", "--public-key", key)

    # The token decides who acts: --as is refused, and roles are the server's.
    assert cli.run(alice, "approve", str(request_id), "--as", "bob").returncode == 2
    denied = cli.run(alice, "user", "add", "mallory", "--role", "admin")
    assert denied.returncode == 1
    assert "may not manage users" in denied.stderr
    assert cli.ok(root, "tick").startswith("tick:")


def test_revoked_and_missing_tokens_are_refused(setup: tuple[Workspace, Remote, str]) -> None:
    ws, cli, root = setup
    secret = token_for(ws, "viewer", [])
    listed = json.loads(cli.ok(root, "token", "list", "--user", "viewer", "--json"))
    cli.ok(root, "token", "revoke", str(listed[-1]["id"]))
    refused = cli.run(secret, "status")
    assert refused.returncode == 2
    assert "revoked" in refused.stderr
    assert cli.run("", "status").returncode == 2
