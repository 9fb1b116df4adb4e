"""Audit use cases: verify the chain (and its signed checkpoints), checkpoint, export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearance.core.audit import (
    AuditEvent,
    Checkpoint,
    VerifyReport,
    public_key_raw,
    sign_checkpoint,
    verify_chain,
)
from clearance.core.hashing import canonical_json
from clearance.errors import InputError
from clearance.service.access import authorize_server
from clearance.service.ports import Clock, Store
from clearance.service.records import CheckpointRecord

EXPORT_FIELDS = ["seq", "time", "actor", "action", "subject", "payload", "prev_hash", "hash"]


@dataclass(frozen=True)
class Auditing:
    store: Store
    clock: Clock
    key: Callable[[], Ed25519PrivateKey]  # loaded only to sign, or to verify without a key

    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key auditors verify checkpoints with."""
        return public_key_raw(self.key())

    def verify(self, public_key: bytes | None = None) -> VerifyReport:
        """Recompute the whole chain and check every checkpoint against it.

        With ``public_key`` (an auditor's copy) the workspace's private key is not needed.
        """
        if public_key is not None and len(public_key) != 32:
            raise InputError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
        with self.store.reading() as tx:
            checkpoints = [Checkpoint(**c.model_dump()) for c in tx.checkpoints()]
            key = public_key if public_key is not None else self.public_key()
            return verify_chain(tx.events(), checkpoints, key)

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
