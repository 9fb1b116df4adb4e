"""The Rich rendering of a Decision for people at a terminal."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from clearance.core.results import Decision, GateStatus
from clearance.reporters.format import by_severity, margin, status, threshold, value

STYLE = {
    GateStatus.PASS: "green",
    GateStatus.FAIL: "bold red",
    GateStatus.ERROR: "bold magenta",
    GateStatus.WARN: "yellow",
    GateStatus.WAIVED: "cyan",
    GateStatus.SKIPPED: "dim",
}
OUTCOME = {"allow": "bold green", "needs_approval": "bold yellow", "deny": "bold red"}


def decision_table(d: Decision) -> Table:
    table = Table(
        title=f"{d.model} {d.version}: {d.from_stage} → {d.to_stage}  (policy {d.policy} "
        f"{d.policy_version}, {d.change_type})",
        title_justify="left",
        expand=False,
    )
    for name in ("gate", "status", "observed", "threshold", "margin"):
        table.add_column(
            name, no_wrap=name in ("gate", "status"), max_width=None if name == "gate" else 12
        )
    table.add_column("message / remediation", ratio=1, min_width=24)
    for g in by_severity(d.gates):
        quiet = g.status is GateStatus.PASS and not g.near_miss and g.threshold is not None
        note = Text("" if quiet else g.message)
        if g.status not in (GateStatus.PASS, GateStatus.SKIPPED) and g.remediation:
            note.append(f"\n→ {g.remediation}", style="italic")
        table.add_row(
            g.gate_id,
            Text(status(g), style=STYLE[g.status]),
            value(g.observed),
            threshold(g),
            Text(margin(g), style="yellow" if g.near_miss else ""),
            note,
        )
    return table


def render(d: Decision, console: Console) -> None:
    parts: list[Table | Text] = [decision_table(d)] if d.gates else []
    for r in d.approvals.roles:
        who = ", ".join(r.approved_by) or "none yet"
        mark = "ok" if r.satisfied else "pending"
        parts.append(Text(f"approval {r.role}: {len(r.approved_by)}/{r.required} {mark} ({who})"))
    parts += [Text(f"not counted: {why}", style="dim") for why in d.approvals.ignored]
    headline = Text.assemble((d.outcome.value.upper(), OUTCOME[d.outcome.value]), f": {d.summary}")
    console.print(Group(*parts, headline))
