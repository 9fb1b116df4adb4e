"""The Rich rendering of a Decision for people at a terminal (``clearance check``, the demo).

A compact table (one row per gate, worst first) followed by the message and remediation of
every gate that did not simply pass: readable at 80 columns, as in CI logs. Every text from
the policy, the manifest or the data is passed through :func:`printable` here, so the render is
safe on any console, not only on a :class:`~clearance.terminal.SafeConsole`.
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from clearance.core.results import Decision, GateResult, GateStatus
from clearance.reporters.format import (
    by_severity,
    margin,
    status,
    threshold,
    value,
    worst_lines,
)
from clearance.terminal import printable

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
    title = (
        f"{d.model} {d.version}: {d.from_stage} → {d.to_stage} "
        f"(policy {d.policy} {d.policy_version}, {d.change_type} change)"
    )
    table = Table(title=Text(printable(title)), title_justify="left")
    table.add_column("gate", overflow="fold")
    table.add_column("status", no_wrap=True)
    for name in ("observed", "threshold", "margin"):
        table.add_column(name, overflow="fold", justify="right")
    for g in by_severity(d.gates):
        table.add_row(
            Text(printable(g.gate_id)),
            Text(status(g), style=STYLE[g.status]),
            Text(printable(value(g.observed))),
            Text(printable(threshold(g))),
            Text(margin(g), style="yellow" if g.near_miss else ""),
        )
    return table


def _notes(g: GateResult) -> Text | None:
    worst = worst_lines(g)
    if g.status is GateStatus.PASS and not g.near_miss and not worst:
        return None
    note = Text.assemble(
        (f"{printable(g.gate_id)} ", "bold"),
        (f"{status(g)}: ", STYLE[g.status]),
        printable(g.message),
    )
    for line in worst:
        note.append(f"\n    {printable(line)}", style="dim" if g.status is GateStatus.PASS else "")
    if g.status not in (GateStatus.PASS, GateStatus.SKIPPED) and g.remediation:
        note.append(f"\n  → {printable(g.remediation)}", style="italic")
    return note


def render(d: Decision, console: Console) -> None:
    parts: list[RenderableType] = [decision_table(d)] if d.gates else []
    parts += [n for g in by_severity(d.gates) if (n := _notes(g)) is not None]
    for r in d.approvals.roles:
        who = ", ".join(r.approved_by) or "none yet"
        mark = "ok" if r.satisfied else "pending"
        line = f"approval {r.role}: {len(r.approved_by)}/{r.required} {mark} ({who})"
        parts.append(Text(printable(line)))
    parts += [Text(printable(f"not counted: {why}"), style="dim") for why in d.approvals.ignored]
    headline = Text.assemble(
        (d.outcome.value.upper(), OUTCOME[d.outcome.value]), printable(f": {d.summary}")
    )
    console.print(Group(*parts, headline))
