"""Copy the ``--help`` of every ``clearance`` command into docs/cli.md.

The text between the two markers in docs/cli.md is generated; the rest of the page is written
by hand. ``python scripts/cli_docs.py`` rewrites the generated part;
``python scripts/cli_docs.py --check`` exits 1 when it is stale (tests/test_cli_docs.py runs
it). The help is Click's plain text at a fixed width, so it reads the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = ROOT / "docs" / "cli.md"
WIDTH = 100
COMMAND = "python scripts/cli_docs.py"
BEGIN = f"<!-- BEGIN GENERATED HELP: `{COMMAND}` writes this part; do not edit it by hand -->"
END = "<!-- END GENERATED HELP -->"


def split(page: str) -> tuple[str, str]:
    """(the hand-written text, the generated part) of docs/cli.md."""
    start, end = page.find(BEGIN), page.find(END)
    if start == -1 or end == -1:
        return page, ""
    return page[:start] + page[end + len(END) :], page[start : end + len(END)]


def contexts(command: Any, parent: Any = None, name: str = "clearance") -> Iterator[Any]:
    """A context for the command and for each visible sub-command under it, depth first.

    Typed ``Any``: Typer builds its commands with a copy of Click of its own.
    """
    ctx = command.context_class(
        command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH
    )
    yield ctx
    subcommands = getattr(command, "commands", None) or {}
    for sub_name in sorted(subcommands):
        sub = subcommands[sub_name]
        if not sub.hidden:
            yield from contexts(sub, ctx, sub_name)


def render() -> str:
    """The generated part: one section per command and group, its help as plain text."""
    import typer

    from clearance.cli.app import app

    parts = [
        BEGIN,
        "",
        "## Every command's `--help`",
        "",
        "The text `clearance … --help` prints, for every command and group.",
    ]
    for ctx in contexts(typer.main.get_command(app)):
        text = ctx.command.get_help(ctx)
        lines = "\n".join(line.rstrip() for line in text.rstrip().splitlines())
        parts += ["", f"### `{ctx.command_path}`", "", "```text", lines, "```"]
    parts += ["", END]
    return "\n".join(parts) + "\n"


def updated(page: str) -> str:
    """``page`` with its generated part replaced (appended at the end, the first time)."""
    start, end = page.find(BEGIN), page.find(END)
    if start == -1 or end == -1:
        return page.rstrip("\n") + "\n\n" + render()
    return page[:start] + render() + page[end + len(END) :].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Copy every command's --help into docs/cli.md.")
    parser.add_argument("--check", action="store_true", help="Exit 1 if docs/cli.md is stale.")
    args = parser.parse_args(argv)
    page = CLI_DOC.read_text(encoding="utf-8")
    new = updated(page)
    if not args.check:
        CLI_DOC.write_text(new, encoding="utf-8")
        return 0
    if new != page:
        print(f"docs/cli.md is stale: the CLI's --help changed; run `.venv/bin/{COMMAND}`")
        return 1
    return 0


if __name__ == "__main__":
    # Typer draws Rich panels when Rich is installed; plain text suits a Markdown page. Typer
    # reads this when it is imported, which render() does after this line.
    os.environ["TYPER_USE_RICH"] = "0"
    sys.exit(main())
