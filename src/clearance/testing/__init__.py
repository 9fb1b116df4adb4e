"""Fakes for testing code built on clearance: use cases run in memory, in milliseconds.

Shipped with the package (not only in its tests) so that plugin authors and teams wiring
clearance into their own services test against the same fakes clearance's tests use. Each
fake implements a port of ``clearance.service.ports`` or ``clearance.notify`` and keeps its
promises; ``tests/contract`` runs one suite over ``InMemoryStore``, SQLite and PostgreSQL.

``InMemoryStore``        the ``Store`` port (every ``Tx`` method): transactions, conflicts,
                         the audit hash chain, all in dicts
``InMemoryIdempotency``  the ``IdempotencyPort`` over an ``InMemoryStore``
``InMemoryBlobStore``    the ``BlobStore`` port: content-addressed bytes in a dict
``InMemoryLeases``       the ``LeasePort``: leader leases by the same rule as the databases
``MemoryWorkspace``      every use case wired over an ``InMemoryStore`` (blobs on disk)
``FixedClock``           a ``Clock`` that stands still until moved (``advance``, or set ``at``)
``RecordingNotifier``    a notification ``Channel`` that keeps what it was asked to send

Example::

    store, clock = InMemoryStore(), FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    Registry(store, InMemoryBlobStore(clock), clock).add_user(
        "alice", ["ml_engineer"], actor="admin", operator=True
    )
"""

from clearance.adapters.clock import FixedClock
from clearance.testing.blobs import InMemoryBlobStore
from clearance.testing.idempotency import InMemoryIdempotency
from clearance.testing.leases import InMemoryLeases
from clearance.testing.notifier import RecordingNotifier
from clearance.testing.store import InMemoryStore, MemoryTx
from clearance.testing.workspace import MemoryWorkspace

__all__ = [
    "FixedClock",
    "InMemoryBlobStore",
    "InMemoryIdempotency",
    "InMemoryLeases",
    "InMemoryStore",
    "MemoryTx",
    "MemoryWorkspace",
    "RecordingNotifier",
]
