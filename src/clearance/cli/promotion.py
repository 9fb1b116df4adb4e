"""Promotion commands: promote, approve, reject, request, rollback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from clearance.cli.check import JUNIT, MARKDOWN, SARIF
from clearance.cli.common import AS_USER, JSON, connect, console, print_json

if TYPE_CHECKING:
    from clearance.contract import Clearance
    from clearance.core.results import Decision
    from clearance.reporters.sarif import SarifSources
    from clearance.service.promotion import RequestResult

request_app = typer.Typer(help="Promotion requests.", no_args_is_help=True)
REASON = typer.Option("", "--reason", help="Why (kept in the audit trail).")
TICKET = typer.Option("", "--ticket", help="Change ticket id, e.g. CHG-1234.")


def _show(result: RequestResult, as_json: bool, *, exit_code: int | None = None) -> None:
    from clearance.reporters.table import render

    r = result.request
    if as_json:  # not the API's record: these fields in this order, as scripts read them
        print_json(
            {
                "request": r.model_dump(mode="json"),
                "decision_number": result.decision_number,
                "executed": result.executed,
                "decision": result.decision.model_dump(mode="json"),
            }
        )
    else:
        render(result.decision, console)
        done = f"; {r.to_stage} reached" if result.executed else ""
        console.print(f"request {r.id} is {r.status} (decision {result.decision_number}){done}")
    raise typer.Exit(result.exit_code if exit_code is None else exit_code)


def promote(
    model: str = typer.Argument(...),
    version: str = typer.Argument(...),
    to: str = typer.Option(..., "--to", help="Target stage."),
    change_type: str = typer.Option(
        "standard", "--change-type", help="standard, emergency, experiment."
    ),
    reason: str = REASON,
    ticket: str = TICKET,
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
    junit: Path | None = JUNIT,
    markdown: Path | None = MARKDOWN,
    sarif: Path | None = SARIF,
) -> None:
    """Request a promotion: executes at once if gates pass and no approval is needed.

    Exit 0 when executed or waiting for approvals, 1 when blocked by a gate, 2 on bad input.
    The reports are those of `clearance check`, for the decision this request got.
    """
    from clearance.cli.check import write_reports

    service = connect(as_user)
    result = service.promote(
        model, version, to, change_type=change_type, reason=reason, ticket=ticket
    )
    write_reports(
        result.decision,
        junit=junit,
        markdown=markdown,
        sarif=sarif,
        sources=lambda: _applied_sources(service, result.decision),
    )
    _show(result, as_json)


def _applied_sources(service: Clearance, decision: Decision) -> SarifSources | None:
    """Gate positions in the policy version the decision applied, as its files were named
    when applied; None (results without a location) when it cannot be read or parsed."""
    from clearance.cli.check import sarif_sources
    from clearance.core.loading import check_policy
    from clearance.errors import ClearanceError
    from clearance.terminal import printable

    try:
        record = service.policy(decision.policy, decision.policy_version)
    except ClearanceError as exc:
        typer.echo(f"warning: SARIF without locations: {printable(exc)}", err=True)
        return None
    loaded, _ = check_policy(record.sources)
    if loaded is None or loaded.content_hash != decision.policy_hash:
        typer.echo("warning: SARIF without locations: the applied policy did not load", err=True)
        return None
    return sarif_sources(loaded, None)


def approve(
    request_id: int = typer.Argument(..., metavar="REQUEST"),
    reason: str = REASON,
    ticket: str = TICKET,
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Approve a request in one of your roles (never your own request)."""
    _show(connect(as_user).approve(request_id, reason=reason, ticket=ticket), as_json)


def reject(
    request_id: int = typer.Argument(..., metavar="REQUEST"),
    reason: str = typer.Option(..., "--reason", help="Why; the requester will read it."),
    ticket: str = TICKET,
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Reject a request with a reason; this ends the request."""
    result = connect(as_user).reject(request_id, reason=reason, ticket=ticket)
    _show(result, as_json, exit_code=0)  # the rejection was recorded, as asked


@request_app.command("reevaluate")
def request_reevaluate(
    request_id: int = typer.Argument(..., metavar="REQUEST"),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Evaluate a pending or blocked request again (after new evidence)."""
    _show(connect(as_user).reevaluate(request_id), as_json)


@request_app.command("list")
def request_list(
    model: str | None = typer.Option(None, "--model"),
    open_only: bool = typer.Option(False, "--open", help="Only pending and blocked requests."),
    as_json: bool = JSON,
) -> None:
    """List promotion requests."""
    rows = connect().requests(model=model, open_only=open_only)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "model", "version", "move", "type", "requester", "status", "summary")
    for r in rows:
        table.add_row(
            str(r.id),
            r.model,
            r.version,
            f"{r.from_stage} → {r.to}",
            r.change_type,
            r.requester,
            r.status,
            r.summary or "",
        )
    console.print(table)


def queue(as_user: str | None = AS_USER, as_json: bool = JSON) -> None:
    """List the open requests waiting for your sign-off, oldest first.

    Those whose transition (or change type) requires a role you hold, not your own and not
    yet signed by you, with how long each has waited against its approval SLA.
    """
    items = connect(as_user).approval_queue()
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("nothing waits for your sign-off")
        return
    from rich.table import Table

    table = Table("id", "model", "version", "move", "type", "requester", "your roles", "waiting")
    for i in items:
        r = i.request
        waited = _waited(i.age_seconds)
        if i.approval_sla:
            waited += f" (SLA {i.approval_sla}{', overdue' if i.overdue else ''})"
        table.add_row(
            str(r.id),
            r.model,
            r.version,
            f"{r.from_stage} → {r.to}",
            r.change_type,
            r.requester,
            ", ".join(i.roles),
            waited,
        )
    console.print(table)


def _waited(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m"


@request_app.command("show")
def request_show(
    request_id: int = typer.Argument(..., metavar="REQUEST"), as_json: bool = JSON
) -> None:
    """Show a request with its approvals and latest decision."""
    from clearance.reporters.table import render

    data = connect().request(request_id)
    if as_json:
        print_json(data)
        return
    console.print(
        f"request {data.id}: {data.model} {data.version} {data.from_stage} → "
        f"{data.to} ({data.change_type}), by {data.requester}: {data.status}"
    )
    for a in data.approvals:
        console.print(f"  {a.verdict} by {a.approver} ({', '.join(a.roles)}) {a.reason}")
    if data.latest_decision:
        render(data.latest_decision, console)


def rollback(
    model: str = typer.Argument(...),
    to: str | None = typer.Option(None, "--to", help="Version to restore (default: previous)."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Restore the previous production version and record why."""
    done = connect(as_user).rollback(model, reason=reason, to_version=to)
    if as_json:
        print_json(done)
        return
    gone, restored = done.rolled_back, done.restored
    console.print(f"{model}: {gone.version} → {gone.stage}; {restored.version} → {restored.stage}")
