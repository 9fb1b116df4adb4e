"""The decision engine: one transition, one version, everything passed in.

``evaluate`` is a pure function of one ``Evaluation`` (policy, transition, version, evidence,
approvals, waivers, clock, change type, requester): it reads nothing else, so a stored Decision
can be recomputed from its recorded inputs and compared (invariant 3).
Evaluators only measure; this module applies severity, waivers, bypasses, near misses and
the approval rules, and reduces it all to allow / deny / needs-approval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from clearance.core.approvals import Approval, approval_status
from clearance.core.gates.base import (
    GateContext,
    GateType,
    Measurement,
    in_holm_family,
)
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.hashing import canonical_json, digest, sha256_text
from clearance.core.loading import LoadedPolicy
from clearance.core.policy import ChangeType, GateSpec, Policy, Transition
from clearance.core.results import (
    METHODS,
    ApprovalStatus,
    Decision,
    DecisionInputs,
    GateResult,
    GateStatus,
    Outcome,
    assemble,
)
from clearance.core.version import EvidenceReader, ModelVersion
from clearance.core.waivers import Waiver, find_waiver
from clearance.errors import InputError, NotFound, TransitionRefused
from clearance.extras import MissingExtra, missing_extra

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


class _Step:
    """One gate as every decision uses it, read once per policy object: its spec, what a
    result copies of it, and a result's fields in declaration order with that part filled in.

    Plain slots, because Pydantic models' attribute reads are several times slower on
    Python 3.11 and these are read for every gate of every decision.
    """

    __slots__ = ("common", "expires", "id", "near_miss", "spec", "template", "type", "warn")

    def __init__(self, spec: GateSpec) -> None:
        self.spec, self.id, self.type = spec, spec.id, spec.type
        self.warn = spec.severity == "warn"
        self.expires, self.near_miss = spec.expires, spec.near_miss
        self.common = _common(spec)
        # one ``controls`` copy, shared by the gate's results under this policy object (a
        # result is frozen; the policy's own list is never handed out)
        fields = {**self.common, "controls": list(spec.controls)}
        self.template = {name: fields.get(name) for name in GateResult.model_fields}


@dataclass(frozen=True)
class _Gates:
    """A policy's gates by id (the first of an id, as ``Policy.gate``, a linear search)."""

    policy: Policy  # held, so that its id is not reused while this entry lives
    steps: dict[str, _Step]


def _gates(policy: Policy) -> _Gates:
    held = _by_policy.get(id(policy))
    if held is None or held.policy is not policy:
        steps: dict[str, _Step] = {}
        for spec in policy.gates:
            if spec.id not in steps:
                steps[spec.id] = _Step(spec)
        if len(_by_policy) >= 64:
            _by_policy.clear()
        held = _by_policy[id(policy)] = _Gates(policy, steps)
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


def evaluate_recorded(
    loaded: LoadedPolicy,
    inputs: Mapping[str, Any],
    reader: Callable[[ModelVersion, str | None], EvidenceReader],
) -> Decision:
    """A stored decision's recorded inputs evaluated again under ``loaded``: what replay,
    backtests and evidence packs re-run. ``reader`` opens the evidence for the version and
    its recorded artifact blob, wherever the bytes are kept (blob store, pack)."""
    version = ModelVersion.model_validate(inputs["version"])
    return evaluate(
        Evaluation(
            loaded,
            resolve_transition(loaded, inputs["from"], inputs["to"]),
            version,
            reader(version, inputs.get("artifact_blob")),
            dt.datetime.fromisoformat(inputs["now"]),
            approvals=[Approval.model_validate(a) for a in inputs["approvals"]],
            waivers=[Waiver.model_validate(w) for w in inputs["waivers"]],
            change_type=inputs["change_type"],
            requester=inputs["requester"],
        )
    )


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
    current = sha256_text(ctx.version_json())  # ``evidence_digest``, before any gate runs
    bypass = set(ctype.bypass) if ctype else set()
    reg = registry or default_registry()
    steps = _gates(policy).steps
    gate_ids = transition.gates
    measured = _measure_gates(loaded, steps, gate_ids, bypass, ctx, reg, progress)
    share = policy.settings.near_miss
    waivers = request.waivers
    results = [
        _gate(steps[gid], ctx, waivers, bypass, share, measured.get(gid)) for gid in gate_ids
    ]
    requirements = (
        ctype.approvals if ctype and ctype.approvals is not None else transition.approvals
    )
    approved = approval_status(
        requirements,
        request.approvals,
        policy.approval_rules,
        requester=request.requester,
        evidence_digest=current,
    )
    blocking = [r.gate_id for r in results if r.status in _BLOCKING]
    outcome = _outcome(blocking, approved)
    inputs, data = _inputs(request, results, current)
    decision_id = digest(
        {
            "inputs": data,
            "transition": transition.key,
            "change_type": request.change_type,
            "requester": request.requester,
        }
    )
    fields = {
        "decision_id": decision_id,
        "outcome": outcome,
        "policy": loaded.name,
        "policy_version": loaded.version,
        "policy_hash": loaded.content_hash,
        "model": version.model.name,
        "version": version.version,
        "from_stage": transition.from_,
        "to_stage": transition.to,
        "change_type": request.change_type,
        "gates": results,
        "approvals": approved,
        "inputs": inputs,
        "summary": _summary(outcome, blocking, results, approved),
    }
    if _all_text(fields, _DECISION_TEXT):  # else validated, as any other input
        return assemble(Decision, fields, _DECISION_GIVEN)
    return Decision(**fields)


def measure_gates(
    request: Evaluation, gate_ids: Sequence[str], *, registry: GateRegistry | None = None
) -> dict[str, GateResult]:
    """The results ``evaluate(request)`` gives for ``gate_ids`` (gates of the transition),
    without the rest of a Decision: no version or decision digest, no approval status.

    For a backtest that measures only the gates a policy change touched. The other members
    of a Holm family (hypothesis tests adjusted together) are measured too, as ``evaluate``
    measures them, so that each result is the one the full evaluation gives.
    """
    transition = request.transition
    unknown = [g for g in gate_ids if g not in transition.gates]
    if unknown:
        raise InputError(f"gates {', '.join(unknown)} are not gates of {transition.key}")
    policy = request.policy.policy
    ctype = _change_type(request)
    ctx = GateContext(
        request.version,
        request.evidence,
        request.now,
        transition.from_,
        transition.to,
        request.change_type,
    )
    bypass = set(ctype.bypass) if ctype else set()
    reg = registry or default_registry()
    steps = _gates(policy).steps
    wanted = set(gate_ids)
    if any(_in_family(steps[g].spec, reg) for g in wanted):
        wanted |= {g for g in transition.gates if _in_family(steps[g].spec, reg)}
    ordered = [g for g in transition.gates if g in wanted]
    measured = _measure_gates(request.policy, steps, ordered, bypass, ctx, reg, None)
    share = policy.settings.near_miss
    return {
        gid: _gate(steps[gid], ctx, request.waivers, bypass, share, measured.get(gid))
        for gid in gate_ids
    }


def _measure_gates(
    loaded: LoadedPolicy,
    steps: Mapping[str, _Step],
    gate_ids: Sequence[str],
    bypass: set[str],
    ctx: GateContext,
    reg: GateRegistry,
    progress: Progress | None,
) -> dict[str, Measurement]:
    """Each gate's measurement (none for a bypassed gate), the hypothesis tests among them
    Holm-adjusted together."""
    total = len(gate_ids)
    measured: dict[str, Measurement] = {}
    types: dict[str, GateType] = {}
    params = loaded.params
    for i, gid in enumerate(gate_ids):
        if progress is not None:
            progress(i, total, gid)
        if gid in bypass:
            continue
        kind = steps[gid].type
        # written out, not a helper per gate: this runs for every gate of every decision
        try:
            gate = types.get(kind)
            if gate is None:
                gate = types[kind] = reg.get(kind)
            measured[gid] = gate.evaluate(params[gid], ctx)
        except Exception as exc:
            measured[gid] = _failed(kind, exc)
    if progress is not None:
        progress(total, total, "")
    # only a measurement with a hypothesis record can join the family (``_holm``)
    family = {
        gid
        for gid, m in measured.items()
        if "hypothesis" in m.details and _in_family(steps[gid].spec, reg)
    }
    if family:
        measured = _holm(measured, family)
    return measured


_BLOCKING = (GateStatus.FAIL, GateStatus.ERROR)  # ``GateResult.blocking``
_DECISION_GIVEN = set(Decision.model_fields)
_DECISION_TEXT = (
    *("policy", "policy_version", "policy_hash", "model", "version"),
    *("from_stage", "to_stage", "change_type", "summary"),
)
_INPUTS_GIVEN = set(DecisionInputs.model_fields) - {"methods"}


def _all_text(fields: dict[str, Any], names: Sequence[str]) -> bool:
    """Whether every one of ``names`` holds a plain ``str``: what validation returns as is."""
    for name in names:  # noqa: SIM110 - a loop: all() over a generator costs more, per decision
        if type(fields[name]) is not str:
            return False
    return True


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


def _inputs(
    request: Evaluation, results: list[GateResult], current: str
) -> tuple[DecisionInputs, Any]:
    """The digests of everything the decision read (what replay must reproduce), and the same
    as JSON-ready data (what the decision id is a digest of)."""
    version = request.version
    evidence = {k: e.sha256 for k, e in version.evidence.items() if e.sha256}
    for r in results:
        if r.evidence:
            evidence.update(r.evidence)
    fields = {
        "methods": METHODS,
        "policy_hash": request.policy.content_hash,
        "version_digest": current,
        "evidence": evidence,
        # sorted to full content, so the order the inputs were given in never changes a digest
        "approvals_digest": digest(
            sorted(request.approvals, key=lambda a: (a.at, a.approver, canonical_json(a)))
        )
        if request.approvals
        else _NOTHING,
        "waivers_digest": digest(sorted(request.waivers, key=lambda w: (w.id, canonical_json(w))))
        if request.waivers
        else _NOTHING,
        "now": request.now,
    }
    plain = type(request.now) is dt.datetime and type(fields["policy_hash"]) is str
    for key, value in evidence.items():  # keys and digests as validation would return them
        if type(key) is not str or type(value) is not str:
            plain = False
    if plain:
        inputs = assemble(DecisionInputs, fields, _INPUTS_GIVEN)
        # its ``model_dump(mode="json")``: text as it is, the clock as Pydantic writes it
        return inputs, {**fields, "evidence": dict(evidence), "now": _instant(request.now)}
    del fields["methods"]
    inputs = DecisionInputs(**fields)
    return inputs, inputs


def _instant(now: dt.datetime) -> str:
    """``now`` as Pydantic serializes a datetime field, remembered for the last clock seen
    (a backtest gives thousands of decisions one clock): equal instants with equal offsets
    are written alike, and nothing else goes into the text."""
    global _last_instant
    key, last = (now, now.utcoffset()), _last_instant  # one read: another thread may replace it
    if last[0] != key:
        last = _last_instant = (key, to_jsonable_python(now))
    text: str = last[1]
    return text


_last_instant: tuple[Any, Any] = (None, None)


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
    # A family comes only from the data gates, so numpy, scipy and numba are installed here.
    import numpy as np

    from clearance.kernels.uncertainty import holm

    p = np.array([measured[g].details["hypothesis"]["p_value"] for g in family], dtype=float)

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


# the fields a measured result is given (``GateResult(**...)`` before ``assemble``)
_GIVEN = {
    *("gate_id", "type", "severity", "remediation", "owner", "rationale", "controls"),
    *("status", "observed", "threshold", "operator", "margin", "near_miss", "message"),
    *("details", "evidence"),
}


def _gate(
    step: _Step,
    ctx: GateContext,
    waivers: Sequence[Waiver],
    bypass: set[str],
    share: float,
    measurement: Measurement | None,
) -> GateResult:
    if step.id in bypass or measurement is None:
        return GateResult(
            status=_SKIPPED,
            **step.common,
            message=f"bypassed by the {ctx.change_type} change type",
        )
    m = measurement
    status, message, margin, evidence = m.status, m.message, m.margin, m.evidence
    observed, threshold, operator = m.observed, m.threshold, m.operator
    details = dict(m.details)
    if step.warn and status in _BLOCKING:
        details["unwaived_status"] = status.value
        status = _WARN
    if step.expires is not None and step.expires < ctx.now.date():
        details["gate_expired"] = step.expires.isoformat()
        message += f" [gate definition expired {step.expires}: the policy owner should review it]"
    near = False
    if status is _PASS and margin is not None:
        own = step.near_miss
        near = _near_miss(margin, m.scale, threshold, share if own is None else own)
    # values validation would return unchanged (exact types, str keys) are not validated
    if (
        type(status) is GateStatus
        and type(message) is str
        and (type(margin) is float or margin is None)
        and (operator is None or type(operator) is str)
        and type(evidence) is dict
        and (not details or _text_keys(details))
        and (not evidence or _text_items(evidence))
    ):
        fields = step.template.copy()
        fields["status"] = status
        fields["observed"] = observed
        fields["threshold"] = threshold
        fields["operator"] = operator
        fields["margin"] = margin
        fields["near_miss"] = near
        fields["message"] = message
        fields["details"] = details
        fields["evidence"] = dict(evidence)
        result = assemble(GateResult, fields, _GIVEN)
    else:
        result = GateResult(
            status=status,
            observed=observed,
            threshold=threshold,
            operator=operator,
            margin=margin,
            near_miss=near,
            message=message,
            details=details,
            evidence=evidence,
            **step.common,
        )
    if waivers and status in _WAIVABLE:
        waiver = find_waiver(
            waivers,
            model=ctx.version.model.name,
            version=ctx.version.version,
            gate_id=step.id,
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


def _text_keys(mapping: dict[Any, Any]) -> bool:
    for key in mapping:  # noqa: SIM110 - a loop: twice as fast as all(), for every gate
        if type(key) is not str:
            return False
    return True


def _text_items(mapping: dict[Any, Any]) -> bool:
    for key, value in mapping.items():
        if type(key) is not str or type(value) is not str:
            return False
    return True


# enum members read once: ``GateStatus.PASS`` is a class attribute lookup through the enum
# machinery, several per gate of every decision
_PASS, _WARN, _SKIPPED = GateStatus.PASS, GateStatus.WARN, GateStatus.SKIPPED
_WAIVABLE = (GateStatus.FAIL, GateStatus.ERROR, GateStatus.WARN)


def _failed(kind: str, exc: Exception) -> Measurement:
    """The ``error`` result of a gate whose measurement raised: a bug, or a missing extra.

    Gates return their errors (``gates.base``); this net only keeps one broken gate (or an
    unknown type) from hiding the others.
    """
    if isinstance(exc, ImportError | MissingExtra):  # an extra's library (numpy ...) is missing
        missing = missing_extra(exc, f"gate type '{kind}'")
        if missing is None:
            return Measurement.error(f"gate type '{kind}' failed: ImportError: {exc}")
        return Measurement.error(str(missing))
    return Measurement.error(f"gate type '{kind}' failed: {type(exc).__name__}: {exc}")


def _near_miss(margin: float, scale: float | None, threshold: Any, share: float) -> bool:
    """Whether a passing margin is within ``share`` of the scale (default ``|threshold|``)."""
    if scale is None:
        numeric = isinstance(threshold, int | float) and not isinstance(threshold, bool)
        scale = abs(threshold) if numeric else None
    if not scale:
        return False
    return 0 <= margin <= share * scale


def _outcome(blocking: list[str], approvals: ApprovalStatus) -> Outcome:
    if blocking or approvals.rejected_by:
        return Outcome.DENY
    return Outcome.ALLOW if approvals.satisfied else Outcome.NEEDS_APPROVAL


def _summary(
    outcome: Outcome, blocking: list[str], results: list[GateResult], approvals: ApprovalStatus
) -> str:
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
