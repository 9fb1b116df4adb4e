"""Golden files: the exact text the CLI prints and the reports it writes, kept in ``data/``.

A change that alters what a person reads (a column, a wrapped line, a word of a message)
fails here with a diff. When the change is meant, rewrite the files and review the diff in
git like any other change::

    CLEARANCE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden
    .venv/bin/pytest tests/golden --update-golden     # the same, when tests/golden is named

The option is only known when ``tests/golden`` is on the command line (pytest reads options
from the conftest files of the paths it is given); the environment variable works always.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .stories import environment

STORIES = Path(__file__).resolve().parent / "stories.py"
DATA = Path(__file__).resolve().parent / "data"
UPDATE_ENV = "CLEARANCE_UPDATE_GOLDEN"
UPDATE_HOW = f"{UPDATE_ENV}=1 .venv/bin/pytest tests/golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help=f"Rewrite the golden files under {DATA} instead of comparing with them.",
    )


@dataclass(frozen=True)
class Golden:
    """Compares a text with ``data/<name>``, or rewrites that file in update mode."""

    update: bool

    def check(self, name: str, actual: str) -> None:
        path = DATA / name
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            return
        if not path.is_file():
            pytest.fail(f"no golden file {path}; write it with `{UPDATE_HOW}`", pytrace=False)
        expected = path.read_text(encoding="utf-8")
        if actual != expected:
            diff = difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/data/{name}",
                tofile="actual",
            )
            pytest.fail(
                f"output differs from {path}:\n{''.join(diff)}\n"
                f"if the change is meant, rewrite the golden files with `{UPDATE_HOW}` "
                "and review their diff",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def golden(pytestconfig: pytest.Config) -> Golden:
    flag = bool(pytestconfig.getoption("--update-golden", default=False))
    return Golden(update=flag or os.environ.get(UPDATE_ENV) == "1")


@pytest.fixture(scope="session")
def story_texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every golden text, from one run of ``stories.py`` in a process of its own."""
    folder = tmp_path_factory.mktemp("golden-stories")
    result = subprocess.run(
        [sys.executable, str(STORIES), str(folder)],
        capture_output=True,
        text=True,
        env=environment(),
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(f"stories.py failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    out = json.loads(result.stdout)
    if "crash" in out:
        pytest.fail(out["crash"], pytrace=False)
    return dict(out["texts"])
