"""Attestation commands: fetch a decision's signed statement, show it, verify it offline.

``verify`` needs no workspace and no server when given ``--key`` (the workspace's public key
from ``clearance audit public-key``): anyone holding an envelope and the key can check it.
Exit codes: 0 valid, 1 it does not verify (wrong type, key or signature), 2 unreadable input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from clearance.cli.common import connect, console, print_json, read_public_key
from clearance.errors import ClearanceError, InputError
from clearance.terminal import SafeConsole, json_for_terminal, printable

if TYPE_CHECKING:
    from clearance.core.attestation import Verified
    from clearance.core.audit import AuditEvent

app = typer.Typer(
    help="Signed decision attestations (in-toto statements in DSSE envelopes).",
    no_args_is_help=True,
)
err = SafeConsole(stderr=True, soft_wrap=True)
MAX_TRAIL_LINE = 1 << 20  # one exported event
FILE = typer.Argument(..., help="The DSSE envelope (JSON), or - for standard input.")


def _fail(exc: ClearanceError) -> NoReturn:
    label = "invalid" if exc.exit_code == 1 else "error"
    err.print(Text.assemble((f"{label}: ", "bold red"), printable(str(exc))))
    raise typer.Exit(exc.exit_code)


def _read(path: Path) -> bytes:
    from clearance.core.attestation import MAX_ENVELOPE_BYTES

    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_ENVELOPE_BYTES + 1)
        else:
            with path.open("rb") as f:
                data = f.read(MAX_ENVELOPE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_ENVELOPE_BYTES:
        raise InputError(f"{path}: larger than {MAX_ENVELOPE_BYTES} bytes; not an attestation")
    return data


@app.command("verify")
def attest_verify(
    file: Path = FILE,
    key: Path | None = typer.Option(
        None,
        "--key",
        help="The workspace's public key (hex, PEM or 32 raw bytes; `clearance audit "
        "public-key`). Without it the workspace's or server's own key is asked for.",
    ),
    trail: Path | None = typer.Option(
        None,
        "--trail",
        help="An export of the audit trail (`clearance audit export`, JSON Lines): also check "
        "that it holds the decision event the statement names, as the statement says.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the result (and the statement) as JSON."
    ),
) -> None:
    """Verify an attestation's signature and statement; exit 0 valid, 1 invalid, 2 unreadable.

    With --key nothing else is needed: no workspace, no server, no network.
    """
    from clearance.core.attestation import check_event, verify

    try:
        data = _read(file)
        public = read_public_key(key) if key is not None else _signing_key(data)
        verified = verify(data, public)
        if key is None:
            _check_retirement(verified)
        if trail is not None:
            check_event(verified, _trail_event(trail, verified.predicate.get("auditEvent")))
    except ClearanceError as exc:
        if as_json:
            print_json({"valid": False, "error": str(exc), "exit_code": exc.exit_code})
            raise typer.Exit(exc.exit_code) from None
        _fail(exc)
    if as_json:
        print_json(
            {
                "valid": True,
                "keyid": verified.keyid,
                "trail_checked": trail is not None,
                "statement": verified.statement,
            }
        )
        return
    subject = verified.statement["subject"][0]
    decision = _get(verified.predicate, "decision")
    decision = decision if isinstance(decision, dict) else {}
    console.print(
        f"valid: signed by key {verified.keyid[:16]}; {subject.get('name', '_')} "
        f"sha256:{subject['digest'].get('sha256', '?')[:12]} "
        f"decision {decision.get('number', '?')} {decision.get('outcome', '?')}"
        + (f"; its audit event is in {trail}" if trail is not None else "")
    )


def _signing_key(data: bytes) -> bytes:
    """The key to verify with when none is given: in a workspace, the kept public key
    (current or retired) whose id the envelope names; else the server's current key."""
    import hashlib

    from clearance.cli.common import remote
    from clearance.cli.key import keys_here
    from clearance.core.attestation import read_envelope

    if remote() is not None:
        return connect().public_key()
    named = [kid for kid, _ in read_envelope(data).signatures]
    kept = {hashlib.sha256(raw).hexdigest(): raw for raw in keys_here().public_keys().values()}
    found = next((kept[kid] for kid in named if kid in kept), None)
    return found if found is not None else connect().public_key()


def _check_retirement(verified: Verified) -> None:
    """A workspace key verifies only decisions made before the rotation that retired it
    (one signed later came from a process still holding the old key, or from whoever took
    it); one retired as compromised is said so."""
    import datetime as dt

    from clearance.cli.common import remote
    from clearance.cli.key import keys_here
    from clearance.core.attestation import AttestationInvalid

    if remote() is not None:
        return
    key = next((k for k in keys_here().known() if k.keyid == verified.keyid), None)
    if key is None or key.retired is None:
        return
    decided = _get(verified.predicate, "decision", "decidedAt")
    try:
        when = dt.datetime.fromisoformat(decided) if isinstance(decided, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise AttestationInvalid("predicate.decision.decidedAt: not a time with a zone")
    if when > key.retired:
        raise AttestationInvalid(
            f"signed by key {key.key_id}, retired by the key rotation at seq "
            f"{key.retired_seq} ({key.retired.isoformat()}), for a decision at "
            f"{when.isoformat()}, after it"
        )
    if key.compromised:
        err.print(
            Text.assemble(
                ("warning: ", "bold yellow"),
                printable(
                    f"key {key.key_id} was rotated out as compromised at seq "
                    f"{key.retired_seq}; check the decision's event with --trail"
                ),
            )
        )


def _trail_event(path: Path, named: Any) -> AuditEvent:
    """The event the statement names, from a JSON Lines export (read line by line)."""
    from pydantic import ValidationError

    from clearance.core.attestation import AttestationInvalid
    from clearance.core.audit import AuditEvent

    seq = named.get("seq") if isinstance(named, dict) else None
    if not isinstance(seq, int):
        raise AttestationInvalid("predicate.auditEvent.seq: must be a number")
    try:
        with path.open("rb") as f:
            for number, line in enumerate(iter(lambda: f.readline(MAX_TRAIL_LINE + 1), b""), 1):
                if len(line) > MAX_TRAIL_LINE:
                    raise InputError(f"{path}:{number}: longer than {MAX_TRAIL_LINE} bytes")
                try:
                    row = json.loads(line)
                except (UnicodeDecodeError, ValueError):
                    raise InputError(f"{path}:{number}: not a JSON line of an export") from None
                if isinstance(row, dict) and row.get("seq") == seq:
                    try:
                        return AuditEvent.model_validate(row)
                    except ValidationError as exc:
                        raise InputError(f"{path}:{number}: not an audit event: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    raise AttestationInvalid(f"{path} holds no audit event seq {seq}")


@app.command("show")
def attest_show(
    file: Path = FILE,
    as_json: bool = typer.Option(False, "--json", help="Print the statement as JSON."),
) -> None:
    """Print an attestation's statement (subject, policy, outcome, gates, approvals).

    It is read, not verified: run `clearance attest verify` to check the signature.
    """
    from clearance.core.attestation import Verified, read_envelope, read_statement

    try:
        envelope = read_envelope(_read(file))
        found = Verified(keyid="", statement=read_statement(envelope.payload))
    except ClearanceError as exc:
        _fail(exc)
    if as_json:
        print_json(found.statement)
        return
    _print(found, [kid for kid, _ in envelope.signatures])


def _get(data: dict[str, Any], *names: str) -> Any:
    value: Any = data
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _list(value: Any) -> list[Any]:
    """A statement's list, or none: a signed statement from elsewhere may hold anything."""
    return value if isinstance(value, list) else []


def _print(found: Verified, keyids: list[str]) -> None:
    p = found.predicate
    for subject in found.statement["subject"]:
        digest = subject.get("digest", {})
        console.print(f"subject    {subject.get('name', '_')}  sha256:{digest.get('sha256', '?')}")
    console.print(f"kind       {p.get('subjectKind', '?')}")
    console.print(
        f"policy     {_get(p, 'policy', 'name')}@{_get(p, 'policy', 'version')}  "
        f"hash {str(_get(p, 'policy', 'hash'))[:16]}"
    )
    console.print(
        f"decision   {_get(p, 'decision', 'number')} ({str(_get(p, 'decision', 'id'))[:16]}) "
        f"{_get(p, 'decision', 'outcome')} at {_get(p, 'decision', 'decidedAt')}"
    )
    console.print(
        f"request    {_get(p, 'request', 'id')}: {_get(p, 'model', 'name')} "
        f"{_get(p, 'model', 'version')} {_get(p, 'request', 'fromStage')} → "
        f"{_get(p, 'request', 'toStage')} by {_get(p, 'request', 'requester')}"
    )
    console.print(f"summary    {_get(p, 'decision', 'summary')}")
    console.print(
        f"audit      seq {_get(p, 'auditEvent', 'seq')} hash {_get(p, 'auditEvent', 'hash')}"
    )
    gates = Table("gate", "type", "status", "blocking", title="gates")
    for g in _list(p.get("gates")):
        if isinstance(g, dict):
            gates.add_row(*(str(g.get(k)) for k in ("id", "type", "status", "blocking")))
    console.print(gates)
    signoffs = _list(_get(p, "approvals", "signoffs"))
    if signoffs:
        table = Table("approver", "roles", "verdict", "at", title="sign-offs")
        for a in signoffs:
            if isinstance(a, dict):
                roles = ", ".join(str(r) for r in _list(a.get("roles")))
                table.add_row(
                    str(a.get("approver")), roles, str(a.get("verdict")), str(a.get("at"))
                )
        console.print(table)
    for w in _list(p.get("waivers")):
        if isinstance(w, dict):
            console.print(
                f"waiver     {w.get('id')} on {w.get('gate')} (was {w.get('waivedStatus')})"
            )
    console.print(
        f"signed by  {', '.join(k[:16] for k in keyids) or 'no key id'} "
        "(not checked here: `clearance attest verify`)"
    )


@app.command("get")
def attest_get(
    request_id: int = typer.Argument(..., help="The promotion request."),
    decision: int | None = typer.Option(
        None, "--decision", help="This decision of the request (its number), not the latest."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the envelope here."),
) -> None:
    """Fetch the signed attestation of a request's decision (a DSSE envelope, JSON)."""
    envelope = connect().attestation(request_id, decision=decision)
    data = envelope.to_bytes()
    if out is not None:
        out.write_bytes(data)
        console.print(f"wrote {out}")
    else:
        typer.echo(json_for_terminal(data.decode().rstrip("\n")))
