"""Results are plain data: gate results, approval status and the Decision.

A Decision carries the digest of every input it was computed from, so it can be stored,
compared and replayed; it also knows its own exit code.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal, TypeVar

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


_Model = TypeVar("_Model", bound=BaseModel)


def assemble(model: type[_Model], fields: dict[str, Any], given: set[str]) -> _Model:
    """``model(**{k: fields[k] for k in given})`` without validation, for the engine's hot path.

    Only for a frozen model and values the caller has made of each field's exact type
    (validation would return them unchanged), with every field present in declaration order:
    the instance is then equal, field for field and in its JSON, to the validated one.
    Validating ~20 results per decision was a third of the engine's time (issue 12.3).
    ``given`` (the fields set) is shared, not copied: Pydantic copies it before any change
    (``model_copy``) and a frozen model never adds to it.
    """
    made = _new(model)
    _set(made, "__dict__", fields)
    _fields_set(made, given)
    _extra(made, None)
    _private(made, None)
    return made


# Pydantic's instance slots, set through their descriptors: cheaper than ``object.__setattr__``
_new, _set = object.__new__, object.__setattr__
_fields_set, _extra, _private = (
    BaseModel.__dict__[name].__set__
    for name in ("__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
)


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
