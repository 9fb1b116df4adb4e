"""``clearance analytics``: the governance figures as tables (or JSON), from the stored
decisions and audit trail, through the same use case as ``GET /v1/analytics``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

import typer
from rich.table import Table

from clearance.cli.common import JSON, connect, console, print_json
from clearance.errors import InputError

if TYPE_CHECKING:
    from clearance.core.analytics import Analytics, Durations

TOP_GATES = 10  # rows of the gate ranking in the table (--json has them all)


def analytics(
    since: str | None = typer.Option(
        None, "--since", help="Window start, inclusive (ISO 8601; default 90 days before)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Window end, exclusive (ISO 8601; default now)."
    ),
    model: str | None = typer.Option(None, "--model", help="Only this model."),
    policy: str | None = typer.Option(None, "--policy", help="Only decisions under this policy."),
    bucket: str = typer.Option("week", "--bucket", help="Series buckets: day or week."),
    as_json: bool = JSON,
) -> None:
    """Which gates block most and how close the near misses were; lead time, change failure
    rate, time to remediation, waivers and emergency changes."""
    if bucket not in ("day", "week"):
        raise InputError(f"--bucket: '{bucket}' is not 'day' or 'week'")
    size: Literal["day", "week"] = "day" if bucket == "day" else "week"
    out = connect().analytics(
        since=_when("--since", since),
        until=_when("--until", until),
        model=model,
        policy=policy,
        bucket=size,
    )
    if as_json:
        print_json(out)
        return
    render(out)


def _when(flag: str, text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag}: '{text}' is not an ISO 8601 date or time") from None
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def render(a: Analytics) -> None:
    console.print(
        f"{a.decisions} decisions from {a.since:%Y-%m-%d %H:%M} to {a.until:%Y-%m-%d %H:%M} UTC",
        markup=False,
    )
    _gates(a)
    _delivery(a)
    _waivers(a)
    _emergencies(a)


def _gates(a: Analytics) -> None:
    table = Table(
        "policy",
        "gate",
        "evaluated",
        "failed",
        "pass rate",
        "near misses",
        "closest margin",
        title="Gates that block most",
        title_justify="left",
    )
    for g in a.gates[:TOP_GATES]:
        table.add_row(
            g.policy,
            g.gate_id,
            str(g.evaluated),
            str(g.failed),
            _percent(g.pass_rate),
            str(g.near_misses),
            "-" if g.smallest_margin is None else f"{g.smallest_margin:.4g}",
        )
    console.print(table)
    if len(a.gates) > TOP_GATES:
        console.print(f"  ({len(a.gates) - TOP_GATES} more gates: --json lists them)")


def _delivery(a: Analytics) -> None:
    table = Table("figure", "count", "p50", "p90", title="Delivery", title_justify="left")
    table.add_row("lead time (registration to production)", *_spread(a.lead_time))
    table.add_row("time to remediation (block to allow)", *_spread(a.remediation.durations))
    for s in a.stages:
        table.add_row(f"time in {s.stage}", *_spread(s.durations))
    console.print(table)
    cf = a.change_failure
    console.print(
        f"change failure rate: {_percent(cf.rate)} ({cf.rollbacks} rollbacks / "
        f"{cf.production_changes} production changes); "
        f"{a.remediation.unresolved} blocks not yet remediated",
        markup=False,
    )


def _waivers(a: Analytics) -> None:
    w = a.waivers
    console.print(
        f"waivers: {w.active} active ({w.expiring_soon} expiring within 14 days), "
        f"{w.expired} expired, {w.revoked} revoked; {w.granted} granted in the window",
        markup=False,
    )
    for row in w.waivers:
        if row.expiring_soon:
            console.print(
                f"  {row.label} {row.model} gate {row.gate_id} expires {row.expires_at:%Y-%m-%d}",
                markup=False,
            )


def _emergencies(a: Analytics) -> None:
    e = a.emergencies
    console.print(
        f"emergency changes: {e.changes} ({e.reviewed} reviewed, {e.overdue} review overdue)",
        markup=False,
    )
    for row in e.changes_list:
        if row.overdue and row.review_due is not None:
            console.print(
                f"  OVERDUE: request {row.request} {row.model} {row.version}, review due "
                f"{row.review_due:%Y-%m-%d %H:%M} UTC",
                markup=False,
            )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _spread(d: Durations) -> tuple[str, str, str]:
    return str(d.count), _duration(d.p50), _duration(d.p90)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
