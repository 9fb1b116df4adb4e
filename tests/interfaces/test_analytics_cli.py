"""``clearance analytics``: the headline tables and the JSON, on the credit-risk example
(v7 and v8 through staging, v8 blocked on its way to production), and one-line errors with
exit code 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_runner import Cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("ws")
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "200"}
    for name in ("CLEARANCE_DB_URL", "CLEARANCE_USER", "CLEARANCE_URL"):
        env.pop(name, None)
    c = Cli(env)
    c.ok("init", root)
    for name, role in [("alice", "ml_engineer"), ("bob", "tech_lead"), ("paula", "policy_admin")]:
        c.ok("user", "add", name, "--role", role, "--as", "admin")
    c.ok("policy", "apply", EXAMPLE / "policy", "--as", "paula")
    for version in ("7-pass", "8-blocked"):
        c.ok("register", EXAMPLE / f"v{version}" / "manifest.yaml", "--as", "alice")
    c.ok("promote", "credit-default", "7", "--to", "staging", "--as", "alice")
    c.ok("approve", "1", "--as", "bob")
    c.ok("promote", "credit-default", "8", "--to", "staging", "--as", "alice")
    c.ok("approve", "2", "--as", "bob")
    c.fails(1, "promote", "credit-default", "8", "--to", "production", "--as", "alice")
    return c


def test_json_has_every_section_and_the_tables_lead_with_the_blocking_gate(cli: Cli) -> None:
    data = json.loads(cli.ok("analytics", "--json", "--bucket", "day"))
    assert data["decisions"] >= 3 and data["bucket"] == "day"
    for key in ("gates", "gate_series", "near_misses", "stages", "lead_time", "change_failure",
                "remediation", "waivers", "emergencies"):  # fmt: skip
        assert key in data
    top = data["gates"][0]
    assert top["failed"] >= 1 and top["blocked_decisions"] >= 1  # v8 is blocked on its way
    out = cli.ok("analytics")
    assert "Gates that block most" in out and "Delivery" in out
    first_row = next(line for line in out.splitlines() if top["gate_id"] in line)
    assert str(top["failed"]) in first_row and str(top["near_misses"]) in first_row
    assert "change failure rate:" in out and "emergency changes: 0" in out
    assert "lead time (registration to production)" in out


def test_filters_narrow_the_figures(cli: Cli) -> None:
    every = json.loads(cli.ok("analytics", "--json"))
    mine = json.loads(cli.ok("analytics", "--json", "--model", "credit-default",
                             "--policy", "credit-risk"))  # fmt: skip
    assert mine["decisions"] == every["decisions"]
    early = json.loads(
        cli.ok("analytics", "--json", "--until", "2000-01-02", "--since", "2000-01-01")
    )
    assert early["decisions"] == 0 and early["gates"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bucket", "month"], "--bucket: 'month' is not 'day' or 'week'"),
        (["--since", "last tuesday"], "--since: 'last tuesday' is not an ISO 8601 date"),
        (["--model", "nope"], "unknown model 'nope'"),
        (["--policy", "nope"], "unknown policy 'nope'"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "must be before until"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(cli: Cli, args: list[str], message: str) -> None:
    ran = cli.fails(2, "analytics", *args)
    assert message in " ".join(ran.stderr.split())
    assert "Traceback" not in ran.stderr
