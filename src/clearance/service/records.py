"""What the service layer reads from and writes to the store: plain, typed records."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from clearance.core.results import OutcomeName
from clearance.core.version import EvidenceItem
from clearance.core.waivers import Waiver

RequestStatus = Literal[
    "pending",
    "blocked",
    "approved",
    "rolling_out",
    "executed",
    "rejected",
    "cancelled",
    "rolled_back",
]
OPEN_STATUSES: tuple[RequestStatus, ...] = ("pending", "blocked")
# ``RolloutStatus`` is the name of the rollout's view (service.rollouts), hence "state" here.
RolloutState = Literal["running", "completed", "rolled_back"]
WaiverState = Literal["active", "expired", "revoked"]
TokenState = Literal["active", "expired", "revoked"]
# A stored outcome is typed for the checker but read back as written, not re-validated: a row
# edited by hand still loads, so the audit replay can report it.
StoredOutcome = Annotated[OutcomeName, SkipValidation]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class User(Record):
    name: str
    roles: list[str]
    created_at: dt.datetime
    disabled_at: dt.datetime | None = Field(
        default=None, description="When set, the user cannot sign in and holds no live token."
    )


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
    outcome: StoredOutcome
    inputs: dict[str, Any]
    result: dict[str, Any]
    created_at: dt.datetime


class DecisionBrief(Record):
    """A decision's number, outcome and summary: what a list of requests shows."""

    id: int
    outcome: StoredOutcome
    summary: str | None


class CheckpointRecord(Record):
    seq: int
    hash: str
    time: dt.datetime
    signature: str
    key_id: str


class WaiverFields(Record):
    """A waiver as stored: what the record and the API's view (with its state) share."""

    id: int
    model: str
    version: str | None
    gate_id: str
    expires_at: dt.datetime
    justification: str
    controls: list[str]
    granted_by: str
    granted_at: dt.datetime
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    @property
    def label(self) -> str:
        return f"W-{self.id}"


class WaiverRecord(WaiverFields):
    def state(self, now: dt.datetime) -> WaiverState:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if now < self.expires_at else "expired"

    def as_waiver(self) -> Waiver:
        return Waiver(
            id=self.label,
            gate_id=self.gate_id,
            model=self.model,
            version=self.version,
            expires_at=self.expires_at,
            justification=self.justification,
            granted_by=self.granted_by,
            compensating_controls=self.controls,
            revoked=self.revoked_at is not None,
        )


class ReviewRecord(Record):
    request_id: int
    summary: str
    actions: list[str]
    recorded_by: str
    recorded_at: dt.datetime


class RolloutRecord(Record):
    id: int
    model_id: int
    request_id: int
    version_id: int
    control_version_id: int | None
    step: int
    traffic: float
    status: RolloutState
    reason: str
    started_at: dt.datetime
    step_started_at: dt.datetime
    ended_at: dt.datetime | None = None


class KpiRecord(Record):
    name: str
    canary: float
    control: float | None
    at: dt.datetime
    recorded_by: str


class TokenRecord(Record):
    """An API token as stored: who it acts for and whether it still works (never its secret)."""

    id: int
    user: str
    name: str
    prefix: str
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_by: str | None
    parent_id: int | None = None  # made with this token (a non-admin, over the API)

    def state(self, now: dt.datetime) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class TickOut(Record):
    """What one run of the time-based work did (``clearance tick``)."""

    actions: list[str]
    routed: int = Field(description="Alerts routed to their channels.")
    delivered: int
    retrying: int
    failed: int


TickSummary = TickOut  # the service's name for it; the API's schema keeps "TickOut"
