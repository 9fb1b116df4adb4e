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
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = SafeConsole(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
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
    junit: Path | None = typer.Option(None, "--junit", help="Write a JUnit XML report here."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write a Markdown report here."),
    now: str | None = typer.Option(None, "--now", help="Evaluate as of this time (ISO 8601)."),
) -> None:
    """Evaluate a version against a policy transition: exit 0 allowed, 1 blocked, 2 bad input."""
    from clearance.adapters.evidence import load_manifest
    from clearance.core.engine import Evaluation, evaluate, resolve_transition
    from clearance.core.loading import load_policy
    from clearance.core.selection import require_selected
    from clearance.reporters import render_json, render_junit, render_markdown
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
    for path, text in ((junit, render_junit), (markdown, render_markdown)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(decision), encoding="utf-8")
    if as_json:
        typer.echo(render_json(decision), nl=False)
    else:
        render(decision, SafeConsole())
    raise typer.Exit(decision.exit_code)
