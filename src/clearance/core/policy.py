"""The policy language: what a ``clearance/v1`` Policy document may say.

These models are the single definition of the format: the loader validates files with
them, ``clearance policy schema`` publishes them as JSON Schema for editors, and the engine
reads them. Gate parameters are validated separately, by the model each gate type declares.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clearance.core.durations import Duration
from clearance.core.names import MAX_NAME

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
IDENT = r"^[a-z][a-z0-9_\-]*$"
RiskTier = Literal["low", "medium", "high", "critical"]
Severity = Literal["block", "warn"]
ChangeTypeName = Literal["standard", "emergency", "experiment"]
DEFAULT_STAGES = ["draft", "staging", "production", "deprecated", "archived"]
GATE_FIELDS = frozenset(
    {
        "id",
        "type",
        "params",
        "severity",
        "owner",
        "rationale",
        "remediation",
        "expires",
        "controls",
        "description",
        "near_miss",
    }
)


class Strict(BaseModel):
    """Unknown fields are errors: a typo in a policy must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Metadata(Strict):
    name: Annotated[str, Field(pattern=IDENT, description="Policy name, e.g. credit-risk.")]
    version: Annotated[str, Field(description="Semantic version of this policy, e.g. 1.2.0.")]
    owner: Annotated[str, Field(min_length=1, description="Who answers for this policy.")]
    description: str = ""

    @field_validator("version", mode="before")
    @classmethod
    def _semver(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML reads an unquoted 1.2 as a number: say what is wrong, not "not a string"
            raise ValueError(f"'{value}' is not a semantic version like 1.2.0")
        if isinstance(value, str) and not SEMVER.match(value):
            raise ValueError(f"'{value}' is not a semantic version like 1.2.0")
        return value


class Selector(Strict):
    """Which models this policy governs; every given field must match (an empty one: all)."""

    models: list[str] = Field(default_factory=list, description="Model names.")
    risk_tier: list[RiskTier] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict, description="Tags that must all match.")

    @field_validator("risk_tier", "models", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ApprovalRequirement(Strict):
    role: Annotated[str, Field(min_length=1)]
    count: Annotated[int, Field(ge=1, description="Distinct people needed in this role.")] = 1


class RolloutStep(Strict):
    traffic: Annotated[float, Field(gt=0, le=1, description="Share of traffic, e.g. 0.1.")]
    min_duration: Duration = Field(default="0m", description="e.g. 48h.")


class KpiLimit(Strict):
    """A production KPI bound; relative limits compare the canary with the control."""

    name: Annotated[str, Field(min_length=1)]
    max: float | None = None
    min: float | None = None
    max_relative_drop: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="Canary may not be below control by more than this share."
    )
    max_relative_increase: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _a_limit(self) -> KpiLimit:
        if all(v is None for v in (self.max, self.min, self.max_relative_drop,
                                   self.max_relative_increase)):  # fmt: skip
            raise ValueError("give max, min, max_relative_drop or max_relative_increase")
        return self


class RolloutPlan(Strict):
    """A canary after approval: traffic steps with minimum durations, rolled back on breach."""

    steps: list[RolloutStep] = Field(min_length=1)
    kpis: list[KpiLimit] = Field(default_factory=list)


class Transition(Strict):
    from_: Annotated[str, Field(alias="from")]
    to: str
    gates: list[str] = Field(default_factory=list)
    approvals: list[ApprovalRequirement] = Field(default_factory=list)
    rollout: RolloutPlan | None = Field(
        default=None, description="Canary plan; the move completes when the rollout does."
    )
    approval_sla: Duration | None = Field(
        default=None, description="Escalate approvals pending longer."
    )
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def key(self) -> str:
        return f"{self.from_} -> {self.to}"


class Workflow(Strict):
    stages: list[str] = Field(default_factory=lambda: list(DEFAULT_STAGES))
    transitions: list[Transition]
    max_production_versions: Annotated[int, Field(ge=1)] = 1
    production_stage: str = "production"


class ApprovalRules(Strict):
    """Separation of duties; relaxing either rule is visible in the policy itself."""

    allow_self_approval: bool = False
    one_person_counts_once: bool = Field(
        default=True, description="Two-person rule: a person fills one role slot, whatever roles."
    )


class ChangeType(Strict):
    bypass: list[str] = Field(default_factory=list, description="Gate ids this change skips.")
    approvals: list[ApprovalRequirement] | None = Field(
        default=None, description="Approvals that replace the transition's own."
    )
    allowed_stages: list[str] | None = Field(
        default=None, description="Stages this change type may reach (e.g. experiments)."
    )
    expires_after: Duration | None = None
    post_incident_review_within: Duration | None = None
    rollback_if_review_overdue: bool = Field(
        default=False, description="Roll back automatically when the review deadline passes."
    )


class WaiverRules(Strict):
    """Who may grant exceptions, for how long, and which gates never get one."""

    grantors: list[str] = Field(default_factory=list, description="Roles that may grant.")
    max_duration: Duration = "90d"
    not_waivable: list[str] = Field(default_factory=list, description="Gate ids.")


class Access(Strict):
    """Which roles may act on the models this policy governs; unset keeps the default roles.

    Approvals and waivers are not here: a transition's ``approvals`` and ``waivers.grantors``
    already name their roles.
    """

    register_: list[str] | None = Field(  # ``register`` would shadow ABCMeta.register
        default=None, alias="register", description="May register versions and attach evidence."
    )
    request: list[str] | None = Field(
        default=None, description="May request (and re-evaluate) promotions."
    )
    rollback: list[str] | None = Field(default=None, description="May roll production back.")
    rollout: list[str] | None = Field(
        default=None, description="May start canary rollouts and report their KPIs."
    )
    review: list[str] | None = Field(
        default=None, description="May record an emergency change's post-incident review."
    )


class ChangeControl(Strict):
    """Who must approve a new version of this policy before it applies.

    Judged by the version in force, never by the proposed one, so a change cannot hand its
    author the power to approve it; the author never counts, whatever ``approval_rules`` say.
    """

    approvals: list[ApprovalRequirement] = Field(
        default_factory=list,
        description="Sign-offs a change needs; empty: one policy_admin or admin (not the author).",
    )
    loosening_approvals: Annotated[int, Field(ge=2, le=20)] = Field(
        default=2,
        description="Distinct approvers (none the author) a change that loosens the policy needs.",
    )


class Escalation(Strict):
    contacts: list[str] = Field(default_factory=list, description="Notification channel names.")


class Settings(Strict):
    near_miss: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.05, description="A pass within this share of the threshold is a near miss."
    )


class GateSpec(Strict):
    """A gate as written; ``params`` holds the type-specific fields."""

    id: Annotated[str, Field(pattern=IDENT, max_length=MAX_NAME)]  # within the name rule
    type: Annotated[str, Field(min_length=1)]
    params: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = "block"
    owner: str = ""
    rationale: str = ""
    remediation: str = ""
    description: str = ""
    expires: dt.date | None = None
    controls: list[str] = Field(default_factory=list, description="Control tags, e.g. a clause.")
    near_miss: Annotated[float, Field(ge=0, le=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline_params(cls, data: Any) -> Any:
        """Type-specific fields may sit beside ``id`` and ``type`` (as in DESIGN.md)."""
        if not isinstance(data, dict):
            return data
        inline = {k: v for k, v in data.items() if k not in GATE_FIELDS}
        if not inline:
            return data
        given = data.get("params")
        params = dict(given) if isinstance(given, dict) else {}
        clash = sorted(set(inline) & set(params))
        if clash:
            raise ValueError(f"{', '.join(clash)} given both inline and under params")
        rest = {k: v for k, v in data.items() if k in GATE_FIELDS}
        return {**rest, "params": {**params, **inline}}


class Policy(Strict):
    api_version: Annotated[Literal["clearance/v1"], Field(alias="apiVersion")]
    kind: Literal["Policy"]
    metadata: Metadata
    selector: Selector = Field(default_factory=Selector)
    workflow: Workflow
    gates: list[GateSpec] = Field(default_factory=list)
    approval_rules: ApprovalRules = Field(default_factory=ApprovalRules)
    change_types: dict[ChangeTypeName, ChangeType] = Field(default_factory=dict)
    settings: Settings = Field(default_factory=Settings)
    waivers: WaiverRules = Field(default_factory=WaiverRules)
    escalation: Escalation = Field(default_factory=Escalation)
    access: Access = Field(default_factory=Access)
    change_control: ChangeControl = Field(default_factory=ChangeControl)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def gate(self, gate_id: str) -> GateSpec:
        for spec in self.gates:
            if spec.id == gate_id:
                return spec
        raise KeyError(gate_id)

    def transition(self, from_stage: str, to_stage: str) -> Transition | None:
        for t in self.workflow.transitions:
            if t.from_ == from_stage and t.to == to_stage:
                return t
        return None

    def transitions_to(self, to_stage: str) -> list[Transition]:
        return [t for t in self.workflow.transitions if t.to == to_stage]
