"""Repository operations for the audit log: the hash chain and its signed checkpoints.

Mixed into ``SqlTx`` so an event commits with the state change it records (invariant 1).
An event links to the ``audit_head`` row the transaction locked (it holds the last seq and
hash), and is inserted with the transaction's other rows at its flush. Verification reads
plain rows (``stored_events``): the driver's tuples, in keyset pages, as ``StoredEvent``
without a Python call per row; no ORM objects, no parsing of what the hash covers.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clearance.adapters.store.schema import AuditEventRow, AuditHeadRow, CheckpointRow
from clearance.core.audit import AuditEvent, StoredEvent, next_event
from clearance.core.hashing import canonical_json
from clearance.errors import StoreError
from clearance.service.records import CheckpointRecord

# a driver's row (the 8 columns of ``_STORED``) as a StoredEvent by ``tuple.__new__``, a C
# call: ``StoredEvent._make`` is a Python call per row, ~0.5 µs of the ~3 it takes to verify one
_stored_row = cast(Callable[[Any], StoredEvent], functools.partial(tuple.__new__, StoredEvent))
_STORED = (  # integers only are formatted in: the driver's parameter style differs
    "SELECT seq, time, actor, action, subject, payload, prev_hash, hash FROM audit_events "
    "WHERE seq > {after} ORDER BY seq LIMIT {batch}"
)


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
        head = self._head
        if head is None:
            raise StoreError("audit events are written only inside a transaction")
        event = next_event(
            head, time=time, actor=actor, action=action, subject=subject, payload=payload
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
        head.seq, head.hash = event.seq, event.hash  # written with the event at the flush
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
        action: str | None = None,
    ) -> Iterator[AuditEvent]:
        """Events after seq ``after``, in seq order, streamed in batches (the chain is long);
        ``model`` and ``action`` are filtered by the database."""
        last = after
        while True:
            stmt = select(AuditEventRow).where(AuditEventRow.seq > last)
            if model is not None:
                stmt = stmt.where(AuditEventRow.model == model)
            if action is not None:
                stmt = stmt.where(AuditEventRow.action == action)
            rows = list(self.s.scalars(stmt.order_by(AuditEventRow.seq).limit(batch)))
            for row in rows:
                event = _event(row)
                if since is None or event.time >= since:
                    yield event
            if len(rows) < batch:
                return
            last = rows[-1].seq

    def stored_events(self, *, batch: int = 20_000) -> Iterator[StoredEvent]:
        """Every event in seq order as the table holds it, in keyset batches of plain rows
        straight from the driver's cursor (no ORM objects, no result rows to build)."""
        cursor = self.s.connection().connection.cursor()
        try:
            last = 0
            while True:
                cursor.execute(_STORED.format(after=int(last), batch=int(batch)))
                rows = cursor.fetchall()
                yield from map(_stored_row, rows)
                if len(rows) < batch:
                    return
                last = rows[-1][0]
        finally:
            cursor.close()

    def event_count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(AuditEventRow)) or 0)

    def head_event(self) -> AuditEvent | None:
        return self._last_event()

    def head_mark(self) -> tuple[int, str] | None:
        row = self.s.execute(
            select(AuditEventRow.seq, AuditEventRow.hash)
            .order_by(AuditEventRow.seq.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row[0]), str(row[1]))

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
