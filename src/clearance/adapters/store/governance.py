"""Repository operations for governance: waivers, reviews, rollouts, the notification outbox.

Mixed into ``SqlTx`` so every use case still runs in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from clearance.adapters.store.database import one
from clearance.adapters.store.schema import (
    DeliveryRow,
    KpiReadingRow,
    NotificationRow,
    ReviewRow,
    RolloutRow,
    WaiverRow,
)
from clearance.core.hashing import canonical_json
from clearance.errors import NotFound
from clearance.service.records import (
    KpiRecord,
    ReviewRecord,
    RolloutRecord,
    RolloutState,
    WaiverRecord,
)

if TYPE_CHECKING:  # the outbox's record is read by the deliveries' methods, when they are used
    from clearance.notify.outbox import Delivery


def _waiver(row: WaiverRow) -> WaiverRecord:
    data = {c: getattr(row, c) for c in WaiverRecord.model_fields if c != "controls"}
    return WaiverRecord(**data, controls=json.loads(row.controls))


class GovernanceRepo:
    s: Session

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
        row = WaiverRow(
            model=model,
            version=version,
            gate_id=gate_id,
            expires_at=expires_at,
            justification=justification,
            controls=canonical_json(list(controls)),
            granted_by=granted_by,
            granted_at=at,
        )
        self.s.add(row)
        self.s.flush()
        return _waiver(row)

    def get_waiver(self, waiver_id: int) -> WaiverRecord | None:
        row = self.s.get(WaiverRow, waiver_id)
        return None if row is None else _waiver(row)

    def revoke_waiver(
        self, waiver_id: int, *, by: str, reason: str, at: dt.datetime
    ) -> WaiverRecord:
        row = one(self.s, WaiverRow, waiver_id)
        row.revoked_at, row.revoked_by, row.revoke_reason = at, by, reason
        self.s.flush()
        return _waiver(row)

    def list_waivers(self, *, model: str | None = None) -> list[WaiverRecord]:
        stmt = select(WaiverRow).order_by(WaiverRow.id)
        if model is not None:
            stmt = stmt.where(WaiverRow.model == model)
        return [_waiver(r) for r in self.s.scalars(stmt)]

    # reviews -----------------------------------------------------------------------------
    def add_review(self, review: ReviewRecord) -> None:
        self.s.add(
            ReviewRow(
                request_id=review.request_id,
                summary=review.summary,
                actions=canonical_json(review.actions),
                recorded_by=review.recorded_by,
                recorded_at=review.recorded_at,
            )
        )
        self.s.flush()

    def get_review(self, request_id: int) -> ReviewRecord | None:
        row = self.s.scalars(select(ReviewRow).where(ReviewRow.request_id == request_id)).first()
        if row is None:
            return None
        return ReviewRecord(
            request_id=row.request_id,
            summary=row.summary,
            actions=json.loads(row.actions),
            recorded_by=row.recorded_by,
            recorded_at=row.recorded_at,
        )

    # rollouts ----------------------------------------------------------------------------
    def add_rollout(self, **fields: Any) -> RolloutRecord:
        row = RolloutRow(**fields)
        self.s.add(row)
        self.s.flush()
        return RolloutRecord.model_validate(row, from_attributes=True)

    def update_rollout(self, rollout_id: int, **fields: Any) -> RolloutRecord:
        row = one(self.s, RolloutRow, rollout_id)
        for key, value in fields.items():
            setattr(row, key, value)
        self.s.flush()
        return RolloutRecord.model_validate(row, from_attributes=True)

    def rollouts(
        self, *, model_id: int | None = None, status: RolloutState | None = None
    ) -> list[RolloutRecord]:
        stmt = select(RolloutRow).order_by(RolloutRow.id)
        if model_id is not None:
            stmt = stmt.where(RolloutRow.model_id == model_id)
        if status is not None:
            stmt = stmt.where(RolloutRow.status == status)
        return [RolloutRecord.model_validate(r, from_attributes=True) for r in self.s.scalars(stmt)]

    def add_reading(self, rollout_id: int, reading: KpiRecord) -> None:
        self.s.add(KpiReadingRow(rollout_id=rollout_id, **reading.model_dump()))
        self.s.flush()

    def latest_readings(self, rollout_id: int) -> dict[str, KpiRecord]:
        stmt = select(KpiReadingRow).where(KpiReadingRow.rollout_id == rollout_id)
        latest: dict[str, KpiRecord] = {}
        for r in self.s.scalars(stmt.order_by(KpiReadingRow.at, KpiReadingRow.id)):
            latest[r.name] = KpiRecord(
                name=r.name, canary=r.canary, control=r.control, at=r.at, recorded_by=r.recorded_by
            )
        return latest

    def readings_since(self, rollout_id: int, since: dt.datetime) -> dict[str, list[KpiRecord]]:
        mine = KpiReadingRow.rollout_id == rollout_id
        standing = (
            select(KpiReadingRow.name, func.max(KpiReadingRow.at))
            .where(mine, KpiReadingRow.at <= since)
            .group_by(KpiReadingRow.name)
        )
        anchors: dict[str, dt.datetime] = dict(self.s.execute(standing).all())
        floor = min(anchors.values(), default=since)
        stmt = select(KpiReadingRow).where(mine, KpiReadingRow.at >= floor)
        out: dict[str, list[KpiRecord]] = {}
        for r in self.s.scalars(stmt.order_by(KpiReadingRow.at, KpiReadingRow.id)):
            anchor = anchors.get(r.name)
            if anchor is not None and r.at < anchor:
                continue
            kept = out.setdefault(r.name, [])
            if anchor is not None and r.at == anchor and kept:
                kept.clear()  # of several readings at the anchor's time, the last stands
            kept.append(KpiRecord.model_validate(r, from_attributes=True))
        return out

    # notifications (transactional outbox) ------------------------------------------------
    def add_notification(
        self, key: str, *, event: str, model: str | None, body: dict[str, Any], at: dt.datetime
    ) -> bool:
        """Record a notification once; False when this key was recorded before."""
        if self.s.get(NotificationRow, key) is not None:
            return False
        self.s.add(
            NotificationRow(
                id=key, event=event, model=model, body=canonical_json(body), created_at=at, routed=0
            )
        )
        self.s.flush()
        return True

    def has_notification(self, key: str) -> bool:
        return self.s.get(NotificationRow, key) is not None

    def unrouted_notifications(self) -> list[tuple[str, dict[str, Any]]]:
        stmt = select(NotificationRow).where(NotificationRow.routed == 0)
        return [
            (r.id, json.loads(r.body))
            for r in self.s.scalars(stmt.order_by(NotificationRow.created_at))
        ]

    def mark_routed(self, key: str) -> None:
        one(self.s, NotificationRow, key).routed = 1
        self.s.flush()

    def notifications(self, *, model: str | None = None) -> list[dict[str, Any]]:
        stmt = select(NotificationRow).order_by(NotificationRow.created_at, NotificationRow.id)
        if model is not None:
            stmt = stmt.where(NotificationRow.model == model)
        return [json.loads(r.body) for r in self.s.scalars(stmt)]

    def add_delivery(self, delivery: Delivery) -> bool:
        """Queue one delivery; False when this (notification, channel) is already queued."""
        n_id, channel = delivery.key
        stmt = select(DeliveryRow).where(
            DeliveryRow.notification_id == n_id, DeliveryRow.channel == channel
        )
        if self.s.scalars(stmt).first() is not None:
            return False
        self.s.add(
            DeliveryRow(
                notification_id=n_id,
                channel=channel,
                status=delivery.status,
                next_attempt_at=delivery.next_attempt_at,
                body=delivery.model_dump_json(),
            )
        )
        self.s.flush()
        return True

    def due_deliveries(self, now: dt.datetime) -> list[Delivery]:
        stmt = select(DeliveryRow).where(
            DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now
        )
        rows = self.s.scalars(stmt.order_by(DeliveryRow.next_attempt_at, DeliveryRow.id))
        from clearance.notify.outbox import Delivery

        return [Delivery.model_validate_json(r.body) for r in rows]

    def update_delivery(self, delivery: Delivery) -> None:
        n_id, channel = delivery.key
        stmt = select(DeliveryRow).where(
            DeliveryRow.notification_id == n_id, DeliveryRow.channel == channel
        )
        row = self.s.scalars(stmt).one_or_none()
        if row is None:
            raise NotFound(f"no deliveries row {delivery.key!r} in the store")
        row.status, row.next_attempt_at = delivery.status, delivery.next_attempt_at
        row.body = delivery.model_dump_json()
        self.s.flush()

    def claim_delivery(self, key: tuple[str, str], now: dt.datetime, until: dt.datetime) -> bool:
        """One conditional UPDATE: of dispatchers racing for the row, one changes it (the
        others' WHERE no longer holds once it commits; PostgreSQL re-checks it after the
        winner's row lock is released, SQLite has one writer at a time)."""
        n_id, channel = key
        done = self.s.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.notification_id == n_id,
                DeliveryRow.channel == channel,
                DeliveryRow.status == "pending",
                DeliveryRow.next_attempt_at <= now,
            )
            .values(next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def all_deliveries(self) -> list[Delivery]:
        rows = self.s.scalars(select(DeliveryRow).order_by(DeliveryRow.id))
        from clearance.notify.outbox import Delivery

        return [Delivery.model_validate_json(r.body) for r in rows]
