"""``GovernancePort`` and ``OutboxPort`` in memory (as ``adapters/store/governance.py``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from clearance.core.hashing import canonical_json
from clearance.errors import NotFound
from clearance.notify.outbox import Delivery
from clearance.service.records import KpiRecord, RolloutRecord, RolloutState, WaiverRecord
from clearance.testing.tables import (
    DeliveryRow,
    NotificationRow,
    ReadingRow,
    Repo,
    as_json,
    one,
    out,
    outs,
    require,
    unique,
    utc,
    utc_fields,
    utc_or_none,
)


class GovernanceRepo(Repo):
    # waivers -----------------------------------------------------------------------------
    def add_waiver(
        self,
        *,
        model: str,
        version: str | None,
        gate_id: str,
        expires_at: dt.datetime,
        justification: str,
        controls: Sequence[str],
        granted_by: str,
        at: dt.datetime,
    ) -> WaiverRecord:
        row = WaiverRecord(
            id=self.t.next_id("waivers"),
            model=model,
            version=version,
            gate_id=gate_id,
            expires_at=utc(expires_at),
            justification=justification,
            controls=as_json(list(controls)),
            granted_by=granted_by,
            granted_at=utc(at),
        )
        self.t.waivers[row.id] = row
        return out(row)

    def get_waiver(self, waiver_id: int) -> WaiverRecord | None:
        row = self.t.waivers.get(waiver_id)
        return None if row is None else out(row)

    def revoke_waiver(
        self, waiver_id: int, *, by: str, reason: str, at: dt.datetime
    ) -> WaiverRecord:
        row = one(self.t.waivers, waiver_id, "waivers").model_copy(
            update={"revoked_at": utc(at), "revoked_by": by, "revoke_reason": reason}
        )
        self.t.waivers[waiver_id] = row
        return out(row)

    def list_waivers(self, *, model: str | None = None) -> list[WaiverRecord]:
        rows = (w for _, w in sorted(self.t.waivers.items()))
        return outs(w for w in rows if model is None or w.model == model)

    # rollouts ----------------------------------------------------------------------------
    def add_rollout(self, **fields: Any) -> RolloutRecord:
        require(self.t.models, fields.get("model_id"), "models", "rollouts.model_id")
        require(self.t.requests, fields.get("request_id"), "requests", "rollouts.request_id")
        require(self.t.versions, fields.get("version_id"), "versions", "rollouts.version_id")
        if any(r.request_id == fields["request_id"] for r in self.t.rollouts.values()):
            raise unique("rollouts", "request_id")
        row = RolloutRecord(id=self.t.next_id("rollouts"), **utc_fields(fields))
        self.t.rollouts[row.id] = row
        return out(row)

    def update_rollout(self, rollout_id: int, **fields: Any) -> RolloutRecord:
        row = one(self.t.rollouts, rollout_id, "rollouts")
        row = RolloutRecord.model_validate({**row.model_dump(), **utc_fields(fields)})
        self.t.rollouts[rollout_id] = row
        return out(row)

    def rollouts(
        self, *, model_id: int | None = None, status: RolloutState | None = None
    ) -> list[RolloutRecord]:
        return outs(
            r
            for _, r in sorted(self.t.rollouts.items())
            if (model_id is None or r.model_id == model_id)
            and (status is None or r.status == status)
        )

    def add_reading(self, rollout_id: int, reading: KpiRecord) -> None:
        require(self.t.rollouts, rollout_id, "rollouts", "kpi_readings.rollout_id")
        kept = reading.model_copy(update={"at": utc(reading.at)})
        self.t.readings[self.t.next_id("kpi_readings")] = ReadingRow(rollout_id, kept)

    def latest_readings(self, rollout_id: int) -> dict[str, KpiRecord]:
        """Each KPI's latest reading (by time, then arrival)."""
        rows = sorted(
            (r.reading.at, i, r.reading)
            for i, r in self.t.readings.items()
            if r.rollout_id == rollout_id
        )
        return {reading.name: out(reading) for _, _, reading in rows}

    def readings_since(self, rollout_id: int, since: dt.datetime) -> dict[str, list[KpiRecord]]:
        rows = sorted(
            (r.reading.at, i, r.reading)
            for i, r in self.t.readings.items()
            if r.rollout_id == rollout_id
        )
        found: dict[str, list[KpiRecord]] = {}
        for at, _, reading in rows:
            kept = found.setdefault(reading.name, [])
            if at <= since:
                kept.clear()  # a later reading at or before ``since`` stands instead
            kept.append(out(reading))
        return found

    # notifications (transactional outbox) ------------------------------------------------
    def add_notification(
        self, key: str, *, event: str, model: str | None, body: dict[str, Any], at: dt.datetime
    ) -> bool:
        """Record a notification once; False when this key was recorded before."""
        if key in self.t.notifications:
            return False
        self.t.notifications[key] = NotificationRow(
            event=event, model=model, body=canonical_json(body), created_at=utc(at), routed=False
        )
        return True

    def has_notification(self, key: str) -> bool:
        return key in self.t.notifications

    def unrouted_notifications(self) -> list[tuple[str, dict[str, Any]]]:
        rows = sorted(self.t.notifications.items(), key=lambda kv: kv[1].created_at)
        return [(key, json.loads(n.body)) for key, n in rows if not n.routed]

    def mark_routed(self, key: str) -> None:
        row = one(self.t.notifications, key, "notifications")
        self.t.notifications[key] = NotificationRow(
            row.event, row.model, row.body, row.created_at, routed=True
        )

    def notifications(self, *, model: str | None = None) -> list[dict[str, Any]]:
        rows = sorted(self.t.notifications.items(), key=lambda kv: (kv[1].created_at, kv[0]))
        return [json.loads(n.body) for _, n in rows if model is None or n.model == model]

    def add_delivery(self, delivery: Delivery) -> bool:
        """Queue one delivery; False when this (notification, channel) is already queued."""
        if self._delivery_id(delivery) is not None:
            return False
        n_id, channel = delivery.key
        row = DeliveryRow(n_id, channel, delivery.status, None, delivery.model_dump_json())
        self.t.deliveries[self.t.next_id("deliveries")] = _scheduled(row, delivery)
        return True

    def due_deliveries(self, now: dt.datetime) -> list[Delivery]:
        now = utc(now)
        due = [
            (row.next_attempt_at, i, row)
            for i, row in self.t.deliveries.items()
            if row.status == "pending"
            and row.next_attempt_at is not None
            and row.next_attempt_at <= now
        ]
        return [Delivery.model_validate_json(row.body) for *_, row in sorted(due)]

    def update_delivery(self, delivery: Delivery) -> None:
        found = self._delivery_id(delivery)
        if found is None:
            raise NotFound(f"no deliveries row {delivery.key!r} in the store")
        row = self.t.deliveries[found]
        self.t.deliveries[found] = _scheduled(row, delivery)

    def claim_delivery(self, key: tuple[str, str], now: dt.datetime, until: dt.datetime) -> bool:
        for i, row in self.t.deliveries.items():
            if (row.notification_id, row.channel) != key:
                continue
            due = row.next_attempt_at
            if row.status != "pending" or due is None or due > utc(now):
                return False
            self.t.deliveries[i] = dataclasses.replace(row, next_attempt_at=utc(until))
            return True
        return False

    def all_deliveries(self) -> list[Delivery]:
        rows = (row for _, row in sorted(self.t.deliveries.items()))
        return [Delivery.model_validate_json(row.body) for row in rows]

    def _delivery_id(self, delivery: Delivery) -> int | None:
        n_id, channel = delivery.key
        for i, row in self.t.deliveries.items():
            if (row.notification_id, row.channel) == (n_id, channel):
                return i
        return None


def _scheduled(row: DeliveryRow, delivery: Delivery) -> DeliveryRow:
    """``row`` holding ``delivery``: its status and next attempt as columns, and as JSON."""
    return DeliveryRow(
        row.notification_id,
        row.channel,
        delivery.status,
        utc_or_none(delivery.next_attempt_at),
        delivery.model_dump_json(),
    )
