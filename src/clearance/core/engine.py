"""The decision engine: one transition, one version, everything passed in.

``evaluate`` is a pure function of one ``Evaluation`` (policy, transition, version, evidence,
approvals, waivers, clock, change type, requester): it reads nothing else, so a stored Decision
can be recomputed from its recorded inputs and compared (invariant 3).
Evaluators only measure; this module applies severity, waivers, bypasses, near misses and
the approval rules, and reduces it all to allow / deny / needs-approval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clearance.core.approvals import Approval, approval_status
from clearance.core.gates.base import GateContext, Measurement, in_holm_family
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.hashing import canonical_json, digest
from clearance.core.loading import LoadedPolicy
from clearance.core.policy import ChangeType, GateSpec, Policy, Transition
from clearance.core.results import (
    ApprovalStatus,
    Decision,
    DecisionInputs,
    GateResult,
    GateStatus,
    Outcome,
)
from clearance.core.version import EvidenceReader, ModelVersion
from clearance.core.waivers import Waiver, find_waiver
from clearance.errors import InputError, NotFound, TransitionRefused

Progress = Callable[[int, int, str], None]
"""``progress(done, total, gate_id)``: called before each gate (``done`` gates finished, the
next one named) and once at the end with ``done == total`` and an empty name."""


def resolve_transition(loaded: LoadedPolicy, from_stage: str | None, to_stage: str) -> Transition:
    """The policy's transition into ``to_stage``; ``from_stage`` may be omitted when unique."""
    policy = loaded.policy
    if to_stage not in policy.workflow.stages:
        raise NotFound(
            f"'{to_stage}' is not a stage of policy {loaded.name}; "
            f"stages: {', '.join(policy.workflow.stages)}"
        )
    candidates = policy.transitions_to(to_stage)
    if from_stage is not None:
        candidates = [t for t in candidates if t.from_ == from_stage]
    if len(candidates) == 1:
        return candidates[0]
    allowed = ", ".join(t.key for t in policy.workflow.transitions)
    if not candidates:
        origin = f"from '{from_stage}' " if from_stage else ""
        raise TransitionRefused(
            f"policy {loaded.name} allows no transition {origin}to '{to_stage}'; allowed: {allowed}"
        )
    froms = ", ".join(t.from_ for t in candidates)
    raise InputError(f"several transitions lead to '{to_stage}' (from {froms}); give --from")


_NOTHING = digest([])  # the digest of no approvals, or no waivers


@dataclass(frozen=True)
class _Gates:
    """What the engine needs of a policy's gates, built once per policy object: by id (the
    first of an id, as ``Policy.gate``, a linear search) and the fields every result copies."""

    policy: Policy  # held, so that its id is not reused while this entry lives
    specs: dict[str, GateSpec]
    common: dict[str, dict[str, Any]]


def _gates(policy: Policy) -> _Gates:
    held = _by_policy.get(id(policy))
    if held is None or held.policy is not policy:
        specs: dict[str, GateSpec] = {}
        for spec in policy.gates:
            specs.setdefault(spec.id, spec)
        common = {gid: _common(spec) for gid, spec in specs.items()}
        if len(_by_policy) >= 64:
            _by_policy.clear()
        held = _by_policy[id(policy)] = _Gates(policy, specs, common)
    return held


_by_policy: dict[int, _Gates] = {}


def _common(spec: GateSpec) -> dict[str, Any]:
    return {
        "gate_id": spec.id,
        "type": spec.type,
        "severity": spec.severity,
        "remediation": spec.remediation,
        "owner": spec.owner,
        "rationale": spec.rationale,
        "controls": spec.controls,
    }


def evidence_digest(version: ModelVersion) -> str:
    """One digest for the version and all its evidence: an approval that saw another is stale."""
    return digest(version)


@dataclass(frozen=True)
class Evaluation:
    """Everything one decision depends on, by name: ``evaluate``'s one input.

    It is what a Decision records and what ``replay`` rebuilds, so a field added here is an
    input the decision's digest must cover. ``now`` is the only clock the gates see.
    """

    policy: LoadedPolicy
    transition: Transition
    version: ModelVersion
    evidence: EvidenceReader
    now: dt.datetime
    approvals: Sequence[Approval] = ()
    waivers: Sequence[Waiver] = ()
    change_type: str = "standard"
    requester: str | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise InputError("the clock must be timezone-aware (UTC)")


def evaluate(
    request: Evaluation,
    *,
    registry: GateRegistry | None = None,
    progress: Progress | None = None,
) -> Decision:
    """The Decision on ``request``; ``registry`` holds the gate types (default: the installed)."""
    loaded, transition, version = request.policy, request.transition, request.version
    policy = loaded.policy
    ctype = _change_type(request)
    ctx = GateContext(
        version,
        request.evidence,
        request.now,
        transition.from_,
        transition.to,
        request.change_type,
    )
    bypass = set(ctype.bypass) if ctype else set()
    reg = registry or default_registry()
    gates = _gates(policy)
    specs = gates.specs
    total = len(transition.gates)
    measured: dict[str, Measurement] = {}
    for i, gid in enumerate(transition.gates):
        if progress is not None:
            progress(i, total, gid)
        if gid not in bypass:
            measured[gid] = _measure(loaded, specs[gid], ctx, reg)
    if progress is not None:
        progress(total, total, "")
    # only a measurement with a hypothesis record can join the family (``_holm``)
    family = {
        gid
        for gid, m in measured.items()
        if "hypothesis" in m.details and _in_family(specs[gid], reg)
    }
    measured = _holm(measured, family)
    share = policy.settings.near_miss
    results = [
        _gate(specs[gid], gates.common[gid], ctx, request.waivers, bypass, share, measured.get(gid))
        for gid in transition.gates
    ]
    requirements = (
        ctype.approvals if ctype and ctype.approvals is not None else transition.approvals
    )
    current = evidence_digest(version)
    approved = approval_status(
        requirements,
        request.approvals,
        policy.approval_rules,
        requester=request.requester,
        evidence_digest=current,
    )
    outcome = _outcome(results, approved)
    inputs = _inputs(request, results, current)
    decision_id = digest(
        {
            "inputs": inputs,
            "transition": transition.key,
            "change_type": request.change_type,
            "requester": request.requester,
        }
    )
    return Decision(
        decision_id=decision_id,
        outcome=outcome,
        policy=loaded.name,
        policy_version=loaded.version,
        policy_hash=loaded.content_hash,
        model=version.model.name,
        version=version.version,
        from_stage=transition.from_,
        to_stage=transition.to,
        change_type=request.change_type,
        gates=results,
        approvals=approved,
        inputs=inputs,
        summary=_summary(outcome, results, approved),
    )


def _change_type(request: Evaluation) -> ChangeType | None:
    """The policy's rules for the request's change type (None for a plain standard change)."""
    loaded, name, to = request.policy, request.change_type, request.transition.to
    policy = loaded.policy
    ctype: ChangeType | None = policy.change_types.get(name)  # type: ignore[call-overload]
    if name != "standard" and ctype is None:
        raise TransitionRefused(
            f"policy {loaded.name} defines no '{name}' change type; "
            f"defined: standard{''.join(', ' + n for n in policy.change_types)}"
        )
    if ctype is not None and ctype.allowed_stages is not None and to not in ctype.allowed_stages:
        raise TransitionRefused(
            f"a {name} change may only reach {', '.join(ctype.allowed_stages)}, not '{to}'"
        )
    return ctype


def _inputs(request: Evaluation, results: list[GateResult], current: str) -> DecisionInputs:
    """The digests of everything the decision read: what replay must reproduce."""
    version = request.version
    return DecisionInputs(
        policy_hash=request.policy.content_hash,
        version_digest=current,
        evidence={
            **{k: e.sha256 for k, e in version.evidence.items() if e.sha256},
            **{k: v for r in results for k, v in r.evidence.items()},
        },
        # sorted to full content, so the order the inputs were given in never changes a digest
        approvals_digest=digest(
            sorted(request.approvals, key=lambda a: (a.at, a.approver, canonical_json(a)))
        )
        if request.approvals
        else _NOTHING,
        waivers_digest=digest(sorted(request.waivers, key=lambda w: (w.id, canonical_json(w))))
        if request.waivers
        else _NOTHING,
        now=request.now,
    )


def _in_family(spec: GateSpec, registry: GateRegistry) -> bool:
    """Whether the gate's type declares itself a hypothesis test (``GateType.holm_family``)."""
    return spec.type in registry and in_holm_family(registry.get(spec.type))


def _holm(measured: dict[str, Measurement], declared: set[str]) -> dict[str, Measurement]:
    """Holm's step-down over the transition's hypothesis tests.

    ``declared`` are the gates whose type declares ``holm_family`` (see ``gates.base``); each
    joins the family when its measurement passed or failed and carries a hypothesis record
    (``details.hypothesis = {p_value, alpha, ...}``: it passes iff the null is rejected,
    p <= alpha); a ``performance`` gate without ``confidence`` carries none. With two or more
    such tests their p-values are Holm-adjusted together (family-wise error at most alpha) and
    each passes iff its adjusted p <= its alpha; every one records ``holm_adjusted_p``,
    ``family_size`` and ``family``.
    """
    family = [
        gid
        for gid, m in measured.items()
        if gid in declared
        and m.status in (GateStatus.PASS, GateStatus.FAIL)
        and isinstance(m.details.get("hypothesis"), dict)
        and isinstance(m.details["hypothesis"].get("p_value"), float)
        and m.details["hypothesis"]["p_value"] == m.details["hypothesis"]["p_value"]  # not NaN
    ]
    if not family:
        return measured
    p = np.array([measured[g].details["hypothesis"]["p_value"] for g in family], dtype=float)
    from clearance.kernels.uncertainty import holm  # scipy and numba load only when needed

    adjusted = holm(np.clip(p, 0.0, 1.0))
    out = dict(measured)
    size = len(family)
    members = sorted(family)
    for gid, adj in zip(family, adjusted, strict=True):
        m = measured[gid]
        alpha = float(m.details["hypothesis"]["alpha"])
        details: dict[str, Any] = {
            **m.details,
            "holm_adjusted_p": float(adj),
            "family_size": size,
            "family": members,
        }
        status, message, margin = m.status, m.message, m.margin
        if size > 1:
            status = GateStatus.PASS if adj <= alpha else GateStatus.FAIL
            message += (
                f" [Holm over {size} tests: adjusted p {adj:.3g} "
                f"{'<=' if adj <= alpha else '>'} alpha {alpha:.3g}]"
            )
            if status is not m.status:
                details["unadjusted_status"] = m.status.value
                details["unadjusted_margin"] = m.margin
                margin = None
        out[gid] = Measurement(
            status,
            message,
            observed=m.observed,
            threshold=m.threshold,
            operator=m.operator,
            margin=margin,
            scale=m.scale,
            details=details,
            evidence=m.evidence,
        )
    return out


def _gate(
    spec: GateSpec,
    common: dict[str, Any],
    ctx: GateContext,
    waivers: Sequence[Waiver],
    bypass: set[str],
    share: float,
    measurement: Measurement | None,
) -> GateResult:
    if spec.id in bypass or measurement is None:
        return GateResult(
            status=GateStatus.SKIPPED,
            **common,
            message=f"bypassed by the {ctx.change_type} change type",
        )
    m = measurement
    status = m.status
    details = dict(m.details)
    message = m.message
    if spec.severity == "warn" and status in (GateStatus.FAIL, GateStatus.ERROR):
        details["unwaived_status"] = status.value
        status = GateStatus.WARN
    if spec.expires is not None and spec.expires < ctx.now.date():
        details["gate_expired"] = spec.expires.isoformat()
        message += f" [gate definition expired {spec.expires}: the policy owner should review it]"
    near = (
        status is GateStatus.PASS
        and m.margin is not None
        and _near_miss(m, spec.near_miss if spec.near_miss is not None else share)
    )
    result = GateResult(
        status=status,
        observed=m.observed,
        threshold=m.threshold,
        operator=m.operator,
        margin=m.margin,
        near_miss=near,
        message=message,
        details=details,
        evidence=m.evidence,
        **common,
    )
    if status in (GateStatus.FAIL, GateStatus.ERROR, GateStatus.WARN):
        waiver = find_waiver(
            waivers,
            model=ctx.version.model.name,
            version=ctx.version.version,
            gate_id=spec.id,
            now=ctx.now,
        )
        if waiver is not None:
            note = f"waived ({waiver.id}, expires {waiver.expires_at:%Y-%m-%d %H:%M} UTC)"
            return result.model_copy(
                update={
                    "status": GateStatus.WAIVED,
                    "waiver": waiver.id,
                    "waived_status": status,
                    "message": f"{note}: {message}",
                }
            )
    return result


def _measure(
    loaded: LoadedPolicy, spec: GateSpec, ctx: GateContext, registry: GateRegistry
) -> Measurement:
    """The gate's measurement; one that raises is a bug, reported as an ``error`` result.

    Gates return their errors (``gates.base``); this net only keeps one broken gate (or an
    unknown type) from hiding the others.
    """
    try:
        return registry.get(spec.type).evaluate(loaded.params[spec.id], ctx)
    except Exception as exc:
        return Measurement.error(f"gate type '{spec.type}' failed: {type(exc).__name__}: {exc}")


def _near_miss(m: Measurement, share: float) -> bool:
    scale = (
        m.scale
        if m.scale is not None
        else (
            abs(m.threshold)
            if isinstance(m.threshold, int | float) and not isinstance(m.threshold, bool)
            else None
        )
    )
    if not scale or m.margin is None:
        return False
    return 0 <= m.margin <= share * scale


def _outcome(results: list[GateResult], approvals: ApprovalStatus) -> Outcome:
    if any(r.blocking for r in results) or approvals.rejected_by:
        return Outcome.DENY
    return Outcome.ALLOW if approvals.satisfied else Outcome.NEEDS_APPROVAL


def _summary(outcome: Outcome, results: list[GateResult], approvals: ApprovalStatus) -> str:
    blocking = [r.gate_id for r in results if r.blocking]
    if blocking:
        return f"blocked by {len(blocking)} gate(s): {', '.join(blocking)}"
    if approvals.rejected_by:
        return f"rejected by {', '.join(approvals.rejected_by)}"
    waived = [r.gate_id for r in results if r.status is GateStatus.WAIVED]
    tail = f" ({len(waived)} waived: {', '.join(waived)})" if waived else ""
    if outcome is Outcome.NEEDS_APPROVAL:
        pending = ", ".join(
            f"{r.role} ({len(r.approved_by)}/{r.required})" for r in approvals.pending
        )
        return f"gates pass{tail}; awaiting approval: {pending}"
    return f"all gates pass{tail}; approvals complete"
