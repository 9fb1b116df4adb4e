"""The Markdown and JUnit reports of ``clearance check`` show the data gates' worst columns and
groups (``details.worst``), as the terminal table does."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from clearance.core.results import GateResult, GateStatus
from clearance.reporters import render_junit, render_markdown
from clearance.reporters.format import worst_items, worst_lines

from .conftest import DataGates
from .test_holm_progress_cli import check

DRIFT = {
    "id": "drift",
    "type": "drift",
    "reference": "reference",
    "current": "evaluation",
    "features": ["x1", "x2", "cat"],
    "ks_pvalue_min": 0.01,
    "max_drifted_share": 0.0,
}
FAIR = {
    "id": "parity",
    "type": "fairness",
    "dataset": "evaluation",
    "metric": "selection_rate_ratio",
    "sensitive_feature": "group",
    "min": 0.0,
}


def test_check_writes_worst_columns_and_groups_into_both_reports(tmp_path: Path) -> None:
    md, xml = tmp_path / "report.md", tmp_path / "junit.xml"
    result = check("production", "--markdown", str(md), "--junit", str(xml))
    assert result.exit_code == 1, result.output
    text = md.read_text(encoding="utf-8")
    section = text.split("### Worst columns and groups", 1)[1].split("###", 1)[0]
    lines = section.strip().splitlines()
    assert lines[0] == "- **feature_drift** (fail)"
    assert lines[1].startswith("  - column `utilization`: drifted: KS ")
    assert lines[2].startswith("  - column `region`: drifted: chi2 ")
    assert "- **approval_rate_parity** (pass)" in lines
    assert any(line.startswith("  - group `") for line in lines)
    # the order of the section is the report's: failing gates first
    assert lines.index("- **approval_rate_parity** (pass)") > 1

    cases = {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}
    failure = cases["feature_drift"].find("failure")
    assert failure is not None and failure.text is not None
    body = failure.text.splitlines()
    assert "worst:" in body
    assert body[body.index("worst:") + 1].startswith("  column utilization: drifted: KS ")
    assert body[-1].startswith("remediation: ")
    out = cases["approval_rate_parity"].find("system-out")  # passed, worst groups still shown
    assert out is not None and out.text is not None and "\n  group " in out.text
    assert cases["auc_floor"].find("system-out") is None  # no worst list: nothing added


def test_reports_of_a_passing_and_a_waived_data_gate(parquet_env: DataGates) -> None:
    d = parquet_env.run([{**DRIFT, "max_drifted_share": 1.0}, FAIR])
    drift, parity = d.gates
    assert drift.status is GateStatus.PASS and worst_lines(drift)
    md = render_markdown(d)
    assert "- **drift** (pass)" in md and "- **parity** (pass)" in md
    for what, name, _ in worst_items(drift):
        assert f"  - {what} `{name}`" in md
    waived = d.model_copy(
        update={"gates": [drift.model_copy(update={"status": GateStatus.WAIVED}), parity]}
    )
    root = ET.fromstring(render_junit(waived).encode())
    case = next(c for c in root.iter("testcase") if c.get("name") == "drift")
    assert case.find("skipped") is not None
    out = case.find("system-out")
    assert out is not None and out.text is not None
    assert f"  {worst_lines(drift)[0]}" in out.text.splitlines()


def test_worst_items_ignore_malformed_entries_and_escape_markdown(parquet_env: DataGates) -> None:
    g = GateResult(
        gate_id="q",
        type="data_quality",
        severity="block",
        status=GateStatus.FAIL,
        message="m",
        details={"worst": [{"name": "a|b", "what": "column", "summary": "x | y"}, {"x": 1}, 3]},
    )
    assert worst_items(g) == [("column", "a|b", "x | y")]
    assert worst_lines(g) == ["column a|b: x | y"]
    no_summary = g.model_copy(update={"details": {"worst": [{"name": "id"}]}})
    assert worst_lines(no_summary) == ["item id"]
    assert worst_lines(g.model_copy(update={"details": {"worst": "nope"}})) == []
    md = render_markdown(parquet_env.run([FAIR]).model_copy(update={"gates": [g]}))
    assert "  - column `a\\|b`: x \\| y" in md.splitlines()
