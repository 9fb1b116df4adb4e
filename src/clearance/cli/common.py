"""Shared CLI pieces: who is acting, which workspace or server, JSON output.

Every command is written once against ``clearance.contract.Clearance`` (``connect``): with
``CLEARANCE_URL`` set that is a client of a team server (``clearance serve``), calling the API
with ``CLEARANCE_TOKEN``, and the token, not ``--as``, says who acts; otherwise it is the
workspace here, acting as ``--as``. The results are the same typed records either way, so the
output is the same.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from clearance.errors import InputError
from clearance.terminal import SafeConsole, json_for_terminal

if TYPE_CHECKING:
    from clearance.workspace import Workspace

AS_USER = typer.Option(None, "--as", help="Acting user (default: $CLEARANCE_USER).")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
console = SafeConsole()  # shows what users wrote, never obeys it (see clearance.terminal)


if TYPE_CHECKING:
    from clearance.client import Client
    from clearance.contract import Clearance


def connect(as_user: str | None = None, *, operator: bool = False) -> Clearance:
    """The use cases, through the team server (``CLEARANCE_URL``) or on the workspace here.

    Locally the CLI acts as ``--as`` (or ``$CLEARANCE_USER``); ``operator`` commands (user
    and token administration) act as the operator, who holds the database and needs no role.
    """
    if client := remote(as_user):
        return client
    from clearance.local import LocalClearance

    name = operator_name(as_user) if operator else as_user or os.environ.get("CLEARANCE_USER")
    return LocalClearance(workspace(), name, operator=operator)


def operator_name(as_user: str | None) -> str:
    """Who the audit trail names for an operator action: --as, $CLEARANCE_USER or the login."""
    return as_user or os.environ.get("CLEARANCE_USER") or getpass.getuser()


def remote(as_user: str | None = None) -> Client | None:
    """The team server's client when ``CLEARANCE_URL`` is set, else None (the local store)."""
    if not os.environ.get("CLEARANCE_URL"):
        return None
    if as_user:
        raise InputError(
            "--as does not apply with CLEARANCE_URL: the server acts as the user its "
            "CLEARANCE_TOKEN belongs to"
        )
    from clearance.client import Client

    return Client()


def workspace() -> Workspace:
    from clearance.workspace import find_workspace

    return find_workspace()


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_jsonable)
    typer.echo(json_for_terminal(text))


def _jsonable(value: Any) -> Any:
    """Records print as the API serves them (by alias: a request's ``from``)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return str(value)


MAX_KEY_FILE = 64 * 1024


def read_public_key(path: Path) -> bytes:
    """An Ed25519 public key from a file: 64 hex digits, a PEM public key, or 32 raw bytes."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    text = data.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if text.startswith(b"-----BEGIN PUBLIC KEY-----"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            key = serialization.load_pem_public_key(text)
        except ValueError:
            key = None
        if isinstance(key, Ed25519PublicKey):
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raise InputError(f"{path}: a PEM public key, but not an Ed25519 one")
    if len(data) == 32:
        return data
    raise InputError(
        f"{path}: not an Ed25519 public key (64 hex digits, a PEM public key or 32 raw bytes)"
    )
