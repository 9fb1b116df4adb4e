"""Repository operations for the audit log: the hash chain and its signed checkpoints.

Mixed into ``SqlTx`` so an event commits with the state change it records (invariant 1).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clearance.adapters.store.schema import AuditEventRow, AuditHeadRow, CheckpointRow
from clearance.core.audit import AuditEvent, next_event
from clearance.core.hashing import canonical_json
from clearance.errors import StoreError
from clearance.service.records import CheckpointRecord


class AuditLogRepo:
    s: Session
    _head: AuditHeadRow | None

    def append_event(
        self,
        *,
        time: dt.datetime,
        actor: str,
        action: str,
        subject: str,
        model: str | None,
        payload: dict[str, Any],
    ) -> AuditEvent:
        if self._head is None:
            raise StoreError("audit events are written only inside a transaction")
        prev = self._last_event()
        event = next_event(
            prev, time=time, actor=actor, action=action, subject=subject, payload=payload
        )
        self.s.add(
            AuditEventRow(
                seq=event.seq,
                time=event.time.isoformat(),
                actor=actor,
                action=action,
                subject=subject,
                model=model,
                payload=canonical_json(event.payload),
                prev_hash=event.prev_hash,
                hash=event.hash,
            )
        )
        self._head.seq, self._head.hash = event.seq, event.hash
        self.s.flush()
        return event

    def _last_event(self) -> AuditEvent | None:
        row = self.s.scalars(
            select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(1)
        ).first()
        return None if row is None else _event(row)

    def events(
        self,
        *,
        model: str | None = None,
        since: dt.datetime | None = None,
        after: int = 0,
        batch: int = 1000,
    ) -> Iterator[AuditEvent]:
        """Events after seq ``after``, in seq order, streamed in batches (the chain is long)."""
        last = after
        while True:
            stmt = select(AuditEventRow).where(AuditEventRow.seq > last)
            if model is not None:
                stmt = stmt.where(AuditEventRow.model == model)
            rows = list(self.s.scalars(stmt.order_by(AuditEventRow.seq).limit(batch)))
            for row in rows:
                event = _event(row)
                if since is None or event.time >= since:
                    yield event
            if len(rows) < batch:
                return
            last = rows[-1].seq

    def event_count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(AuditEventRow)) or 0)

    def head_event(self) -> AuditEvent | None:
        return self._last_event()

    def add_checkpoint(self, cp: CheckpointRecord) -> None:
        self.s.add(
            CheckpointRow(
                seq=cp.seq, hash=cp.hash, time=cp.time, signature=cp.signature, key_id=cp.key_id
            )
        )
        self.s.flush()

    def checkpoints(self) -> list[CheckpointRecord]:
        rows = self.s.scalars(select(CheckpointRow).order_by(CheckpointRow.id))
        return [CheckpointRecord.model_validate(r, from_attributes=True) for r in rows]


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        time=dt.datetime.fromisoformat(row.time),
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        payload=json.loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
