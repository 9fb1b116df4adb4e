"""``clearance check``: evaluate one transition for a manifest, statelessly (like conftest)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from clearance.errors import InputError
from clearance.terminal import SafeConsole

if TYPE_CHECKING:
    from clearance.core.loading import LoadedPolicy
    from clearance.core.policy import Transition
    from clearance.core.results import Decision
    from clearance.reporters.sarif import SarifSources

JUNIT = typer.Option(None, "--junit", help="Write a JUnit XML report here.")
MARKDOWN = typer.Option(None, "--markdown", help="Write a Markdown report here.")
SARIF = typer.Option(
    None, "--sarif", help="Write a SARIF 2.1.0 report here (code-scanning annotations)."
)


def parse_now(text: str | None) -> dt.datetime:
    """The clock: ``--now`` (ISO 8601; naive means UTC) or the current time."""
    from clearance.adapters.clock import SystemClock

    if text is None:
        return SystemClock().now()
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--now: '{text}' is not an ISO 8601 date or time") from None
    return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)


DATA_GATE_TYPES = frozenset({"performance", "fairness", "drift", "data_quality", "latency"})


def reads_data(loaded: LoadedPolicy, transition: Transition) -> bool:
    """Whether the transition runs a gate that computes from datasets (worth a progress bar)."""
    for gid in transition.gates:
        spec = loaded.policy.gate(gid)
        if spec.type in DATA_GATE_TYPES:
            return True
        if getattr(loaded.params.get(gid), "dataset", None) is not None:
            return True
    return False


@contextmanager
def gate_progress(enabled: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """A Rich progress bar on stderr for the engine's ``progress`` callback (terminals only)."""
    console = SafeConsole(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]gates"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.description}", markup=False),  # a gate id, shown as written
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, gate_id: str) -> None:
            bar.update(task, completed=done, total=total, description=gate_id)

        yield update


def check(
    policy: Path = typer.Option(..., "--policy", "-p", help="Policy file or directory."),
    manifest: Path = typer.Option(..., "--manifest", "-m", help="Model manifest (YAML/JSON)."),
    to: str = typer.Option(..., "--to", help="Target stage."),
    from_: str | None = typer.Option(
        None, "--from", help="Current stage (default: the manifest's stage)."
    ),
    change_type: str = typer.Option(
        "standard", "--change-type", help="standard, emergency, experiment."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the Decision as JSON."),
    junit: Path | None = JUNIT,
    markdown: Path | None = MARKDOWN,
    sarif: Path | None = SARIF,
    now: str | None = typer.Option(None, "--now", help="Evaluate as of this time (ISO 8601)."),
) -> None:
    """Evaluate a version against a policy transition: exit 0 allowed, 1 blocked, 2 bad input."""
    from clearance.adapters.evidence import load_manifest
    from clearance.core.engine import Evaluation, evaluate, resolve_transition
    from clearance.core.loading import load_policy
    from clearance.core.selection import require_selected
    from clearance.reporters import render_json
    from clearance.reporters.table import render

    loaded = load_policy(policy)
    version, evidence = load_manifest(manifest)
    require_selected(loaded.policy, version.model)
    transition = resolve_transition(loaded, from_ or version.stage, to)
    with gate_progress(reads_data(loaded, transition)) as progress:
        decision = evaluate(
            Evaluation(
                loaded, transition, version, evidence, parse_now(now), change_type=change_type
            ),
            progress=progress,
        )
    write_reports(
        decision,
        junit=junit,
        markdown=markdown,
        sarif=sarif,
        sources=lambda: sarif_sources(loaded, manifest),
    )
    if as_json:
        typer.echo(render_json(decision), nl=False)
    else:
        render(decision, SafeConsole())
    raise typer.Exit(decision.exit_code)


def write_reports(
    decision: Decision,
    *,
    junit: Path | None,
    markdown: Path | None,
    sarif: Path | None,
    sources: Callable[[], SarifSources | None],
) -> None:
    """Write each report asked for (parent folders created); ``sources`` is called only for
    SARIF, which locates each gate in the policy files."""
    from clearance.reporters import render_junit, render_markdown, render_sarif

    texts: list[tuple[Path | None, Callable[[], str]]] = [
        (junit, lambda: render_junit(decision)),
        (markdown, lambda: render_markdown(decision)),
        (sarif, lambda: render_sarif(decision, sources())),
    ]
    for path, text in texts:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(), encoding="utf-8")


def sarif_sources(loaded: LoadedPolicy, manifest: Path | None) -> SarifSources:
    """Each gate's definition (the line of its ``id``) and the manifest, as paths relative to
    the working directory when under it: a CI job runs at the checkout's root, and code
    scanning places results by repository-relative paths."""
    from clearance.errors import Location
    from clearance.reporters.sarif import SarifSources

    gates = {}
    for i, spec in enumerate(loaded.policy.gates):
        where = loaded.positions.locate(("gates", i, "id"), key=True)
        gates[spec.id] = Location(_relative(where.file), where.line, where.column)
    return SarifSources(
        gates=gates,
        policy=_relative(loaded.sources[0]) if loaded.sources else None,
        manifest=_relative(str(manifest)) if manifest is not None else None,
    )


def _relative(name: str) -> str:
    path = Path(name)
    if not path.is_absolute():
        return name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return name
