"""Audit use cases: verify the trail (chain, checkpoints, the state it implies), checkpoint,
export.

``verify`` checks more than the hash chain: it folds the events into the state they imply
(``core.trail``) and compares that with the tables, so a row edited in the database without
an event is reported even though the chain is intact; with ``blobs`` it re-hashes every
stored blob too.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearance.core.audit import (
    AuditEvent,
    BlobFault,
    Checkpoint,
    VerifyReport,
    public_key_raw,
    sign_checkpoint,
    verify_chain,
)
from clearance.core.hashing import canonical_json
from clearance.core.trail import Folder, compare
from clearance.errors import InputError
from clearance.service.access import authorize_server
from clearance.service.ports import BlobStore, Clock, Store, Tx
from clearance.service.records import CheckpointRecord
from clearance.service.state import blob_users, read_state

EXPORT_FIELDS = ["seq", "time", "actor", "action", "subject", "payload", "prev_hash", "hash"]
ATTEMPTS = 3  # a write committed while reading makes the snapshot inconsistent: read again


@dataclass(frozen=True)
class Auditing:
    store: Store
    clock: Clock
    key: Callable[[], Ed25519PrivateKey]  # loaded only to sign, or to verify without a key
    blobs: BlobStore | None = None

    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key auditors verify checkpoints with."""
        return public_key_raw(self.key())

    def verify(
        self, public_key: bytes | None = None, *, blobs: bool = False, actor: str | None = None
    ) -> VerifyReport:
        """Recompute the chain, check every checkpoint, and compare the state the events
        imply with the tables; with ``blobs``, re-hash every stored blob.

        With ``public_key`` (an auditor's copy) the workspace's private key is not needed.
        Re-hashing the blob store reads every byte of it: through the API (``actor``) that
        takes a role that may sign checkpoints (admin, auditor).
        """
        if public_key is not None and len(public_key) != 32:
            raise InputError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
        if blobs and actor is not None:
            with self.store.reading() as tx:
                authorize_server(tx, actor, "checkpoint")
        for _ in range(ATTEMPTS):
            report, steady = self._verify_once(public_key)
            if steady:
                break
        else:
            moving = "the trail kept changing while it was read; state compared as last read"
            report = dataclasses.replace(report, warnings=(*report.warnings, moving))
        if blobs:
            report = self._check_blobs(report)
        return report

    def _verify_once(self, public_key: bytes | None) -> tuple[VerifyReport, bool]:
        with self.store.reading() as tx:
            before = _head(tx)
            found = read_state(tx)
            checkpoints = [Checkpoint(**c.model_dump()) for c in tx.checkpoints()]
            key = public_key if public_key is not None else self.public_key()
            folder = Folder()
            report = verify_chain(_folded(tx.events(), folder), checkpoints, key)
            steady = _head(tx) == before
        if report.fault is not None:  # events that do not verify say nothing about state
            return report, True
        differences = tuple(compare(folder.state, found))
        return (
            dataclasses.replace(
                report, ok=not differences, state_checked=True, differences=differences
            ),
            steady,
        )

    def _check_blobs(self, report: VerifyReport) -> VerifyReport:
        """Re-hash every stored blob; a blob the tables name but the store lacks is missing."""
        if self.blobs is None:
            raise InputError("this workspace has no blob store to check")
        with self.store.reading() as tx:
            referenced = tx.referenced_blobs()
            users = blob_users(read_state(tx, tables=("versions", "evidence")))
        faults: list[BlobFault] = []
        seen: set[str] = set()
        for sha, _ in self.blobs.stored():
            seen.add(sha)
            try:
                self.blobs.verify(sha)
            except OSError:
                used = users.get(sha, "no table row (unreferenced)")
                faults.append(
                    BlobFault(
                        sha,
                        "corrupted",
                        used,
                        f"blob {sha[:12]}… ({used}): its bytes "
                        "no longer match its sha256; restore it from a backup",
                    )
                )
        for sha in sorted(referenced - seen):
            used = users.get(sha, "a table row")
            faults.append(
                BlobFault(
                    sha,
                    "missing",
                    used,
                    f"blob {sha[:12]}… ({used}) is missing from "
                    "the blob store; restore it from a backup",
                )
            )
        return dataclasses.replace(
            report,
            ok=report.ok and not faults,
            blobs_checked=len(seen),
            blob_faults=tuple(faults),
        )

    def checkpoint(self, actor: str | None = None) -> CheckpointRecord:
        """Sign the current head, so that cutting the tail off later is detectable.

        With an ``actor`` (a request through the API) they must hold ``admin`` or ``auditor``;
        without one the caller is the operator, who holds the signing key anyway.
        """
        with self.store.transaction() as tx:
            if actor is not None:
                authorize_server(tx, actor, "checkpoint")
            head = tx.head_event()
            if head is None:
                raise InputError("the audit trail is empty; there is nothing to checkpoint yet")
            cp = sign_checkpoint(self.key(), head, self.clock.now())
            record = CheckpointRecord(**cp.model_dump())
            tx.add_checkpoint(record)
            return record

    def export(
        self, fmt: str, *, since: dt.datetime | None = None, model: str | None = None
    ) -> Iterator[str]:
        """Events as JSON Lines or CSV, streamed; payloads keep their canonical JSON."""
        if fmt not in ("jsonl", "csv"):
            raise InputError(f"--format must be jsonl or csv, not '{fmt}'")
        with self.store.reading() as tx:
            if fmt == "csv":
                yield _csv_row(EXPORT_FIELDS)
            for event in tx.events(model=model, since=since):
                yield _jsonl(event) if fmt == "jsonl" else _csv_row(_fields(event))


def _fields(event: AuditEvent) -> list[str]:
    return [
        str(event.seq),
        event.time.isoformat(),
        event.actor,
        event.action,
        event.subject,
        canonical_json(event.payload),
        event.prev_hash,
        event.hash,
    ]


def _jsonl(event: AuditEvent) -> str:
    data = {**event.model_dump(mode="json"), "time": event.time.isoformat()}  # as in CSV
    return json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n"


def _csv_row(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _head(tx: Tx) -> tuple[int, str] | None:
    head = tx.head_event()
    return None if head is None else (head.seq, head.hash)


def _folded(events: Iterable[AuditEvent], folder: Folder) -> Iterator[AuditEvent]:
    """The events, each also folded into the implied state (one pass over the chain)."""
    for event in events:
        folder.add(event)
        yield event
