"""Start-up cost: the commands that only print must not pay for the database, the data stack
or the server, and a read pays for the store but not for the engine's libraries, the server
or the migrations. Time is not asserted here (machines are noisy; bench figures are in
bench/RESULTS.md); the imports that decide it are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from tests.cli_runner import Cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"

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


# What reading a workspace does not need: the server, migrations (the schema is checked
# against the head revision read from the files), the data stack.
READ_HEAVY = ("alembic", "fastapi", "httpx", "numba", "pyarrow", "uvicorn")


@pytest.fixture(scope="module")
def small_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench/startup.py's workspace: the credit-risk policy, one version in staging."""
    root = tmp_path_factory.mktemp("small")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    cli = Cli(env=env, cwd=root)
    cli.ok("init")
    cli.ok("user", "add", "alice", "--role", "ml_engineer", "--as", "admin")
    cli.ok("user", "add", "paula", "--role", "policy_admin", "--as", "admin")
    cli.ok("policy", "apply", EXAMPLE / "policy", "--as", "paula")
    cli.ok("register", EXAMPLE / "v7-pass" / "manifest.yaml", "--as", "alice")
    cli.ok("promote", "credit-default", "7", "--to", "staging", "--as", "alice")
    return root


@pytest.mark.parametrize("args", [("status",), ("request", "list")])
def test_reads_load_the_store_and_nothing_heavy(
    args: tuple[str, ...], small_workspace: Path
) -> None:
    loaded = _loaded(*args, cwd=small_workspace)
    assert "sqlalchemy" in loaded  # the probe sees the store opened: the check below can fail
    assert loaded & set(READ_HEAVY) == set()


def test_connecting_loads_no_store() -> None:
    """The contract and the workspace's wiring import a use case's service, its store and
    their libraries when the use case is called, not when a command connects."""
    probe = "import json, sys, clearance.local; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert loaded & {"sqlalchemy", *READ_HEAVY} == set()


def test_the_declarations_resolve_the_types_they_import_late() -> None:
    """The contract names its records for type checkers only (contract/operations.py says
    why); a transport still resolves every one, and every ``body`` names a model."""
    from clearance.contract import OPERATIONS

    for op in OPERATIONS.values():
        assert "return" in op.hints, op.name
        assert all(p.annotation is not None for p in op.parameters)
        assert op.body is None or issubclass(op.body, BaseModel), op.name
