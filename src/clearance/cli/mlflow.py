"""MLflow commands: ``clearance mlflow reconcile``, and registering from MLflow
(``clearance register models:/NAME/3``, routed here from ``register``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from clearance.cli.common import AS_USER, JSON, connect, console, print_json
from clearance.errors import InputError
from clearance.terminal import SafeConsole

if TYPE_CHECKING:
    from clearance.service.mlflow_sync import MlflowSyncResult

MLFLOW_SCHEMES = ("models:/", "runs:/")
mlflow_app = typer.Typer(
    help="MLflow's registry, governed by clearance (docs/mlflow.md).", no_args_is_help=True
)
err = SafeConsole(stderr=True, soft_wrap=True)


def is_mlflow_uri(text: str) -> bool:
    return text.startswith(MLFLOW_SCHEMES)


def parse_tags(pairs: list[str]) -> dict[str, str]:
    """``--tag KEY=VALUE`` options as a dict; a pair without ``=``, an empty key or a key
    given twice is refused, naming the option."""
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--tag {pair!r}: give KEY=VALUE, e.g. --tag domain=credit")
        if key in tags:
            raise InputError(f"--tag {key!r} is given twice")
        tags[key] = value
    return tags


def register_from_mlflow(
    uri: str,
    *,
    as_user: str | None,
    as_json: bool,
    model: str | None,
    version: str | None,
    risk_tier: str | None,
    owner: str | None,
    team: str | None,
    tags: list[str],
) -> None:
    """``clearance register models:/...``: the version built from MLflow, then tagged there."""
    out = connect(as_user).register_mlflow(
        uri,
        model=model,
        version=version,
        risk_tier=risk_tier,
        owner=owner,
        team=team,
        tags=parse_tags(tags) or None,
    )
    if as_json:
        print_json(out)
        return
    row = out.version
    console.print(f"registered {out.model} {row.version} in stage {row.stage} from {uri}")
    if out.sync is None and uri.startswith("runs:/"):
        console.print("a run has no MLflow model version: nothing to tag in MLflow", markup=False)
    elif out.sync is not None and out.sync.error is not None:
        err.print(f"MLflow is behind: {out.sync.error}; the next sync writes it")


@mlflow_app.command("reconcile")
def reconcile(
    models: list[str] | None = typer.Argument(
        None,
        metavar="MODEL",
        help="Clearance models (default: every one registered from MLflow).",
    ),
    revert: bool | None = typer.Option(
        None,
        "--revert/--no-revert",
        help="Move ungoverned changes back (default: mlflow.yaml's revert).",
    ),
    as_user: str | None = AS_USER,
    as_json: bool = JSON,
) -> None:
    """Write clearance's stages to MLflow and catch aliases and tags changed there by hand.

    Exit 1 when an ungoverned change was found (recorded in the audit trail and alerted),
    2 when a model could not be checked (MLflow unreachable) or on bad input, 0 otherwise.
    """
    # locally the operator runs it (like tick); remotely, the token's user (admin, mlops_oncall)
    results = connect(as_user, operator=True).reconcile_mlflow(models or None, revert=revert)
    if as_json:
        print_json(results)
    else:
        _show(results)
    if any(r.ungoverned for r in results):
        raise typer.Exit(1)
    if any(r.error is not None for r in results):
        raise typer.Exit(2)


def _show(results: list[MlflowSyncResult]) -> None:
    for r in results:
        where = f"{r.model} (MLflow {r.mlflow_model})"
        if r.error is not None:
            err.print(f"{where}: not checked: {r.error}")
            continue
        for line in r.written:
            console.print(f"{where}: wrote {line}")
        for c in r.ungoverned:
            found = "absent" if c.found is None else c.found
            expected = "absent" if c.expected is None else c.expected
            moved = "; moved back" if c.reverted else ""
            console.print(
                f"{where}: UNGOVERNED {c.target}: {found}, clearance has {expected}{moved}"
            )
        if not r.written and not r.ungoverned:
            console.print(f"{where}: in step")
    if not results:
        console.print("no model registered from MLflow", markup=False)
