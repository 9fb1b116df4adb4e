"""``clearance blobs gc``: remove stored files that no version or evidence names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from clearance.cli.common import JSON, console, print_json, workspace
from clearance.errors import InputError

if TYPE_CHECKING:
    pass

blobs_app = typer.Typer(help="The blob store (evidence and artifact files).", no_args_is_help=True)


@blobs_app.command("gc")
def blobs_gc(
    older_than: str = typer.Option(
        "1h", "--older-than", help="Spare blobs younger than this (registrations in flight)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; remove nothing."),
    as_json: bool = JSON,
) -> None:
    """Remove blobs that no version or evidence references (left by refused or failed
    registrations). Local only: it acts on this workspace's blob store."""
    from clearance.core.durations import parse_duration

    try:
        grace = parse_duration(older_than)
    except ValueError as exc:
        raise InputError(f"--older-than: {exc}") from None
    done = workspace().housekeeping.collect_blobs(older_than=grace, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "unreferenced": done.unreferenced,
                "kept_young": done.kept_young,
                "removed": done.removed,
            }
        )
        return
    verb = "removed" if done.removed else "would remove"
    console.print(
        f"{verb} {len(done.unreferenced)} unreferenced blob(s); "
        f"spared {done.kept_young} younger than {older_than}"
    )
