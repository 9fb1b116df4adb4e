"""Audit commands (verify, checkpoint, export, public-key), replay, status and history."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from clearance.cli.common import (
    JSON,
    connect,
    console,
    print_json,
    read_public_key,
    remote,
    workspace,
)
from clearance.errors import InputError

if TYPE_CHECKING:
    from clearance.contract import Clearance
    from clearance.core.audit import VerifyReport
    from clearance.service.auditing import PublicKeyOut
    from clearance.service.views import ModelSummary

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        exists=True,
        dir_okay=False,
        help="Public key file from `clearance audit public-key` (hex, PEM or 32 raw bytes); keep "
        "it outside the workspace.",
    ),
    blobs: bool = typer.Option(
        False, "--blobs", help="Also re-hash every stored blob (evidence and artifacts)."
    ),
    as_json: bool = JSON,
) -> None:
    """Recompute the hash chain, check signed checkpoints, and compare the state the events
    imply with the tables. Exit 1 names the first bad event and every differing row.

    Against a server (CLEARANCE_URL) the events and checkpoints are fetched and verified
    here, not by the server: with --public-key nothing the server says about the chain is
    taken on trust (the state comparison and --blobs are the server's own report).
    """
    key = read_public_key(public_key) if public_key else None
    # The one command that asks which side holds the trail: a workspace here verifies itself
    # in one snapshot (with the given key, if any); a server is not taken at its word.
    if client := remote():
        report = _verified_here(client, key, blobs=blobs)
    else:
        report = workspace().auditing.verify(key, blobs=blobs)
    if as_json:
        print_json(verify_json(report))
    else:
        _print_verify(report, given_key=key is not None)
    raise typer.Exit(0 if report.ok else 1)


def _verified_here(api: Clearance, key: bytes | None, *, blobs: bool) -> VerifyReport:
    """The chain checked here, across the key rotations it records; the state and blobs as
    the server compared them."""
    from clearance.core.audit import Checkpoint, stored
    from clearance.service.keys import verify_rotating

    checkpoints = [Checkpoint(**c.model_dump()) for c in api.checkpoints()]
    trusted = [key if key is not None else api.public_key()]
    chain = verify_rotating(map(stored, api.audit_events()), checkpoints, trusted)
    if chain.fault is not None:
        return chain
    server = api.verify_audit(blobs=blobs)
    return dataclasses.replace(
        chain,
        ok=not server.differences and not server.blob_faults,
        warnings=(*chain.warnings, *server.warnings),
        state_checked=server.state_checked,
        differences=server.differences,
        blobs_checked=server.blobs_checked,
        blob_faults=server.blob_faults,
    )


def verify_json(report: VerifyReport) -> dict[str, Any]:
    return dataclasses.asdict(report)


SHOWN_DIFFERENCES = 50


def _print_verify(report: VerifyReport, *, given_key: bool) -> None:
    for warning in report.warnings:
        console.say("[bold red]WARNING[/]: {w}", w=warning)
    if report.fault is not None:
        console.say("[bold red]audit chain BROKEN[/]: {why}", why=report.fault.message)
        return
    console.print(
        f"audit chain OK: {report.events} events, head {report.head_seq} "
        f"{report.head_hash[:12]}, {report.checkpoints} signed checkpoint(s) verified"
    )
    if report.state_checked and not report.differences:
        console.print(
            "state OK: users, models, versions (stage, production slot), evidence, policies, "
            "requests, approvals, decisions, waivers and tokens match the events"
        )
    elif report.differences:
        console.say(
            "[bold red]state DOES NOT MATCH the audit trail[/]: {n} difference(s)",
            n=len(report.differences),
        )
        for d in report.differences[:SHOWN_DIFFERENCES]:
            console.print(f"  {d.message}")
        if len(report.differences) > SHOWN_DIFFERENCES:
            more = len(report.differences) - SHOWN_DIFFERENCES
            console.print(f"  ... and {more} more (--json lists them all)")
    if report.blobs_checked is not None:
        if report.blob_faults:
            console.say("[bold red]blobs BAD[/]: {n} of them", n=len(report.blob_faults))
            for b in report.blob_faults:
                console.print(f"  {b.message}")
        else:
            console.print(f"blobs OK: {report.blobs_checked} re-hashed")
    if not given_key:
        console.print(
            "note: checkpoints were checked with the workspace's own key, which anyone who "
            "can change the workspace can replace; keep `clearance audit public-key` output "
            "outside it and verify with --public-key FILE"
        )


@audit_app.command("public-key")
def audit_public_key(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write it to this file."),
    as_json: bool = typer.Option(
        False, "--json", help="The key's id, hex and PEM as JSON instead of the hex alone."
    ),
    key_id: str | None = typer.Option(
        None,
        "--key-id",
        help="An earlier key of this workspace, by its 16-digit id (`clearance key list`), "
        "not the current one.",
    ),
) -> None:
    """Print the workspace's Ed25519 public key (hex) for auditors to verify checkpoints."""
    key = connect().audit_key() if key_id is None else _kept_key(key_id)
    if output is not None:
        text = key.model_dump_json(indent=2) if as_json else key.public_key_hex
        output.write_text(text + "\n")
    elif as_json:
        print_json(key)
    else:
        typer.echo(key.public_key_hex)


def _kept_key(wanted: str) -> PublicKeyOut:
    """A public key the workspace here kept, by its checkpoint key id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from clearance.cli.key import keys_here
    from clearance.service.auditing import PublicKeyOut

    kept = keys_here().public_keys()
    raw = kept.get(wanted)
    if raw is None:
        known = ", ".join(sorted(kept)) or "none"
        raise InputError(f"--key-id: this workspace kept no key {wanted!r} (it has: {known})")
    pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKeyOut(key_id=wanted, public_key_hex=raw.hex(), pem=pem.decode("ascii"))


@audit_app.command("checkpoint")
def audit_checkpoint(
    as_json: bool = typer.Option(False, "--json", help="Print the signed checkpoint as JSON."),
) -> None:
    """Sign the head of the chain with the workspace key (makes truncation detectable)."""
    cp = connect(operator=True).checkpoint()
    if as_json:
        print_json(cp)
        return
    console.print(f"checkpoint signed at seq {cp.seq} ({cp.hash[:12]}), key {cp.key_id}")


@audit_app.command("export")
def audit_export(
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    since: str | None = typer.Option(None, "--since", help="Only events at or after (ISO 8601)."),
    model: str | None = typer.Option(None, "--model", help="Only events about this model."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Export the audit trail for auditors."""
    if fmt not in ("jsonl", "csv"):
        raise InputError(f"--format must be jsonl or csv, not '{fmt}'")
    lines = connect().export_audit(
        "jsonl" if fmt == "jsonl" else "csv", since=_since(since), model=model
    )
    if output is None:
        for line in lines:
            typer.echo(line, nl=False)
        return
    with output.open("w", encoding="utf-8") as f:
        f.writelines(lines)


def _since(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--since: '{text}' is not an ISO 8601 date or time") from None
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


def replay(
    decision: str = typer.Argument(..., help="Decision number or digest prefix."),
    as_json: bool = JSON,
) -> None:
    """Re-evaluate a stored decision from its recorded inputs; exit 1 if anything differs."""
    report = connect().replay(decision)
    if as_json:
        print_json(report.model_dump(mode="json", exclude={"exit_code"}))
        raise typer.Exit(report.exit_code)
    verdict = "identical" if report.identical else "DIFFERENT"
    console.print(
        f"decision {report.decision} ({report.decision_id[:12]}): {verdict} "
        f"(recorded {report.recorded_outcome}, replayed {report.replayed_outcome})"
    )
    for line in report.differences:
        console.print(f"  {line}", markup=False)
    if report.current_policy:
        console.print(
            f"under the policy governing the model now ({report.current_policy}): "
            f"{report.current_outcome}"
        )
        for line in report.current_differences:
            console.print(f"  {line}", markup=False)
    raise typer.Exit(report.exit_code)


def status(model: str | None = typer.Argument(None), as_json: bool = JSON) -> None:
    """Every model in a line (production, latest, counts); a MODEL's versions, policy and
    open requests."""
    api = connect()
    if model is None:
        _summaries(api.models(), as_json)
        return
    rows = [api.model(model)]
    if as_json:
        print_json(rows)
        return
    for m in rows:
        table = Table(
            "version",
            "stage",
            "since",
            title=f"{m.model} ({m.risk_tier}, policy {m.policy})",
            title_justify="left",
        )
        for v in m.versions:
            table.add_row(v.version, v.stage, v.since[:19])
        console.print(table)
        for e in m.emergency_changes:
            review = "review recorded" if e.review else "post-incident review OWED"
            console.print(
                f"  EMERGENCY change: request {e.request} ({e.version}), {review}",
                markup=False,
            )
        for issue in m.non_compliant:
            console.say("  [bold red]NON-COMPLIANT[/]: {issue}", issue=issue)
        for r in m.rollouts:
            console.print(f"  canary {r.version} at {r.traffic:.0%} (rollout {r.id})")
        for b in m.monitors:
            since = (
                f", failing since {b.failing_since:%Y-%m-%d %H:%M} UTC" if b.failing_since else ""
            )
            console.print(
                f"  monitor {b.monitor} ({b.version}): {b.status} at {b.at:%Y-%m-%d %H:%M} UTC"
                f"{since}: {b.message}",
                markup=False,
            )
        for q in m.open_requests:
            console.print(
                f"  request {q.id}: {q.version} {q.from_stage} → {q.to} {q.status}: {q.summary}",
                markup=False,
            )


def _summaries(rows: list[ModelSummary], as_json: bool) -> None:
    """The registry's list as one table (the list API's rows: read set-based, any size)."""
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no models yet: register a version with `clearance register MANIFEST`")
        return
    table = Table("model", "risk tier", "team", "production", "latest", "versions", "open")
    for m in rows:
        table.add_row(
            m.model,
            m.risk_tier,
            m.team,
            ", ".join(m.production) or "-",
            m.latest or "-",
            str(m.versions),
            str(m.open_requests),
        )
    console.print(table)


def history(model: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Everything that happened to a model, from the audit trail."""
    events = connect().history(model)
    if as_json:
        print_json([e.model_dump(mode="json") for e in events])
        return
    table = Table("seq", "time (UTC)", "actor", "action", "subject", "details")
    for e in events:
        details = ", ".join(f"{k}={v}" for k, v in e.payload.items() if k in _SHOWN and v)
        subject = e.subject.removeprefix(f"model:{model}/").replace(":", " ")
        table.add_row(
            str(e.seq), e.time.strftime("%m-%d %H:%M:%S"), e.actor, e.action, subject, details
        )
    console.print(table)


_SHOWN = {
    "from",
    "to",
    "status",
    "outcome",
    "reason",
    "ticket",
    "version",
    "from_version",
    "to_version",
    "summary",
}
