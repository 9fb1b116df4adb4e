"""Shared CLI pieces: who is acting, which workspace or server, JSON output.

With ``CLEARANCE_URL`` set the CLI is a client of a team server (``clearance serve``): the
commands call the API through ``clearance.Client`` with ``CLEARANCE_TOKEN``, and the token,
not ``--as``, says who acts. The results are the service's own records either way, so the
output is the same.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import typer

from clearance.errors import InputError
from clearance.terminal import SafeConsole, json_for_terminal
from clearance.workspace import Workspace, find_workspace

AS_USER = typer.Option(None, "--as", help="Acting user (default: $CLEARANCE_USER).")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
console = SafeConsole()  # shows what users wrote, never obeys it (see clearance.terminal)


if TYPE_CHECKING:
    from clearance.client import Client


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


def actor(value: str | None) -> str:
    name = value or os.environ.get("CLEARANCE_USER")
    if not name:
        raise InputError("who is acting? pass --as USER or set CLEARANCE_USER")
    return name


def workspace() -> Workspace:
    return find_workspace()


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    typer.echo(json_for_terminal(text))
