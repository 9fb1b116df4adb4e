"""``clearance monitor``: run the production monitors that are due, and see where they stand."""

from __future__ import annotations

import typer
from rich.table import Table

from clearance.cli.common import AS_USER, JSON, connect, console, print_json

monitor_app = typer.Typer(
    help="Production monitors: drift, data quality, performance on production data.",
    no_args_is_help=True,
)


@monitor_app.command("run")
def run(
    model: str | None = typer.Option(None, "--model", help="Only this model's monitors."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Evaluate and report; record nothing, take no action."
    ),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Run the monitors that are due: record each result, alert, and retrain, fall back or
    roll back where the policy says. Exit 1 when a monitor fails."""
    # locally the operator runs it (cron, or the server's tick); remotely, the token's user
    out = connect(as_user, operator=True).run_monitors(model=model, dry_run=dry_run)
    if as_json:
        print_json(out)
    else:
        table = Table("model", "version", "monitor", "status", "observed", "threshold", "actions")
        for r in out.results:
            g = r.result
            table.add_row(
                r.model,
                r.version,
                r.monitor,
                g.status.value
                + (" (sustained)" if r.sustained and g.status.value == "fail" else ""),
                _value(g.observed),
                f"{g.operator or ''} {_value(g.threshold)}".strip(),
                "; ".join(r.notes if r.recorded else r.actions) or "-",
            )
        if out.results:
            console.print(table)
        for r in out.results:
            if r.failing:
                console.print(f"  {r.monitor} ({r.model} {r.version}): {r.result.message}",
                              markup=False)  # fmt: skip
        for problem in out.problems:
            console.print(f"  problem: {problem}", markup=False)
        what = "would run" if out.dry_run else "ran"
        console.print(
            f"monitors: {what} {len(out.results)}, {out.not_due} not due; "
            f"{sum(r.failing for r in out.results)} failing; {out.delivered} alert(s) delivered"
        )
    raise typer.Exit(1 if out.failing else 0)


@monitor_app.command("status")
def status(model: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Each monitor of MODEL's policy on its production version(s): last run, result, how
    long it has been failing, next due."""
    out = connect().monitor_status(model)
    if as_json:
        print_json(out)
        return
    table = Table(
        "monitor",
        "version",
        "gate",
        "every",
        "for",
        "last run (UTC)",
        "status",
        "failing since",
        "next due (UTC)",
        "on fail",
        title=f"{out.model} (policy {out.policy})",
        title_justify="left",
    )
    for m in out.monitors:
        table.add_row(
            m.monitor,
            m.version,
            m.gate,
            m.every,
            m.window or "-",
            f"{m.last_run:%Y-%m-%d %H:%M}" if m.last_run else "never",
            m.status or "-",
            f"{m.failing_since:%Y-%m-%d %H:%M} ({m.runs_failing} runs)" if m.failing_since else "-",
            f"{m.next_due:%Y-%m-%d %H:%M}",
            ", ".join(m.on_fail),
        )
    console.print(table)
    if not out.monitors:
        console.print("no monitors: the policy declares none, or no version is in production")


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
