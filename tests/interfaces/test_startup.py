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
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules(*args: str, cwd: Path | None = None) -> set[str]:
    """Every module the command ``clearance *args`` loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def _loaded(*args: str, cwd: Path | None = None) -> set[str]:
    """The top-level packages the command loaded."""
    return {m.split(".")[0] for m in _modules(*args, cwd=cwd)}


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


# The whole of clearance a read may load, besides the command line and the contract (every
# command loads those to find itself): the store, the records and the read models, and the
# policy model (a model's policy is chosen by its selector). Not the decision engine, the
# gates, the governance, promotion, rollout and waiver use cases, analytics or the
# notifications: a module that joins this chain costs every read its import (bench/startup.py
# measures it), so it is added here only when a read really uses it.
READ_MODULES = frozenset(
    {
        "clearance",
        "clearance.adapters",
        "clearance.adapters.clock",
        "clearance.adapters.numba_cache",
        "clearance.adapters.private",
        "clearance.adapters.store",
        "clearance.adapters.store.access",
        "clearance.adapters.store.analytics",
        "clearance.adapters.store.audit_log",
        "clearance.adapters.store.database",
        "clearance.adapters.store.governance",
        "clearance.adapters.store.migrate",
        "clearance.adapters.store.schema",
        "clearance.adapters.store.sessions",
        "clearance.adapters.store.sql",
        "clearance.core",
        "clearance.core.approvals",
        "clearance.core.audit",
        "clearance.core.audit_batch",
        "clearance.core.collector",
        "clearance.core.column_roles",
        "clearance.core.durations",
        "clearance.core.gates",
        "clearance.core.gates.base",
        "clearance.core.gates.registry",
        "clearance.core.hashing",
        "clearance.core.inference",
        "clearance.core.lint",
        "clearance.core.loading",
        "clearance.core.monitors",
        "clearance.core.names",
        "clearance.core.policy",
        "clearance.core.results",
        "clearance.core.selection",
        "clearance.core.version",
        "clearance.core.waivers",
        "clearance.core.yamlsource",
        "clearance.errors",
        "clearance.extras",
        "clearance.kernels",
        "clearance.kernels.compilation",
        "clearance.local",
        "clearance.service",
        "clearance.service.context",
        "clearance.service.leases",
        "clearance.service.monitor_trail",
        "clearance.service.paging",
        "clearance.service.ports",
        "clearance.service.records",
        "clearance.service.views",
        "clearance.terminal",
        "clearance.workspace",
    }
)


@pytest.mark.parametrize("args", [("status",), ("request", "list")])
def test_reads_load_only_the_clearance_modules_they_use(
    args: tuple[str, ...], small_workspace: Path
) -> None:
    loaded = _modules(*args, cwd=small_workspace)
    assert "clearance.adapters.store.sql" in loaded  # the read ran: the check below can fail
    ours = {m for m in loaded if m.split(".")[0] == "clearance"}
    interface = {m for m in ours if m.split(".")[1:2] in (["cli"], ["contract"])}
    extra = ours - interface - READ_MODULES
    assert extra == set(), f"`clearance {' '.join(args)}` loads {sorted(extra)} (READ_MODULES)"


def test_check_loads_no_store_no_server_and_no_progress_bar(tmp_path: Path) -> None:
    """``check`` evaluates files: no database, no server; its progress bar only on a
    terminal (here stderr is a pipe)."""
    loaded = _modules(
        "check",
        "-p",
        str(EXAMPLE / "policy"),
        "-m",
        str(EXAMPLE / "v7-pass" / "manifest.yaml"),
        "--to",
        "production",
        "--now",
        "2026-11-22T12:00:00",
        cwd=tmp_path,
    )
    assert "clearance.core.engine" in loaded  # the policy was evaluated: the checks can fail
    assert {m.split(".")[0] for m in loaded} & {"sqlalchemy", *READ_HEAVY} == set()
    assert "rich.progress" not in loaded


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


def test_notifications_load_from_their_modules_on_first_use() -> None:
    """The package names its modules' records lazily: the store's outbox reads a
    ``Delivery`` without the notifications' YAML configuration. Every name resolves."""
    import clearance.notify
    from clearance.notify import outbox

    probe = "import sys; from clearance.notify import Delivery; print(sorted(sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "'clearance.notify.outbox'" in done.stdout
    assert "'clearance.notify.config'" not in done.stdout
    assert clearance.notify.Delivery is outbox.Delivery
    for name in clearance.notify.__all__:  # each one found in the module it names
        getattr(clearance.notify, name)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = clearance.notify.Nothing
