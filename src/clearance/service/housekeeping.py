"""Housekeeping: blobs that nothing references any more.

A refused or failed registration can leave copied files behind (blobs are stored before the
version row commits, to keep the write transaction short). They are never served, but they
take disk space and may hold confidential evidence, so ``clearance blobs gc`` removes every
blob no version or evidence row names. A grace period spares blobs of registrations still in
flight: those are younger than any sensible ``older_than``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from clearance.service.ports import BlobStore, Clock, Store


@dataclass(frozen=True)
class Collected:
    """What a collection found: every unreferenced blob old enough, removed unless a dry run."""

    unreferenced: list[str]
    kept_young: int
    removed: bool


@dataclass(frozen=True)
class Housekeeping:
    store: Store
    blobs: BlobStore
    clock: Clock

    def collect_blobs(self, *, older_than: dt.timedelta, dry_run: bool = False) -> Collected:
        with self.store.reading() as tx:
            referenced = tx.referenced_blobs()
        cutoff = self.clock.now() - older_than
        stale, young = [], 0
        for sha, modified in self.blobs.stored():
            if sha in referenced:
                continue
            if modified > cutoff:
                young += 1
            else:
                stale.append(sha)
        if not dry_run:
            for sha in stale:
                self.blobs.remove(sha)
        return Collected(stale, young, removed=not dry_run)
