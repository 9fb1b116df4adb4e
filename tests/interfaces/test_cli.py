"""The ``clearance`` command as users run it: exit codes, reports, errors without tracebacks.

The commands run in this process through the console script's entry point
(``tests/cli_runner.py``); one malformed-policy case runs the installed console script, for
the exit code and the one-line error a real process shows.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from clearance.core.loading import read_policy_files
from cli_runner import Ran, run_cli

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "credit-risk" / "policy"
PASSING = ROOT / "examples" / "credit-risk" / "v7-pass" / "manifest.yaml"
NOW = ["--now", "2026-11-22T12:00:00"]


def run(*args: str | Path, cwd: Path = ROOT, process: bool = False) -> Ran:
    return run_cli(*args, cwd=cwd, process=process)


def check(
    *extra: str | Path, manifest: Path = PASSING, policy: Path = POLICY, process: bool = False
) -> Ran:
    args = ("check", "-p", policy, "-m", manifest, "--to", "production", *NOW, *extra)
    return run(*args, process=process)


def test_passing_version_exits_0_with_approvals_pending() -> None:
    result = check("--json")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["outcome"] == "needs_approval"
    assert decision["exit_code"] == 0
    assert {g["status"] for g in decision["gates"]} == {"pass"}
    pending = {r["role"] for r in decision["approvals"]["roles"] if not r["approved_by"]}
    assert pending == {"model_owner", "risk_officer", "compliance_officer"}
    assert len(decision["policy_hash"]) == 64


def test_table_output_names_every_gate_and_the_outcome() -> None:
    result = check()
    assert result.returncode == 0
    for gate in ("reproducibility", "auc_vs_champion", "model_card", "no_pii_features"):
        assert gate in result.stdout
    assert "NEEDS_APPROVAL" in result.stdout


def test_blocked_version_exits_1_and_reports(tmp_path: Path) -> None:
    manifest = _edited_manifest(tmp_path, metrics={"auc": 0.70})
    junit, markdown = tmp_path / "out" / "junit.xml", tmp_path / "out" / "report.md"
    result = check("--junit", junit, "--markdown", markdown, manifest=manifest)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DENY" in result.stdout
    suite = ET.parse(junit).getroot()
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failed == {"auc_vs_champion"}
    assert suite.get("failures") == "1"
    text = markdown.read_text()
    assert "**deny**" in text
    assert "auc_vs_champion" in text and "retrain, or justify with a waiver" in text


def test_missing_evidence_is_an_error_that_names_it(tmp_path: Path) -> None:
    manifest = _edited_manifest(tmp_path, drop_evidence="rollback_plan")
    result = check("--json", manifest=manifest)
    assert result.returncode == 1
    gate = _gate(json.loads(result.stdout), "monitoring_and_rollback")
    assert gate["status"] == "error"
    assert "rollback_plan" in gate["message"]


def test_changed_artifact_fails_reproducibility(tmp_path: Path) -> None:
    manifest = _edited_manifest(tmp_path)
    (tmp_path / "model.pkl").write_bytes(b"not the trained model")
    gate = _gate(json.loads(check("--json", manifest=manifest).stdout), "reproducibility")
    assert gate["status"] == "fail"
    assert "sha256 mismatch" in gate["message"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("metrics: {auc: high}", "manifest.yaml:"),
        ("evidence: {model_card: {path: nowhere.md}}", "file not found: nowhere.md"),
    ],
)
def test_bad_manifest_exits_2_with_location(tmp_path: Path, edit: str, expected: str) -> None:
    manifest = tmp_path / "manifest.yaml"
    base = "apiVersion: clearance/v1\nkind: ModelManifest\nmodel: {name: m}\nversion: 1\n"
    manifest.write_text(base + edit + "\n")
    result = check(manifest=manifest)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("process", [False, True], ids=["in-process", "console-script"])
def test_malformed_policy_exits_2_naming_file_line_and_field(tmp_path: Path, process: bool) -> None:
    policy = tmp_path / "policy.yaml"
    text = (POLICY / "workflow.yaml").read_text().replace("version: 1.4.0", "version: one")
    policy.write_text(text)
    result = check(policy=policy, process=process)
    assert result.returncode == 2
    assert f"{policy}:6:12: error: metadata.version: 'one' is not a semantic version" in (
        result.stderr.replace("\n", "")
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "text",
    ["[" * 3000 + "]" * 3000, "metadata: !!timestamp soon\n", "- x\n" * 200_001],
    ids=["deep", "odd-tag", "huge"],
)
def test_hostile_policy_yaml_is_one_located_error_exit_2(tmp_path: Path, text: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    result = check(policy=policy)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{policy}:"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "orbit"], "'orbit' is not a stage"),
        (["--to", "archived", "--from", "draft"], "allows no transition from 'draft'"),
        (["--to", "production", "--change-type", "hotfix"], "no 'hotfix' change type"),
        (["--to", "production", "--now", "yesterday"], "--now"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run("check", "-p", POLICY, "-m", PASSING, *args)
    assert result.returncode == 2
    assert message in result.stderr.replace("\n", " ")


def test_missing_option_is_a_usage_error() -> None:
    assert run("check", "-p", POLICY).returncode == 2


def test_emergency_change_skips_bypassed_gate_and_needs_oncall(tmp_path: Path) -> None:
    manifest = _edited_manifest(tmp_path, metrics={"auc": 0.70})
    result = check("--json", "--change-type", "emergency", manifest=manifest)
    decision = json.loads(result.stdout)
    assert result.returncode == 0
    assert _gate(decision, "auc_vs_champion")["status"] == "skipped"
    assert [r["role"] for r in decision["approvals"]["roles"]] == ["mlops_oncall"]


def test_schema_is_json_schema_that_accepts_the_example_and_rejects_typos() -> None:
    result = run("policy", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    merged: dict = {}
    for _, text in read_policy_files(POLICY):  # the policy's files, not its tests
        data = yaml.safe_load(text)
        merged.setdefault("gates", []).extend(data.pop("gates", []))
        merged.update(data)
    merged["gates"] = [_jsonable(g) for g in merged["gates"]]
    jsonschema.validate(merged, schema)
    merged["gates"][1]["minimum"] = 0.7
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(merged, schema)


def test_lint_clean_policy_exits_0() -> None:
    result = run("policy", "lint", POLICY, "--today", "2026-11-22")
    assert result.returncode == 0, result.stdout
    assert "0 error(s)" in result.stdout


def test_lint_reports_errors_and_warnings_with_locations(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: clearance/v1\nkind: Policy\n"
        "metadata: {name: p, version: 1.0.0, owner: me}\n"
        "workflow:\n  stages: [draft, staging, production, limbo]\n  transitions:\n"
        "    - {from: draft, to: staging, gates: [auc_flor]}\n"
        "    - {from: staging, to: production, gates: [auc_floor]}\n"
        "gates:\n"
        "  - {id: auc_floor, type: metric_threshold, metric: auc, min: 0.7, expires: 2026-01-01}\n"
        "  - {id: unused, type: metric_threshold, metric: auc, min: 0.7}\n"
    )
    result = run("policy", "lint", policy, "--today", "2026-11-22", "--json")
    assert result.returncode == 1
    found = {(f["code"], f["line"], f["severity"]) for f in json.loads(result.stdout)}
    assert ("undefined-gate", 7, "error") in found
    assert ("unreachable-stage", 5, "warning") in found
    assert ("unused-gate", 11, "warning") in found
    assert ("expired-gate", 10, "warning") in found
    text = run("policy", "lint", policy, "--today", "2026-11-22").stdout
    assert "did you mean 'auc_floor'?" in text


def test_version_command() -> None:
    assert run("version").stdout.strip()


def _gate(decision: dict, gate_id: str) -> dict:
    return next(g for g in decision["gates"] if g["gate_id"] == gate_id)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def _edited_manifest(
    tmp: Path, *, metrics: dict | None = None, drop_evidence: str | None = None
) -> Path:
    """A copy of the passing example in ``tmp``, with some fields changed."""
    source = PASSING.parent
    for f in source.iterdir():
        (tmp / f.name).write_bytes(f.read_bytes())
    data = yaml.safe_load((source / "manifest.yaml").read_text())
    data["metrics"].update(metrics or {})
    if drop_evidence:
        del data["evidence"][drop_evidence]
    out = tmp / "manifest.yaml"
    out.write_text(yaml.safe_dump(data))
    return out
