"""Markdown for pull-request comments and job summaries.

Waived and skipped gates get their own section, never dropped: an exception is something
a reviewer must see. Data gates' worst columns or groups (``details.worst``) are listed under
each gate, as in the terminal table.

Every text from the policy, the manifest or the data is escaped (:func:`_text`): shown, never
rendered, so a model name cannot add a heading, a link, an image, HTML or a table row to the
comment a reviewer reads.
"""

from __future__ import annotations

import re

from clearance.core.results import Decision, GateResult, GateStatus
from clearance.reporters.format import (
    by_severity,
    margin,
    status,
    threshold,
    value,
    worst_items,
)
from clearance.terminal import printable

_ICON = {"allow": "✅", "needs_approval": "⏳", "deny": "❌"}


_MARKDOWN = {ord(c): f"\\{c}" for c in "\\`*[]<>|~&#"}  # "_" stays: ids are full of it


def _text(text: object) -> str:
    """Literal text on one line: controls visible, Markdown and HTML characters escaped."""
    return printable(text).translate(_MARKDOWN)


def _code(text: object) -> str:
    """A code span around literal text: a fence of more backticks than the text holds."""
    body = printable(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def render_markdown(decision: Decision) -> str:
    d = decision
    out = [
        f"## {_ICON[d.outcome.value]} clearance: {_text(d.model)} {_text(d.version)} "
        f"{_text(d.from_stage)} → {_text(d.to_stage)}: **{d.outcome.value}**",
        "",
        f"{_text(d.summary)}.",
        "",
        f"Policy {_code(d.policy)} {_text(d.policy_version)} ({_code(d.policy_hash[:12])}), "
        f"change type {_text(d.change_type)}, decision {_code(d.decision_id[:12])}.",
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
        out += [f"- **{_text(g.gate_id)}**: {_text(g.remediation)}" for g in todo]
        out.append("")
    if excepted:
        out += ["### Waived and skipped", ""]
        out += [f"- **{_text(g.gate_id)}** ({status(g)}): {_text(g.message)}" for g in excepted]
        out.append("")
    out += _approvals(d)
    return "\n".join(out).rstrip() + "\n"


def _worst_section(d: Decision) -> list[str]:
    gates = [(g, items) for g in by_severity(d.gates) if (items := worst_items(g))]
    if not gates:
        return []
    out = ["### Worst columns and groups", ""]
    for g, items in gates:
        out.append(f"- **{_text(g.gate_id)}** ({status(g)})")
        for what, name, summary in items:
            line = f"  - {_text(what)} {_code(name)}"
            out.append(line + (f": {_text(summary)}" if summary else ""))
    return [*out, ""]


def _row(g: GateResult) -> str:
    cells = [g.gate_id, status(g), value(g.observed), threshold(g), margin(g), g.message]
    return "| " + " | ".join(_text(c) for c in cells) + " |"


def _approvals(d: Decision) -> list[str]:
    if not d.approvals.roles and not d.approvals.rejected_by:
        return []
    out = ["### Approvals", ""]
    for r in d.approvals.roles:
        mark = "✅" if r.satisfied else "⏳ pending"
        who = ", ".join(r.approved_by) or "nobody yet"
        out.append(f"- {_text(r.role)}: {len(r.approved_by)}/{r.required} {mark} ({_text(who)})")
    out += [f"- rejected by {_text(who)}" for who in d.approvals.rejected_by]
    out += [f"- not counted: {_text(why)}" for why in d.approvals.ignored]
    return [*out, ""]
