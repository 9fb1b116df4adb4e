"""``InMemoryIdempotency``: the ``IdempotencyPort`` over an ``InMemoryStore``.

The same rules as ``SqlIdempotency`` (``adapters/store/access.py``): a claim is a lease taken
over once it lapses, a call's work commits with its response or not at all, and of two calls
with one key whichever finishes first answers for both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from clearance.adapters.store.access import LEASE, StoredResponse
from clearance.service.leases import claim_lapsed
from clearance.service.ports import IdempotencyPort
from clearance.testing.store import InMemoryStore
from clearance.testing.tables import Tables, utc


@dataclass(frozen=True)
class InMemoryIdempotency:
    store: InMemoryStore

    def claim(
        self,
        user: str,
        key: str,
        fingerprint: str,
        at: dt.datetime,
        lease: dt.timedelta = LEASE,
    ) -> StoredResponse | None:
        """Claim ``key`` for a new call (None), or return what an earlier call stored or holds."""
        at = utc(at)
        with self.store.writing_tables() as t:
            row = t.idempotency.get((user, key))
            if row is None:
                t.idempotency[user, key] = StoredResponse(fingerprint, None, None, at)
                return None
            if not _lapsed(row, fingerprint, at, lease):
                return row
            t.idempotency[user, key] = replace(row, claimed_at=at)  # the lease starts again
            return None

    def run(
        self,
        user: str,
        key: str,
        fingerprint: str,
        at: dt.datetime,
        call: Callable[[], tuple[int, str]],
    ) -> tuple[StoredResponse, bool]:
        """Run ``call`` and commit its writes with its response under ``key``; or, when
        another call with the key finished first, drop them and return its response."""
        with self.store.holding() as held:
            status, body = call()
            stored = _finish(held.tables(), user, key, fingerprint, utc(at), status, body)
            if stored is None:
                held.commit()
                return StoredResponse(fingerprint, status, body, utc(at)), True
            return stored, False

    def refuse(
        self, user: str, key: str, fingerprint: str, at: dt.datetime, status: int, body: str
    ) -> StoredResponse | None:
        """Store a refusal as the key's response (None), unless a response is stored already."""
        with self.store.writing_tables() as t:
            return _finish(t, user, key, fingerprint, utc(at), status, body)

    def release(self, user: str, key: str) -> StoredResponse | None:
        """Forget an unfinished claim (None), or return the response stored meanwhile."""
        with self.store.writing_tables() as t:
            row = t.idempotency.get((user, key))
            if row is not None and row.status is not None:
                return row
            t.idempotency.pop((user, key), None)
            return None


def _lapsed(row: StoredResponse, fingerprint: str, at: dt.datetime, lease: dt.timedelta) -> bool:
    return claim_lapsed(
        status=row.status,
        stored_fingerprint=row.fingerprint,
        fingerprint=fingerprint,
        claimed_at=row.claimed_at,
        at=at,
        lease=lease,
    )


def _finish(
    t: Tables, user: str, key: str, fingerprint: str, at: dt.datetime, status: int, body: str
) -> StoredResponse | None:
    """Record the response in ``t`` (None), unless a response is stored already (returned)."""
    row = t.idempotency.get((user, key))
    if row is not None and row.status is not None:
        return row
    claimed_at = at if row is None else row.claimed_at  # released meanwhile: ours is the answer
    t.idempotency[user, key] = StoredResponse(fingerprint, status, body, claimed_at)
    return None


if TYPE_CHECKING:  # mypy holds the fake to the port
    _port: IdempotencyPort = InMemoryIdempotency(InMemoryStore())
