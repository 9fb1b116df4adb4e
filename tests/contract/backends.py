"""The store a test runs on, chosen per test with ``@pytest.mark.backends(...)``.

Service and governance tests run on the ``InMemoryStore`` unless marked: they reach the store
only through the use cases, and the contract suite (``test_store_contract.py``) holds the
SQL stores to the same behaviour. A test that reaches past the use cases into SQL (it reads
or edits rows behind the store, or tests a SQL adapter itself) names the backends it needs::

    @pytest.mark.backends("sqlite")
    def test_a_tampered_row_is_found(env: Env) -> None: ...

A conftest imports the hooks and fixtures below to run its tests this way; ``workspace``
is then a workspace on the test's ``backend``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearance.adapters.clock import FixedClock
from clearance.testing import MemoryWorkspace
from clearance.workspace import Workspace, init_workspace
from databases import sql_url

MEMORY, SQLITE, POSTGRESQL = "memory", "sqlite", "postgresql"
DEFAULT = (MEMORY,)
MARKER = "backends(*names): the stores the test runs on: memory (default), sqlite, postgresql"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test that uses ``backend`` once per backend its marker names."""
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = marker.args if marker else DEFAULT
    unknown = set(names) - {MEMORY, SQLITE, POSTGRESQL}
    if unknown:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown backends {unknown}")
    metafunc.parametrize("backend", names)


@pytest.fixture
def workspace(
    backend: str, clock: FixedClock, tmp_path: Path, request: pytest.FixtureRequest
) -> Workspace:
    """A workspace on the test's backend, with a fixed clock."""
    if backend == MEMORY:
        return MemoryWorkspace(tmp_path / "ws", clock)
    url = str(request.getfixturevalue("db_url"))
    return init_workspace(tmp_path / "ws", db_url=url, clock=clock)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQL database for the backend (``conftest.sql_url``); SQLite on a RAM disk when there
    is one (the same engine and SQL, without a disk flush per commit)."""
    ram = Path("/dev/shm")
    if backend != SQLITE or not (ram.is_dir() and os.access(ram, os.W_OK)):
        yield sql_url(backend, request, tmp_path)
        return
    folder = Path(tempfile.mkdtemp(prefix="clearance-test-", dir=ram))
    try:
        yield sql_url(backend, request, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
