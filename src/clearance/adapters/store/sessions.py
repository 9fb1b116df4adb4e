"""Sessions: a use case's, the one an idempotent API call holds open, a request's shared read.

A use case's ``store.transaction()`` normally begins and commits a session of its own. Inside
``holding(engine)`` it joins the held session instead and the holder commits, so a use case's
work and the response stored under its ``Idempotency-Key`` are one transaction (access.py): a
committed use case always has its response, and a crash before the commit leaves neither.

Inside ``sharing_reads()`` (an API request, ``api/guard.py``) every ``store.reading()`` joins
one reading session, begun on first use: the token's sign-in and the use case's reads are one
connection checkout (on SQLite one snapshot too), and rows read once (the signed-in user) are
not asked for again. Any writing session gives the shared one's connection back first
(``before_write``): a request holds one connection at a time, and reads after its write see it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from clearance.adapters.store.database import WRITE_OPTION


class Held:
    """The session everything written under ``holding`` shares; begun on first use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session: Session | None = None

    def session(self) -> Session:
        if self._session is None:
            self._session = writing(self.engine)
            self._session.begin()
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()  # rolls back whatever was not committed


_HELD: ContextVar[Held | None] = ContextVar("clearance_held_session", default=None)


def writing(engine: Engine) -> Session:
    """A session whose transactions write (SQLite: ``BEGIN IMMEDIATE``, the lock up front)."""
    _before_write()
    return Session(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A use case's writing session: the held one if a holder is open, else its own."""
    _before_write()
    held = _HELD.get()
    if held is not None and held.engine is engine:
        yield held.session()  # the holder commits, or rolls back on an exception
        return
    with writing(engine) as session, session.begin():
        yield session


@contextmanager
def holding(engine: Engine) -> Iterator[Held]:
    """Hold one writing session for the block; commit it with ``held.session().commit()``."""
    held = Held(engine)
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)
        held.close()


class ReadSession(Session):
    """A reading's session. The store contract lets a reading write and keeps none of it;
    on PostgreSQL, where reads run in autocommit (``database.read_engine``), the first write
    therefore opens a transaction, which the reading's end rolls back."""

    wrote = False

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if not self.wrote and not self._is_clean():
            conn = self.connection()
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                conn.exec_driver_sql("BEGIN")
            self.wrote = True
        super().flush(objects)

    @property
    def changed(self) -> bool:
        """Whether anything was written (or is waiting to be): not for the next reading."""
        return self.wrote or not self._is_clean()


def reading(engine: Engine) -> ReadSession:
    return ReadSession(engine, expire_on_commit=False)


class SharedReads:
    """The one reading session a request's readings share, on the first engine that asks."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._session: ReadSession | None = None
        self._depth = 0  # readings open on it now
        self._stale = False  # one wrote or failed: start anew once none is open

    def enter(self, engine: Engine) -> ReadSession | None:
        """A reading begins: the shared session, or None on another engine or an unpooled
        one (it reads alone: a SQLite connection of its own stays in its thread)."""
        if isinstance(engine.pool, NullPool):
            return None
        if self._session is None:
            self._engine, self._session = engine, reading(engine)
        if self._engine is not engine:
            return None
        self._depth += 1
        return self._session

    def leave(self, *, keep: bool) -> None:
        """A reading ended; ``keep``: nothing it did is to be undone."""
        self._depth -= 1
        self._stale = self._stale or not keep
        if self._depth == 0 and self._stale:
            self.release()

    def before_write(self) -> None:
        """A write: give the connection back first (a request holds one at a time, and reads
        after the write begin anew and see it), unless a reading is still open on it."""
        if self._depth == 0:
            self.release()

    def release(self) -> None:
        """End the shared read (its connection back to the pool); the next one begins anew."""
        session, self._session, self._engine = self._session, None, None
        self._depth, self._stale = 0, False
        if session is not None:
            session.close()  # rolls back: a reading keeps nothing


_SHARED: ContextVar[SharedReads | None] = ContextVar("clearance_shared_reads", default=None)


def shared_reads() -> SharedReads | None:
    """The open ``sharing_reads`` of this context, if any."""
    return _SHARED.get()


def _before_write() -> None:
    shared = _SHARED.get()
    if shared is not None:
        shared.before_write()


@contextmanager
def sharing_reads() -> Iterator[SharedReads]:
    """Share one reading session among the block's readings, across the threads it runs on
    (each gets a copy of the context); closed at the end."""
    shared = SharedReads()
    token = _SHARED.set(shared)
    try:
        yield shared
    finally:
        _SHARED.reset(token)
        shared.release()
