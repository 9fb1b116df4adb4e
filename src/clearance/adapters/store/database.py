"""Engines for SQLite and PostgreSQL, configured the one way clearance needs them.

SQLite: foreign keys on, a generous busy timeout, WAL, and ``BEGIN IMMEDIATE`` so a writing
transaction takes the write lock up front (two writers never both read then both write).
PostgreSQL: psycopg 3; writers serialize on the ``audit_head`` row instead (see sql.py); reads
run in autocommit (``read_engine``). A pooled connection is not pinged on every checkout (a
round trip each read): only one that sat idle for ``IDLE_PING_SECONDS``. A connection that
died sooner fails its statement, SQLAlchemy then replaces the pool's connections, and the
error is ``Disconnected`` (the API runs a read that failed so once more, ``api/guard.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool, QueuePool

from clearance.adapters.clock import SystemClock
from clearance.adapters.private import create_private
from clearance.errors import NotFound, StoreError
from clearance.extras import missing_extra

R = TypeVar("R")

WRITE_OPTION = "clearance_write"
IDLE_PING_SECONDS = 10.0  # a pooled PostgreSQL connection idle this long is pinged first
_CLOCK = SystemClock()  # a jump of the wall clock costs at most one ping more or less


class Disconnected(StoreError):
    """The database connection was lost mid-statement; the pool has since been renewed, so
    the same read may be run again."""


def normalize_url(url: str) -> str:
    """Accept ``postgres://``/``postgresql://`` and pick the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pooled: bool | None = None) -> Engine:
    """An engine for ``url``; ``pooled`` keeps connections (a server), default: $CLEARANCE_POOL."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(
            f"'{_redacted(url)}' is not a database URL (sqlite:///path or "
            "postgresql://user@host:port/name, the port a number from 1 to 65535); "
            "fix CLEARANCE_DB_URL or the workspace's config.json"
        ) from None
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise StoreError(
            f"the database URL's port {parsed.port} is not a number from 1 to 65535; "
            "fix CLEARANCE_DB_URL or the workspace's config.json"
        )
    keep = (not _one_shot()) if pooled is None else pooled
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(url, keep)
    if parsed.get_backend_name() == "postgresql":
        try:  # SQLAlchemy imports the driver here
            engine = create_engine(url, poolclass=None if keep else NullPool)
        except ImportError as exc:
            missing = missing_extra(exc, "a PostgreSQL database")
            if missing is None:
                raise
            raise missing from None
        if keep:
            _ping_when_idle(engine)
        return engine
    raise StoreError(
        f"unsupported database '{parsed.get_backend_name()}'; use SQLite or PostgreSQL"
    )


def read_engine(engine: Engine) -> Engine:
    """The engine reads use: PostgreSQL's in autocommit, SQLite's as is (see sql.py)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it sat idle ``IDLE_PING_SECONDS``
    (SQLAlchemy's "pessimistic" handling, but not for one used a moment ago): a failed ping
    makes the pool discard it and check out another (``DisconnectionError``)."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = _CLOCK.now()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since: dt.datetime | None = record.info.pop("idle_since", None)  # new: none, no ping
        if since is None or _CLOCK.now() - since < dt.timedelta(seconds=IDLE_PING_SECONDS):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # whatever the failure, this connection is not usable
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


def _redacted(url: str) -> str:
    """``url`` without a password, for messages."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", url)


def _one_shot() -> bool:
    """CLI processes open one connection and exit: no pool to keep."""
    return os.environ.get("CLEARANCE_POOL", "") != "1"


def _sqlite(url: str, keep: bool) -> Engine:
    """A server keeps its connections (``keep``): opening one and setting it up costs about
    a millisecond, as much as a page's queries. A pooled connection serves one thread at a
    time, so SQLite's same-thread check is off; each transaction still begins its own."""
    _private_file(make_url(url).database)
    engine = create_engine(
        url,
        connect_args={"timeout": 60, "check_same_thread": not keep},
        poolclass=QueuePool if keep else NullPool,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # writers take the write lock up front; readers (WAL) never wait for a writer
        writing = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _private_file(database: str | None) -> None:
    """SQLite would create a missing database file with the umask's mode (often 0644): create
    it empty as 0600 first. Its -wal and -shm files take the database file's mode."""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        if path.parent.is_dir():
            create_private(path)


def one(session: Session, row_type: type[R], key: Any) -> R:
    """The row with this primary key; ``NotFound`` (what every store says) when there is none."""
    row = session.get(row_type, key)
    if row is None:
        table = getattr(row_type, "__tablename__", row_type.__name__)
        raise NotFound(f"no {table} row {key!r} in the store")
    return row
