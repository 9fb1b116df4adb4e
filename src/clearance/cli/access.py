"""API token commands: create (the secret is shown once), list, revoke; disabling users.

The local CLI is the operator: it holds the database, so it may manage anyone's tokens
without a role. Through the API the same use cases let a user manage their own tokens and
only an ``admin`` manage other people's.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from clearance.cli.common import (
    AS_USER,
    JSON,
    connect,
    console,
    print_json,
)
from clearance.terminal import SafeConsole

if TYPE_CHECKING:
    from clearance.service.records import TokenRecord, TokenState

token_app = typer.Typer(
    help="API tokens for the server (stored hashed, shown once).", no_args_is_help=True
)
notes = SafeConsole(stderr=True)  # stdout carries only the secret, for $(...)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _describe(token: TokenRecord, state: TokenState) -> dict[str, Any]:
    return {
        "id": token.id,
        "user": token.user,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "expires_at": None if token.expires_at is None else token.expires_at.isoformat(),
        "revoked_at": None if token.revoked_at is None else token.revoked_at.isoformat(),
        "state": state,
    }


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="The user the token acts for."),
    name: str = typer.Option("", "--name", help="What it is for, e.g. 'ci pipeline'."),
    expires: str | None = typer.Option(
        None, "--expires", help="Lifetime, e.g. 90d, 12h or 2w (default: never expires)."
    ),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Create an API token; its secret is printed this once and never stored.

    The secret alone goes to stdout (``export CLEARANCE_TOKEN=$(clearance token create ...)``),
    what it is and the "shown once" note to stderr; ``--json`` prints both as one object.
    """
    token, secret = connect(as_user, operator=True).create_token(
        user, name=name, expires_in=expires
    )
    if as_json:
        print_json({**_describe(token, token.state(_now())), "secret": secret})
        return
    until = (
        f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC"
        if token.expires_at is not None
        else "never expires"
    )
    notes.print(f"token {token.id} ({token.name}) for {token.user}, {until}:", markup=False)
    typer.echo(secret)
    notes.print(
        "This secret is shown once and cannot be recovered (only its sha256 is stored); "
        "keep it now, e.g. as CLEARANCE_TOKEN. Lost it? Revoke this token and create another.",
        style="yellow",
    )


@token_app.command("list")
def token_list(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """List tokens: id, user, name, prefix, created, expires and state (never the secret)."""
    tokens = connect(as_user, operator=True).tokens(user)
    now = _now()
    rows = [_describe(t, t.state(now)) for t in tokens]
    if as_json:
        print_json(rows)
        return
    table = Table(
        "id", "user", "name", "prefix", "created (UTC)", "expires (UTC)", "state", title="tokens"
    )
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["user"],
            r["name"],
            f"{r['prefix']}…",
            r["created_at"][:16].replace("T", " "),
            (r["expires_at"] or "never")[:16].replace("T", " "),
            r["state"],
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: int = typer.Argument(
        ..., metavar="ID", help="Token id (see `clearance token list`)."
    ),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Revoke a token at once; requests that present it are refused from now on."""
    token = connect(as_user, operator=True).revoke_token(token_id)
    if as_json:
        print_json(_describe(token, token.state(_now())))
        return
    console.print(f"token {token.id} ({token.prefix}…) of {token.user} is revoked", markup=False)


def user_disable(
    name: str = typer.Argument(..., help="An existing user."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Disable a user: revoke all their tokens at once and refuse their sign-in (audited)."""
    user = connect(as_user, operator=True).set_disabled(name, True)
    if as_json:
        print_json(user)
        return
    console.print(
        f"user {user.name} is disabled: their tokens are revoked and sign-in is refused "
        f"(`clearance user enable {user.name}` undoes this)",
        markup=False,
    )


def user_enable(
    name: str = typer.Argument(..., help="A disabled user."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Let a disabled user sign in again; their old tokens stay revoked (create new ones)."""
    user = connect(as_user, operator=True).set_disabled(name, False)
    if as_json:
        print_json(user)
        return
    console.print(
        f"user {user.name} is enabled; create a token for them with "
        f"`clearance token create --user {user.name}`",
        markup=False,
    )
