"""The relational schema: the same tables on SQLite and PostgreSQL.

Alembic migrations (``migrations/versions``) create these tables; this module is what the
code queries. JSON is stored as canonical text (not JSONB) so that what is hashed is exactly
what is stored. Two guarantees live in the database itself: a version is registered once
per model, and a production slot (``production_slot``) is held by at most one version.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    roles: Mapped[str] = mapped_column(Text)  # canonical JSON list
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (  # pages of a team's or a tier's models, in name order (migration 0007)
        Index("ix_models_team_name", "team", "name"),
        Index("ix_models_risk_tier_name", "risk_tier", "name"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    risk_tier: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(200))
    tags: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class VersionRow(Base):
    __tablename__ = "versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_versions_model_version"),
        UniqueConstraint("model_id", "production_slot", name="uq_versions_production_slot"),
        Index("ix_versions_model_id_id", "model_id", "id"),  # a model's versions by id (0008)
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[str] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(100))
    production_slot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous_production_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    record: Mapped[str] = mapped_column(Text)  # immutable registration record (canonical JSON)
    registered_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    stage_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class EvidenceRow(Base):
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stored: Mapped[int] = mapped_column(Integer)  # 1: content is in the blob store
    attached_by: Mapped[str] = mapped_column(String(200))
    attached_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # a dataset's column roles as the manifest mapped them (canonical JSON), else NULL
    column_roles: Mapped[str | None] = mapped_column(Text, nullable=True)


class PolicyRow(Base):
    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_policies_name_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    sources: Mapped[str] = mapped_column(Text)  # JSON [[file, text], ...] as applied
    applied_by: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RequestRow(Base):
    __tablename__ = "requests"
    __table_args__ = (  # the queue (open requests, by id) and a page's models' requests (0007)
        Index("ix_requests_status_id", "status", "id"),
        Index("ix_requests_model_id_status", "model_id", "status"),
        Index("ix_requests_model_id_id", "model_id", "id"),  # a model's requests by id (0008)
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    from_stage: Mapped[str] = mapped_column(String(100))
    to_stage: Mapped[str] = mapped_column(String(100))
    change_type: Mapped[str] = mapped_column(String(20))
    requester: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    ticket: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ApprovalRow(Base):
    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    approver: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    ticket: Mapped[str] = mapped_column(String(200))
    evidence_digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DecisionRow(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    digest: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    inputs: Mapped[str] = mapped_column(Text)  # everything replay needs (canonical JSON)
    result: Mapped[str] = mapped_column(Text)  # the Decision as recorded (canonical JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # core.analytics.gate_facts of ``result`` (JSON), what analytics reads; null: not yet made
    gate_facts: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(40))  # ISO 8601 text: hashed exactly as stored
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(400))
    model: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHeadRow(Base):
    """One row, locked by every writing transaction: writers append to the chain in turn."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class CheckpointRow(Base):
    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    signature: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))


class WaiverRow(Base):
    __tablename__ = "waivers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    gate_id: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    justification: Mapped[str] = mapped_column(Text)
    controls: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReviewRow(Base):
    """The post-incident review an emergency change owes."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    summary: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RolloutRow(Base):
    __tablename__ = "rollouts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), unique=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    control_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    step: Mapped[int] = mapped_column(Integer)
    traffic: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    step_started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class KpiReadingRow(Base):
    __tablename__ = "kpi_readings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    canary: Mapped[float] = mapped_column(Float)
    control: Mapped[float | None] = mapped_column(Float, nullable=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))


class NotificationRow(Base):
    """The transactional outbox: written with the change that caused it, delivered later."""

    __tablename__ = "notifications"
    id: Mapped[str] = mapped_column(String(300), primary_key=True)  # idempotency key
    event: Mapped[str] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body: Mapped[str] = mapped_column(Text)  # the Notification as canonical JSON
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    routed: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryRow(Base):
    """One notification to one channel; the ``Delivery`` record itself is kept as JSON."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "channel", name="uq_deliveries_once"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    body: Mapped[str] = mapped_column(Text)


class TokenRow(Base):
    """An API token: only the sha256 of its secret is kept, so a database leak leaks no token."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # the token a non-admin made this one with over the API: revoking it ends this one too
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class IdempotencyRow(Base):
    """The stored response to a mutating API call made with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None while running
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LeaseRow(Base):
    """A leader lease (``service/leader.py``): kept when released, so its epoch counts on."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(Integer)  # the fencing token: +1 per new holder
    acquired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
