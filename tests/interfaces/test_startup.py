"""Start-up cost: the commands that only print must not pay for the database, the data stack
or the server. Time is not asserted here (machines are noisy; bench figures are in
bench/RESULTS.md); the imports that decide it are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# pydantic is not listed: typer (0.29) coerces every invoked command's parameters with it.
HEAVY = (
    "alembic",
    "cryptography",
    "fastapi",
    "httpx",
    "numba",
    "numpy",
    "pyarrow",
    "sqlalchemy",
    "uvicorn",
    "yaml",
)

PROBE = """
import json, sys
from clearance.cli.app import main
try:
    sys.argv = ["clearance", *sys.argv[1:]]
    main()
except (SystemExit, Exception):  # an error still leaves what it loaded
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def _loaded(*args: str, cwd: Path | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args", [("--help",), ("version",), ("status", "--help"), ("audit", "verify", "--help")]
)
def test_commands_that_only_print_load_nothing_heavy(args: tuple[str, ...]) -> None:
    assert _loaded(*args) & set(HEAVY) == set()


def test_the_probe_sees_what_a_real_command_loads(tmp_path: Path) -> None:
    """The check above can fail: `status` opens the store, and the probe sees it."""
    assert "sqlalchemy" in _loaded("status", cwd=tmp_path)
