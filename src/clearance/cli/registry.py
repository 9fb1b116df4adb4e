"""Workspace and registry commands: init, db, user, register, evidence, policy apply."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer
from rich.table import Table

from clearance.cli.common import (
    AS_USER,
    JSON,
    connect,
    console,
    print_json,
    workspace,
)

if TYPE_CHECKING:
    from clearance.core.version import EvidenceKind

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
evidence_app = typer.Typer(
    help="Evidence attached to versions (append-only).", no_args_is_help=True
)


def init(
    directory: Path = typer.Argument(Path(), help="Folder to hold .clearance/."),
    db_url: str | None = typer.Option(None, "--db", help="Database URL (default: SQLite here)."),
) -> None:
    """Create a workspace (.clearance/ with database, blob store and signing key)."""
    from clearance.workspace import init_workspace

    ws = init_workspace(directory, db_url=db_url)
    console.print(f"workspace ready at {ws.home} (database {ws.engine.url.render_as_string()})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (Alembic migrations)."""
    from clearance.adapters.store import migrate

    ws = workspace()
    migrate.upgrade(ws.engine)
    console.print(f"schema at revision {migrate.current_revision(ws.engine)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the needed one; exit 1 if they differ."""
    from clearance.adapters.store import migrate

    ws = workspace()
    current, head = migrate.current_revision(ws.engine), migrate.head_revision()
    console.print(f"database: {current}; needed: {head}")
    raise typer.Exit(0 if current == head else 1)


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="User name (as given to --as)."),
    role: list[str] = typer.Option(..., "--role", help="A role; repeat for several."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Add a user with roles (e.g. ml_engineer, model_owner, risk_officer, admin).

    The local CLI is the operator (it holds the database), so it needs no role for this;
    through the API only an admin may add users.
    """
    user = connect(as_user, operator=True).add_user(name, role)
    if as_json:
        print_json(user)
        return
    console.print(f"user {user.name} added with roles {', '.join(user.roles)}")


@user_app.command("roles")
def user_roles(
    name: str = typer.Argument(..., help="An existing user."),
    role: list[str] = typer.Option(..., "--role", help="A role; repeat for several."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Replace a user's roles with the ones given (the old ones go into the audit trail)."""
    user = connect(as_user, operator=True).set_roles(name, role)
    if as_json:
        print_json(user)
        return
    console.print(f"user {user.name} now holds {', '.join(user.roles)}")


@user_app.command("list")
def user_list(as_json: bool = JSON) -> None:
    """List users and their roles."""
    users = connect().users()
    if as_json:
        print_json([u.model_dump(mode="json") for u in users])
        return
    table = Table("user", "roles", "disabled since (UTC)")
    for u in users:
        since = "" if u.disabled_at is None else f"{u.disabled_at:%Y-%m-%d %H:%M}"
        table.add_row(u.name, ", ".join(u.roles), since)
    console.print(table)


def register(
    source: str = typer.Argument(
        ...,
        metavar="SOURCE",
        help="Model manifest (YAML/JSON) of the version, or an MLflow URI: models:/NAME/3, "
        "models:/NAME@ALIAS, runs:/RUN_ID/PATH.",
    ),
    model: str | None = typer.Option(
        None, "--model", help="MLflow: the model's name in clearance (default: MLflow's)."
    ),
    version: str | None = typer.Option(
        None, "--version", help="MLflow: the version's name (default: MLflow's number)."
    ),
    risk_tier: str | None = typer.Option(
        None, "--risk-tier", help="MLflow: the model's risk tier (default: the model's own)."
    ),
    owner: str | None = typer.Option(None, "--owner", help="MLflow: the model's owner."),
    team: str | None = typer.Option(None, "--team", help="MLflow: the model's team."),
    tag: list[str] = typer.Option(
        [], "--tag", help="MLflow: a model tag KEY=VALUE; repeat for several."
    ),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Register a model version (and its model, if new) with its evidence and artifact.

    From a manifest, or from MLflow's registry (docs/mlflow.md): the version is built from
    the run's params, metrics, git commit, datasets and artifact files, and tagged in MLflow.
    """
    from clearance.cli.mlflow import is_mlflow_uri, register_from_mlflow

    if is_mlflow_uri(source):
        register_from_mlflow(
            source,
            as_user=as_user,
            as_json=as_json,
            model=model,
            version=version,
            risk_tier=risk_tier,
            owner=owner,
            team=team,
            tags=tag,
        )
        return
    given = {"--model": model, "--version": version, "--risk-tier": risk_tier}
    given |= {"--owner": owner, "--team": team}
    named = [option for option, value in given.items() if value is not None]
    named += ["--tag"] if tag else []
    if named:
        raise typer.BadParameter(
            f"{', '.join(named)} apply to an MLflow URI only; a manifest names its model itself",
            param_hint="SOURCE",
        )
    import yaml

    manifest = Path(source)
    row = connect(as_user).register(manifest)  # the SDK validates it before it uploads
    name = str(yaml.safe_load(manifest.read_text(encoding="utf-8"))["model"]["name"])
    if as_json:
        print_json({"model": name, "version": row.version, "stage": row.stage})
        return
    console.print(f"registered {name} {row.version} in stage {row.stage}")


@evidence_app.command("attach")
def evidence_attach(
    model: str = typer.Argument(...),
    version: str = typer.Argument(...),
    name: str = typer.Argument(..., help="Evidence name, e.g. model_card."),
    file: Path | None = typer.Argument(None, help="File to attach (copied by sha256)."),
    uri: str | None = typer.Option(None, "--uri", help="Reference by URI instead of a file."),
    sha256: str | None = typer.Option(None, "--sha256", help="Digest of the URI's content."),
    kind: str = typer.Option(
        "document", "--kind", help="document, report, dataset, metrics, other."
    ),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Attach evidence; the same name again supersedes the old content (approvals go stale)."""
    if kind not in ("document", "report", "dataset", "metrics", "other"):
        raise typer.BadParameter(f"unknown kind '{kind}'", param_hint="--kind")
    item = connect(as_user).attach(
        model, version, name, file, uri=uri, sha256=sha256, kind=cast("EvidenceKind", kind)
    )
    if as_json:
        print_json(item)
        return
    console.print(f"attached {item.name} ({item.kind}, sha256 {item.sha256}) to {model} {version}")


def policy_apply(
    path: Path = typer.Argument(..., exists=True, help="Policy file or directory."),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Record a policy version in the registry (same version, different content: refused)."""
    record, new = connect(as_user).apply_policy(path)
    if as_json:
        print_json({**record.model_dump(mode="json"), "new": new})
        return
    state = "applied" if new else "already applied (unchanged)"
    console.print(f"policy {record.name} {record.version} {state}; hash {record.content_hash[:12]}")
