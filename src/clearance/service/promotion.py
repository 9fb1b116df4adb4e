"""Promotion use cases: request, approve, reject, re-evaluate, execute, roll back.

Every use case is one transaction. A request is evaluated by the pure engine with everything
it needs passed in, the Decision is stored with those inputs (for replay), and when the
outcome is ``allow`` the stage change happens in the same transaction. Writers take turns on
the audit head, and the database's unique production slot makes a second concurrent winner
impossible (invariant 2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from clearance.core import subjects
from clearance.core.approvals import Approval, Verdict
from clearance.core.attestation import DecisionFacts
from clearance.core.engine import Evaluation, evaluate, evidence_digest, resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.core.results import Decision, Outcome
from clearance.errors import ApprovalError, InputError, TransitionRefused
from clearance.service.access import authorize, require_enabled
from clearance.service.alerts import decision_details, emit, remediation_of
from clearance.service.attestations import Attester
from clearance.service.context import (
    EvidenceSource,
    governing_policy,
    load_recorded,
    model_info,
    require_model,
    require_request,
    require_user,
    require_version,
    snapshot,
)
from clearance.service.ports import Clock, Store, Tx
from clearance.service.records import (
    OPEN_STATUSES,
    ModelRecord,
    RequestRecord,
    RequestStatus,
    VersionRecord,
)

RETIRED_STAGE = "deprecated"
ACTIVE_STATUSES: tuple[RequestStatus, ...] = (*OPEN_STATUSES, "approved", "rolling_out")


# One record for every transport: the service returns it (as ``RequestResult``), the API
# serves it under this name (its OpenAPI schema's) and the SDK parses it back.
class RequestResultOut(BaseModel):
    """A promotion request after a decision: the request, the decision, whether it executed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request: RequestRecord
    decision: Decision
    decision_number: int = Field(description="Number of the decision just recorded.")
    executed: bool = Field(description="Whether the version moved in this call.")

    @computed_field(  # type: ignore[prop-decorator]
        description="What the CLI would exit with: 0 ok, 1 blocked."
    )
    @property
    def exit_code(self) -> int:
        return self.decision.exit_code

    @model_validator(mode="before")
    @classmethod
    def _derived_fields(cls, data: Any) -> Any:
        """``exit_code`` follows from the decision: a result as served validates again."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "exit_code"}
        return data


RequestResult = RequestResultOut


class RollbackOut(BaseModel):
    """A rollback: the version taken out of production and the one put back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rolled_back: VersionRecord
    restored: VersionRecord


@dataclass(frozen=True)
class Promotions:
    store: Store
    evidence: EvidenceSource
    clock: Clock
    # signs every decision's in-toto statement in its transaction (ADR 0017); None: unsigned
    attester: Attester | None = None

    def promote(
        self,
        model: str,
        version: str,
        to: str,
        *,
        actor: str,
        reason: str = "",
        ticket: str = "",
        change_type: str = "standard",
    ) -> RequestResult:
        """Open a request to move ``model`` ``version`` to stage ``to``, and decide it."""
        with self.store.transaction() as tx:
            require_user(tx, actor)
            record = require_model(tx, model)
            authorize(tx, actor, "request", model_info(record))
            row = require_version(tx, record, version)
            policy_record, loaded = governing_policy(tx, record)
            resolve_transition(loaded, row.stage, to)
            for other in tx.list_requests(version_id=row.id, statuses=ACTIVE_STATUSES):
                if other.to_stage == to:
                    raise InputError(
                        f"request {other.id} for {record.name} {version} → {to} is already "
                        f"{other.status}; sign it, or `clearance request reevaluate {other.id}`"
                    )
            now = self.clock.now()
            request = tx.add_request(
                model_id=record.id,
                version_id=row.id,
                policy_id=policy_record.id,
                from_stage=row.stage,
                to_stage=to,
                change_type=change_type,
                requester=actor,
                reason=reason,
                ticket=ticket,
                status="pending",
                created_at=now,
            )
            tx.append_event(
                time=now,
                actor=actor,
                action="request.opened",
                subject=subjects.request(request.id),
                model=record.name,
                payload={
                    "version": version,
                    "from": row.stage,
                    "to": to,
                    "change_type": change_type,
                    "reason": reason,
                    "ticket": ticket,
                    "policy": f"{policy_record.name}@{policy_record.version}",
                },
            )
            return self._decide(tx, request, loaded, actor, now)

    def approve(
        self, request_id: int, *, actor: str, reason: str = "", ticket: str = ""
    ) -> RequestResult:
        return self._sign(request_id, actor=actor, verdict="approve", reason=reason, ticket=ticket)

    def reject(
        self, request_id: int, *, actor: str, reason: str, ticket: str = ""
    ) -> RequestResult:
        if not reason.strip():
            raise InputError("a rejection needs a --reason the requester can act on")
        return self._sign(request_id, actor=actor, verdict="reject", reason=reason, ticket=ticket)

    def reevaluate(self, request_id: int, *, actor: str) -> RequestResult:
        with self.store.transaction() as tx:
            require_user(tx, actor)
            request = require_request(tx, request_id)
            authorize(tx, actor, "request", model_info(tx.model_by_id(request.model_id)))
            request = _open_request(tx, request_id)
            loaded = load_recorded(tx.policy_by_id(request.policy_id))
            now = self.clock.now()
            tx.append_event(
                time=now,
                actor=actor,
                action="request.reevaluated",
                subject=subjects.request(request.id),
                model=_model_name(tx, request),
                payload={},
            )
            return self._decide(tx, request, loaded, actor, now)

    def rollback(
        self, model: str, *, actor: str, reason: str, to_version: str | None = None
    ) -> RollbackOut:
        """Restore the previous production version (or ``to_version``)."""
        if not reason.strip():
            raise InputError("a rollback needs a --reason for the audit trail")
        with self.store.transaction() as tx:
            require_user(tx, actor)
            record = require_model(tx, model)
            authorize(tx, actor, "rollback", model_info(record))
            _, loaded = governing_policy(tx, record)
            gone, restored = restore_previous(
                tx,
                record,
                loaded,
                actor=actor,
                reason=reason,
                now=self.clock.now(),
                to_version=to_version,
            )
            return RollbackOut(rolled_back=gone, restored=restored)

    # internals -----------------------------------------------------------------------------
    def _sign(
        self, request_id: int, *, actor: str, verdict: Verdict, reason: str, ticket: str
    ) -> RequestResult:
        with self.store.transaction() as tx:
            user = require_enabled(tx, actor)  # a disabled person's sign-off does not count
            request = _open_request(tx, request_id)
            loaded = load_recorded(tx.policy_by_id(request.policy_id))
            transition = resolve_transition(loaded, request.from_stage, request.to_stage)
            ctype = loaded.policy.change_types.get(request.change_type)  # type: ignore[call-overload]
            needed = (
                ctype.approvals if ctype and ctype.approvals is not None else transition.approvals
            )
            roles = sorted({r.role for r in needed})
            rules = loaded.policy.approval_rules
            if actor == request.requester and not rules.allow_self_approval:
                raise ApprovalError(
                    f"{actor} requested this promotion and cannot {verdict} it (separation of "
                    f"duties); ask someone holding {', '.join(roles) or 'a required role'}"
                )
            if not set(user.roles) & set(roles):
                raise ApprovalError(
                    f"{actor} holds {', '.join(user.roles) or 'no roles'}; request {request.id} "
                    f"needs sign-off from {', '.join(roles) or 'nobody (no approvals required)'}"
                )
            digest = self._current_digest(tx, request)
            for earlier in tx.approvals_for(request.id):
                if (earlier.approver, earlier.verdict, earlier.evidence_digest) == (
                    actor,
                    verdict,
                    digest,
                ):
                    raise ApprovalError(f"{actor} already gave '{verdict}' on request {request.id}")
            now = self.clock.now()
            approval = Approval(
                approver=actor,
                roles=user.roles,
                verdict=verdict,
                reason=reason,
                ticket=ticket,
                at=now,
                evidence_digest=digest,
            )
            tx.add_approval(request.id, approval)
            tx.append_event(
                time=now,
                actor=actor,
                action="request.approved" if verdict == "approve" else "request.rejected",
                subject=subjects.request(request.id),
                model=_model_name(tx, request),
                payload={
                    "roles": user.roles,
                    "reason": reason,
                    "ticket": ticket,
                    "evidence_digest": digest,
                },
            )
            return self._decide(tx, request, loaded, actor, now)

    def _current_digest(self, tx: Tx, request: RequestRecord) -> str:
        row = tx.version_by_id(request.version_id)
        return evidence_digest(
            snapshot(tx, tx.model_by_id(request.model_id), row, request.to_stage)
        )

    def _decide(
        self, tx: Tx, request: RequestRecord, loaded: LoadedPolicy, actor: str, now: dt.datetime
    ) -> RequestResult:
        """Evaluate, record the Decision with its inputs, and execute it when allowed."""
        model = tx.model_by_id(request.model_id)
        row = tx.version_by_id(request.version_id)
        if row.stage != request.from_stage:
            raise TransitionRefused(
                f"{model.name} {row.version} is now in {row.stage}, not {request.from_stage}; "
                "this request is out of date: open a new one"
            )
        version = snapshot(tx, model, row, request.to_stage)
        approvals = tx.approvals_for(request.id)
        transition = resolve_transition(loaded, request.from_stage, request.to_stage)
        artifact_blob = row.record.get("artifact_blob")
        waivers = [w.as_waiver() for w in tx.list_waivers(model=model.name)]
        decision = evaluate(
            Evaluation(
                loaded,
                transition,
                version,
                self.evidence.open(version, artifact_blob),
                now,
                approvals=approvals,
                waivers=waivers,
                change_type=request.change_type,
                requester=request.requester,
            )
        )
        inputs = {
            "version": version.model_dump(mode="json"),
            "artifact_blob": artifact_blob,
            "approvals": [a.model_dump(mode="json") for a in approvals],
            "waivers": [w.model_dump(mode="json") for w in waivers],
            "now": now.isoformat(),
            "change_type": request.change_type,
            "requester": request.requester,
            "from": request.from_stage,
            "to": request.to_stage,
        }
        stored = tx.add_decision(
            request_id=request.id,
            policy_id=request.policy_id,
            digest=decision.decision_id,
            outcome=decision.outcome.value,
            inputs=inputs,
            result=decision.model_dump(mode="json"),
            at=now,
        )
        recorded = tx.append_event(
            time=now,
            actor=actor,
            action="decision.recorded",
            subject=subjects.decision(stored.id),
            model=model.name,
            payload={
                "request": request.id,
                "decision_id": decision.decision_id,
                "outcome": decision.outcome.value,
                "summary": decision.summary,
                "policy_hash": decision.policy_hash,
                "gates": {g.gate_id: g.status.value for g in decision.gates},
            },
        )
        if self.attester is not None:
            declared = version.artifact.sha256 if version.artifact is not None else None
            self.attester.attest(
                DecisionFacts(
                    decision=decision,
                    decision_number=stored.id,
                    request_id=request.id,
                    requester=request.requester,
                    decided_at=now,
                    artifact_sha256=artifact_blob if isinstance(artifact_blob, str) else declared,
                    approvals=approvals,
                    event_seq=recorded.seq,
                    event_hash=recorded.hash,
                )
            )
        # an emergency is fast on purpose: it skips the canary and owes a review instead
        staged = transition.rollout is not None and request.change_type != "emergency"
        status = _status(decision, staged=staged)
        executed = False
        if status == "executed":
            execute_request(tx, request, loaded, actor, now)
            executed = True
        _alert(tx, request, decision, status, loaded, model.name, row.version, actor, now)
        if status != request.status:
            request = tx.set_request_status(request.id, status, now)
            tx.append_event(
                time=now,
                actor=actor,
                action="request.status_changed",
                subject=subjects.request(request.id),
                model=model.name,
                payload={"status": status},
            )
        return RequestResult(
            request=request, decision=decision, decision_number=stored.id, executed=executed
        )


def execute_request(
    tx: Tx, request: RequestRecord, loaded: LoadedPolicy, actor: str, now: dt.datetime
) -> None:
    """Move the version (in the transaction of the decision that allowed it)."""
    model = tx.model_by_id(request.model_id)
    row = tx.version_by_id(request.version_id)
    wf = loaded.policy.workflow
    slot, replaced = None, None
    if request.to_stage == wf.production_stage:
        occupants = tx.versions_in_stage(model.id, wf.production_stage)
        while len(occupants) >= wf.max_production_versions:
            old = occupants.pop(0)
            tx.set_stage(old.id, RETIRED_STAGE, slot=None, at=now)
            cancel_open_requests(tx, model.name, old.id, RETIRED_STAGE, actor, now)
            tx.append_event(
                time=now,
                actor=actor,
                action="version.stage_changed",
                subject=subjects.version(model.name, old.version),
                model=model.name,
                payload={
                    "from": wf.production_stage,
                    "to": RETIRED_STAGE,
                    "replaced_by": row.version,
                    "request": request.id,
                    "slot": None,
                },
            )
            replaced = old.id
        used = {o.production_slot for o in occupants}
        slot = min(s for s in range(wf.max_production_versions) if s not in used)
    tx.set_stage(row.id, request.to_stage, slot=slot, at=now, previous_production_id=replaced)
    tx.append_event(
        time=now,
        actor=actor,
        action="version.stage_changed",
        subject=subjects.version(model.name, row.version),
        model=model.name,
        payload={
            "from": request.from_stage,
            "to": request.to_stage,
            "request": request.id,
            "change_type": request.change_type,
            "slot": slot,
        },
    )
    cancel_open_requests(tx, model.name, row.id, request.to_stage, actor, now, keep=request.id)


def cancel_open_requests(
    tx: Tx,
    model: str,
    version_id: int,
    stage: str,
    actor: str,
    now: dt.datetime,
    keep: int | None = None,
) -> None:
    """A version that moved makes its other open requests out of date: close them, audited."""
    for other in tx.list_requests(version_id=version_id, statuses=ACTIVE_STATUSES):
        if other.id != keep and other.status != "rolling_out":
            tx.set_request_status(other.id, "cancelled", now)
            tx.append_event(
                time=now,
                actor=actor,
                action="request.status_changed",
                subject=subjects.request(other.id),
                model=model,
                payload={"status": "cancelled", "why": f"the version moved to {stage}"},
            )


def _status(decision: Decision, *, staged: bool) -> RequestStatus:
    if decision.outcome is Outcome.ALLOW:
        return "approved" if staged else "executed"
    if decision.approvals.rejected_by:
        return "rejected"
    return "blocked" if decision.outcome is Outcome.DENY else "pending"


def _open_request(tx: Tx, request_id: int) -> RequestRecord:
    request = require_request(tx, request_id)
    if request.status not in OPEN_STATUSES:
        raise InputError(
            f"request {request_id} is {request.status}; only pending or blocked requests can "
            "be signed or re-evaluated"
        )
    return request


def _model_name(tx: Tx, request: RequestRecord) -> str:
    return tx.model_by_id(request.model_id).name


def _rollback_target(
    tx: Tx, model: str, bad: VersionRecord, to_version: str | None, model_id: int
) -> VersionRecord:
    if to_version is not None:
        target = require_version(tx, tx.model_by_id(model_id), to_version)
    elif bad.previous_production_id is not None:
        target = tx.version_by_id(bad.previous_production_id)
    else:
        raise TransitionRefused(
            f"{model} {bad.version} replaced no earlier production version; "
            "name the version to restore with --to VERSION"
        )
    if target.stage != RETIRED_STAGE:
        raise TransitionRefused(
            f"{model} {target.version} is in {target.stage}; only a {RETIRED_STAGE} "
            "(formerly production) version can be restored"
        )
    return target


FELL_BACK = "model.fell_back"


def restore_previous(
    tx: Tx,
    model: ModelRecord,
    loaded: LoadedPolicy,
    *,
    actor: str,
    reason: str,
    now: dt.datetime,
    to_version: str | None = None,
    fall_back_to: str | None = None,
    replacing: str | None = None,
) -> tuple[VersionRecord, VersionRecord]:
    """Put the previous (or the named) production version back in place of the newest
    production version (or of ``replacing``, one of several in production). It retires (a
    rollback), or with ``fall_back_to`` returns to that stage (a fallback: not retired, a new
    request with every gate and approval may promote it again)."""
    prod = loaded.policy.workflow.production_stage
    current = tx.versions_in_stage(model.id, prod)
    if not current:
        raise TransitionRefused(f"model {model.name} has no {prod} version to roll back")
    bad = current[-1]
    if replacing is not None:
        named = [v for v in current if v.version == replacing]
        if not named:
            raise TransitionRefused(f"{model.name} {replacing} is not in {prod}")
        bad = named[0]
    target = _rollback_target(tx, model.name, bad, to_version, model.id)
    fallback = fall_back_to is not None
    away = fall_back_to if fall_back_to is not None else RETIRED_STAGE
    tx.set_stage(bad.id, away, slot=None, at=now)
    restored = tx.set_stage(target.id, prod, slot=bad.production_slot, at=now)
    cancel_open_requests(tx, model.name, bad.id, away, actor, now)
    cancel_open_requests(tx, model.name, target.id, prod, actor, now)
    moves = (
        (bad, prod, away, None),
        (target, RETIRED_STAGE, prod, restored.production_slot),
    )
    flag = "fallback" if fallback else "rollback"
    for row, before, after, slot in moves:
        tx.append_event(
            time=now,
            actor=actor,
            action="version.stage_changed",
            subject=subjects.version(model.name, row.version),
            model=model.name,
            payload={"from": before, "to": after, flag: True, "reason": reason, "slot": slot},
        )
    tx.append_event(
        time=now,
        actor=actor,
        action=FELL_BACK if fallback else "model.rolled_back",
        subject=subjects.model(model.name),
        model=model.name,
        payload={"from_version": bad.version, "to_version": target.version, "reason": reason},
    )
    moved = f"fell back from {bad.version} to {target.version} ({bad.version} returns to {away})"
    emit(
        tx,
        f"{'fell-back' if fallback else 'rolled-back'}:{model.name}:{bad.version}:"
        f"{now.isoformat()}",
        event="rolled_back",
        model=model.name,
        version=bad.version,
        policy=f"{loaded.name}@{loaded.version}",
        now=now,
        actor=actor,
        severity="critical",
        summary=f"{model.name} "
        f"{moved if fallback else f'rolled back from {bad.version} to {target.version}'}: {reason}",
        details={"restored": target.version}
        | ({"fallback": True, "returned_to": away} if fallback else {}),
    )
    return tx.version_by_id(bad.id), restored


def _alert(
    tx: Tx,
    request: RequestRecord,
    decision: Decision,
    status: RequestStatus,
    loaded: LoadedPolicy,
    model: str,
    version: str,
    actor: str,
    now: dt.datetime,
) -> None:
    """Tell people what this decision means for them; each fact once (idempotency keys)."""
    rid = request.id
    common: dict[str, Any] = {
        "model": model,
        "version": version,
        "now": now,
        "actor": actor,
        "policy": f"{loaded.name}@{loaded.version}",
        "details": decision_details(decision, rid),
    }
    move = f"{model} {version} → {request.to_stage}"
    if status == "pending":
        roles = ", ".join(
            f"{r.role} ({len(r.approved_by)}/{r.required})" for r in decision.approvals.pending
        )
        emit(
            tx,
            f"approval-requested:request:{rid}",
            event="approval_requested",
            summary=f"request {rid} ({move}) needs approval: {roles}",
            **common,
        )
    elif status == "blocked":
        failing = sorted(g.gate_id for g in decision.gates if g.blocking)
        emit(
            tx,
            f"gate-failed:request:{rid}:{','.join(failing)}",
            event="gate_failed",
            severity="warning",
            remediation=remediation_of(decision),
            summary=f"request {rid} ({move}) is blocked by {', '.join(failing)}",
            **common,
        )
    elif status == "rejected":
        emit(
            tx,
            f"rejected:request:{rid}",
            event="request_rejected",
            severity="warning",
            summary=f"request {rid} ({move}) was rejected by "
            f"{', '.join(decision.approvals.rejected_by)}",
            **common,
        )
    elif status in ("approved", "executed"):
        if decision.approvals.roles:
            emit(
                tx,
                f"approved:request:{rid}",
                event="request_approved",
                summary=f"request {rid} ({move}) is approved"
                + (": awaiting its canary rollout" if status == "approved" else ""),
                **common,
            )
        if status == "executed":
            emit(
                tx,
                f"promoted:request:{rid}",
                event="promoted",
                summary=f"{move}"
                + (" (emergency change)" if request.change_type == "emergency" else ""),
                **common,
            )
