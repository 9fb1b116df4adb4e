"""The databases store-backed tests run on: SQLite files and PostgreSQL databases of their own.

Plain functions, so that every conftest picks a backend the same way (see tests/conftest.py
for the fixtures built on them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest


@contextmanager
def pg_database(admin: str, *, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (empty, or a copy of ``template``); dropped afterwards."""
    name = f"clearance_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sql_url(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """The database a store-backed test runs on: SQLite in ``folder`` or PostgreSQL at the
    current schema. Every fixture that picks a SQL backend goes through here."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'clearance.db'}"
    if backend == "postgresql":
        return str(request.getfixturevalue("pg_schema_url"))
    raise pytest.UsageError(f"unknown SQL backend {backend!r}")
