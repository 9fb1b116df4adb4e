"""Request bodies and response envelopes of the API (Pydantic only, shared with the SDK)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clearance.core.audit import AuditEvent
from clearance.core.durations import Duration
from clearance.core.names import Name
from clearance.core.results import Decision
from clearance.service.records import (
    KpiRecord,
    RequestRecord,
    RolloutRecord,
    TokenRecord,
    VersionRecord,
    WaiverRecord,
)

T = TypeVar("T")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Body(BaseModel):
    """A JSON request body: unknown fields are refused, and so are NUL characters (no
    database stores them in text)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text may not contain NUL (\\u0000) characters")
        return data


class Page(BaseModel, Generic[T]):
    """One page of a list; ask for the next with ``offset + limit`` while it is below total."""

    items: list[T]
    total: int
    limit: int
    offset: int


def page(items: list[T], limit: int, offset: int) -> dict[str, Any]:
    """A page cut from the whole list (for the lists that are small)."""
    return paged(items[offset : offset + limit], len(items), limit, offset)


def paged(items: list[T], total: int, limit: int, offset: int) -> dict[str, Any]:
    """A page the service already cut (for the lists that cost per row)."""
    return {"items": items, "total": total, "limit": limit, "offset": offset}


class PromoteBody(Body):
    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    to: str = Field(min_length=1, description="Target stage.")
    change_type: str = Field(default="standard", description="standard, emergency, experiment.")
    reason: str = ""
    ticket: str = ""


class SignBody(Body):
    reason: str = ""
    ticket: str = ""


class RequestResultOut(BaseModel):
    """A promotion request after a decision: the request, the decision, whether it executed."""

    request: RequestRecord
    decision: Decision
    decision_number: int
    executed: bool
    exit_code: int = Field(description="What the CLI would exit with: 0 ok, 1 blocked.")


class RollbackBody(Body):
    reason: str = Field(description="Why (kept in the audit trail).")
    to_version: str | None = Field(default=None, description="Default: the previous one.")


class RollbackOut(BaseModel):
    rolled_back: VersionRecord
    restored: VersionRecord


# --- users and tokens ---------------------------------------------------------------------

UserName = Annotated[
    Name, Field(description="A user name, as tokens and the audit trail name them (no spaces).")
]
Role = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x20\x7f]+$")]


class UserBody(Body):
    name: UserName
    roles: list[Role] = Field(description="e.g. ml_engineer, model_owner, risk_officer, admin.")


class RolesBody(Body):
    roles: list[Role] = Field(description="The user's roles from now on (replacing the old).")


class TokenBody(Body):
    user: UserName | None = Field(default=None, description="Who it acts for (default: you).")
    name: str = Field(default="", max_length=200, description="What it is for, e.g. 'ci'.")
    expires_in: Duration | None = Field(
        default=None, description="Lifetime, e.g. 90d, 12h or 2w (default: never expires)."
    )


class TokenCreated(BaseModel):
    """A new token; ``secret`` is shown this once and never again (only its sha256 is kept)."""

    token: TokenRecord
    secret: str


# --- waivers, reviews, rollouts ----------------------------------------------------------


class WaiverBody(Body):
    """The parameters of ``Waivers.grant`` (``clearance waiver grant``). Give the expiry as
    ``until`` (a time; without a zone it is UTC) or as ``expires_in`` from now (e.g. 14d)."""

    model: str = Field(min_length=1)
    gate: str = Field(min_length=1, description="Gate id in the governing policy.")
    version: str | None = Field(default=None, description="Only this version (default: all).")
    until: dt.datetime | None = Field(default=None, description="When it expires.")
    expires_in: Duration | None = Field(default=None, description="Or: lifetime.")
    justification: str = Field(min_length=1, description="Why the exception.")
    controls: list[str] = Field(min_length=1, description="Compensating controls.")


class WaiverOut(BaseModel):
    """A waiver (the fields of a ``WaiverRecord``) with its state now."""

    model_config = ConfigDict(extra="forbid")

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
    state: Literal["active", "expired", "revoked"]

    @classmethod
    def of(cls, waiver: WaiverRecord, now: dt.datetime) -> WaiverOut:
        return cls.model_validate({**waiver.model_dump(), "state": waiver.state(now)})


class RevokeBody(Body):
    reason: str = Field(min_length=1, description="Why (kept in the audit trail).")


class ReviewBody(Body):
    """The parameters of ``Governance.record_review`` (``clearance review record``)."""

    summary: str = Field(min_length=1, description="What happened and why.")
    actions: list[str] = Field(default_factory=list, description="Follow-up actions.")


class RolloutBody(Body):
    version: str = Field(min_length=1, description="The approved version to start the canary of.")


class KpiIn(Body):
    canary: float = Field(allow_inf_nan=False, description="The canary's reading.")
    control: float | None = Field(
        default=None, allow_inf_nan=False, description="The control version's reading."
    )


class ObserveBody(Body):
    """The parameters of ``Rollouts.observe`` (``clearance rollout observe``)."""

    readings: dict[str, KpiIn] = Field(
        min_length=1, description="KPI name → its canary (and control) reading."
    )


class ObserveOut(BaseModel):
    """What the readings made the rollout do: hold, advance, complete or rollback."""

    rollout: RolloutRecord = Field(description="The rollout after the readings.")
    action: Literal["hold", "advance", "complete", "rollback"]
    reason: str
    breaches: list[str]


class RolloutStatus(BaseModel):
    """The model's latest rollout, with its latest KPI readings (``clearance rollout status``)."""

    id: int
    model: str
    request: int
    canary: str
    control: str | None
    step: int = Field(description="1-based step of the plan.")
    traffic: float
    status: Literal["running", "completed", "rolled_back"]
    reason: str
    started_at: str
    step_started_at: str
    readings: dict[str, KpiRecord]


class TickOut(BaseModel):
    """What one run of the time-based work did (``clearance tick``)."""

    actions: list[str]
    routed: int = Field(description="Alerts routed to their channels.")
    delivered: int
    retrying: int
    failed: int


# --- decisions and audit -----------------------------------------------------------------


class ReplayOut(BaseModel):
    """A stored decision recomputed from its recorded inputs (``clearance replay --json``)."""

    decision: int
    decision_id: str
    recorded_outcome: str
    replayed_outcome: str
    differences: list[str]
    current_policy: str | None = None
    current_outcome: str | None = None
    current_differences: list[str] = Field(default_factory=list)
    identical: bool
    exit_code: int = Field(description="What the CLI would exit with: 0 identical, 1 not.")


class AuditPage(BaseModel):
    """Audit events in seq order; ask for more with ``after=next_after`` until it is null."""

    items: list[AuditEvent]
    next_after: int | None


class ChainFaultOut(BaseModel):
    seq: int | None
    kind: str
    message: str


class StateDifferenceOut(BaseModel):
    """A table row or field the audit trail does not account for."""

    table: str
    key: str
    field: str
    expected: Any = Field(description="What the events imply (null: no event made the row).")
    found: Any = Field(description="What the table holds (null: the row is missing).")
    seq: int | None = Field(description="The event that set the expected value.")
    message: str


class BlobFaultOut(BaseModel):
    sha256: str
    kind: str = Field(description="corrupted or missing")
    used_by: str
    message: str


class VerifyOut(BaseModel):
    """The chain recomputed, the checkpoints checked, the state the events imply compared
    with the tables, and (``blobs=true``) every blob re-hashed (``clearance audit verify
    --json``)."""

    ok: bool
    events: int
    head_seq: int
    head_hash: str
    checkpoints: int
    fault: ChainFaultOut | None
    warnings: list[str] = Field(default_factory=list)
    key_id: str | None = None
    state_checked: bool = False
    differences: list[StateDifferenceOut] = Field(default_factory=list)
    blobs_checked: int | None = None
    blob_faults: list[BlobFaultOut] = Field(default_factory=list)


class PublicKeyOut(BaseModel):
    """The Ed25519 key auditors verify checkpoints with, offline."""

    key_id: str
    public_key_hex: str
    pem: str


# --- the read views (``clearance status`` / ``request list`` / ``request show`` --json) ----


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RequestRow(View):
    """A promotion request as lists show it, with its latest decision in brief."""

    id: int
    model: str
    version: str
    from_stage: str = Field(alias="from")
    to: str
    change_type: str
    requester: str
    reason: str
    ticket: str
    status: str
    created_at: str
    updated_at: str
    decision: int | None = Field(description="Number of the latest decision.")
    outcome: str | None
    summary: str | None


class DecisionRef(View):
    id: int
    digest: str
    outcome: str
    at: str


class RequestDetail(RequestRow):
    """One request with its sign-offs and every decision (the latest in full)."""

    approvals: list[dict[str, Any]]
    decisions: list[DecisionRef]
    latest_decision: dict[str, Any] | None = Field(description="The Decision as recorded.")


class VersionStage(View):
    version: str
    stage: str
    since: str
    registered_by: str


class EmergencyChange(View):
    request: int
    version: str
    executed_at: str
    review: bool = Field(description="Whether its post-incident review is recorded.")


class RunningRollout(View):
    id: int
    version: str
    status: str
    traffic: float


class ModelStatus(View):
    """Where a model's versions stand, its governing policy, and what is open or owed."""

    model: str
    risk_tier: str
    owner: str
    team: str
    tags: dict[str, str]
    policy: str = Field(description="name@version, or 'none: why'.")
    versions: list[VersionStage]
    open_requests: list[RequestRow]
    emergency_changes: list[EmergencyChange]
    non_compliant: list[str]
    rollouts: list[RunningRollout]
