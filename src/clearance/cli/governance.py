"""Governance commands: waivers, post-incident reviews, canary rollouts, serving, tick."""

from __future__ import annotations

import typer
from rich.table import Table

from clearance.cli.common import AS_USER, JSON, connect, console, print_json
from clearance.errors import InputError

waiver_app = typer.Typer(help="Time-bounded exceptions for one gate.", no_args_is_help=True)
review_app = typer.Typer(help="Post-incident reviews of emergency changes.", no_args_is_help=True)
rollout_app = typer.Typer(help="Canary rollouts with automatic rollback.", no_args_is_help=True)
notify_app = typer.Typer(help="Alerts: what was recorded and delivered.", no_args_is_help=True)


@waiver_app.command("grant")
def waiver_grant(
    model: str = typer.Argument(...),
    gate: str = typer.Argument(..., help="Gate id in the governing policy."),
    until: str = typer.Option(..., "--until", help="Expiry: a date (end of day UTC) or time."),
    justification: str = typer.Option(..., "--justification", help="Why the exception."),
    control: list[str] = typer.Option(..., "--control", help="A compensating control; repeat."),
    version: str | None = typer.Option(None, "--version", help="Only this version."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Grant a waiver (only the roles the policy names for waivers may)."""
    from clearance.service.waivers import read_until

    w = connect(as_user).grant_waiver(
        model,
        gate,
        until=read_until(until, "--until"),
        justification=justification,
        controls=control,
        version=version,
    )
    if as_json:
        print_json(w)
        return
    scope = f"{model} {version}" if version else f"{model} (all versions)"
    console.print(
        f"waiver {w.label} granted for gate {gate} on {scope}, "
        f"expires {w.expires_at:%Y-%m-%d %H:%M} UTC"
    )


@waiver_app.command("revoke")
def waiver_revoke(
    waiver: str = typer.Argument(..., help="Waiver id, e.g. W-3."),
    reason: str = typer.Option(..., "--reason"),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Revoke a waiver before it expires."""
    w = connect(as_user).revoke_waiver(waiver, reason=reason)
    if as_json:
        print_json(w)
        return
    console.print(f"waiver {w.label} revoked")


@waiver_app.command("list")
def waiver_list(
    model: str | None = typer.Option(None, "--model"),
    expiring_within: str | None = typer.Option(
        None, "--expiring-within", help="Only active waivers expiring within, e.g. 7d."
    ),
    as_json: bool = JSON,
) -> None:
    """The exception backlog: every waiver's state, with counts and the monthly trend."""
    backlog = connect().waiver_backlog(model=model, expiring_within=expiring_within)
    if as_json:
        print_json(backlog)
        return
    table = Table(
        "id",
        "model",
        "version",
        "gate",
        "state",
        "expires (UTC)",
        "days left",
        "granted by",
        "justification",
        title="waivers",
        title_justify="left",
    )
    for w in backlog.waivers:
        table.add_row(
            w.id,
            w.model,
            w.version or "all",
            w.gate,
            w.state,
            w.expires_at[:16],
            f"{w.days_left:g}",
            w.granted_by,
            w.justification,
        )
    console.print(table)
    c = backlog.counts
    console.print(
        f"active {c.active} (expiring within 7 days: {c.expiring_within_7d}), "
        f"expired {c.expired}, revoked {c.revoked}"
    )
    for t in backlog.trend:
        console.print(
            f"  {t.month}: granted {t.granted}, expiring {t.expiring}, revoked {t.revoked}"
        )


@review_app.command("record")
def review_record(
    request_id: int = typer.Argument(..., metavar="REQUEST"),
    summary: str = typer.Option(..., "--summary", help="What happened and why."),
    actions: list[str] = typer.Option([], "--actions", help="A follow-up action; repeat."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Record the post-incident review an emergency change owes."""
    review = connect(as_user).review(request_id, summary=summary, actions=actions)
    if as_json:
        print_json(review)
        return
    console.print(f"post-incident review of request {request_id} recorded")


@rollout_app.command("start")
def rollout_start(
    model: str = typer.Argument(...),
    version: str = typer.Argument(...),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Start the canary of an approved promotion (first step of the policy's plan)."""
    r = connect(as_user).start_rollout(model, version)
    if as_json:
        print_json(r)
        return
    console.print(f"rollout {r.id} started: {model} {version} serves {r.traffic:.0%} of traffic")


def _kpis(values: list[str], option: str) -> dict[str, float]:
    out = {}
    for item in values:
        name, sep, number = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(number)
        except ValueError:
            raise InputError(f"{option}: '{item}' is not name=number") from None
    return out


@rollout_app.command("observe")
def rollout_observe(
    model: str = typer.Argument(...),
    kpi: list[str] = typer.Option(..., "--kpi", help="Canary reading name=value; repeat."),
    control: list[str] = typer.Option([], "--control", help="Control reading name=value."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Feed KPI readings to the running canary; it advances, completes or rolls back."""
    canary, base = _kpis(kpi, "--kpi"), _kpis(control, "--control")
    unknown = sorted(set(base) - set(canary))
    if unknown:
        raise InputError(f"--control {', '.join(unknown)} has no matching --kpi reading")
    readings = {k: (v, base.get(k)) for k, v in canary.items()}
    rollout, verdict = connect(as_user).observe_rollout(model, readings)
    if as_json:
        print_json(
            {
                "rollout": rollout,
                "action": verdict.action,
                "reason": verdict.reason,
                "breaches": verdict.breaches,
            }
        )
    else:
        console.print(f"rollout {rollout.id}: {verdict.action}: {verdict.reason}", markup=False)
    raise typer.Exit(1 if verdict.action == "rollback" else 0)


@rollout_app.command("status")
def rollout_status(model: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Where the model's latest rollout stands, with its latest KPI readings."""
    status = connect().rollout_status(model)
    if as_json:
        print_json(status)
        return
    console.print(
        f"rollout {status.id}: {status.canary} vs control {status.control}, step "
        f"{status.step} at {status.traffic:.0%}: {status.status} ({status.reason})",
        markup=False,
    )
    for name, r in status.readings.items():
        console.print(
            f"  {name}: canary {r.canary} control {r.control} at {r.at:%Y-%m-%dT%H:%M:%S}"
        )


def serving(model: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """The serving assignment (champion, canary, weight) any serving layer can read."""
    assignment = connect().serving(model)
    if as_json:
        print_json(assignment)
        return
    canary = (
        f", canary {assignment.canary} at {assignment.canary_weight:.0%}"
        if assignment.canary
        else ""
    )
    console.print(f"{model}: champion {assignment.champion}{canary}")


def tick(as_json: bool = JSON) -> None:
    """Run all time-based work once (idempotent): expiries, SLAs, reviews, rollouts, alerts."""
    # locally the operator runs it (cron on the database host); remotely, the token's user
    report = connect(operator=True).tick()
    if as_json:
        print_json(report)
        return
    for line in report.actions:
        console.print(line, markup=False)
    console.print(
        f"tick: {len(report.actions)} action(s); {report.routed} alert(s) routed; "
        f"{report.delivered} delivered, {report.retrying} to retry, {report.failed} failed"
    )


@notify_app.command("list")
def notify_list(model: str | None = typer.Option(None, "--model"), as_json: bool = JSON) -> None:
    """Alerts recorded (newest last) and the state of each delivery."""
    alerts = connect().alerts(model=model)
    if as_json:
        print_json(alerts)
        return
    table = Table("when (UTC)", "event", "severity", "summary", "deliveries")
    for a in alerts:
        table.add_row(
            f"{a.occurred_at:%Y-%m-%dT%H:%M}",
            a.event,
            a.severity,
            a.summary,
            "; ".join(a.deliveries) or "-",
        )
    console.print(table)
