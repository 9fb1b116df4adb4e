"""``clearance policy backtest`` through the console script: the report and its exit codes
(0 no production version would newly fail, 1 some would, 2 bad input)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from cli_runner import Cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The example's version 7 in production: every gate passed, every sign-off given."""
    root = tmp_path_factory.mktemp("ws")
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "250"}
    for name in ("CLEARANCE_DB_URL", "CLEARANCE_USER", "CLEARANCE_URL"):
        env.pop(name, None)
    c = Cli(env)
    c.ok("init", root)
    for name, roles in [
        ("alice", ["ml_engineer"]),
        ("bob", ["tech_lead"]),
        ("carol", ["model_owner"]),
        ("dave", ["risk_officer"]),
        ("erin", ["compliance_officer"]),
        ("paula", ["policy_admin"]),
    ]:
        c.ok("user", "add", name, *[x for r in roles for x in ("--role", r)], "--as", "admin")
    base = root / "policy"
    shutil.copytree(EXAMPLE / "policy", base)
    gates = base / "gates.yaml"  # a first release: no champion to compare with
    gates.write_text(
        gates.read_text().replace(
            "    max_relative_degradation: 0.01\n",
            "    max_relative_degradation: 0.01\n    when_no_champion: skip\n",
        )
    )
    c.ok("policy", "apply", base, "--as", "paula")
    c.ok("register", EXAMPLE / "v7-pass" / "manifest.yaml", "--as", "alice")
    c.ok("promote", "credit-default", "7", "--to", "staging", "--as", "alice")
    c.ok("approve", "1", "--as", "bob")
    c.ok("promote", "credit-default", "7", "--to", "production", "--as", "alice")
    for approver in ("carol", "dave", "erin"):
        c.ok("approve", "2", "--as", approver)
    assert "production" in c.ok("status", "credit-default")
    return c


def proposed(cli: Cli, tmp: Path, version: str, parity_min: str | None = None) -> Path:
    """The applied policy as a new version, its fairness floor moved when asked."""
    folder = tmp / f"policy-{version}"
    shutil.copytree(Path(cli.env["CLEARANCE_WORKSPACE"]) / "policy", folder)
    workflow = folder / "workflow.yaml"
    text = workflow.read_text()
    assert re.search(r"(?m)^  version: ", text)
    workflow.write_text(re.sub(r"(?m)^  version: .*$", f"  version: {version}", text, count=1))
    if parity_min is not None:
        gates = folder / "gates.yaml"
        text = gates.read_text()
        assert "    min: 0.8\n" in text
        gates.write_text(text.replace("    min: 0.8\n", f"    min: {parity_min}\n", 1))
    return folder


def test_an_unchanged_policy_changes_nothing_and_exits_0(cli: Cli, tmp_path: Path) -> None:
    out = cli.ok("policy", "backtest", proposed(cli, tmp_path, "1.2.1"))
    assert "0 newly blocked, 0 newly allowed" in out
    assert "no version in production would newly fail" in out


def test_a_raised_floor_that_fails_production_exits_1(cli: Cli, tmp_path: Path) -> None:
    ran = cli.fails(1, "policy", "backtest", proposed(cli, tmp_path, "1.3.0", parity_min="0.9"))
    assert "PRODUCTION AT RISK credit-default 7" in ran.stdout
    assert "approval_rate_parity pass -> fail (0.86 vs 0.8 -> 0.86 vs 0.9)" in ran.stdout
    assert "policy change: gates.approval_rate_parity.min raised" in ran.stdout


def test_json_carries_the_report_and_the_exit_code(cli: Cli, tmp_path: Path) -> None:
    ran = cli.fails(
        1, "policy", "backtest", proposed(cli, tmp_path, "1.3.0", parity_min="0.9"), "--json"
    )
    report = json.loads(ran.stdout)
    assert report["exit_code"] == 1
    # the production request's four decisions: promote and three sign-offs
    assert report["newly_blocked"] == 4 and report["gate_changes"] == {"approval_rate_parity": 4}
    assert report["same"] == 2  # to staging: the gate is not on that transition
    [risk] = report["production_at_risk"]
    assert (risk["model"], risk["version"], risk["gates"]) == (
        "credit-default",
        "7",
        ["approval_rate_parity"],
    )
    # a loosened floor: the same decisions, none would change
    ran = cli(
        "policy",
        "backtest",
        proposed(cli, tmp_path, "1.3.1", parity_min="0.5"),
        "--json",
        "--limit",
        "1",
    )
    assert ran.returncode == 0, ran.stderr
    loose = json.loads(ran.stdout)
    assert (loose["examined"], loose["more"], loose["same"]) == (1, True, 1)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_report_is_the_same_in_one_process_or_several(
    cli: Cli, tmp_path: Path, workers: str
) -> None:
    """Six decisions stay in this process whatever --workers says (a parallel run is tested
    on thousands in tests/service/test_backtest_parallel.py)."""
    policy = proposed(cli, tmp_path, "1.3.0", parity_min="0.9")
    default = json.loads(cli.fails(1, "policy", "backtest", policy, "--json").stdout)
    ran = cli.fails(1, "policy", "backtest", policy, "--json", "--workers", workers)
    assert json.loads(ran.stdout) == default


def test_since_tomorrow_examines_nothing(cli: Cli, tmp_path: Path) -> None:
    out = cli.ok(
        "policy",
        "backtest",
        proposed(cli, tmp_path, "1.3.0", "0.9"),
        "--since",
        "2999-01-01",
        "--json",
    )
    assert json.loads(out)["examined"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "is not a date like 2026-06-30"),
        (["--limit", "0"], "--limit"),
        (["--replaces", "nope"], "no applied policy named 'nope'"),
        (["--workers", "0"], "--workers"),
        (["--workers", "5"], "--workers"),
    ],
)
def test_bad_input_exits_2(cli: Cli, tmp_path: Path, args: list[str], message: str) -> None:
    ran = cli.fails(2, "policy", "backtest", proposed(cli, tmp_path, "1.3.0"), *args)
    assert message in ran.stdout + ran.stderr


def test_a_broken_policy_file_exits_2_with_its_location(cli: Cli, tmp_path: Path) -> None:
    folder = proposed(cli, tmp_path, "1.3.0")
    (folder / "gates.yaml").write_text("gates: [unclosed\n")
    ran = cli.fails(2, "policy", "backtest", folder)
    assert "gates.yaml" in ran.stdout + ran.stderr
    cli.fails(2, "policy", "backtest", tmp_path / "missing")
