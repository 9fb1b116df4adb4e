"""Shared CLI pieces: who is acting, which workspace, JSON output."""

from __future__ import annotations

import json
import os
from typing import Any

import typer
from rich.console import Console

from clearance.errors import InputError
from clearance.workspace import Workspace, find_workspace

AS_USER = typer.Option(None, "--as", help="Acting user (default: $CLEARANCE_USER).")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
console = Console(highlight=False)


def actor(value: str | None) -> str:
    name = value or os.environ.get("CLEARANCE_USER")
    if not name:
        raise InputError("who is acting? pass --as USER or set CLEARANCE_USER")
    return name


def workspace() -> Workspace:
    return find_workspace()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
