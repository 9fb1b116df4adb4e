"""Policy unit tests: cases with their facts and the outcome each gate and the whole decision
must have, judged by the same engine that governs promotions (``clearance policy test``).

A test file sits beside the policy (``*.test.yaml``)::

    apiVersion: clearance/v1
    kind: PolicyTest
    defaults: {from: staging, to: production, now: 2026-06-01T00:00:00Z}
    cases:
      - name: the v7 candidate clears the gates; sign-offs are pending
        manifest: ../v7-pass/manifest.yaml
        expect: {outcome: needs_approval, gates: {auc_floor: pass}}
      - name: a PII feature blocks production
        manifest: ../v7-pass/manifest.yaml
        version: {features: [income, customer_email]}   # facts over the manifest's
        expect: {outcome: deny, gates: {no_pii_features: fail}}

This module holds the format, the judging of one case and the coverage of a run; reading the
files and manifests is the adapter's (``clearance.adapters.policy_tests``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clearance.core.approvals import Approval
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.core.results import Decision, GateResult
from clearance.core.version import EvidenceReader, ModelVersion

MAX_CASES = 10_000
GateStatusName = Literal["pass", "fail", "warn", "error", "waived", "skipped"]
OutcomeName = Literal["allow", "deny", "needs_approval"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ApprovalFact(_Strict):
    approver: Annotated[str, Field(min_length=1)]
    roles: list[str] = Field(min_length=1)
    verdict: Literal["approve", "reject"] = "approve"


class Expect(_Strict):
    outcome: OutcomeName | None = None
    gates: dict[str, GateStatusName] = Field(default_factory=dict)


class Defaults(_Strict):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    now: dt.datetime | None = None
    change_type: str = "standard"


class Case(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    manifest: str | None = Field(default=None, description="Path relative to the test file.")
    version: dict[str, Any] = Field(
        default_factory=dict,
        description="Version facts (manifest fields); over the manifest's when both are given.",
    )
    documents: dict[str, str] = Field(
        default_factory=dict, description="Inline document evidence: name -> Markdown text."
    )
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    change_type: str | None = None
    approvals: list[ApprovalFact] = Field(default_factory=list)
    requester: str | None = None
    now: dt.datetime | None = None
    expect: Expect


class PolicyTestFile(_Strict):
    api_version: Annotated[Literal["clearance/v1"], Field(alias="apiVersion")]
    kind: Literal["PolicyTest"]
    defaults: Defaults = Field(default_factory=Defaults)
    cases: list[Case] = Field(min_length=1, max_length=MAX_CASES)


@dataclass(frozen=True)
class CaseRun:
    """One case's facts, ready for the engine (built by the adapter)."""

    file: str
    case: Case
    version: ModelVersion
    evidence: EvidenceReader
    from_stage: str | None
    to_stage: str
    change_type: str
    now: dt.datetime


@dataclass(frozen=True)
class CaseResult:
    file: str
    name: str
    transition: str
    change_type: str
    mismatches: tuple[str, ...]
    decision: Decision | None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "name": self.name,
            "transition": self.transition,
            "change_type": self.change_type,
            "passed": self.passed,
            "mismatches": list(self.mismatches),
            "error": self.error,
            "outcome": self.decision.outcome.value if self.decision else None,
        }


def run_case(loaded: LoadedPolicy, run: CaseRun) -> CaseResult:
    """Evaluate one case and compare what the engine decided with what the case expects."""
    case = run.case
    try:
        transition = resolve_transition(loaded, run.from_stage, run.to_stage)
    except Exception as exc:  # an unknown transition is this case's failure, not the run's
        return CaseResult(
            run.file, case.name, f"{run.from_stage} -> {run.to_stage}", run.change_type, (),
            None, error=str(exc),
        )  # fmt: skip
    approvals = [
        Approval(approver=a.approver, roles=a.roles, verdict=a.verdict, at=run.now)
        for a in case.approvals
    ]
    decision = evaluate(
        Evaluation(
            loaded,
            transition,
            run.version,
            run.evidence,
            run.now,
            approvals=approvals,
            change_type=run.change_type,
            requester=case.requester,
        )
    )
    return CaseResult(
        run.file,
        case.name,
        transition.key,
        run.change_type,
        tuple(mismatches(case.expect, decision)),
        decision,
    )


def mismatches(expect: Expect, decision: Decision) -> list[str]:
    """What differs from the expectation, one line each, with what the gate observed."""
    out = []
    if expect.outcome is not None and decision.outcome.value != expect.outcome:
        out.append(f"outcome: expected {expect.outcome}, got {decision.outcome.value}")
    by_id = {g.gate_id: g for g in decision.gates}
    for gate_id, wanted in expect.gates.items():
        got = by_id.get(gate_id)
        if got is None:
            out.append(f"gate {gate_id}: expected {wanted}, but it is not on this transition")
        elif got.status.value != wanted:
            out.append(f"gate {gate_id}: expected {wanted}, got {got.status.value}{_why(got)}")
    return out


def _why(result: GateResult) -> str:
    return f" ({result.message})" if result.message else ""


@dataclass(frozen=True)
class Coverage:
    """Which parts of the policy the cases exercised."""

    transitions: tuple[str, ...]
    transitions_run: frozenset[str]
    gates: tuple[str, ...]
    gates_run: frozenset[str]  # evaluated (not skipped) by some case
    gates_both: frozenset[str]  # seen passing in one case and failing in another
    change_types: tuple[str, ...]
    change_types_run: frozenset[str]

    def missing(self) -> dict[str, list[str]]:
        return {
            "transitions": [t for t in self.transitions if t not in self.transitions_run],
            "gates": [g for g in self.gates if g not in self.gates_run],
            "gates never seen failing or never passing": [
                g for g in self.gates if g in self.gates_run and g not in self.gates_both
            ],
            "change types": [c for c in self.change_types if c not in self.change_types_run],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "transitions": _share(self.transitions_run, self.transitions),
            "gates": _share(self.gates_run, self.gates),
            "gates_pass_and_fail": _share(self.gates_both, self.gates),
            "change_types": _share(self.change_types_run, self.change_types),
            "missing": self.missing(),
        }


def _share(seen: Iterable[str], every: Sequence[str]) -> dict[str, int]:
    return {"covered": len(set(seen) & set(every)), "total": len(every)}


def coverage(loaded: LoadedPolicy, results: Sequence[CaseResult]) -> Coverage:
    policy = loaded.policy
    transitions = tuple(t.key for t in policy.workflow.transitions)
    gates = tuple(dict.fromkeys(g for t in policy.workflow.transitions for g in t.gates))
    change_types = ("standard", *sorted(c for c in policy.change_types if c != "standard"))
    run = [r for r in results if r.decision is not None]
    statuses: dict[str, set[str]] = {}
    for r in run:
        assert r.decision is not None
        for g in r.decision.gates:
            statuses.setdefault(g.gate_id, set()).add(g.status.value)
    evaluated = {g for g, seen in statuses.items() if seen - {"skipped"}}
    both = {g for g, seen in statuses.items() if "pass" in seen and seen & {"fail", "error"}}
    return Coverage(
        transitions=transitions,
        transitions_run=frozenset(r.transition for r in run),
        gates=gates,
        gates_run=frozenset(evaluated),
        gates_both=frozenset(both),
        change_types=change_types,
        change_types_run=frozenset(r.change_type for r in run),
    )


@dataclass(frozen=True)
class TestRun:
    policy: str
    results: tuple[CaseResult, ...]
    coverage: Coverage

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "passed": len(self.results) - len(self.failed),
            "failed": len(self.failed),
            "cases": [r.to_dict() for r in self.results],
            "coverage": self.coverage.to_dict(),
        }
