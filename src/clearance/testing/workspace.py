"""``MemoryWorkspace``: the workspace's wiring of every use case, over an ``InMemoryStore``.

Evidence and artifacts still go to files under ``root`` (a ``FileBlobStore``), as does
``notifications.yaml``; the database is memory and the audit signing key is made on first
use, so nothing needs migrating and nothing else touches the disk.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from clearance.adapters.private import private_dir
from clearance.core.audit import generate_key
from clearance.errors import StoreError
from clearance.service.ports import Clock, IdempotencyPort
from clearance.testing.idempotency import InMemoryIdempotency
from clearance.testing.leases import InMemoryLeases
from clearance.testing.store import InMemoryStore
from clearance.workspace import CommitHooks, Workspace


class MemoryWorkspace(Workspace):
    def __init__(self, root: Path, clock: Clock, store: InMemoryStore | None = None) -> None:
        super().__init__(root.resolve(), clock)
        self.memory = store or InMemoryStore()
        private_dir(self.home)  # notifications.yaml and the blobs live here

    @property
    def store(self) -> InMemoryStore:
        return self.memory

    def _store_opener(self) -> None:
        return None  # nothing to open again: the store is this process's memory

    @property
    def idempotency(self) -> IdempotencyPort:
        return CommitHooks(InMemoryIdempotency(self.memory))

    @cached_property
    def leases(self) -> InMemoryLeases:
        return InMemoryLeases()

    @property
    def engine(self) -> Engine:
        raise StoreError("a MemoryWorkspace has no database; use a SQLite workspace for SQL")

    @cached_property
    def key(self) -> Ed25519PrivateKey:
        return generate_key()
