"""``clearance policy``: publish the schema and lint policy files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer
from rich.text import Text

from clearance.cli.common import connect, console, print_json
from clearance.errors import PolicyError, Problem
from clearance.terminal import SafeConsole, printable

app = typer.Typer(help="Policy files: JSON Schema and lint.", no_args_is_help=True)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of policy files (for editor completion and validation)."""
    from clearance.core.schema import policy_schema

    typer.echo(json.dumps(policy_schema(), indent=2))


@app.command("lint")
def lint(
    paths: list[Path] = typer.Argument(
        ..., exists=True, help="Policy files or directories (one policy each)."
    ),
    today: str | None = typer.Option(None, "--today", help="Date for expiry checks (YYYY-MM-DD)."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail the lint too."),
    as_json: bool = typer.Option(False, "--json", help="Print findings as JSON."),
) -> None:
    """Find errors and smells: undefined or duplicate gates, unreachable stages, expiry.

    Exit 0 when clean (warnings allowed), 1 when there are errors (or warnings with --strict).
    """
    from clearance.core.loading import check_policy, read_policy_files

    day = _date(today)
    findings: list[Problem] = []
    for path in paths:
        try:
            _, problems = check_policy(read_policy_files(path), today=day)
        except PolicyError as exc:
            problems = exc.problems
        findings += problems
    _report(findings, as_json, len(paths))
    failing = [p for p in findings if p.severity == "error" or strict]
    raise typer.Exit(1 if failing else 0)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Policy name (metadata.name)."),
    version: str = typer.Argument(..., help="An applied version."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show an applied policy version: who applied it, its hash and its source files."""
    record = connect().policy(name, version)
    if as_json:
        print_json(record)
        return
    console.print(
        f"policy {record.name} {record.version}, applied by {record.applied_by} at "
        f"{record.applied_at:%Y-%m-%d %H:%M} UTC; hash {record.content_hash}",
        markup=False,
    )
    for file, text in record.sources:
        console.print(f"--- {file}", markup=False)
        console.print(text.rstrip("\n"), markup=False)


def _date(text: str | None) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{text}' is not a date like 2026-06-30", param_hint="--today"
        ) from None


def _report(findings: list[Problem], as_json: bool, count: int) -> None:
    if as_json:
        rows = [
            {
                "file": p.location.file,
                "line": p.location.line,
                "column": p.location.column,
                "field": p.field,
                "severity": p.severity,
                "code": p.code,
                "message": p.message,
            }
            for p in findings
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    console = SafeConsole(soft_wrap=True)
    for p in findings:
        style = "red" if p.severity == "error" else "yellow"
        console.print(
            Text.assemble(
                printable(p.location),
                ": ",
                (p.severity, style),
                f" [{p.code}] ",
                printable(f"{p.field + ': ' if p.field else ''}{p.message}"),
            )
        )
    errors = sum(p.severity == "error" for p in findings)
    console.print(
        f"{count} policy(ies) checked: {errors} error(s), {len(findings) - errors} warning(s)"
    )
