"""Gates on tool reports: ``metric_threshold`` with ``report:``, and the errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.gates.licenses import Licenses
from clearance.core.gates.metric_threshold import MetricThreshold
from clearance.core.gates.vulnerabilities import Vulnerabilities
from clearance.core.hashing import sha256_bytes
from clearance.core.loading import parse_policy
from clearance.core.results import GateStatus
from clearance.core.version import EvidenceItem, ModelVersion
from clearance.errors import PolicyError

from .conftest import policy_text
from .security_support import MemoryEvidence, context, gate, measure, run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
SECURITY = Path(__file__).parent / "data" / "security"
JUNIT = b"""<testsuites><testsuite name="unit" tests="4" failures="1" errors="0" skipped="1">
<testcase classname="t" name="a"/><testcase classname="t" name="b"/>
<testcase classname="t" name="c"><failure message="expected 2, got 3"/></testcase>
<testcase classname="t" name="d"><skipped/></testcase></testsuite></testsuites>"""


def _version(files: dict[str, tuple[str, bytes]]) -> ModelVersion:
    """A version whose evidence ``name`` is the file ``path`` holding ``content``."""
    return ModelVersion.model_validate(
        {
            "model": {"name": "credit", "risk_tier": "high"},
            "version": "7",
            "evidence": {
                name: EvidenceItem(
                    name=name, kind="report", uri=path, sha256=sha256_bytes(data), size=len(data)
                )
                for name, (path, data) in files.items()
            },
        }
    )


def _measure(gate_type: Any, params: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> Any:
    reader = MemoryEvidence({name: data for name, (_, data) in files.items()})
    return measure(gate_type, params, context(_version(files), reader))


@pytest.mark.parametrize(
    ("file", "metric", "bound", "status", "observed"),
    [
        ("junit", "failures", {"max": 0}, GateStatus.FAIL, 1),
        ("junit", "pass_rate", {"min": 0.6}, GateStatus.PASS, 2 / 3),
        ("junit", "tests", {"min": 5}, GateStatus.FAIL, 4),
        ("ge-validation-result.json", "success_percent", {"min": 95}, GateStatus.FAIL, 50),
        ("ge-checkpoint-result.json", "evaluated_expectations", {"min": 4}, GateStatus.PASS, 4),
        ("evidently-tests.json", "tests_failed", {"max": 0}, GateStatus.FAIL, 2),
        ("evidently-report.json", "RowCount()", {"min": 200}, GateStatus.PASS, 300),
        ("cyclonedx-mlbom.json", "performance.auc", {"min": 0.8}, GateStatus.PASS, 0.812),
        (
            "cyclonedx-mlbom.json",
            "considerations.ethical_considerations",
            {"min": 1},
            GateStatus.PASS,
            1,
        ),
        ("pip-audit-offline.json", "skipped", {"max": 0}, GateStatus.FAIL, 7),
    ],
)
def test_metric_threshold_on_a_report(
    file: str, metric: str, bound: dict[str, float], status: GateStatus, observed: float
) -> None:
    data = JUNIT if file == "junit" else (FIXTURES / file).read_bytes()
    files = {"scan": (f"reports/{file}", data)}
    m = _measure(MetricThreshold, {"metric": metric, "report": "scan", **bound}, files)
    assert (m.status, m.observed) == (status, pytest.approx(observed))
    assert m.evidence == {"scan": sha256_bytes(data)}
    assert m.message.startswith(f"scan.{metric} = ")
    assert m.details["report"] == "scan"


def test_failing_tests_are_in_the_details() -> None:
    m = _measure(
        MetricThreshold,
        {"metric": "failed", "report": "tests", "max": 0},
        {"tests": ("junit.xml", JUNIT)},
    )
    assert m.status is GateStatus.FAIL
    assert m.details["format"] == "junit"
    assert m.details["content"]["not_passed"][0] == {
        "name": "c",
        "classname": "t",
        "status": "failure",
        "message": "expected 2, got 3",
    }


@pytest.mark.parametrize(
    ("file", "metric", "named"),
    [
        (
            "junit",
            "failures",
            "unit.xml.failures = 1 violates <= 0: t::c failure: expected 2, got 3",
        ),
        (
            "ge-validation-result.json",
            "unsuccessful_expectations",
            ": expect_column_values_to_not_be_null (income); expect_column_values_to_be_in_set "
            "(age_band)",
        ),
        ("evidently-tests.json", "tests_failed", ": FAIL: Column 'utilization' missing values"),
        ("cyclonedx-mlbom.json", "vulnerabilities", ": GHSA-jw8x-6495-233v (medium): pkg:pypi/"),
        ("pip-audit-offline.json", "packages", "unit.xml.packages = 7 violates <= 0"),
    ],
)
def test_a_failure_names_what_failed(file: str, metric: str, named: str) -> None:
    data = JUNIT if file == "junit" else (FIXTURES / file).read_bytes()
    m = _measure(
        MetricThreshold,
        {"metric": metric, "report": "unit.xml", "max": 0},
        {"unit.xml": (file, data)},
    )
    assert m.status is GateStatus.FAIL
    assert named in m.message
    if file == "pip-audit-offline.json":  # nothing vulnerable to name
        assert m.message == "unit.xml.packages = 7 violates <= 0"


def test_unknown_metric_lists_the_report_metrics() -> None:
    m = _measure(
        MetricThreshold,
        {"metric": "failure", "report": "tests", "max": 0},
        {"tests": ("junit.xml", JUNIT)},
    )
    assert m.status is GateStatus.ERROR
    assert "the junit report 'tests' has no metric 'failure' (it has: errors, failed, failures" in (
        m.message
    )
    assert m.details["missing"] == ["evidence.tests.failure"]


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b'{"hello": 1}', None, "evidence 'scan' (ci/out/scan.json): not a report format"),
        (b"<testsuites><oops>", None, "evidence 'scan' (ci/out/scan.json): not well-formed XML"),
        (JUNIT, "great_expectations", "evidence 'scan' (ci/out/scan.json): not JSON"),
    ],
)
def test_malformed_report_names_the_file(content: bytes, fmt: str | None, message: str) -> None:
    params: dict[str, Any] = {"metric": "tests", "report": "scan", "min": 1}
    if fmt:
        params["format"] = fmt
    m = _measure(MetricThreshold, params, {"scan": ("ci/out/scan.json", content)})
    assert m.status is GateStatus.ERROR
    assert m.message.startswith(message)


def test_missing_and_oversized_reports() -> None:
    m = _measure(MetricThreshold, {"metric": "tests", "report": "junit", "min": 1}, {})
    assert m.status is GateStatus.ERROR and m.details["missing"] == ["evidence.junit"]
    m = _measure(
        MetricThreshold,
        {"metric": "tests", "report": "junit", "min": 1, "max_bytes": 100},
        {"junit": ("junit.xml", JUNIT)},
    )
    assert m.status is GateStatus.ERROR
    assert "evidence 'junit' (junit.xml) has 3" in m.message and "max_bytes = 100" in m.message


def test_format_needs_a_report_and_a_known_name() -> None:
    gates = [
        {"id": "t", "type": "metric_threshold", "metric": "auc", "min": 0.7, "format": "junit"}
    ]
    with pytest.raises(PolicyError, match="format applies to a report"):
        parse_policy([("policy.yaml", policy_text(gates))])
    gates[0].update(report="x", format="sarif")
    with pytest.raises(PolicyError, match="format"):
        parse_policy([("policy.yaml", policy_text(gates))])


def test_recorded_metrics_still_work_and_report_gates_run_in_the_engine() -> None:
    data = (FIXTURES / "ge-validation-result.json").read_bytes()
    v = _version({"ge": ("ge.json", data)}).model_copy(update={"metrics": {"auc": 0.8}})
    decision = run(
        [
            {"id": "auc", "type": "metric_threshold", "metric": "auc", "min": 0.7},
            {
                "id": "expectations",
                "type": "metric_threshold",
                "report": "ge",
                "format": "great_expectations",
                "metric": "unsuccessful_expectations",
                "max": 0,
            },
        ],
        v,
        MemoryEvidence({"ge": data}),
    )
    assert gate(decision, "auc").status is GateStatus.PASS
    assert gate(decision, "expectations").status is GateStatus.FAIL
    assert decision.outcome == "deny"


def test_security_gates_name_the_file_of_a_malformed_report() -> None:
    bad_sbom = json.dumps({"bomFormat": "CycloneDX", "components": [{"version": "1"}]}).encode()
    files = {"sbom": ("build/sbom.cdx.json", bad_sbom)}
    m = _measure(Licenses, {"sbom": "sbom", "allow": ["MIT"]}, files)
    assert (m.status, m.message) == (
        GateStatus.ERROR,
        "evidence 'sbom' (build/sbom.cdx.json): component 0 has no 'name'",
    )
    bad_audit = b'{"dependencies": [{"name": "idna", "version": "3.6", "vulns": [{}]}]}'
    m = _measure(Vulnerabilities, {"report": "audit"}, {"audit": ("audit.json", bad_audit)})
    assert (m.status, m.message) == (
        GateStatus.ERROR,
        "evidence 'audit' (audit.json): dependencies[0].vulns[0] has no 'id'",
    )


def test_vulnerabilities_reads_the_ml_bom_vulnerabilities() -> None:
    data = (FIXTURES / "cyclonedx-mlbom.json").read_bytes()
    m = _measure(
        Vulnerabilities,
        {"report": "bom", "max_findings": {"medium": 0}},
        {"bom": ("bom.json", data)},
    )
    assert m.status is GateStatus.FAIL
    assert m.details["counts"]["medium"] == 1
    assert m.details["findings"][0]["id"] == "GHSA-jw8x-6495-233v"
    assert "CVE-2024-5206" in m.details["findings"][0]["aliases"]


KEYS = st.sampled_from(
    ["bomFormat", "components", "vulnerabilities", "dependencies", "vulns", "id", "name",
     "version", "purl", "bom-ref", "licenses", "license", "expression", "ratings", "severity",
     "affects", "ref", "aliases", "fix_versions", "references"]
)  # fmt: skip
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=6)
    | st.sampled_from(["CycloneDX", "pkg:pypi/idna@3.6", "MIT OR GPL-3.0-only", "high", "x"])
)
JSONISH = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(JSONISH)
def test_security_gates_measure_any_json(doc: Any) -> None:
    """Whatever the JSON, the gates return a result: an error naming the file, never a crash."""
    data = json.dumps(doc).encode()
    files = {"scan": ("out/scan.json", data)}
    for gate_type, params in (
        (Vulnerabilities, {"report": "scan"}),
        (Licenses, {"sbom": "scan", "allow": ["MIT"]}),
        (MetricThreshold, {"report": "scan", "metric": "components", "min": 1}),
    ):
        m = _measure(gate_type, params, files)
        assert m.status in (GateStatus.PASS, GateStatus.FAIL, GateStatus.ERROR)
        if m.status is GateStatus.ERROR:  # names the evidence (and its file when unreadable)
            assert "'scan'" in m.message, m.message
