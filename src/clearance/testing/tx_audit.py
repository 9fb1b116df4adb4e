"""``AuditLogPort`` in memory: the hash chain, extended exactly as ``SqlTx.append_event``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from clearance.core.audit import AuditEvent, StoredEvent, next_event, stored
from clearance.errors import StoreError
from clearance.service.records import CheckpointRecord
from clearance.testing.tables import EventRow, Repo, as_json, out, outs, utc


class AuditRepo(Repo):
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
        if not self.writing:
            raise StoreError("audit events are written only inside a transaction")
        event = next_event(
            self._last(), time=time, actor=actor, action=action, subject=subject, payload=payload
        )
        kept = event.model_copy(update={"payload": as_json(event.payload)})
        self.t.events.append(EventRow(kept, model))
        return event

    def _last(self) -> AuditEvent | None:
        return self.t.events[-1].event if self.t.events else None

    def stored_events(self, *, batch: int = 20_000) -> Iterator[StoredEvent]:
        """The events as a SQL store keeps them (``batch`` is how SQL pages; unused)."""
        return map(stored, (row.event for row in self.t.events))

    def events(
        self,
        *,
        model: str | None = None,
        since: dt.datetime | None = None,
        after: int = 0,
        batch: int = 1000,
        action: str | None = None,
    ) -> Iterator[AuditEvent]:
        """Events after seq ``after``, in seq order (``batch`` is how SQL pages; unused)."""
        rows = list(self.t.events)
        for row in rows:
            event = row.event
            if event.seq <= after or (model is not None and row.model != model):
                continue
            if action is not None and event.action != action:
                continue
            if since is None or event.time >= since:
                yield out(event)

    def event_count(self) -> int:
        return len(self.t.events)

    def head_event(self) -> AuditEvent | None:
        last = self._last()
        return None if last is None else out(last)

    def head_mark(self) -> tuple[int, str] | None:
        last = self._last()
        return None if last is None else (last.seq, last.hash)

    def add_checkpoint(self, cp: CheckpointRecord) -> None:
        self.t.checkpoints.append(cp.model_copy(update={"time": utc(cp.time)}))

    def checkpoints(self) -> list[CheckpointRecord]:
        return outs(self.t.checkpoints)
