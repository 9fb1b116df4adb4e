"""One store per backend for the contract suite: in memory, SQLite and PostgreSQL.

Every contract test runs on each backend and must pass on all three. The SQL databases are
migrated once per session and then handed out empty: SQLite as a copy of a migrated file,
PostgreSQL as one database (created and dropped here, on the shared ``pg_admin`` server,
which skips or, with ``CLEARANCE_REQUIRE_PG=1``, fails) truncated before each test.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from clearance.adapters.store import migrate
from clearance.adapters.store.database import make_engine
from clearance.adapters.store.schema import Base
from clearance.adapters.store.sql import SqlStore
from clearance.core.audit import GENESIS
from clearance.service.ports import Store
from clearance.testing import InMemoryStore

from .backends import MEMORY, POSTGRESQL, SQLITE

KEPT = {"audit_head", "alembic_version"}  # audit_head is reset, not emptied
SEQUENCES = "SELECT quote_ident(sequence_name) FROM information_schema.sequences"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine(pg_admin: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database for the session; dropped at its end."""
    name = f"clearance_contract_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"{pg_admin.rsplit('/', 1)[0]}/{name}", pooled=True)
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _emptied(engine: Engine) -> Engine:
    """The database as migrated: every row deleted, every id sequence back at 1 (DELETE and
    setval: much faster than TRUNCATE on tables this small)."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEPT:
                conn.execute(table.delete())
        for (sequence,) in conn.execute(text(SEQUENCES)):
            conn.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": GENESIS})
    return engine


@pytest.fixture(params=[MEMORY, SQLITE, POSTGRESQL])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind."""
    if request.param == MEMORY:
        yield InMemoryStore()
    elif request.param == SQLITE:
        path = tmp_path / "contract.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield SqlStore(engine)
        engine.dispose()
    else:
        yield SqlStore(_emptied(request.getfixturevalue("pg_engine")))
