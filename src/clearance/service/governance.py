"""Time-based governance: post-incident reviews, emergency expiry, SLAs, expiring waivers.

``tick`` does every piece of time-based work and is idempotent: each fact it acts on is
recorded under a key (``review-overdue:request:12``), so cron or the server's scheduler can
call it every minute and each alert fires, and each automatic rollback happens, once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from clearance.core import subjects
from clearance.core.durations import parse_duration
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.core.policy import ChangeType
from clearance.errors import ClearanceError, InputError, TransitionRefused
from clearance.service.access import authorize
from clearance.service.alerts import Alert, bounded_key, emit
from clearance.service.context import (
    EvidenceSource,
    load_recorded,
    model_info,
    require_request,
    require_user,
    snapshot,
)
from clearance.service.kpi_sources import KpiSource
from clearance.service.ports import Clock, Store, Tx
from clearance.service.promotion import restore_previous
from clearance.service.records import PolicyRecord, RequestRecord, ReviewRecord
from clearance.service.rollouts import advance, pull_kpis
from clearance.service.waivers import active_waivers

TICK_ACTOR = "clearance-tick"
REVIEW_DUE_NOTICE = dt.timedelta(hours=24)
WAIVER_NOTICE = dt.timedelta(days=7)


@dataclass
class TickReport:
    actions: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.actions.append(text)


@dataclass(frozen=True)
class Governance:
    store: Store
    evidence: EvidenceSource
    clock: Clock
    # where tick pulls KPIs from (``prometheus.yaml``); called only when a rollout pulls one
    kpi_source: Callable[[], KpiSource | None] = lambda: None

    def record_review(
        self, request_id: int, *, summary: str, actions: Sequence[str], actor: str
    ) -> ReviewRecord:
        if not summary.strip():
            raise InputError("a post-incident review needs a --summary")
        actions = list(actions)
        now = self.clock.now()
        with self.store.transaction() as tx:
            require_user(tx, actor)
            request = require_request(tx, request_id)
            authorize(tx, actor, "review", model_info(tx.model_by_id(request.model_id)))
            if request.change_type != "emergency" or request.status != "executed":
                raise InputError(
                    f"request {request_id} is not an executed emergency change; "
                    "only those owe a post-incident review"
                )
            if tx.get_review(request_id) is not None:
                raise InputError(f"request {request_id} already has its post-incident review")
            review = ReviewRecord(
                request_id=request_id,
                summary=summary,
                actions=actions,
                recorded_by=actor,
                recorded_at=now,
            )
            tx.add_review(review)
            deadline = review_deadline(tx, request)
            tx.append_event(
                time=now,
                actor=actor,
                action="review.recorded",
                subject=subjects.request(request_id),
                model=tx.model_by_id(request.model_id).name,
                payload={
                    "summary": summary,
                    "actions": actions,
                    "late": deadline is not None and now > deadline,
                },
            )
            return review

    def alerts(self, *, model: str | None = None) -> list[Alert]:
        """The alerts recorded (newest last), each with its deliveries' states."""
        with self.store.reading() as tx:
            recorded = tx.notifications(model=model)
            deliveries = tx.all_deliveries()
        states: dict[str, list[str]] = {}
        for d in deliveries:
            states.setdefault(d.notification.id, []).append(f"{d.channel}: {d.status}")
        return [
            Alert.model_validate({**n, "deliveries": states.get(n["id"], [])}) for n in recorded
        ]

    def tick(self) -> TickReport:
        """Each item that may be due in a write transaction of its own; which ones are is
        read first, in one reading transaction: pending requests past their approval SLA and
        not yet escalated, executed emergency changes, and the models with a running rollout
        or an active waiver. On a registry of 100k requests and 10k models a tick is then a
        few reads, not a write transaction per request and per model (minutes; issue 12)."""
        report = TickReport()
        now = self.clock.now()
        with self.store.reading() as tx:
            policies = {p.id: p for p in tx.list_policies()}
            pending = [
                r for r in tx.list_requests(statuses=("pending",)) if _due(tx, policies, r, now)
            ]
            emergencies = tx.list_requests(statuses=("executed",), change_type="emergency")
            rolling = {r.model_id for r in tx.rollouts(status="running")}
            waived = {w.model for w in active_waivers(tx.list_waivers(), now)}
            models = [m for m in tx.list_models() if m.id in rolling or m.name in waived]
        for request in sorted([*pending, *emergencies], key=lambda r: r.id):
            self._guarded(
                report, f"request {request.id}", partial(self._request, request, now, report)
            )
        for model in models:
            self._guarded(
                report,
                f"model {model.name}",
                partial(self._rollouts_and_waivers, model.id, now, report),
            )
        return report

    def _guarded(self, report: TickReport, what: str, work: Callable[[], None]) -> None:
        try:
            work()
        except ClearanceError as exc:  # one bad item must not stop the rest of the tick
            report.add(f"{what}: skipped: {exc}")

    def _request(self, request: RequestRecord, now: dt.datetime, report: TickReport) -> None:
        with self.store.transaction() as tx:
            request = require_request(tx, request.id)
            loaded = load_recorded(tx.policy_by_id(request.policy_id))
            model = tx.model_by_id(request.model_id)
            version = tx.version_by_id(request.version_id)
            policy = f"{loaded.name}@{loaded.version}"
            base: dict[str, Any] = {
                "model": model.name,
                "version": version.version,
                "policy": policy,
                "now": now,
                "actor": TICK_ACTOR,
            }
            if request.status == "pending":
                sla = _overdue_sla(loaded, request, now)
                if sla is not None and emit(
                    tx,
                    _escalation(request.id),
                    event="approval_escalated",
                    severity="warning",
                    summary=f"request {request.id} ({model.name} {version.version} → "
                    f"{request.to_stage}) has waited for approval longer than {sla}",
                    details={
                        "request": request.id,
                        "escalate_to": loaded.policy.escalation.contacts,
                    },
                    **base,
                ):
                    report.add(f"request {request.id}: approval escalated (SLA {sla})")
            if request.status == "executed" and request.change_type == "emergency":
                self._emergency(tx, request, loaded, base, now, report)

    def _emergency(
        self,
        tx: Tx,
        request: RequestRecord,
        loaded: Any,
        base: dict[str, Any],
        now: dt.datetime,
        report: TickReport,
    ) -> None:
        ctype = loaded.policy.change_types.get("emergency")
        deadline = review_deadline(tx, request)
        rid = request.id
        if deadline is not None and tx.get_review(rid) is None:
            if deadline - REVIEW_DUE_NOTICE <= now < deadline and emit(
                tx,
                f"review-due:request:{rid}",
                event="review_due",
                severity="warning",
                summary=f"post-incident review of emergency request {rid} is due by "
                f"{deadline:%Y-%m-%d %H:%M} UTC",
                details={"request": rid},
                remediation=f"clearance review record {rid} --summary ... --actions ...",
                **base,
            ):
                report.add(f"request {rid}: review due soon")
            if now >= deadline and emit(
                tx,
                f"review-overdue:request:{rid}",
                event="review_overdue",
                severity="critical",
                summary=f"post-incident review of emergency request {rid} is overdue "
                f"(deadline {deadline:%Y-%m-%d %H:%M} UTC)",
                details={"request": rid},
                remediation=f"record it now: clearance review record {rid} --summary ...",
                **base,
            ):
                report.add(f"request {rid}: review overdue")
                emit(
                    tx,
                    f"non-compliant:review:request:{rid}",
                    event="non_compliant",
                    severity="critical",
                    details={"request": rid},
                    summary=f"{base['model']} is non-compliant: emergency change {rid} has no "
                    "post-incident review",
                    **base,
                )
                if ctype is not None and ctype.rollback_if_review_overdue:
                    self._auto_rollback(tx, request, loaded, base, now, report)
        expires = bypass_expires_at(request, ctype)
        if expires is not None and now >= expires:
            self._bypass_expired(tx, request, loaded, base, now, report)

    def _auto_rollback(
        self,
        tx: Tx,
        request: RequestRecord,
        loaded: Any,
        base: dict[str, Any],
        now: dt.datetime,
        report: TickReport,
    ) -> None:
        model = tx.model_by_id(request.model_id)
        version = tx.version_by_id(request.version_id)
        if version.stage != loaded.policy.workflow.production_stage:
            return
        reason = f"post-incident review of emergency request {request.id} overdue (policy)"
        try:
            # restore_previous records the rolled_back alert itself: one alert per rollback
            bad, restored = restore_previous(
                tx, model, loaded, actor=TICK_ACTOR, reason=reason, now=now
            )
        except TransitionRefused as exc:
            # nothing to restore: the overdue and non-compliance alerts must still stand
            report.add(f"request {request.id}: no automatic rollback: {exc}")
            return
        report.add(f"request {request.id}: rolled back {bad.version} → {restored.version}")

    def _bypass_expired(
        self,
        tx: Tx,
        request: RequestRecord,
        loaded: Any,
        base: dict[str, Any],
        now: dt.datetime,
        report: TickReport,
    ) -> None:
        """When the emergency's time runs out, the gates it bypassed must pass on their own."""
        key = f"non-compliant:bypass-expired:request:{request.id}"
        if tx.has_notification(key):
            return
        model = tx.model_by_id(request.model_id)
        row = tx.version_by_id(request.version_id)
        if row.stage != request.to_stage:
            return  # replaced or rolled back since: the bypassed version no longer serves
        version = snapshot(tx, model, row, None)
        transition = resolve_transition(loaded, request.from_stage, request.to_stage)
        waivers = [w.as_waiver() for w in active_waivers(tx.list_waivers(model=model.name), now)]
        decision = evaluate(
            Evaluation(
                loaded,
                transition,
                version,
                self.evidence.open(version, row.record.get("artifact_blob")),
                now,
                waivers=waivers,
                requester=request.requester,
            )
        )
        bypassed = set(loaded.policy.change_types["emergency"].bypass)
        failing = [g for g in decision.gates if g.gate_id in bypassed and g.blocking]
        if not failing:
            return
        names = ", ".join(g.gate_id for g in failing)
        emit(
            tx,
            key,
            event="non_compliant",
            severity="critical",
            summary=f"{model.name} {row.version}: the emergency bypass expired and {names} "
            "still fail",
            details={
                "request": request.id,
                "gates": [
                    {
                        "id": g.gate_id,
                        "status": g.status.value,
                        "observed": g.observed,
                        "threshold": g.threshold,
                        "message": g.message,
                        "remediation": g.remediation,
                    }
                    for g in failing
                ],
            },
            remediation="promote a version that passes these gates, or grant a waiver",
            **base,
        )
        report.add(f"request {request.id}: bypass expired, {names} still failing")

    def _rollouts_and_waivers(self, model_id: int, now: dt.datetime, report: TickReport) -> None:
        pulled, problems = pull_kpis(self.store, self.kpi_source, model_id, now)
        for line in problems:
            report.add(line)
        with self.store.transaction() as tx:
            model = tx.model_by_id(model_id)
            for rollout in tx.rollouts(model_id=model_id, status="running"):
                after, verdict = advance(
                    tx, model, rollout, actor=TICK_ACTOR, now=now, pulled=pulled.get(rollout.id)
                )
                if verdict.action != "hold":
                    report.add(
                        f"rollout {after.id} ({model.name}): {verdict.action}: {verdict.reason}"
                    )
            for w in active_waivers(tx.list_waivers(model=model.name), now):
                if w.expires_at - now <= WAIVER_NOTICE and emit(
                    tx,
                    f"waiver-expiring:{w.label}",
                    event="waiver_expiring",
                    severity="warning",
                    model=model.name,
                    version=w.version or "all versions",
                    policy="waiver",
                    now=now,
                    actor=TICK_ACTOR,
                    summary=f"waiver {w.label} for gate {w.gate_id} expires "
                    f"{w.expires_at:%Y-%m-%d %H:%M} UTC",
                    details={
                        "waiver": w.label,
                        "gate": w.gate_id,
                        "justification": w.justification,
                        "controls": w.controls,
                    },
                    remediation="fix what the gate checks before then, or renew the waiver "
                    "with fresh justification",
                ):
                    report.add(f"waiver {w.label}: expiring notice")


def _escalation(request_id: int) -> str:
    return f"approval-escalated:request:{request_id}"


def _due(
    tx: Tx, policies: Mapping[int, PolicyRecord], request: RequestRecord, now: dt.datetime
) -> bool:
    """Whether a pending request is past its approval SLA and not yet escalated (so the tick
    must write); one whose policy cannot say is visited too, and the tick reports why."""
    try:
        late = _overdue_sla(load_recorded(policies[request.policy_id]), request, now)
    except (ClearanceError, KeyError):
        return True
    return late is not None and not tx.has_notification(bounded_key(_escalation(request.id)))


def _overdue_sla(loaded: LoadedPolicy, request: RequestRecord, now: dt.datetime) -> str | None:
    """The approval SLA a pending request has waited past (None: within it, or none)."""
    sla = resolve_transition(loaded, request.from_stage, request.to_stage).approval_sla
    return sla if sla is not None and now - request.created_at > parse_duration(sla) else None


def executed_at(tx: Tx, request: RequestRecord) -> dt.datetime | None:
    return request.updated_at if request.status == "executed" else None


def bypass_expires_at(request: RequestRecord, ctype: ChangeType | None) -> dt.datetime | None:
    """When the gates an executed change skipped must pass again (its change type's
    ``expires_after`` from execution): what ``tick`` acts on and a serving loader judges.
    None: not executed, or no expiry."""
    if ctype is None or not ctype.expires_after or request.status != "executed":
        return None
    return request.updated_at + parse_duration(ctype.expires_after)


def review_deadline(tx: Tx, request: RequestRecord) -> dt.datetime | None:
    """When an executed emergency change's post-incident review is due (None: not owed)."""
    if request.change_type != "emergency":
        return None
    executed = executed_at(tx, request)
    ctype = load_recorded(tx.policy_by_id(request.policy_id)).policy.change_types.get("emergency")
    if executed is None or ctype is None or not ctype.post_incident_review_within:
        return None
    return executed + parse_duration(ctype.post_incident_review_within)


def compliance_issues(tx: Tx, model_id: int, now: dt.datetime) -> list[str]:
    """Why a model is non-compliant right now (empty when it is compliant)."""
    executed = tx.list_requests(model_id=model_id, statuses=("executed",))
    reviewed = {r.id for r in executed if tx.get_review(r.id) is not None}
    return overdue_reviews(executed, reviewed, lambda r: review_deadline(tx, r), now)


def overdue_reviews(
    executed: Iterable[RequestRecord],
    reviewed: Container[int],
    deadline: Callable[[RequestRecord], dt.datetime | None],
    now: dt.datetime,
) -> list[str]:
    """The rule behind non-compliance, over reads the caller made (one model, or a page):
    an executed change whose post-incident review is past its deadline and not recorded."""
    issues = []
    for r in executed:
        due = deadline(r)
        if due is not None and now > due and r.id not in reviewed:
            issues.append(
                f"emergency request {r.id}: post-incident review overdue since "
                f"{due:%Y-%m-%d %H:%M} UTC"
            )
    return issues
