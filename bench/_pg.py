"""A PostgreSQL database of a bench's own: created on the local server, dropped after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

PG_ADMIN = os.environ.get("CLEARANCE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database named ``prefix_<random>``; dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
