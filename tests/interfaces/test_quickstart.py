"""docs/quickstart.md, walked exactly as written.

Every ``sh`` block runs in a real bash, in order, in one folder, with the installed
``clearance`` on PATH and a temporary HOME. A command's expected exit code is the ``exit N``
its comment states (0 when it states none); the first command that exits otherwise fails the
test with its output. Only the two install lines of step 0 are not run (the test runs inside
the venv they create).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
INSTALL_LINES = {"make demo", ". .venv/bin/activate"}
EXIT = re.compile(r"\bexit (\d)\b")


@dataclass(frozen=True)
class Step:
    command: str  # one shell command, continuation lines and here-documents included
    expect: int
    line: int  # where it starts in the quickstart


def steps(markdown: str) -> list[Step]:
    """The commands of the ``sh`` blocks, with the exit code each one's comment promises."""
    out: list[Step] = []
    lines = markdown.splitlines()
    i, in_block = 0, False
    while i < len(lines):
        text = lines[i]
        if text.startswith("```"):
            in_block = text.strip() == "```sh" if not in_block else False
            i += 1
            continue
        if not in_block or not text.strip():
            i += 1
            continue
        start, parts = i + 1, [text]
        while parts[-1].rstrip().endswith("\\"):
            i += 1
            parts.append(lines[i])
        heredoc = re.search(r"<<'(\w+)'", text)
        if heredoc:
            while lines[i + 1] != heredoc.group(1):
                i += 1
                parts.append(lines[i])
            i += 1
            parts.append(lines[i])
        i += 1
        code, _, comment = parts[-1].partition(" #")
        if heredoc is None:
            parts[-1] = code.rstrip()
        command = "\n".join(parts)
        if command.split("#")[0].strip() in INSTALL_LINES:
            continue
        found = EXIT.search(comment)
        out.append(Step(command, int(found.group(1)) if found else 0, start))
    return out


def test_the_parser_reads_commands_comments_and_here_documents() -> None:
    parsed = steps(
        "text\n```sh\nmake demo   # install\nclearance a \\\n  --b   # blocked: exit 1\n"
        "cat > f <<'EOF'\n# not a comment\nEOF\n```\n```text\nnot run\n```\n"
    )
    assert [(s.command, s.expect, s.line) for s in parsed] == [
        ("clearance a \\\n  --b", 1, 4),
        ("cat > f <<'EOF'\n# not a comment\nEOF", 0, 6),
    ]


@pytest.mark.slow
def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    walk = steps(QUICKSTART.read_text(encoding="utf-8"))
    assert len(walk) > 30, "the quickstart lost its commands"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "LANG": "C.UTF-8",
        **{k: v for k, v in os.environ.items() if k.startswith("NUMBA_")},
    }
    # One bash runs every step, so `cd` and `export` carry over as they do for a reader.
    script = ["set -u"]
    for n, step in enumerate(walk):
        script += [
            step.command,
            f'rc=$?; if [ "$rc" -ne {step.expect} ]; then '
            f'echo "quickstart line {step.line}: exit $rc, expected {step.expect}" >&2; '
            f"exit 100; fi; echo '>>> step {n} ok' >&2",
        ]
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-4000:]
    folder = home / "clearance-quickstart"
    assert (folder / "reports" / "junit.xml").is_file()
    assert (folder / "audit.csv").read_text().count("\n") > 20
