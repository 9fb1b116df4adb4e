"""Fixtures shared by the store-backed tests: real SQLite and real PostgreSQL databases.

PostgreSQL is the server on 127.0.0.1:5432 (trust auth). Each test gets a database of its
own, created and dropped here. Without a server the PostgreSQL cases skip, except when
``CLEARANCE_REQUIRE_PG=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from clearance.adapters.clock import FixedClock
from clearance.adapters.store import migrate
from clearance.adapters.store.database import make_engine
from clearance.workspace import Workspace, init_workspace
from databases import pg_database, sql_url

# An xdist worker's ``__main__`` has neither ``__spec__`` nor ``__file__``, which
# ``pyspark.sql.connect`` takes for a doctest run and answers with ``sys.exit(0)`` on import;
# MLflow imports it to ask whether a frame is a Spark one (``infer_signature``), so with the
# spark extra installed every such call would end the test. ``sys.ps1`` (an interactive
# session) is the other sign pyspark accepts; ``__file__`` is not an option, since
# multiprocessing's forkserver children would try to run it as the main script.
if (
    getattr(sys.modules["__main__"], "__spec__", None) is None
    and not hasattr(sys.modules["__main__"], "__file__")
    and not hasattr(sys, "ps1")
):
    sys.ps1 = ">>> "

PG_ADMIN = os.environ.get("CLEARANCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture(scope="session")
def pg_admin() -> str:
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CLEARANCE_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL is required (CLEARANCE_REQUIRE_PG=1) but: {problem}")
        pytest.skip(f"PostgreSQL not available: {problem}")
    return PG_ADMIN


@pytest.fixture
def pg_url(pg_admin: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (migration tests start from nothing)."""
    with pg_database(pg_admin) as url:
        yield url


@pytest.fixture(scope="session")
def pg_template(pg_admin: str) -> Iterator[str]:
    """A PostgreSQL database migrated once per test process, copied for each test."""
    with pg_database(pg_admin) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()  # a template must have no open connections
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def pg_schema_url(pg_admin: str, pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database already at the current schema (a copy of the template)."""
    with pg_database(pg_admin, template=pg_template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return sql_url(request.param, request, tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def workspace(tmp_path: Path, db_url: str, clock: FixedClock) -> Workspace:
    """An initialised workspace on the parametrised database, with a fixed clock."""
    return init_workspace(tmp_path / "ws", db_url=db_url, clock=clock)


SLOW_ENV = "CLEARANCE_TEST_SLOW"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` cases (load, races between processes, the 10,000-document fuzz) run in CI,
    which sets ``CLEARANCE_TEST_SLOW=1`` (.ci/run); locally they are skipped, saying how."""
    if os.environ.get(SLOW_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"slow: run with {SLOW_ENV}=1 (CI does)")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)
