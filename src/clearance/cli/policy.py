"""``clearance policy``: publish the schema, lint, test, diff and backtest policy files."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from clearance.cli.common import connect, console, print_json
from clearance.errors import InputError, PolicyError, Problem
from clearance.terminal import SafeConsole, printable

if TYPE_CHECKING:
    from clearance.core.policy_diff import PolicyDiff
    from clearance.core.policy_tests import TestRun
    from clearance.service.backtest import BacktestOut

app = typer.Typer(
    help="Policy files: JSON Schema, lint, unit tests, semantic diff and backtest.",
    no_args_is_help=True,
)


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


@app.command("test")
def test(
    policy: Path = typer.Argument(..., exists=True, help="Policy file or directory."),
    tests: list[Path] = typer.Option(
        [], "--tests", "-t", exists=True, help="Test files (default: *.test.yaml beside it)."
    ),
    now: str | None = typer.Option(None, "--now", help="Default clock for cases (ISO 8601)."),
    as_json: bool = typer.Option(False, "--json", help="Print results and coverage as JSON."),
) -> None:
    """Run the policy's unit tests: exit 0 all pass, 1 a case fails, 2 bad input.

    Each case gives facts (a manifest, inline version fields or documents) and the outcome
    each gate and the decision must have; coverage says which transitions, gates and
    change types no case exercised.
    """
    from clearance.adapters.policy_tests import discover, run_tests
    from clearance.cli.check import parse_now
    from clearance.core.loading import load_policy

    loaded = load_policy(policy)
    files = list(tests) or discover(policy)
    if not files:
        raise InputError(f"no *.test.yaml files beside {policy}; write one or give --tests")
    run = run_tests(loaded, files, parse_now(now), label=f"{loaded.name}@{loaded.version}")
    if as_json:
        typer.echo(json.dumps(run.to_dict(), indent=2))
    else:
        _print_tests(run)
    raise typer.Exit(1 if run.failed else 0)


def _print_tests(run: TestRun) -> None:
    out = SafeConsole(soft_wrap=True)
    for r in run.results:
        mark = ("PASS", "green") if r.passed else ("FAIL", "red")
        out.print(Text.assemble(mark, " ", printable(f"{r.name} ({r.transition})")))
        for line in ([r.error] if r.error else []) + list(r.mismatches):
            out.print(Text.assemble("    ", printable(line)))
    failed = len(run.failed)
    out.print(f"{len(run.results) - failed}/{len(run.results)} case(s) passed: {run.policy}")
    cov = run.coverage.to_dict()
    for label, key in (
        ("transitions", "transitions"),
        ("gates evaluated", "gates"),
        ("gates seen passing and failing", "gates_pass_and_fail"),
        ("change types", "change_types"),
    ):
        out.print(f"coverage: {label} {cov[key]['covered']}/{cov[key]['total']}")
    for what, names in run.coverage.missing().items():
        if names:
            out.print(Text.assemble("  not covered, ", what, ": ", printable(", ".join(names))))


@app.command("diff")
def diff(
    old: Path = typer.Argument(..., exists=True, help="The policy as it is (file or directory)."),
    new: Path = typer.Argument(..., exists=True, help="The policy as proposed."),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> None:
    """What a policy change does: gates, thresholds, approvals, paths and selectors tightened
    or loosened. Exit 0 when nothing is loosened, 1 when something is, 2 bad input."""
    from clearance.core.loading import load_policy
    from clearance.core.policy_diff import diff_policies

    found = diff_policies(load_policy(old), load_policy(new))
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2))
    else:
        _print_diff(found)
    raise typer.Exit(1 if found.loosenings else 0)


_STYLE = {"loosened": "red", "removed": "red", "tightened": "green", "added": "green"}


def _print_diff(found: PolicyDiff) -> None:
    out = SafeConsole(soft_wrap=True)
    out.print(printable(f"{found.old} -> {found.new}"))
    for c in found.changes:
        kind = (
            "LOOSENED" if c.loosens else c.kind,
            "bold red" if c.loosens else _STYLE.get(c.kind, ""),
        )
        where = f"  ({c.location})" if c.location else ""
        out.print(Text.assemble("  ", kind, " ", printable(f"{c.note}{where}")))
    out.print(f"{len(found.changes)} change(s), {len(found.loosenings)} loosening(s)")


@app.command("backtest")
def backtest(
    policy: Path = typer.Argument(
        ..., exists=True, help="The proposed policy (file or directory)."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only decisions made on or after this day (YYYY-MM-DD, UTC)."
    ),
    limit: int = typer.Option(
        100_000, "--limit", min=1, max=1_000_000, help="Examine at most N decisions, newest first."
    ),
    replaces: str | None = typer.Option(
        None, "--replaces", help="The applied policy it replaces (default: the same name)."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        max=4,
        help="Processes deciding a store of more than 20,000 decisions (default: the CPUs, "
        "at most 4; 1: this process only). Through a server, its processes.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """What a policy change would have decided: every stored decision of the policy
    evaluated again from its recorded inputs under the proposed version.

    Lists the decisions whose outcome would change (and the gates that moved), counts them,
    and names the production versions whose latest decision would no longer pass. Nothing
    is stored. Exit 0 when no production version would newly fail, 1 when some would, 2 bad
    input.
    """
    from clearance.core.loading import read_policy_files
    from clearance.service.backtest import MAX_WORKERS, PolicyDocument

    day = None if since is None else _date(since, "--since")
    documents = [
        PolicyDocument(name=_relative(policy, name), text=text)
        for name, text in read_policy_files(policy)
    ]
    api = connect()
    # A one-shot process: what is alive now (modules, schemas) lives to the end; frozen, the
    # collector stops walking it again for each page of decisions the backtest reads.
    gc.freeze()
    report = api.backtest_policy(
        documents,
        replaces=replaces,
        since=day,
        limit=limit,
        workers=workers or min(os.cpu_count() or 1, MAX_WORKERS),
    )
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        _print_backtest(report)
    raise typer.Exit(report.exit_code)


def _relative(root: Path, name: str) -> str:
    """A file's name as the server sees it: relative to the folder given (as uploads are)."""
    path = Path(name)
    return path.name if root.is_file() else path.relative_to(root).as_posix()


def _print_backtest(report: BacktestOut) -> None:
    from rich.table import Table

    out = SafeConsole(soft_wrap=True)
    scope = f"newest {report.limit:,}" + (f", since {report.since}" if report.since else "")
    out.print(
        printable(f"{report.policy} against the stored decisions of {report.replaces} ({scope})")
    )
    if report.changed:
        table = Table("decision", "request", "model", "version", "transition", "outcome", "why")
        for c in report.changed:
            why = [
                f"{g.gate_id} {g.before} -> {g.after} "
                f"({_value(g.observed_before)} vs {_value(g.threshold_before)} -> "
                f"{_value(g.observed_after)} vs {_value(g.threshold_after)})"
                for g in c.gates
            ]
            if c.approvals:
                why.append(f"approvals {c.approvals}")
            table.add_row(
                *(
                    Text(printable(cell))
                    for cell in (
                        c.decision,
                        c.request,
                        c.model,
                        c.version,
                        f"{c.from_stage or '?'} -> {c.to_stage}",
                        f"{c.before} -> {c.after}",
                        "; ".join(why),
                    )
                )
            )
        out.print(table)
        shown = report.newly_blocked + report.newly_allowed + report.approvals_changed
        if shown > len(report.changed):
            out.print(f"(the newest {len(report.changed)} of {shown} changed decisions)")
    out.print(
        f"{report.examined:,} decision(s) examined: {report.same:,} same, "
        f"{report.newly_blocked:,} newly blocked, {report.newly_allowed:,} newly allowed, "
        f"{report.approvals_changed:,} approvals changed, {report.unreplayable:,} unreplayable"
        + (" (more matched: raise --limit)" if report.more else "")
    )
    if report.gate_changes:
        moved = ", ".join(f"{g} {n:,}" for g, n in report.gate_changes.items())
        out.print(Text.assemble("gates whose status changed: ", printable(moved)))
    for u in report.unreplayable_decisions:
        out.print(
            Text.assemble(
                ("unreplayable", "yellow"),
                printable(f" decision {u.decision} ({u.model} {u.version}): {u.reason}"),
            )
        )
    for change in report.policy_changes:
        out.print(Text.assemble("  policy change: ", printable(change)))
    if not report.production_at_risk:
        out.print(f"no version in {printable(report.production_stage)} would newly fail")
        return
    for r in report.production_at_risk:
        gates = f", blocked by {', '.join(r.gates)}" if r.gates else ""
        out.print(
            Text.assemble(
                ("PRODUCTION AT RISK", "bold red"),
                printable(
                    f" {r.model} {r.version} (decision {r.decision}): "
                    f"{r.before} -> {r.after}{gates}"
                ),
            )
        )


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


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


def _date(text: str | None, option: str = "--today") -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{printable(text)}' is not a date like 2026-06-30", param_hint=option
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
