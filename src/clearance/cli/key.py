"""Signing-key commands: rotate the workspace's audit key, list every key it has used.

They act on the workspace here (its ``.clearance/keys`` folder), whatever ``CLEARANCE_URL``
says: only whoever holds the key folder can replace the key. ADR 18 has the design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from clearance.cli.common import AS_USER, JSON, console, operator_name, print_json, workspace
from clearance.errors import InputError

if TYPE_CHECKING:
    from clearance.service.keys import Keys

app = typer.Typer(help="The audit signing key: rotate it, list its history.", no_args_is_help=True)


def keys_here() -> Keys:
    """The key use cases on the workspace found here."""
    return workspace().keys


@app.command("rotate")
def rotate(
    reason: str = typer.Option("", "--reason", help="Why (recorded in the key.rotated event)."),
    keep_old: bool = typer.Option(
        False,
        "--keep-old",
        help="Keep the old private key in keys/retired/ (0600) instead of deleting it.",
    ),
    compromised: bool = typer.Option(
        False,
        "--compromised",
        help="The old key may be known to someone else: verify then warns that what it "
        "signed is only as good as the head hashes kept outside the workspace.",
    ),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Replace the audit signing key. The old key signs a checkpoint at a `key.rotated`
    event naming both keys, the new key signs one at the same event, and the old public key
    is kept (keys/public/) so everything it signed still verifies.

    Restart a running `clearance serve` afterwards: it loaded the old key.
    """
    from clearance.adapters.keyring import signer_settings

    ws = workspace()
    if signer_settings(ws.home / "config.json") is not None:
        raise InputError(
            "this workspace signs through an external signer (config.json: signer); "
            "`key rotate` replaces only a key file: rotate the key where the signer keeps it"
        )
    keys = keys_here()
    done = keys.rotate(
        operator_name(as_user), reason=reason, keep_old=keep_old, compromised=compromised
    )
    if as_json:
        print_json(done)
        return
    console.print(
        f"key rotated at seq {done.seq}: {done.old_key_id} → {done.new_key_id} "
        f"(checkpoints by both keys at seq {done.seq}); old private key {done.old_private_key}"
    )
    console.print(f"new public key: {done.new_public_key_hex}")
    console.print(
        "hand the new public key to your auditors (`clearance audit public-key`); "
        "the old one still verifies the trail through this rotation"
    )


@app.command("list")
def list_keys(as_json: bool = JSON) -> None:
    """Every audit signing key this workspace has used, oldest first: its id, when the
    trail brought it in and retired it, and whether its private key is still held."""
    keys = keys_here()
    note = keys.recover()
    rows = keys.known()
    if as_json:
        print_json(rows)
        return
    if note:
        console.print(note, markup=False)
    table = Table("key id", "", "since", "retired", "private key", "reason")
    for k in rows:
        since = f"seq {k.since_seq} {k.since:%Y-%m-%d %H:%M}" if k.since else "first key"
        retired = f"seq {k.retired_seq} {k.retired:%Y-%m-%d %H:%M}" if k.retired else "-"
        reason = ("COMPROMISED " if k.compromised else "") + (k.reason or "")
        table.add_row(
            k.key_id, "current" if k.current else "", since, retired, k.private_key, reason
        )
    console.print(table)
