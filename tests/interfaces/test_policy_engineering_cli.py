"""`clearance policy test` and `clearance policy diff` from the command line: the example's
tests pass, a failing case and a loosening exit 1, bad input exits 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from cli_runner import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"


def test_the_example_policy_s_tests_pass_with_coverage() -> None:
    ran = run_cli("policy", "test", EXAMPLE / "policy")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "12/12 case(s) passed: credit-risk@1.4.0" in ran.stdout
    assert "coverage: change types 2/2" in ran.stdout
    assert "not covered, transitions: production -> deprecated" in ran.stdout


def test_a_failing_case_exits_1_and_json_lists_it(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "credit-risk")
    tests = tmp_path / "credit-risk" / "policy" / "credit-risk.test.yaml"
    tests.write_text(
        tests.read_text().replace("expect: {outcome: allow}", "expect: {outcome: deny}", 1)
    )
    ran = run_cli("policy", "test", tmp_path / "credit-risk" / "policy", "--json")
    assert ran.returncode == 1
    found = json.loads(ran.stdout)
    assert found["failed"] == 1
    (bad,) = [c for c in found["cases"] if not c["passed"]]
    assert bad["mismatches"] == ["outcome: expected deny, got allow"]


def test_no_tests_is_bad_input(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE / "policy", tmp_path / "policy")
    (tmp_path / "policy" / "credit-risk.test.yaml").unlink()
    ran = run_cli("policy", "test", tmp_path / "policy")
    assert ran.returncode == 2 and "no *.test.yaml files" in ran.stderr


def test_diff_flags_the_one_person_loosening(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(EXAMPLE / "policy", new)
    workflow = new / "workflow.yaml"
    doc = yaml.safe_load(workflow.read_text())
    doc["metadata"]["version"] = "1.5.0"
    doc["approval_rules"] = {"allow_self_approval": True}
    doc["workflow"]["transitions"].append({"from": "draft", "to": "production"})
    workflow.write_text(yaml.safe_dump(doc, sort_keys=False))
    ran = run_cli("policy", "diff", EXAMPLE / "policy", new)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "LOOSENED requesters may approve their own requests" in ran.stdout
    assert "LOOSENED transition draft -> production added" in ran.stdout
    assert "2 change(s), 2 loosening(s)" in ran.stdout
    as_json = json.loads(run_cli("policy", "diff", EXAMPLE / "policy", new, "--json").stdout)
    assert as_json["loosenings"] == 2
    assert all(c["location"].startswith(str(new)) for c in as_json["changes"])


def test_diff_of_a_tightening_exits_0(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(EXAMPLE / "policy", new)
    gates = new / "gates.yaml"
    gates.write_text(gates.read_text().replace("min: 0.70", "min: 0.75", 1))
    workflow = new / "workflow.yaml"
    workflow.write_text(workflow.read_text().replace("version: 1.4.0", "version: 1.4.1"))
    ran = run_cli("policy", "diff", EXAMPLE / "policy", new)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "tightened gates.auc_floor.min raised from 0.7 to 0.75" in ran.stdout


def test_diff_of_a_broken_policy_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: clearance/v1\nkind: Policy\nmetadata: {name: x}\n")
    ran = run_cli("policy", "diff", EXAMPLE / "policy", bad)
    assert ran.returncode == 2 and "bad.yaml:3" in ran.stderr
