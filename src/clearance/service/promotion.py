"""Promotion use cases: request, approve, reject, re-evaluate, execute, roll back.

Every use case is one transaction. A request is evaluated by the pure engine with everything
it needs passed in, the Decision is stored with those inputs (for replay), and when the
outcome is ``allow`` the stage change happens in the same transaction. Writers take turns on
the audit head, and the database's unique production slot makes a second concurrent winner
impossible (invariant 2).
"""

from __future__ import annotations

from dataclasses import dataclass

from clearance.core.approvals import Approval
from clearance.core.engine import evaluate, evidence_digest, resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.core.results import Decision, Outcome
from clearance.errors import ApprovalError, InputError, TransitionRefused
from clearance.service.context import (
    BlobEvidence,
    governing_policy,
    load_recorded,
    require_model,
    require_request,
    require_user,
    require_version,
    snapshot,
)
from clearance.service.ports import BlobStore, Clock, Store, Tx
from clearance.service.records import OPEN_STATUSES, RequestRecord, VersionRecord

RETIRED_STAGE = "deprecated"


@dataclass(frozen=True)
class RequestResult:
    request: RequestRecord
    decision: Decision
    decision_number: int
    executed: bool

    @property
    def exit_code(self) -> int:
        return self.decision.exit_code


@dataclass(frozen=True)
class Promotions:
    store: Store
    blobs: BlobStore
    clock: Clock

    def promote(
        self,
        model_name: str,
        version: str,
        to_stage: str,
        *,
        actor: str,
        reason: str = "",
        ticket: str = "",
        change_type: str = "standard",
    ) -> RequestResult:
        with self.store.transaction() as tx:
            require_user(tx, actor)
            model = require_model(tx, model_name)
            row = require_version(tx, model, version)
            policy_record, loaded = governing_policy(tx, model)
            resolve_transition(loaded, row.stage, to_stage)
            for other in tx.list_requests(version_id=row.id, statuses=OPEN_STATUSES):
                if other.to_stage == to_stage:
                    raise InputError(
                        f"request {other.id} for {model.name} {version} → {to_stage} is already "
                        f"{other.status}; sign it, or `clearance request reevaluate {other.id}`"
                    )
            now = self.clock.now()
            request = tx.add_request(
                model_id=model.id,
                version_id=row.id,
                policy_id=policy_record.id,
                from_stage=row.stage,
                to_stage=to_stage,
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
                subject=f"request:{request.id}",
                model=model.name,
                payload={
                    "version": version,
                    "from": row.stage,
                    "to": to_stage,
                    "change_type": change_type,
                    "reason": reason,
                    "ticket": ticket,
                    "policy": f"{policy_record.name}@{policy_record.version}",
                },
            )
            return self._decide(tx, request, loaded, actor)

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
            request = _open_request(tx, request_id)
            loaded = load_recorded(tx.policy_by_id(request.policy_id))
            tx.append_event(
                time=self.clock.now(),
                actor=actor,
                action="request.reevaluated",
                subject=f"request:{request.id}",
                model=_model_name(tx, request),
                payload={},
            )
            return self._decide(tx, request, loaded, actor)

    def rollback(
        self, model_name: str, *, actor: str, reason: str, to_version: str | None = None
    ) -> tuple[VersionRecord, VersionRecord]:
        """Restore the previous production version; returns (rolled back, restored)."""
        if not reason.strip():
            raise InputError("a rollback needs a --reason for the audit trail")
        with self.store.transaction() as tx:
            require_user(tx, actor)
            model = require_model(tx, model_name)
            _, loaded = governing_policy(tx, model)
            prod = loaded.policy.workflow.production_stage
            current = tx.versions_in_stage(model.id, prod)
            if not current:
                raise TransitionRefused(f"model {model.name} has no {prod} version to roll back")
            bad = current[-1]
            target = self._rollback_target(tx, model.name, bad, to_version, model.id)
            now = self.clock.now()
            tx.set_stage(bad.id, RETIRED_STAGE, slot=None, at=now)
            restored = tx.set_stage(target.id, prod, slot=bad.production_slot, at=now)
            for row, before, after in ((bad, prod, RETIRED_STAGE), (target, RETIRED_STAGE, prod)):
                tx.append_event(
                    time=now,
                    actor=actor,
                    action="version.stage_changed",
                    subject=f"model:{model.name}/version:{row.version}",
                    model=model.name,
                    payload={"from": before, "to": after, "rollback": True, "reason": reason},
                )
            tx.append_event(
                time=now,
                actor=actor,
                action="model.rolled_back",
                subject=f"model:{model.name}",
                model=model.name,
                payload={
                    "from_version": bad.version,
                    "to_version": target.version,
                    "reason": reason,
                },
            )
            return tx.version_by_id(bad.id), restored

    # internals -----------------------------------------------------------------------------
    def _rollback_target(
        self, tx: Tx, model: str, bad: VersionRecord, to_version: str | None, model_id: int
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

    def _sign(
        self, request_id: int, *, actor: str, verdict: str, reason: str, ticket: str
    ) -> RequestResult:
        with self.store.transaction() as tx:
            user = require_user(tx, actor)
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
                action=f"request.{verdict}d",
                subject=f"request:{request.id}",
                model=_model_name(tx, request),
                payload={
                    "roles": user.roles,
                    "reason": reason,
                    "ticket": ticket,
                    "evidence_digest": digest,
                },
            )
            return self._decide(tx, request, loaded, actor)

    def _current_digest(self, tx: Tx, request: RequestRecord) -> str:
        row = tx.version_by_id(request.version_id)
        return evidence_digest(
            snapshot(tx, tx.model_by_id(request.model_id), row, request.to_stage)
        )

    def _decide(
        self, tx: Tx, request: RequestRecord, loaded: LoadedPolicy, actor: str
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
        now = self.clock.now()
        transition = resolve_transition(loaded, request.from_stage, request.to_stage)
        artifact_blob = row.record.get("artifact_blob")
        decision = evaluate(
            loaded,
            transition,
            version,
            BlobEvidence.of(self.blobs, version, artifact_blob),
            approvals,
            [],
            now,
            change_type=request.change_type,
            requester=request.requester,
        )
        inputs = {
            "version": version.model_dump(mode="json"),
            "artifact_blob": artifact_blob,
            "approvals": [a.model_dump(mode="json") for a in approvals],
            "waivers": [],
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
        tx.append_event(
            time=now,
            actor=actor,
            action="decision.recorded",
            subject=f"decision:{stored.id}",
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
        status = _status(decision)
        executed = False
        if decision.outcome is Outcome.ALLOW:
            self._execute(tx, request, loaded, actor)
            executed = True
        if status != request.status:
            request = tx.set_request_status(request.id, status, now)
            tx.append_event(
                time=now,
                actor=actor,
                action="request.status_changed",
                subject=f"request:{request.id}",
                model=model.name,
                payload={"status": status},
            )
        return RequestResult(request, decision, stored.id, executed)

    def _execute(self, tx: Tx, request: RequestRecord, loaded: LoadedPolicy, actor: str) -> None:
        model = tx.model_by_id(request.model_id)
        row = tx.version_by_id(request.version_id)
        wf = loaded.policy.workflow
        now = self.clock.now()
        slot, replaced = None, None
        if request.to_stage == wf.production_stage:
            occupants = tx.versions_in_stage(model.id, wf.production_stage)
            while len(occupants) >= wf.max_production_versions:
                old = occupants.pop(0)
                tx.set_stage(old.id, RETIRED_STAGE, slot=None, at=now)
                tx.append_event(
                    time=now,
                    actor=actor,
                    action="version.stage_changed",
                    subject=f"model:{model.name}/version:{old.version}",
                    model=model.name,
                    payload={
                        "from": wf.production_stage,
                        "to": RETIRED_STAGE,
                        "replaced_by": row.version,
                        "request": request.id,
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
            subject=f"model:{model.name}/version:{row.version}",
            model=model.name,
            payload={
                "from": request.from_stage,
                "to": request.to_stage,
                "request": request.id,
                "change_type": request.change_type,
            },
        )
        for other in tx.list_requests(version_id=row.id, statuses=OPEN_STATUSES):
            if other.id != request.id:
                tx.set_request_status(other.id, "cancelled", now)
                tx.append_event(
                    time=now,
                    actor=actor,
                    action="request.status_changed",
                    subject=f"request:{other.id}",
                    model=model.name,
                    payload={
                        "status": "cancelled",
                        "why": f"the version moved to {request.to_stage}",
                    },
                )


def _status(decision: Decision) -> str:
    if decision.outcome is Outcome.ALLOW:
        return "executed"
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
