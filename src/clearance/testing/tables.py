"""The in-memory store's tables: plain dicts of immutable rows, copied at the start of a
transaction (copy-on-begin), so a commit swaps the copy in and a rollback drops it.

The rules the SQL schema enforces (``adapters/store/schema.py``) live here as checks: keys
and unique columns raise ``StoreConflict``, a row that points at no row raises it too (a
foreign key), a naive time is refused, and JSON columns round-trip through canonical JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from pydantic import BaseModel

from clearance.adapters.store.access import StoredResponse
from clearance.core.approvals import Approval
from clearance.core.audit import AuditEvent
from clearance.core.hashing import canonical_json
from clearance.errors import NotFound, StoreConflict
from clearance.notify.outbox import DeliveryStatus
from clearance.service.records import (
    CheckpointRecord,
    DecisionRecord,
    KpiRecord,
    ModelRecord,
    PolicyRecord,
    RequestRecord,
    ReviewRecord,
    RolloutRecord,
    StoredEvidence,
    TokenRecord,
    User,
    VersionRecord,
    WaiverRecord,
)

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class TokenRow:
    record: TokenRecord
    secret_sha256: str


@dataclass(frozen=True)
class ApprovalRow:
    request_id: int
    approval: Approval


@dataclass(frozen=True)
class EventRow:
    event: AuditEvent
    model: str | None


@dataclass(frozen=True)
class ReadingRow:
    rollout_id: int
    reading: KpiRecord


@dataclass(frozen=True)
class NotificationRow:
    event: str
    model: str | None
    body: str  # canonical JSON, as the SQL store keeps it
    created_at: dt.datetime
    routed: bool


@dataclass(frozen=True)
class DeliveryRow:
    notification_id: str
    channel: str
    status: DeliveryStatus
    next_attempt_at: dt.datetime | None
    body: str  # ``Delivery.model_dump_json()``


@dataclass
class Tables:
    """Every table; rows are never changed in place, only replaced in a transaction's copy."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[int, TokenRow] = field(default_factory=dict)
    models: dict[int, ModelRecord] = field(default_factory=dict)
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    evidence: dict[int, StoredEvidence] = field(default_factory=dict)
    policies: dict[int, PolicyRecord] = field(default_factory=dict)
    requests: dict[int, RequestRecord] = field(default_factory=dict)
    approvals: dict[int, ApprovalRow] = field(default_factory=dict)
    decisions: dict[int, DecisionRecord] = field(default_factory=dict)
    reviews: dict[int, ReviewRecord] = field(default_factory=dict)  # by request id
    events: list[EventRow] = field(default_factory=list)
    checkpoints: list[CheckpointRecord] = field(default_factory=list)
    waivers: dict[int, WaiverRecord] = field(default_factory=dict)
    rollouts: dict[int, RolloutRecord] = field(default_factory=dict)
    readings: dict[int, ReadingRow] = field(default_factory=dict)
    notifications: dict[str, NotificationRow] = field(default_factory=dict)
    deliveries: dict[int, DeliveryRow] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    last_ids: dict[str, int] = field(default_factory=dict)

    def copy(self) -> Tables:
        """A copy whose tables can change without touching this one (rows are immutable)."""
        return Tables(**{f.name: type(v)(v) for f in fields(self) for v in [getattr(self, f.name)]})

    def next_id(self, table: str) -> int:
        """The next row id of ``table``: 1, 2, ... (a rolled-back insert does not use one up)."""
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]


class Repo:
    """What every part of the in-memory ``Tx`` works on: one transaction's tables."""

    t: Tables
    writing: bool


def utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC, as the store's ``UtcDateTime`` column gives it back."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use UTC")
    return value.astimezone(dt.UTC)


def utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else utc(value)


def utc_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every time in UTC (for the ``**fields`` inserts)."""
    return {k: utc(v) if isinstance(v, dt.datetime) else v for k, v in values.items()}


def as_json(value: Any) -> Any:
    """``value`` as it comes back from a canonical JSON text column."""
    return json.loads(canonical_json(value))


def out(record: R) -> R:
    """A copy for the caller: changing a returned record never changes the store."""
    return record.model_copy(deep=True)


def outs(records: Iterable[R]) -> list[R]:
    return [out(r) for r in records]


def conflict(detail: str) -> StoreConflict:
    return StoreConflict(f"the change conflicts with stored data: {detail}")


def unique(table: str, columns: str) -> StoreConflict:
    return conflict(f"UNIQUE constraint failed: {table}.{columns}")


def require(rows: Mapping[Any, Any], key: Any, table: str, column: str) -> None:
    """A foreign key: ``key`` must name a row of ``rows``."""
    if key not in rows:
        raise conflict(f"FOREIGN KEY constraint failed: {column} {key!r} names no {table} row")


def one(rows: Mapping[Any, T], key: Any, table: str) -> T:
    """The row ``key`` of ``rows``; an unknown key is a caller's mistake (``NotFound``)."""
    try:
        return rows[key]
    except KeyError:
        raise NotFound(f"no {table} row {key!r} in the store") from None
