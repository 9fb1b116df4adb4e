"""Markdown for pull-request comments and job summaries.

Waived and skipped gates get their own section, never dropped: an exception is something
a reviewer must see. Data gates' worst columns or groups (``details.worst``) are listed under
each gate, as in the terminal table.
"""

from __future__ import annotations

from clearance.core.results import Decision, GateResult, GateStatus
from clearance.reporters.format import (
    by_severity,
    margin,
    status,
    threshold,
    value,
    worst_items,
)

_ICON = {"allow": "✅", "needs_approval": "⏳", "deny": "❌"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(decision: Decision) -> str:
    d = decision
    out = [
        f"## {_ICON[d.outcome.value]} clearance: {d.model} {d.version} "
        f"{d.from_stage} → {d.to_stage}: **{d.outcome.value}**",
        "",
        f"{d.summary}.",
        "",
        f"Policy `{d.policy}` {d.policy_version} (`{d.policy_hash[:12]}`), "
        f"change type {d.change_type}, decision `{d.decision_id[:12]}`.",
        "",
    ]
    active = [g for g in d.gates if g.status not in (GateStatus.WAIVED, GateStatus.SKIPPED)]
    excepted = [g for g in d.gates if g.status in (GateStatus.WAIVED, GateStatus.SKIPPED)]
    if active:
        out += [
            "| gate | status | observed | threshold | margin | message |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        out += [_row(g) for g in by_severity(active)]
        out.append("")
    out += _worst_section(d)
    todo = [g for g in by_severity(active) if g.status is not GateStatus.PASS and g.remediation]
    if todo:
        out += ["### Remediation", ""]
        out += [f"- **{g.gate_id}**: {_cell(g.remediation)}" for g in todo]
        out.append("")
    if excepted:
        out += ["### Waived and skipped", ""]
        out += [f"- **{g.gate_id}** ({status(g)}): {_cell(g.message)}" for g in excepted]
        out.append("")
    out += _approvals(d)
    return "\n".join(out).rstrip() + "\n"


def _worst_section(d: Decision) -> list[str]:
    gates = [(g, items) for g in by_severity(d.gates) if (items := worst_items(g))]
    if not gates:
        return []
    out = ["### Worst columns and groups", ""]
    for g, items in gates:
        out.append(f"- **{g.gate_id}** ({status(g)})")
        for what, name, summary in items:
            out.append(f"  - {what} `{_cell(name)}`" + (f": {_cell(summary)}" if summary else ""))
    return [*out, ""]


def _row(g: GateResult) -> str:
    cells = [g.gate_id, status(g), value(g.observed), threshold(g), margin(g), g.message]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _approvals(d: Decision) -> list[str]:
    if not d.approvals.roles and not d.approvals.rejected_by:
        return []
    out = ["### Approvals", ""]
    for r in d.approvals.roles:
        mark = "✅" if r.satisfied else "⏳ pending"
        who = ", ".join(r.approved_by) or "nobody yet"
        out.append(f"- {r.role}: {len(r.approved_by)}/{r.required} {mark} ({who})")
    out += [f"- rejected by {who}" for who in d.approvals.rejected_by]
    out += [f"- not counted: {why}" for why in d.approvals.ignored]
    return [*out, ""]
