"""What the service layer reads from and writes to the store: plain, typed records."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clearance.core.version import EvidenceItem

RequestStatus = Literal["pending", "blocked", "executed", "rejected", "cancelled"]
OPEN_STATUSES: tuple[RequestStatus, ...] = ("pending", "blocked")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class User(Record):
    name: str
    roles: list[str]
    created_at: dt.datetime


class ModelRecord(Record):
    id: int
    name: str
    risk_tier: str
    owner: str
    team: str
    tags: dict[str, str]
    created_at: dt.datetime


class VersionRecord(Record):
    id: int
    model_id: int
    version: str
    stage: str
    production_slot: int | None
    previous_production_id: int | None = None
    record: dict[str, Any] = Field(description="The immutable registration record.")
    registered_by: str
    created_at: dt.datetime
    stage_changed_at: dt.datetime


class StoredEvidence(Record):
    id: int
    version_id: int
    item: EvidenceItem
    stored: bool
    attached_by: str
    attached_at: dt.datetime


class PolicyRecord(Record):
    id: int
    name: str
    version: str
    content_hash: str
    sources: list[tuple[str, str]]
    applied_by: str
    applied_at: dt.datetime


class RequestRecord(Record):
    id: int
    model_id: int
    version_id: int
    policy_id: int
    from_stage: str
    to_stage: str
    change_type: str
    requester: str
    reason: str
    ticket: str
    status: RequestStatus
    created_at: dt.datetime
    updated_at: dt.datetime


class DecisionRecord(Record):
    id: int
    request_id: int
    policy_id: int
    digest: str
    outcome: str
    inputs: dict[str, Any]
    result: dict[str, Any]
    created_at: dt.datetime


class CheckpointRecord(Record):
    seq: int
    hash: str
    time: dt.datetime
    signature: str
    key_id: str
