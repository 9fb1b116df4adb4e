"""Alembic migrations against real SQLite and PostgreSQL databases.

The migrations, not ``Base.metadata.create_all``, build the production schema, so they must
produce exactly the tables, columns, types, constraints and indexes the code queries.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select

from clearance.adapters.clock import SystemClock
from clearance.adapters.store import migrate
from clearance.adapters.store.database import make_engine
from clearance.adapters.store.schema import AuditHeadRow, Base
from clearance.adapters.store.sql import SqlStore
from clearance.errors import StoreError
from clearance.workspace import init_workspace
from cli_runner import Ran, run_cli

TABLES = set(Base.metadata.tables)


def _schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _downgrade(engine: Engine, revision: str = "base") -> None:
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _cli(root: Path, db_url: str, *args: str) -> Ran:
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(root), "CLEARANCE_DB_URL": db_url}
    return run_cli(*args, env=env, cwd=root)


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1
    assert migrate.head_revision() == heads[0]


def test_init_builds_the_schema_the_models_describe(tmp_path: Path, any_db: str) -> None:
    ws = init_workspace(tmp_path / "ws", db_url=any_db, clock=SystemClock())
    engine = ws.engine
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    assert _schema_diff(engine) == []
    with engine.connect() as conn:
        head = conn.execute(select(AuditHeadRow.seq, AuditHeadRow.hash)).all()
    assert head == [(0, "0" * 64)]
    SqlStore(engine)  # opens without complaint


def test_store_refuses_an_unmigrated_database(tmp_path: Path, any_db: str) -> None:
    url = any_db
    if url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(StoreError) as caught:
        SqlStore(make_engine(url))
    message = str(caught.value)
    assert "no clearance schema" in message
    assert "clearance init" in message and "clearance db upgrade" in message

    # the CLI says the same in one line, exit 2, no traceback
    home = tmp_path / "bare" / ".clearance"
    home.mkdir(parents=True)
    result = _cli(home.parent, url, "status")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "clearance db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_on_a_current_workspace_is_idempotent(tmp_path: Path, any_db: str) -> None:
    root = tmp_path / "ws"
    ws = init_workspace(root, db_url=any_db, clock=SystemClock())
    ws.registry.add_user("alice", ["tech_lead"], actor="setup", operator=True)
    head = migrate.head_revision()
    for _ in range(2):
        result = _cli(root, any_db, "db", "upgrade")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"schema at revision {head}" in result.stdout
    assert migrate.current_revision(ws.engine) == head
    assert _schema_diff(ws.engine) == []
    with ws.store.reading() as tx:
        assert [u.name for u in tx.list_users()] == ["alice"]
        assert tx.event_count() == 1
    assert ws.auditing.verify().ok


def test_downgrade_to_base_then_upgrade(tmp_path: Path, any_db: str) -> None:
    ws = init_workspace(tmp_path / "ws", db_url=any_db, clock=SystemClock())
    engine = ws.engine
    _downgrade(engine)
    assert migrate.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    with pytest.raises(StoreError, match="clearance db upgrade"):
        SqlStore(engine)

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    assert _schema_diff(engine) == []
    store = SqlStore(engine)
    with store.transaction() as tx:  # the chain head is back, so writers can write
        tx.append_event(
            time=SystemClock().now(),
            actor="setup",
            action="test.event",
            subject="test",
            model=None,
            payload={},
        )
    with store.reading() as tx:
        assert tx.event_count() == 1
