"""The report parsers (clearance.core.reports) on real tool output, and on hostile bytes.

JUnit XML comes from running the real pytest here; the other tools' outputs are kept in
tests/fixtures/reports (see its README for which tool version made each).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core import reports
from clearance.core.reports import ReportError, cyclonedx, detect, junit, parse, pip_audit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
SECURITY = Path(__file__).resolve().parents[1] / "gates" / "data" / "security"

PYTEST_MODULE = """
import pytest

def test_adds():
    assert 1 + 1 == 2

def test_joins():
    assert "-".join("ab") == "a-b"

def test_rounds():
    assert round(2.675, 2) == 2.68, "binary floating point"

@pytest.fixture
def database():
    raise RuntimeError("no database here")

def test_needs_database(database):
    pass

@pytest.mark.skip(reason="needs a GPU")
def test_on_gpu():
    pass

@pytest.mark.xfail(reason="known bug 12")
def test_known_bug():
    assert False
"""


@pytest.fixture(scope="module")
def pytest_junit(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A JUnit XML file written by the real pytest: 2 passed, 1 failed, 1 error, 2 skipped."""
    folder = tmp_path_factory.mktemp("junit")
    (folder / "test_sample.py").write_text(textwrap.dedent(PYTEST_MODULE))
    (folder / "pytest.ini").write_text("[pytest]\n")  # not the repository's options
    out = folder / "results.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-c", str(folder / "pytest.ini"), f"--junitxml={out}", "-q", "test_sample.py"],
        cwd=folder, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    return out.read_bytes()


def test_pytest_junit_counts(pytest_junit: bytes) -> None:
    report = parse(pytest_junit)
    assert report.format == "junit"
    m = report.metrics
    assert (m["tests"], m["passed"], m["failures"], m["errors"], m["skipped"]) == (6, 2, 1, 1, 2)
    assert m["failed"] == 2 and m["pass_rate"] == pytest.approx(2 / 4)
    suite = fromstring(pytest_junit).find("testsuite")
    assert suite is not None  # pytest's own totals agree with the counted test cases
    for name in ("tests", "failures", "errors", "skipped"):
        assert m[name] == int(suite.get(name, "-1"))
    statuses = {c["name"]: c["status"] for c in report.data["not_passed"]}
    assert statuses == {
        "test_rounds": "failure",
        "test_needs_database": "error",
        "test_on_gpu": "skipped",
        "test_known_bug": "skipped",
    }
    rounds = next(c for c in report.data["not_passed"] if c["name"] == "test_rounds")
    assert "binary floating point" in rounds["message"]


def test_junit_nested_suites_namespaces_and_worst_outcome() -> None:
    xml = b"""<?xml version="1.0" encoding="UTF-8"?>
    <testsuites xmlns="urn:x-junit" time="3.5">
      <testsuite name="outer"><testsuite name="inner">
        <testcase name="a"/>
        <testcase name="b"><failure message="boom">trace</failure><error message="td"/></testcase>
      </testsuite></testsuite>
      <testsuite name="other"><testcase name="c"><skipped/></testcase></testsuite>
    </testsuites>"""
    m = parse(xml).metrics
    assert (m["tests"], m["passed"], m["failures"], m["errors"], m["skipped"]) == (3, 1, 0, 1, 1)
    assert m["time_seconds"] == 3.5


def test_junit_totals_only() -> None:
    xml = b'<testsuite name="s" tests="10" failures="2" errors="1" skipped="3" time="1.0"/>'
    m = parse(xml).metrics
    assert (m["tests"], m["passed"], m["failures"], m["errors"], m["skipped"]) == (10, 4, 2, 1, 3)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<html><body/></html>", "the root element is <html>, not JUnit's"),
        (b"<testsuites><testsuite>", "not well-formed XML"),
        (b'<testsuite tests="ten"/>', "tests='ten' is not a count"),
        (b'<testsuite tests="1" failures="2"/>', "more failures, errors and skipped tests"),
        (
            b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<testsuite>&b;</testsuite>",
            "XML refused",
        ),
        (
            b'<!DOCTYPE t SYSTEM "file:///etc/passwd"><testsuite/>',
            "XML refused",
        ),
    ],
)
def test_junit_bad_input(xml: bytes, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse(xml)


def test_junit_element_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(junit, "MAX_ELEMENTS", 50)
    xml = b"<testsuite>" + b"<testcase name='t'/>" * 60 + b"</testsuite>"
    with pytest.raises(ReportError, match="more than 50 XML elements"):
        parse(xml)


def test_great_expectations_validation_result() -> None:
    report = parse((FIXTURES / "ge-validation-result.json").read_bytes())
    assert report.format == "great_expectations"
    assert report.metrics == {
        "success": 0.0,
        "evaluated_expectations": 4.0,
        "successful_expectations": 2.0,
        "unsuccessful_expectations": 2.0,
        "success_percent": 50.0,
    }
    assert report.data["suites"] == ["applicants_suite"]
    assert report.data["failed_expectation_types"] == [
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_null",
    ]
    assert {"type": "expect_column_values_to_not_be_null", "column": "income"} in report.data[
        "failed_expectations"
    ]


def test_great_expectations_checkpoint_matches_its_validation() -> None:
    checkpoint = parse((FIXTURES / "ge-checkpoint-result.json").read_bytes())
    validation = parse((FIXTURES / "ge-validation-result.json").read_bytes())
    assert checkpoint.metrics == validation.metrics
    assert checkpoint.data["failed_expectations"] == validation.data["failed_expectations"]


def test_great_expectations_inconsistent_statistics() -> None:
    doc = json.loads((FIXTURES / "ge-validation-result.json").read_bytes())
    doc["statistics"]["successful_expectations"] = 3
    with pytest.raises(ReportError, match="differ from evaluated_expectations"):
        parse(json.dumps(doc).encode())


def test_evidently_tests_and_values() -> None:
    report = parse((FIXTURES / "evidently-tests.json").read_bytes())
    assert report.format == "evidently"
    m = report.metrics
    assert (m["tests"], m["tests_passed"], m["tests_failed"]) == (4, 2, 2)
    assert m["RowCount()"] == 300
    assert m["MissingValueCount(column=utilization).count"] == 5
    assert [t["status"] for t in report.data["statuses"]] == ["SUCCESS", "FAIL", "FAIL", "SUCCESS"]
    failing = [t["name"] for t in report.data["not_passed"]]
    assert failing == [
        "Column 'utilization' missing values: Equal 0.000",
        "Value Drift for column income",
    ]


def test_evidently_report_without_tests() -> None:
    report = parse((FIXTURES / "evidently-report.json").read_bytes())
    assert report.format == "evidently"
    assert report.metrics["tests"] == 0
    assert report.metrics["DatasetMissingValueCount().share"] == pytest.approx(5 / 300)


def test_evidently_legacy_test_suite() -> None:
    doc = {
        "version": "0.4.40",
        "tests": [
            {"name": "Share of Drifted Columns", "status": "SUCCESS", "group": "data_drift"},
            {"name": "Number of Rows", "status": "FAIL", "description": "got 12"},
            {"name": "Column Types", "status": "WARNING"},
        ],
        "summary": {"all_passed": False, "total_tests": 3},
    }
    m = parse(json.dumps(doc).encode()).metrics
    assert (m["tests"], m["tests_passed"], m["tests_failed"], m["tests_warning"]) == (3, 1, 1, 1)


def test_evidently_unknown_status() -> None:
    doc = {"tests": [{"name": "x", "status": "MAYBE"}]}
    with pytest.raises(ReportError, match=r"tests\[0\] has no status of SUCCESS"):
        parse(json.dumps(doc).encode(), "evidently")


def test_pip_audit_real_and_documented_shapes() -> None:
    offline = parse((FIXTURES / "pip-audit-offline.json").read_bytes())
    assert offline.format == "pip-audit"
    assert offline.metrics["packages"] == offline.metrics["skipped"] == 7
    audit = parse((SECURITY / "pip-audit.json").read_bytes())
    assert audit.metrics["vulnerabilities"] > 0
    assert audit.metrics["vulnerable_packages"] == len(audit.data["vulnerable"])
    legacy = parse(b'[{"name": "idna", "version": "3.6", "vulns": [{"id": "PYSEC-2024-60"}]}]')
    assert legacy.metrics["vulnerabilities"] == 1


def test_pip_audit_structure() -> None:
    audit = pip_audit.read(json.loads((SECURITY / "pip-audit.json").read_bytes()))
    idna = next(d for d in audit.dependencies if d.name == "idna")
    assert idna.version == "3.6" and idna.vulns[0].id == "PYSEC-2024-60"
    assert "CVE-2024-3651" in idna.vulns[0].aliases and idna.vulns[0].fix_versions == ("3.7",)


def test_cyclonedx_environment_sbom() -> None:
    bom = cyclonedx.read(json.loads((SECURITY / "cyclonedx-py-environment.json").read_bytes()))
    names = {c.name for c in bom.components}
    assert {"requests", "idna", "certifi"} <= names
    assert bom.vulnerabilities is None and bom.model_cards == ()
    certifi = next(c for c in bom.components if c.name == "certifi")
    assert certifi.purl.startswith("pkg:pypi/certifi@")


def test_cyclonedx_ml_bom_model_card() -> None:
    report = parse((FIXTURES / "cyclonedx-mlbom.json").read_bytes())
    assert report.format == "cyclonedx"
    m = report.metrics
    assert m["performance.auc"] == 0.812 and m["performance.ks"] == 0.47
    assert m["performance.approval_rate.age_band=18-25"] == 0.61
    assert "performance.calibration" not in m  # its value is text, not a number
    assert m["considerations.technical_limitations"] == 2
    assert m["considerations.fairness_assessments"] == 1
    assert m["vulnerabilities"] == 1 and m["components"] == 3
    card = report.data["model_cards"][0]
    assert card["component"] == "credit-default"
    assert card["model_parameters"]["task"] == "binary-classification"
    assert card["model_parameters"]["datasets"] == ["data-loans-2025-06-30"]
    assert card["performance_metrics"][0]["confidence_interval"] == {
        "lower": "0.801",
        "upper": "0.823",
    }
    assert card["considerations"]["ethical_considerations"][0]["name"].startswith("age")


def test_cyclonedx_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    deep: dict[str, Any] = {"name": "leaf"}
    for i in range(40):
        deep = {"name": f"c{i}", "components": [deep]}
    with pytest.raises(ReportError, match="nested more than 32 deep"):
        parse(json.dumps({"bomFormat": "CycloneDX", "components": [deep]}).encode())
    monkeypatch.setattr(cyclonedx, "MAX_ITEMS", 5)
    many = [{"name": f"p{i}"} for i in range(3)]
    nested = {"bomFormat": "CycloneDX", "components": [{"name": "x", "components": many}] * 2}
    with pytest.raises(ReportError, match="more than 5 components"):
        parse(json.dumps(nested).encode())
    with pytest.raises(ReportError, match="component 0 has no 'name'"):
        parse(b'{"bomFormat": "CycloneDX", "components": [{"version": "1"}]}')


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b'{"hello": "world"}', None, "not a report format clearance reads: expected JUnit XML"),
        (b"[1, 2]", None, "not a report format clearance reads"),
        (b"\xff\xfe{}", None, "not UTF-8 text"),
        (b"{nope", None, "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, None, "nested too deeply"),
        (b'{"bomFormat": "CycloneDX"}', "pip-audit", "no 'dependencies' list"),
        (b"<testsuite/>", "evidently", "not JSON"),
        (b"{}", "sarif", "unknown report format 'sarif'"),
        (
            b'{"dependencies": [{"name": "x", "vulns": [{"fix": 1}]}]}',
            None,
            r"vulns\[0\] has no 'id'",
        ),
    ],
)
def test_unknown_and_malformed_reports(data: bytes, fmt: Any, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse(data, fmt)


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports._common, "MAX_BYTES", 10)
    for data in (b"<testsuite>      </testsuite>", b'{"dependencies": []}   '):
        with pytest.raises(ReportError, match="over the limit of 10"):
            parse(data)


def test_detect() -> None:
    assert detect(b"\xef\xbb\xbf  <testsuites/>") == "junit"
    assert detect((FIXTURES / "evidently-tests.json").read_bytes()) == "evidently"
    assert detect((SECURITY / "cyclonedx-py-environment.json").read_bytes()) == "cyclonedx"
    assert detect((SECURITY / "pip-audit-offline.json").read_bytes()) == "pip-audit"


# -- properties: any input is a report or a ReportError, never another exception --------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    ["bomFormat", "components", "vulnerabilities", "dependencies", "vulns", "id", "name",
     "version", "success", "results", "statistics", "validation_results", "tests", "metrics",
     "status", "metric_name", "value", "modelCard", "licenses", "metadata", "component"]
)  # fmt: skip
SHAPED = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=6)
    | st.just("CycloneDX")
    | st.just("FAIL"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=40,
)


def _report_or_error(data: bytes, fmt: Any = None) -> None:
    try:
        report = parse(data, fmt)
    except ReportError as exc:
        assert str(exc)
        return
    assert report.format in reports.FORMATS
    assert all(isinstance(v, float) for v in report.metrics.values())
    json.dumps(report.data)  # JSON-ready


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    _report_or_error(data)


@settings(max_examples=300, deadline=None)
@given(JSON | SHAPED, st.sampled_from([None, *reports.FORMATS]))
def test_any_json(doc: Any, fmt: Any) -> None:
    _report_or_error(json.dumps(doc).encode(), fmt)


TAGS = st.sampled_from(
    ["testsuites", "testsuite", "testcase", "failure", "error", "skipped", "system-out", "x"]
)
ATTRS = st.dictionaries(
    st.sampled_from(["name", "tests", "failures", "errors", "skipped", "time", "message"]),
    st.sampled_from(["", "0", "1", "7", "-1", "x", "1e9", "99999999999999", "nan"]),
    max_size=4,
)


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(TAGS)
    attrs = "".join(f' {k}="{v}"' for k, v in draw(ATTRS).items())
    children = [] if depth > 3 else draw(st.lists(xml_trees(depth + 1), max_size=3))
    return f"<{tag}{attrs}>{''.join(children)}</{tag}>"


@settings(max_examples=300, deadline=None)
@given(xml_trees())
def test_any_junit_shaped_xml(xml: str) -> None:
    try:
        report = parse(xml.encode())
    except ReportError:
        return
    m = report.metrics
    assert m["passed"] >= 0
    assert m["passed"] + m["failures"] + m["errors"] + m["skipped"] == m["tests"]
