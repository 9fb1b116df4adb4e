"""A picklable way to open the SQL store again, in another process.

A parallel backtest (``service.backtest``) reads ranges of decisions in worker processes;
each opens its own engine from the database URL (a connection pool or an open SQLite handle
cannot cross a process boundary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clearance.service.ports import Store


@dataclass(frozen=True)
class SqlStoreOpener:
    """Opens the SQL store at ``url``: a plain value, sent to a worker process as it is."""

    url: str

    def __repr__(self) -> str:  # the URL may hold a password
        return "SqlStoreOpener(...)"

    def __call__(self) -> Store:
        from clearance.adapters.store.database import make_engine
        from clearance.adapters.store.sql import SqlStore

        return SqlStore(make_engine(self.url, pooled=True))
