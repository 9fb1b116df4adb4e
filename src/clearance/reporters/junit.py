"""JUnit XML, which every CI system renders: one test case per gate.

fail -> <failure>, error -> <error>, waived and skipped -> <skipped> with the reason;
a warning passes but carries its message in <system-out>. Data gates' worst columns or groups
(``details.worst``) are listed in the failure/error text, or in <system-out> for a gate that
passed or was waived. Pending approvals are one more case, skipped, so they are visible in the
CI summary without failing the build.

ElementTree escapes ``& < > "``; every text from the policy, the manifest or the data also goes
through :func:`printable`, because XML 1.0 forbids most control characters (one in a gate
message would make the whole report unreadable to the CI) and CI logs show these texts raw.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from clearance.core.results import Decision, GateStatus
from clearance.reporters.format import margin, threshold, value, worst_lines
from clearance.terminal import printable as _t


def render_junit(decision: Decision) -> str:
    d = decision
    suite = ET.Element(
        "testsuite",
        name=_t(f"clearance {d.model} {d.version} {d.from_stage}->{d.to_stage}"),
        tests=str(len(decision.gates) + 1),
        failures=str(sum(g.status is GateStatus.FAIL for g in decision.gates)),
        errors=str(sum(g.status is GateStatus.ERROR for g in decision.gates)),
        skipped=str(
            sum(g.status in (GateStatus.WAIVED, GateStatus.SKIPPED) for g in decision.gates)
            + (0 if decision.approvals.satisfied else 1)
        ),
        timestamp=decision.inputs.now.isoformat(),
    )
    props = ET.SubElement(suite, "properties")
    for key in ("policy", "policy_version", "policy_hash", "decision_id", "outcome"):
        ET.SubElement(props, "property", name=key, value=_t(getattr(decision, key)))
    classname = _t(f"clearance.{decision.policy}")
    for g in decision.gates:
        case = ET.SubElement(suite, "testcase", name=_t(g.gate_id), classname=classname)
        worst = [_t(line) for line in worst_lines(g)]
        message, kind = _t(g.message), _t(g.type)
        detail = _detail(
            message, _t(value(g.observed)), _t(threshold(g)), margin(g), _t(g.remediation), worst
        )
        if g.status is GateStatus.FAIL:
            ET.SubElement(case, "failure", message=message, type=kind).text = detail
        elif g.status is GateStatus.ERROR:
            ET.SubElement(case, "error", message=message, type=kind).text = detail
        elif g.status in (GateStatus.WAIVED, GateStatus.SKIPPED):
            ET.SubElement(case, "skipped", message=message)
            if worst:
                ET.SubElement(case, "system-out").text = detail
        elif g.status is GateStatus.WARN or g.near_miss or worst:
            ET.SubElement(case, "system-out").text = detail
    approvals = ET.SubElement(suite, "testcase", name="approvals", classname=classname)
    if not decision.approvals.satisfied:
        pending = ", ".join(
            f"{r.role} {len(r.approved_by)}/{r.required}" for r in decision.approvals.pending
        )
        ET.SubElement(approvals, "skipped", message=_t(f"approvals pending: {pending}"))
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def _detail(
    message: str, observed: str, limit: str, gap: str, remediation: str, worst: list[str]
) -> str:
    lines = [message]
    if observed:
        lines.append(f"observed: {observed}")
    if limit:
        lines.append(f"threshold: {limit}")
    if gap:
        lines.append(f"margin: {gap}")
    if worst:
        lines.append("worst:")
        lines += [f"  {line}" for line in worst]
    if remediation:
        lines.append(f"remediation: {remediation}")
    return "\n".join(lines)
