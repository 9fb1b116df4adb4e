"""Governance commands: waivers, post-incident reviews, canary rollouts, serving, tick."""

from __future__ import annotations

import datetime as dt
import re

import typer
from rich.table import Table

from clearance.cli.common import AS_USER, JSON, actor, console, print_json, remote, workspace
from clearance.core.durations import parse_duration
from clearance.errors import InputError

waiver_app = typer.Typer(help="Time-bounded exceptions for one gate.", no_args_is_help=True)
review_app = typer.Typer(help="Post-incident reviews of emergency changes.", no_args_is_help=True)
rollout_app = typer.Typer(help="Canary rollouts with automatic rollback.", no_args_is_help=True)
notify_app = typer.Typer(help="Alerts: what was recorded and delivered.", no_args_is_help=True)


def parse_until(text: str) -> dt.datetime:
    """A date means the end of that day (UTC); a time without a zone is UTC."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC)
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--until: '{text}' is not a date (2026-12-31) or ISO time") from None
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


@waiver_app.command("grant")
def waiver_grant(
    model: str = typer.Argument(...),
    gate: str = typer.Argument(..., help="Gate id in the governing policy."),
    until: str = typer.Option(..., "--until", help="Expiry: a date (end of day UTC) or time."),
    justification: str = typer.Option(..., "--justification", help="Why the exception."),
    control: list[str] = typer.Option(..., "--control", help="A compensating control; repeat."),
    version: str | None = typer.Option(None, "--version", help="Only this version."),
    as_user: str | None = AS_USER,
) -> None:
    """Grant a waiver (only the roles the policy names for waivers may)."""
    if client := remote(as_user):
        w = client.grant_waiver(
            model,
            gate,
            until=parse_until(until),
            justification=justification,
            controls=control,
            version=version,
        )
    else:
        w = workspace().waivers.grant(
            model,
            gate,
            until=parse_until(until),
            justification=justification,
            controls=control,
            actor=actor(as_user),
            version=version,
        )
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
) -> None:
    """Revoke a waiver before it expires."""
    if client := remote(as_user):
        w = client.revoke_waiver(waiver, reason=reason)
    else:
        w = workspace().waivers.revoke(waiver, reason=reason, actor=actor(as_user))
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
    within = _duration(expiring_within) if expiring_within else None
    if client := remote():
        data = client.waiver_backlog(model=model, expiring_within=expiring_within)
    else:
        data = workspace().waivers.backlog(model=model, expiring_within=within)
    if as_json:
        print_json(data)
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
    for w in data["waivers"]:
        table.add_row(
            w["id"],
            w["model"],
            w["version"] or "all",
            w["gate"],
            w["state"],
            w["expires_at"][:16],
            f"{w['days_left']:g}",
            w["granted_by"],
            w["justification"],
        )
    console.print(table)
    c = data["counts"]
    console.print(
        f"active {c['active']} (expiring within 7 days: {c['expiring_within_7d']}), "
        f"expired {c['expired']}, revoked {c['revoked']}"
    )
    for t in data["trend"]:
        console.print(
            f"  {t['month']}: granted {t['granted']}, expiring {t['expiring']}, "
            f"revoked {t['revoked']}"
        )


def _duration(text: str) -> dt.timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InputError(str(exc)) from None


@review_app.command("record")
def review_record(
    request_id: int = typer.Argument(..., metavar="REQUEST"),
    summary: str = typer.Option(..., "--summary", help="What happened and why."),
    actions: list[str] = typer.Option([], "--actions", help="A follow-up action; repeat."),
    as_user: str | None = AS_USER,
) -> None:
    """Record the post-incident review an emergency change owes."""
    if client := remote(as_user):
        client.review(request_id, summary=summary, actions=actions)
    else:
        workspace().governance.record_review(
            request_id, summary=summary, actions=actions, actor=actor(as_user)
        )
    console.print(f"post-incident review of request {request_id} recorded")


@rollout_app.command("start")
def rollout_start(
    model: str = typer.Argument(...),
    version: str = typer.Argument(...),
    as_user: str | None = AS_USER,
) -> None:
    """Start the canary of an approved promotion (first step of the policy's plan)."""
    if client := remote(as_user):
        r = client.start_rollout(model, version)
    else:
        r = workspace().rollouts.start(model, version, actor=actor(as_user))
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
    if client := remote(as_user):
        rollout, verdict = client.observe_rollout(model, readings)
    else:
        rollout, verdict = workspace().rollouts.observe(model, readings, actor=actor(as_user))
    if as_json:
        print_json(
            {
                "rollout": rollout.model_dump(mode="json"),
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
    client = remote()
    data = client.rollout_status(model) if client else workspace().rollouts.status(model)
    if as_json:
        print_json(data)
        return
    console.print(
        f"rollout {data['id']}: {data['canary']} vs control {data['control']}, step "
        f"{data['step']} at {data['traffic']:.0%}: {data['status']} ({data['reason']})",
        markup=False,
    )
    for name, r in data["readings"].items():
        console.print(f"  {name}: canary {r['canary']} control {r['control']} at {r['at'][:19]}")


def serving(model: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """The serving assignment (champion, canary, weight) any serving layer can read."""
    client = remote()
    data = client.serving(model) if client else workspace().rollouts.serving(model)
    if as_json:
        print_json(data)
        return
    canary = f", canary {data['canary']} at {data['canary_weight']:.0%}" if data["canary"] else ""
    console.print(f"{model}: champion {data['champion']}{canary}")


def tick() -> None:
    """Run all time-based work once (idempotent): expiries, SLAs, reviews, rollouts, alerts."""
    client = remote()
    report = client.tick() if client else workspace().tick()
    for line in report.actions:
        console.print(line, markup=False)
    console.print(
        f"tick: {len(report.actions)} action(s); {report.routed} alert(s) routed; "
        f"{report.delivered} delivered, {report.retrying} to retry, {report.failed} failed"
    )


@notify_app.command("list")
def notify_list(model: str | None = typer.Option(None, "--model"), as_json: bool = JSON) -> None:
    """Alerts recorded (newest last) and the state of each delivery."""
    state: dict[str, list[str]] = {}
    if client := remote():
        alerts = client.alerts(model=model)
        state = {a["id"]: list(a.get("deliveries", [])) for a in alerts}
    else:
        with workspace().store.reading() as tx:
            alerts = tx.notifications(model=model)
            deliveries = tx.all_deliveries()
        for d in deliveries:
            state.setdefault(d.notification.id, []).append(f"{d.channel}: {d.status}")
    if as_json:
        print_json([{**a, "deliveries": state.get(a["id"], [])} for a in alerts])
        return
    table = Table("when (UTC)", "event", "severity", "summary", "deliveries")
    for a in alerts:
        table.add_row(
            a["occurred_at"][:16],
            a["event"],
            a["severity"],
            a["summary"],
            "; ".join(state.get(a["id"], [])) or "-",
        )
    console.print(table)
