"""docs/cli.md names every command: a command added to the CLI must be documented there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from clearance.cli.app import app

CLI_DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every leaf command as a space-separated path, e.g. ``audit verify``."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield " ".join(prefix)
        return
    for name, sub in sorted(subcommands.items()):
        if not sub.hidden:
            yield from command_paths(sub, (*prefix, name))


PATHS = list(command_paths(typer.main.get_command(app)))


def test_the_walk_finds_groups_and_leaves() -> None:
    assert "check" in PATHS
    assert "audit verify" in PATHS
    assert "policy apply" in PATHS
    assert "audit" not in PATHS  # a group is not a command of its own


@pytest.mark.parametrize("path", PATHS)
def test_command_is_documented(path: str) -> None:
    text = CLI_DOC.read_text(encoding="utf-8")
    pattern = rf"clearance {re.escape(path)}(?![\w-])"
    assert re.search(pattern, text), (
        f"`clearance {path}` is a command but docs/cli.md does not mention it; "
        "add it with its purpose and exit codes"
    )
