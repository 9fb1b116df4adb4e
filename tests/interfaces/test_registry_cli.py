"""The registry commands through the real console script: exit codes and nothing changed.

Every bad-input path (unknown model, wrong stage, missing role, self-approval, unknown
user) exits 2 or 1 with a one-line message and leaves the audit trail exactly as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_runner import Cli as Command

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"


class Cli(Command):
    def events(self) -> int:
        return int(json.loads(self.ok("audit", "verify", "--json"))["events"])


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("ws")
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "200"}
    for name in ("CLEARANCE_DB_URL", "CLEARANCE_USER", "CLEARANCE_URL"):
        env.pop(name, None)
    c = Cli(env)
    c.ok("init", root)
    for name, roles in [
        ("alice", ["ml_engineer"]),
        ("bob", ["tech_lead"]),
        ("carol", ["model_owner"]),
        ("dave", ["risk_officer", "model_owner"]),
        ("erin", ["compliance_officer"]),
        ("paula", ["policy_admin"]),
    ]:
        c.ok("user", "add", name, *[x for r in roles for x in ("--role", r)], "--as", "admin")
    c.ok("policy", "apply", EXAMPLE / "policy", "--as", "paula")
    c.ok("register", EXAMPLE / "v7-pass" / "manifest.yaml", "--as", "alice")
    c.ok("promote", "credit-default", "7", "--to", "staging", "--as", "alice")
    return c


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["promote", "credit-default", "99", "--to", "staging", "--as", "alice"],
            2,
            "has no version '99'",
        ),
        (["promote", "nope", "7", "--to", "staging", "--as", "alice"], 2, "unknown model 'nope'"),
        (
            ["promote", "credit-default", "7", "--to", "orbit", "--as", "alice"],
            2,
            "'orbit' is not a stage",
        ),
        (
            ["promote", "credit-default", "7", "--to", "production", "--as", "alice"],
            2,
            "allows no transition from 'draft' to 'production'",
        ),
        (
            ["promote", "credit-default", "7", "--to", "staging", "--as", "mallory"],
            2,
            "unknown user 'mallory'",
        ),
        (["promote", "credit-default", "7", "--to", "staging"], 2, "who is acting?"),
        (["approve", "1", "--as", "alice"], 1, "cannot approve it (separation of duties)"),
        (["approve", "1", "--as", "carol"], 1, "needs sign-off from tech_lead"),
        (["approve", "42", "--as", "bob"], 2, "there is no promotion request 42"),
        (["reject", "1", "--as", "bob", "--reason", " "], 2, "needs a --reason"),
        (
            ["rollback", "credit-default", "--reason", "x", "--as", "dave"],
            2,
            "has no production version",
        ),
        (
            ["rollback", "credit-default", "--reason", "x", "--as", "bob"],
            1,
            "bob holds tech_lead and may not roll back on model credit-default; "
            "that needs one of: mlops_oncall, model_owner",
        ),
        (
            ["policy", "apply", EXAMPLE / "policy", "--as", "alice"],
            1,
            "alice holds ml_engineer and may not apply policies; "
            "that needs one of: admin, policy_admin",
        ),
        (
            ["register", EXAMPLE / "v8-blocked" / "manifest.yaml", "--as", "erin"],
            1,
            "erin holds compliance_officer and may not register versions",
        ),
        (
            ["register", EXAMPLE / "v7-pass" / "manifest.yaml", "--as", "alice"],
            2,
            "already registered",
        ),
        (["replay", "999"], 2, "no decision '999'"),
    ],
)
def test_bad_input_changes_nothing(cli: Cli, args: list[str], code: int, message: str) -> None:
    before = cli.events()
    result = cli(*args)
    assert result.returncode == code, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert cli.events() == before


def test_approval_executes_and_everything_is_visible(cli: Cli) -> None:
    out = cli.ok("approve", "1", "--as", "bob", "--ticket", "CHG-7", "--json")
    assert json.loads(out)["executed"] is True
    status = json.loads(cli.ok("status", "credit-default", "--json"))
    assert status[0]["versions"][0]["stage"] == "staging"
    assert status[0]["policy"] == "credit-risk@1.4.0"
    history = json.loads(cli.ok("history", "credit-default", "--json"))
    assert [e["action"] for e in history][-2:] == [
        "version.stage_changed",
        "request.status_changed",
    ]
    requests = json.loads(cli.ok("request", "list", "--json"))
    assert requests[0]["status"] == "executed"
    shown = json.loads(cli.ok("request", "show", "1", "--json"))
    assert shown["approvals"][0]["ticket"] == "CHG-7"
    replay = cli("replay", str(shown["decision"]))
    assert replay.returncode == 0 and "identical" in replay.stdout
    lines = cli.ok("audit", "export", "--format", "jsonl", "--model", "credit-default").splitlines()
    assert all(json.loads(line)["hash"] for line in lines)
    csv_text = cli.ok("audit", "export", "--format", "csv")
    assert csv_text.splitlines()[0].startswith("seq,time,actor,action")


def test_policy_show_prints_the_applied_version_and_its_files(cli: Cli) -> None:
    shown = json.loads(cli.ok("policy", "show", "credit-risk", "1.4.0", "--json"))
    applied = (shown["name"], shown["version"], shown["applied_by"])
    assert applied == ("credit-risk", "1.4.0", "paula")
    text = cli.ok("policy", "show", "credit-risk", "1.4.0")
    assert text.startswith("policy credit-risk 1.4.0, applied by paula")
    assert all(f"--- {file}" in text for file, _ in shown["sources"])
    missing = cli("policy", "show", "credit-risk", "9.9.9")
    assert missing.returncode == 2 and "no policy credit-risk version '9.9.9'" in missing.stderr


def test_status_of_an_empty_workspace_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(tmp_path)}
    for name in ("CLEARANCE_DB_URL", "CLEARANCE_USER", "CLEARANCE_URL"):
        env.pop(name, None)
    empty = Cli(env)
    empty.ok("init", tmp_path)
    assert "no models yet: register a version with `clearance register" in empty.ok("status")
    assert json.loads(empty.ok("status", "--json")) == []
