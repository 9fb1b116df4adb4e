"""Writing sessions: one per use case, or one that an idempotent API call holds open.

A use case's ``store.transaction()`` normally begins and commits a session of its own. Inside
``holding(engine)`` it joins the held session instead and the holder commits, so a use case's
work and the response stored under its ``Idempotency-Key`` are one transaction (access.py): a
committed use case always has its response, and a crash before the commit leaves neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

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
    return Session(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A use case's writing session: the held one if a holder is open, else its own."""
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
