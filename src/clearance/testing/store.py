"""``InMemoryStore``: the ``Store`` port in memory, for fast tests of use cases.

It keeps the SQL store's promises (``adapters/store/sql.py``), and the contract suite
(``tests/contract``) checks both against each other: ids count up from 1 per table, lists
come in the same order, unique keys and foreign keys raise ``StoreConflict``, a naive time
is refused, and a transaction commits everything or, on any exception, nothing.

A transaction works on a copy of the tables taken when it begins and swaps it in when it
ends without an exception; writers take turns (one lock), readers read a snapshot. Inside
``holding()`` every transaction joins one held copy, committed by the holder: what
``InMemoryIdempotency.run`` needs to commit a use case with its stored response.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from clearance.errors import StoreError
from clearance.service.ports import Store
from clearance.testing.tables import Tables
from clearance.testing.tx_access import AccessRepo
from clearance.testing.tx_audit import AuditRepo
from clearance.testing.tx_governance import GovernanceRepo
from clearance.testing.tx_models import ModelsRepo
from clearance.testing.tx_pages import PagesRepo
from clearance.testing.tx_requests import RequestsRepo
from clearance.testing.tx_state import StateRepo


class MemoryTx(
    AccessRepo,
    ModelsRepo,
    RequestsRepo,
    GovernanceRepo,
    PagesRepo,
    StateRepo,
    AuditRepo,
):
    """The whole ``Tx`` over one transaction's tables; returns copies, never stored rows."""

    def __init__(self, tables: Tables, *, writing: bool) -> None:
        self.t = tables
        self.writing = writing


class Held:
    """The copy every transaction under ``holding`` shares; begun (locked) on first use."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._tables: Tables | None = None

    def tables(self) -> Tables:
        if self._tables is None:
            self._store._lock_for_writing()
            self._tables = self._store._tables.copy()
        return self._tables

    def commit(self) -> None:
        if self._tables is not None:
            self._store._tables = self._tables
            self.close()

    def close(self) -> None:
        """Drop what was not committed and let other writers in."""
        if self._tables is not None:
            self._tables = None
            self._store._unlock()


class InMemoryStore:
    def __init__(self) -> None:
        self._tables = Tables()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._held: ContextVar[Held | None] = ContextVar(f"held_{id(self)}", default=None)

    @contextmanager
    def transaction(self) -> Iterator[MemoryTx]:
        """One unit of work: commit on success, roll back on any exception."""
        held = self._held.get()
        if held is not None:
            yield MemoryTx(held.tables(), writing=True)  # the holder commits or rolls back
            return
        with self.writing_tables() as work:
            yield MemoryTx(work, writing=True)

    @contextmanager
    def reading(self) -> Iterator[MemoryTx]:
        """A snapshot; whatever is written to it is dropped (as SQL rolls a read back)."""
        yield MemoryTx(self._tables.copy(), writing=False)

    @contextmanager
    def holding(self) -> Iterator[Held]:
        """Join every transaction in the block into one; commit it with ``held.commit()``."""
        held = Held(self)
        token = self._held.set(held)
        try:
            yield held
        finally:
            self._held.reset(token)
            held.close()

    @contextmanager
    def writing_tables(self) -> Iterator[Tables]:
        """A transaction over the raw tables, for parts of a store outside ``Tx``."""
        self._lock_for_writing()
        try:
            work = self._tables.copy()
            yield work
            self._tables = work
        finally:
            self._unlock()

    def snapshot(self) -> Tables:
        """A copy of everything committed, to compare before and after a use case."""
        return self._tables.copy()

    def _lock_for_writing(self) -> None:
        if self._owner == threading.get_ident():
            raise StoreError("a transaction is already open in this thread; it would wait forever")
        self._lock.acquire()
        self._owner = threading.get_ident()

    def _unlock(self) -> None:
        self._owner = None
        self._lock.release()


if TYPE_CHECKING:  # mypy holds the fake to the whole port
    _port: Store = InMemoryStore()
