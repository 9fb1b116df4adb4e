"""The policy language: what a ``clearance/v1`` Policy document may say.

These models are the single definition of the format: the loader validates files with
them, ``clearance policy schema`` publishes them as JSON Schema for editors, and the engine
reads them. Gate parameters are validated separately, by the model each gate type declares.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from clearance.core.durations import Duration, parse_duration
from clearance.core.inference import InferenceSpec
from clearance.core.monitors import MonitorSpec
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


# KPI conditions -------------------------------------------------------------------------------
# ``[subject] op number[%]``: ``>= 0.005``, ``error_rate >= 0.5%``, ``drop >= 1%``, ``> 200``.
MAX_CONDITION = 200
MAX_CONDITIONS = 20
MAX_QUERY = 4096
Comparison = Literal[">", ">=", "<", "<="]
_OPS: dict[str, Comparison] = {">=": ">=", "≥": ">=", "<=": "<=", "≤": "<=", ">": ">", "<": "<"}
_CONDITION = re.compile(
    r"\s*(?:(?P<subject>[A-Za-z_][A-Za-z0-9_.\-]*)\s*)?(?P<op>>=|<=|≥|≤|>|<)\s*"
    r"(?P<number>[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?)\s*(?P<pct>%)?\s*"
)
KPI_SUBJECTS = {
    "value": "the canary's reading",
    "drop": "(control - canary) / |control|",
    "rise": "(canary - control) / |control|",
}


@dataclass(frozen=True)
class Condition:
    """One trigger as written: ``subject op threshold``, the threshold exactly as a decimal."""

    subject: str  # value, drop, rise (KPIs) or burn_rate (error budgets)
    op: Comparison
    threshold: Decimal
    text: str
    bound: bool = False  # written as max/min/max_relative_*: the threshold itself is allowed

    def holds(self, observed: Decimal) -> bool:
        """Whether ``observed`` meets the condition: >= and <= include the threshold."""
        if self.op == ">=":
            return observed >= self.threshold
        if self.op == ">":
            return observed > self.threshold
        if self.op == "<=":
            return observed <= self.threshold
        return observed < self.threshold


def parse_condition(text: str, *, kpi: str | None = None, budget: bool = False) -> Condition:
    """``'error_rate >= 0.5%'`` -> Condition('value', '>=', 0.005); a ValueError says why not.

    The subject may be left out (the canary's value, or the burn rate of a budget); a KPI's
    own name means its value."""
    if len(text) > MAX_CONDITION:
        raise ValueError(f"a condition is at most {MAX_CONDITION} characters")
    match = _CONDITION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a condition like '>= 0.005', 'drop >= 1%' or '> 200': "
            "[subject] then one of >, >=, <, <= then a number (optionally %)"
        )
    allowed = {"burn_rate"} if budget else {*KPI_SUBJECTS, *([kpi] if kpi else [])}
    subject = match.group("subject") or ("burn_rate" if budget else "value")
    if subject not in allowed:
        raise ValueError(
            f"{text!r}: unknown subject {subject!r}; use one of {', '.join(sorted(allowed))}"
            + ("" if budget else " (or leave it out: the canary's value)")
        )
    if subject == kpi and not budget:
        subject = "value"
    threshold = Decimal(match.group("number"))
    if match.group("pct"):
        threshold = threshold / 100
    return Condition(subject, _OPS[match.group("op")], threshold, text.strip())


class Strict(BaseModel):
    """Unknown fields are errors: a typo in a policy must never be silently ignored.

    Each model builds its validator when first used (``defer_build``): a read that only
    chooses a policy by its selector builds the selector's, not the whole policy's."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)


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


class PrometheusQueries(Strict):
    """PromQL the rollout step runs against the workspace's Prometheus (``prometheus.yaml``)."""

    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)] = Field(
        description="The canary's value, e.g. an error ratio over the canary's pods."
    )
    control_query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY)] | None = Field(
        default=None, description="The control version's value, for drop and rise triggers."
    )


class KpiSourceSpec(Strict):
    """Where a KPI's readings come from besides those pushed (``clearance rollout observe``)."""

    prometheus: PrometheusQueries


class KpiLimit(Strict):
    """A production KPI watched during a canary, and when it rolls the canary back.

    ``rollback_when`` conditions are comparisons exactly as written: ``>= 0.005`` breaches at
    0.005, ``> 0.005`` does not. ``max``/``min`` (and the ``max_relative_*`` fields) name the
    extreme still allowed: a reading equal to them holds. ``for`` makes every trigger of the
    KPI a sustained one: it breaches only when it held over the whole window.
    """

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    max: float | None = None
    min: float | None = None
    max_relative_drop: Annotated[float, Field(ge=0)] | None = Field(
        default=None, description="Canary may not be below control by more than this share."
    )
    max_relative_increase: Annotated[float, Field(ge=0)] | None = None
    rollback_when: list[Annotated[str, Field(max_length=MAX_CONDITION)]] = Field(
        default_factory=list,
        max_length=MAX_CONDITIONS,
        description="Breach conditions, e.g. '>= 0.005', 'error_rate >= 0.5%', 'drop >= 1%' "
        "(relative to the control), 'rise > 10%'; >= and <= include the bound, > and < do not.",
    )
    for_: Duration | None = Field(
        default=None,
        alias="for",
        description="Breach only when the condition held over this whole window, e.g. 15m.",
    )
    source: KpiSourceSpec | None = Field(
        default=None, description="Pull readings (e.g. from Prometheus) as well as pushed ones."
    )
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("rollback_when", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _conditions(self) -> KpiLimit:
        for i, text in enumerate(self.rollback_when):
            try:
                parse_condition(text, kpi=self.name)
            except ValueError as exc:
                raise PydanticCustomError(
                    "value_error", "{message}", {"message": str(exc), "at": ("rollback_when", i)}
                ) from None
        return self

    @property
    def has_trigger(self) -> bool:
        return bool(self.rollback_when) or any(
            v is not None
            for v in (self.max, self.min, self.max_relative_drop, self.max_relative_increase)
        )

    def conditions(self) -> list[Condition]:
        """Every trigger of this KPI as a written comparison (the bounds as their breach)."""
        out = [parse_condition(text, kpi=self.name) for text in self.rollback_when]
        bounds: tuple[tuple[float | None, str, Comparison], ...] = (
            (self.max, "value", ">"),
            (self.min, "value", "<"),
            (self.max_relative_drop, "drop", ">"),
            (self.max_relative_increase, "rise", ">"),
        )
        for value, subject, op in bounds:
            if value is not None:
                text = f"{subject} {op} {value!r}"
                out.append(Condition(subject, op, Decimal(repr(value)), text, bound=True))
        return out


class ErrorBudget(Strict):
    """An error budget spent by the canary: burn rate = error ratio / (1 - objective).

    The error ratio is the mean of the ``kpi`` readings (each the canary's share of failed
    requests, 0 to 1) over the last ``window``; the budget breaches when ``rollback_when``
    holds for the burn rate, and only once readings cover the whole window.
    """

    kpi: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] = Field(
        description="The KPI whose readings are the canary's error ratio."
    )
    objective: Annotated[float, Field(gt=0, lt=1)] = Field(
        description="Share of good requests promised, e.g. 0.995 or '99.5%'."
    )
    window: Duration = Field(description="Window the error ratio is averaged over, e.g. 1h.")
    rollback_when: Annotated[str, Field(max_length=MAX_CONDITION)] = Field(
        description="Condition on the burn rate, e.g. '>= 2' or 'burn_rate > 14.4'."
    )

    @field_validator("objective", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                return float(Decimal(value.strip()[:-1]) / 100)
            except ArithmeticError:
                raise ValueError(f"{value!r} is not a percentage like 99.5%") from None
        return value

    @field_validator("rollback_when")
    @classmethod
    def _condition(cls, value: str) -> str:
        parse_condition(value, budget=True)
        return value

    def condition(self) -> Condition:
        return parse_condition(self.rollback_when, budget=True)


class RolloutPlan(Strict):
    """A canary after approval: traffic steps with minimum durations, rolled back on breach."""

    steps: list[RolloutStep] = Field(min_length=1)
    kpis: list[KpiLimit] = Field(default_factory=list)
    error_budgets: list[ErrorBudget] = Field(default_factory=list, max_length=MAX_CONDITIONS)

    @model_validator(mode="after")
    def _triggers(self) -> RolloutPlan:
        names = {k.name for k in self.kpis}
        for i, budget in enumerate(self.error_budgets):
            if budget.kpi not in names:
                raise PydanticCustomError(
                    "value_error",
                    "{message}",
                    {
                        "message": f"KPI {budget.kpi!r} is not one of this rollout's kpis "
                        f"({', '.join(sorted(names)) or 'none'})",
                        "at": ("error_budgets", i, "kpi"),
                    },
                )
        budgeted = {b.kpi for b in self.error_budgets}
        for i, kpi in enumerate(self.kpis):
            if not kpi.has_trigger and kpi.name not in budgeted:
                raise PydanticCustomError(
                    "value_error",
                    "{message}",
                    {
                        "message": "give rollback_when, max, min, max_relative_drop or "
                        "max_relative_increase (or name this KPI in an error budget)",
                        "at": ("kpis", i),
                    },
                )
        return self

    def windows(self) -> list[dt.timedelta]:
        """Every window a trigger looks back over (``for`` and budget windows)."""
        spans = [parse_duration(k.for_) for k in self.kpis if k.for_ is not None]
        return spans + [parse_duration(b.window) for b in self.error_budgets]


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
    inference: InferenceSpec | None = Field(
        default=None, description="What a request to a served model may contain (docs/serving.md)."
    )
    monitors: list[MonitorSpec] = Field(
        default_factory=list,
        description="Scheduled checks on production data (docs/monitoring.md).",
    )
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
