"""Results are plain data: gate results, approval status and the Decision.

A Decision carries the digest of every input it was computed from, so it can be stored,
compared and replayed; it also knows its own exit code.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class GateStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"
    WAIVED = "waived"
    SKIPPED = "skipped"


class Outcome(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    NEEDS_APPROVAL = "needs_approval"


# Outcome's values as plain text: how records store and views serve an outcome.
OutcomeName = Literal["allow", "deny", "needs_approval"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GateResult(Frozen):
    gate_id: str
    type: str
    severity: str
    status: GateStatus
    observed: Any = None
    threshold: Any = None
    operator: str | None = None
    margin: float | None = Field(
        default=None, description="Distance to the threshold; positive is the safe side."
    )
    near_miss: bool = False
    message: str = ""
    remediation: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, str] = Field(
        default_factory=dict, description="sha256 of each evidence item the gate read."
    )
    waiver: str | None = Field(default=None, description="Waiver id, when waived.")
    waived_status: GateStatus | None = Field(
        default=None, description="What the status would be without the waiver."
    )
    owner: str = ""
    rationale: str = ""
    controls: list[str] = Field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return self.status in (GateStatus.FAIL, GateStatus.ERROR)


class RoleStatus(Frozen):
    role: str
    required: int
    approved_by: list[str] = Field(default_factory=list)

    @property
    def satisfied(self) -> bool:
        return len(self.approved_by) >= self.required


class ApprovalStatus(Frozen):
    roles: list[RoleStatus] = Field(default_factory=list)
    ignored: list[str] = Field(
        default_factory=list, description="Approvals that did not count, with the reason."
    )
    rejected_by: list[str] = Field(default_factory=list)

    @property
    def satisfied(self) -> bool:
        return not self.rejected_by and all(r.satisfied for r in self.roles)

    @property
    def pending(self) -> list[RoleStatus]:
        return [r for r in self.roles if not r.satisfied]


# The version of the statistical methods (kernels, resampling, tests). Bump it whenever a
# statistic's definition or its random stream changes: a replay of an older decision then
# shows ``inputs.methods`` among its differences, which explains why the numbers moved.
METHODS = "2"


class DecisionInputs(Frozen):
    """Digests of everything the decision depended on."""

    methods: str = Field(default=METHODS, description="Version of the statistical methods.")

    policy_hash: str
    version_digest: str
    evidence: dict[str, str] = Field(default_factory=dict)
    approvals_digest: str
    waivers_digest: str
    now: dt.datetime


class Decision(Frozen):
    decision_id: str = Field(description="sha256 over the inputs and the transition.")
    outcome: Outcome
    policy: str
    policy_version: str
    policy_hash: str
    model: str
    version: str
    from_stage: str
    to_stage: str
    change_type: str = "standard"
    gates: list[GateResult]
    approvals: ApprovalStatus
    inputs: DecisionInputs
    summary: str

    @property
    def exit_code(self) -> int:
        """0 when the gates allow the move (approvals may still be pending), 1 when denied."""
        return 1 if self.outcome is Outcome.DENY else 0

    def with_status(self, *statuses: GateStatus) -> list[GateResult]:
        return [g for g in self.gates if g.status in statuses]
