"""Audit use cases: read the trail (events by a seq cursor, export), verify it (chain,
checkpoints, the state it implies), sign checkpoints, publish the key that verifies them.

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
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict

from clearance.core.audit import (
    AuditEvent,
    BlobFault,
    Checkpoint,
    VerifyReport,
    key_id,
    public_key_raw,
    sign_checkpoint,
)
from clearance.core.hashing import canonical_json
from clearance.core.trail import Folder, Rows, compare
from clearance.errors import InputError, StoreConflict
from clearance.service.access import authorize_server
from clearance.service.context import require_model
from clearance.service.keys import ROTATED, verify_rotating
from clearance.service.paging import MAX_EVENTS_PAGE
from clearance.service.ports import BlobStore, Clock, Store, Tx
from clearance.service.records import CheckpointRecord
from clearance.service.state import blob_users, read_state

EXPORT_FIELDS = ["seq", "time", "actor", "action", "subject", "payload", "prev_hash", "hash"]
ATTEMPTS = 3  # a write committed while the tables are read makes them inconsistent: again
MOVING = "the tables kept changing while they were read; compared as last read"
MAX_PAGE = MAX_EVENTS_PAGE


class AuditPage(BaseModel):
    """Audit events in seq order; ask for more with ``after=next_after`` until it is null."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[AuditEvent]
    next_after: int | None


class PublicKeyOut(BaseModel):
    """The Ed25519 key auditors verify checkpoints with, offline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    public_key_hex: str
    pem: str


def utc(when: dt.datetime | None) -> dt.datetime | None:
    """A filter's time as UTC; one without a zone is taken as UTC."""
    if when is None:
        return None
    try:
        return when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    except (OverflowError, ValueError):
        raise InputError(f"since: {when.isoformat()} is out of range") from None


@dataclass(frozen=True)
class Auditing:
    store: Store
    clock: Clock
    key: Callable[[], Ed25519PrivateKey]  # loaded only to sign, or to verify without a key
    blobs: BlobStore | None = None
    # the public keys kept in the workspace (earlier keys, ``service.keys``), by key id
    kept_keys: Callable[[], Mapping[str, bytes]] | None = None

    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key auditors verify checkpoints with."""
        return public_key_raw(self.key())

    def trusted_keys(self) -> list[bytes]:
        """The workspace's own keys: the current one first, then every kept public key."""
        current = self.public_key()
        kept = self.kept_keys() if self.kept_keys is not None else {}
        return [current, *(k for k in kept.values() if k != current)]

    def audit_key(self) -> PublicKeyOut:
        """The public key as the API publishes it: its id, hex and PEM."""
        raw = self.public_key()
        pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return PublicKeyOut(key_id=key_id(raw), public_key_hex=raw.hex(), pem=pem.decode("ascii"))

    def events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        model: str | None = None,
        since: dt.datetime | None = None,
    ) -> AuditPage:
        """One page of events after the seq ``after``, oldest first, with the next cursor."""
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be 1 to {MAX_PAGE}, not {limit}")
        start = utc(since)
        with self.store.reading() as tx:
            if model is not None:
                require_model(tx, model)
            newer = tx.events(model=model, since=start, after=after, batch=min(limit + 1, MAX_PAGE))
            items = list(itertools.islice(newer, limit + 1))
        more = len(items) > limit
        items = items[:limit]
        return AuditPage(items=items, next_after=items[-1].seq if more else None)

    def checkpoints(self) -> list[CheckpointRecord]:
        """Signed checkpoints of the chain's head, oldest first."""
        with self.store.reading() as tx:
            return tx.checkpoints()

    def verify(
        self,
        public_key: bytes | None = None,
        *,
        blobs: bool = False,
        actor: str | None = None,
        operator: bool = False,
    ) -> VerifyReport:
        """Recompute the chain, check every checkpoint, and compare the state the events
        imply with the tables; with ``blobs``, re-hash every stored blob.

        With ``public_key`` (an auditor's copy) the workspace's private key is not needed;
        checkpoints by later keys verify through the key rotations it vouches for (and
        earlier ones through the rotations that retired them). Without it, the workspace's
        current key and the public keys it kept are trusted.
        Re-hashing the blob store reads every byte of it: through the API (``actor``) that
        takes a role that may sign checkpoints (admin, auditor); the ``operator`` (the local
        CLI) holds the store already.
        """
        if public_key is not None and len(public_key) != 32:
            raise InputError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
        if blobs and actor is not None and not operator:
            with self.store.reading() as tx:
                authorize_server(tx, actor, "checkpoint")
        report = self._verify(public_key)
        if blobs:
            report = self._check_blobs(report)
        return report

    def _verify(self, public_key: bytes | None) -> VerifyReport:
        """The chain up to the head the tables were read at, folded and compared with them.

        Checkpoints are read first, so each covers a seq at or before that head; events
        appended while the chain is walked are past it and left to the next run, so writers
        going on meanwhile cost no second walk.
        """
        with self.store.reading() as tx:
            checkpoints = [Checkpoint(**c.model_dump()) for c in tx.checkpoints()]
            found, head, steady = _tables(tx)
            keys = [public_key] if public_key is not None else self.trusted_keys()
            folder = Folder()
            report = verify_rotating(
                tx.stored_events(), checkpoints, keys, fold=folder.add_stored, upto=head
            )
        if report.fault is not None:  # events that do not verify say nothing about state
            return report
        differences = tuple(compare(folder.state, found))
        moving = () if steady else (MOVING,)
        return dataclasses.replace(
            report,
            ok=not differences,
            state_checked=True,
            differences=differences,
            warnings=(*report.warnings, *moving),
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

    def checkpoint(self, actor: str | None = None, *, operator: bool = False) -> CheckpointRecord:
        """Sign the current head, so that cutting the tail off later is detectable.

        With an ``actor`` (a request through the API) they must hold ``admin`` or ``auditor``;
        without one, or as the ``operator``, the caller holds the signing key anyway.
        """
        with self.store.transaction() as tx:
            if actor is not None and not operator:
                authorize_server(tx, actor, "checkpoint")
            head = tx.head_event()
            if head is None:
                raise InputError("the audit trail is empty; there is nothing to checkpoint yet")
            key = self.key()
            _refuse_retired(tx, key_id(public_key_raw(key)))
            cp = sign_checkpoint(key, head, self.clock.now())
            record = CheckpointRecord(**cp.model_dump())
            tx.add_checkpoint(record)
            return record

    def export(
        self,
        format: str = "jsonl",
        *,
        since: dt.datetime | None = None,
        model: str | None = None,
    ) -> Iterator[str]:
        """Events as JSON Lines or CSV, streamed; payloads keep their canonical JSON.

        Lazy: bad input (the format, an unknown model) raises at the first ``next``, so a
        stream can fail before it starts.
        """
        if format not in ("jsonl", "csv"):
            raise InputError(f"--format must be jsonl or csv, not '{format}'")
        start = utc(since)
        with self.store.reading() as tx:
            if model is not None:
                require_model(tx, model)
            if format == "csv":
                yield _csv_row(EXPORT_FIELDS)
            for event in tx.events(model=model, since=start):
                yield _jsonl(event) if format == "jsonl" else _csv_row(_fields(event))


def _refuse_retired(tx: Tx, mine: str) -> None:
    """A process that loaded the key before a rotation (a server not restarted) must not
    sign with it: verify would refuse the checkpoint. Rotations are the seqs that two keys
    signed, so only those events are read."""
    signers: dict[int, set[str]] = {}
    for c in tx.checkpoints():
        signers.setdefault(c.seq, set()).add(c.key_id)
    for seq, ids in signers.items():
        if mine not in ids or len(ids) < 2:
            continue
        event = next(tx.events(after=seq - 1, batch=1), None)
        if (
            event is not None
            and event.action == ROTATED
            and event.payload.get("old_key_id") == mine
        ):
            raise StoreConflict(
                f"this process holds key {mine}, retired by the key rotation at seq {seq}: "
                "restart it to load the current key"
            )


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
    return tx.head_mark()


def _tables(tx: Tx) -> tuple[Rows, int, bool]:
    """The governed tables, the head seq they are as of, and whether that held: a state
    change commits with its event, so an unchanged head around the read means no change
    landed during it; otherwise the tables are read again (``ATTEMPTS`` in all)."""
    for _ in range(ATTEMPTS):
        before = _head(tx)
        found = read_state(tx)
        after = _head(tx)
        if after == before:
            break
    return found, 0 if after is None else after[0], after == before
