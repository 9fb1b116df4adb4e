"""``SqlLeases``: the ``LeasePort`` on SQLite and PostgreSQL, each call one statement.

Taking a lease is one ``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE`` (the lease is
expired or already the caller's) ``RETURNING``: when two processes ask at once, PostgreSQL
makes the second wait for the first's row and re-checks the ``WHERE`` against it, and SQLite
runs writers one at a time (``BEGIN IMMEDIATE``), so exactly one of them gets a row back.
Renewing and releasing are an ``UPDATE`` of the caller's reign (holder and epoch). The rules
are those of ``service/leader.py`` (``taken``, ``renewed``, ``released``), written in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from clearance.adapters.store.schema import LeaseRow
from clearance.adapters.store.sessions import writing
from clearance.errors import StoreError
from clearance.service.leader import Lease, checked

COLUMNS = (
    LeaseRow.name,
    LeaseRow.holder,
    LeaseRow.epoch,
    LeaseRow.acquired_at,
    LeaseRow.expires_at,
)


@dataclass(frozen=True)
class SqlLeases:
    engine: Engine

    def acquire_lease(
        self, name: str, holder: str, now: dt.datetime, ttl: dt.timedelta
    ) -> Lease | None:
        checked(name, holder, ttl)
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(LeaseRow).values(
            name=name, holder=holder, epoch=1, acquired_at=now, expires_at=now + ttl
        )
        mine = LeaseRow.holder == stmt.excluded.holder
        upsert = stmt.on_conflict_do_update(
            index_elements=[LeaseRow.name],
            set_={
                "holder": stmt.excluded.holder,
                "epoch": case((mine, LeaseRow.epoch), else_=LeaseRow.epoch + 1),
                "acquired_at": case((mine, LeaseRow.acquired_at), else_=stmt.excluded.acquired_at),
                "expires_at": stmt.excluded.expires_at,
            },
            where=or_(mine, LeaseRow.expires_at <= now),
        )
        return self._one(upsert.returning(*COLUMNS))

    def renew_lease(
        self, name: str, holder: str, epoch: int, now: dt.datetime, ttl: dt.timedelta
    ) -> Lease | None:
        checked(name, holder, ttl)
        stmt = (
            update(LeaseRow)
            .where(*_reign(name, holder, epoch), LeaseRow.expires_at > now)
            .values(expires_at=now + ttl)
            .returning(*COLUMNS)
        )
        return self._one(stmt)

    def release_lease(self, name: str, holder: str, epoch: int, now: dt.datetime) -> bool:
        checked(name, holder)
        stmt = (
            update(LeaseRow)
            .where(*_reign(name, holder, epoch))
            .values(expires_at=case((LeaseRow.expires_at > now, now), else_=LeaseRow.expires_at))
            .returning(LeaseRow.epoch)
        )
        with self._session() as s:
            return s.execute(stmt).first() is not None

    def get_lease(self, name: str) -> Lease | None:
        with self._session() as s:
            row = s.execute(select(*COLUMNS).where(LeaseRow.name == name)).first()
            return None if row is None else Lease(*row)

    def _one(self, stmt: Any) -> Lease | None:
        with self._session() as s:
            row = s.execute(stmt).first()
            return None if row is None else Lease(*row)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with writing(self.engine) as s, s.begin():
                yield s
        except OperationalError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"database error on a lease: {first}") from None


def _reign(name: str, holder: str, epoch: int) -> tuple[Any, ...]:
    return (LeaseRow.name == name, LeaseRow.holder == holder, LeaseRow.epoch == epoch)
