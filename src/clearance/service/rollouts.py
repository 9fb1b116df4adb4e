"""Canary rollouts: ramp an approved version up in production, or roll it back on a breach.

A transition with a ``rollout`` plan does not execute when its request is approved: the
request waits as ``approved`` until ``clearance rollout start``. The canary then serves a
share of traffic beside the current production version (the control), KPI readings arrive
(``clearance rollout observe`` or the API), and each reading or ``tick`` asks the pure
``core.rollout.assess`` what to do: hold, advance a step, complete (the move executes and
the control is deprecated) or roll back (traffic returns to the control, an alert fires).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field

from clearance.core import subjects
from clearance.core.engine import resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.core.policy import RolloutPlan
from clearance.core.rollout import Action, KpiReading, Verdict, assess, reading_problem
from clearance.errors import InputError, NotFound
from clearance.service.access import authorize
from clearance.service.alerts import emit
from clearance.service.context import (
    load_recorded,
    model_info,
    require_model,
    require_user,
    require_version,
)
from clearance.service.ports import Clock, Store, Tx
from clearance.service.promotion import execute_request
from clearance.service.records import KpiRecord, ModelRecord, Record, RolloutRecord, RolloutState


class KpiIn(Record):
    """One KPI reading as sent: the canary's value and, for relative limits, the control's."""

    canary: float = Field(allow_inf_nan=False, description="The canary's reading.")
    control: float | None = Field(
        default=None, allow_inf_nan=False, description="The control version's reading."
    )


class ObserveOut(Record):
    """What the readings made the rollout do: hold, advance, complete or rollback."""

    rollout: RolloutRecord = Field(description="The rollout after the readings.")
    action: Action
    reason: str
    breaches: list[str]


class RolloutStatus(Record):
    """The model's latest rollout, with its latest KPI readings (``clearance rollout status``)."""

    id: int
    model: str
    request: int
    canary: str
    control: str | None
    step: int = Field(description="1-based step of the plan.")
    traffic: float
    status: RolloutState
    reason: str
    started_at: str
    step_started_at: str
    readings: dict[str, KpiRecord]


class ServingAssignment(Record):
    """What a serving layer routes: the champion, and the canary with its share of traffic."""

    model: str
    champion: str | None = Field(description="The production version serving the rest.")
    canary: str | None = Field(description="The version under a running rollout, if any.")
    canary_weight: float = Field(description="The canary's share of traffic, 0 to 1.")
    rollout: int | None = Field(description="The running rollout's id.")


def plan_of(loaded: LoadedPolicy, from_stage: str, to_stage: str) -> RolloutPlan | None:
    return resolve_transition(loaded, from_stage, to_stage).rollout


@dataclass(frozen=True)
class Rollouts:
    store: Store
    clock: Clock

    def start(self, model: str, version: str, *, actor: str) -> RolloutRecord:
        """Start the canary of the approved promotion of ``version`` that waits for it."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            require_user(tx, actor)
            model_record = require_model(tx, model)
            authorize(tx, actor, "rollout", model_info(model_record))
            version_record = require_version(tx, model_record, version)
            if tx.rollouts(model_id=model_record.id, status="running"):
                raise InputError(
                    f"model {model_record.name} already has a running rollout; "
                    "let it complete or roll back first"
                )
            waiting = tx.list_requests(version_id=version_record.id, statuses=("approved",))
            if not waiting:
                raise NotFound(
                    f"no approved promotion of {model_record.name} {version} is waiting "
                    "for a rollout; promote it and collect its approvals first"
                )
            request = waiting[-1]
            loaded = load_recorded(tx.policy_by_id(request.policy_id))
            plan = plan_of(loaded, request.from_stage, request.to_stage)
            assert plan is not None, "approved requests wait only when a plan exists"
            control = tx.versions_in_stage(model_record.id, request.to_stage)
            rollout = tx.add_rollout(
                model_id=model_record.id,
                request_id=request.id,
                version_id=version_record.id,
                control_version_id=control[-1].id if control else None,
                step=0,
                traffic=plan.steps[0].traffic,
                status="running",
                reason="started",
                started_at=now,
                step_started_at=now,
            )
            tx.set_request_status(request.id, "rolling_out", now)
            tx.append_event(
                time=now,
                actor=actor,
                action="rollout.started",
                subject=subjects.rollout(rollout.id),
                model=model_record.name,
                payload={
                    "version": version,
                    "request": request.id,
                    "traffic": rollout.traffic,
                    "control": control[-1].version if control else None,
                },
            )
            return rollout

    def observe(
        self, model: str, readings: Mapping[str, tuple[float, float | None]], *, actor: str
    ) -> tuple[RolloutRecord, Verdict]:
        """Record KPI readings ``{name: (canary, control)}`` for the model's running rollout,
        then act on them."""
        if not readings:
            raise InputError("give at least one --kpi name=value")
        for name, (canary, control) in readings.items():
            if (problem := reading_problem(name, canary, control)) is not None:
                raise InputError(problem)
        now = self.clock.now()
        with self.store.transaction() as tx:
            require_user(tx, actor)
            model_record = require_model(tx, model)
            authorize(tx, actor, "rollout", model_info(model_record))
            rollout = _running(tx, model_record)
            for name, (canary, control) in readings.items():
                tx.add_reading(
                    rollout.id,
                    KpiRecord(name=name, canary=canary, control=control, at=now, recorded_by=actor),
                )
            tx.append_event(
                time=now,
                actor=actor,
                action="rollout.observed",
                subject=subjects.rollout(rollout.id),
                model=model_record.name,
                payload={k: {"canary": v[0], "control": v[1]} for k, v in readings.items()},
            )
            return advance(tx, model_record, rollout, actor=actor, now=now)

    def observe_readings(
        self, model: str, readings: Mapping[str, KpiIn], *, actor: str
    ) -> ObserveOut:
        """``observe`` as the API and SDK send it: readings by name, the verdict as a record."""
        pairs = {name: (r.canary, r.control) for name, r in readings.items()}
        rollout, verdict = self.observe(model, pairs, actor=actor)
        return ObserveOut(
            rollout=rollout, action=verdict.action, reason=verdict.reason, breaches=verdict.breaches
        )

    def status(self, model: str) -> RolloutStatus:
        """Where the model's latest rollout stands, with its latest KPI readings."""
        with self.store.reading() as tx:
            model_record = require_model(tx, model)
            rollouts = tx.rollouts(model_id=model_record.id)
            if not rollouts:
                raise NotFound(f"model {model_record.name} has had no rollout")
            r = rollouts[-1]
            control = tx.version_by_id(r.control_version_id) if r.control_version_id else None
            return RolloutStatus(
                id=r.id,
                model=model_record.name,
                request=r.request_id,
                canary=tx.version_by_id(r.version_id).version,
                control=control.version if control else None,
                step=r.step + 1,
                traffic=r.traffic,
                status=r.status,
                reason=r.reason,
                started_at=r.started_at.isoformat(),
                step_started_at=r.step_started_at.isoformat(),
                readings=tx.latest_readings(r.id),
            )

    def serving(self, model: str) -> ServingAssignment:
        """The serving assignment any serving layer can read: champion, canary, weight."""
        with self.store.reading() as tx:
            model_record = require_model(tx, model)
            running = tx.rollouts(model_id=model_record.id, status="running")
            prod = [v for v in tx.list_versions(model_record.id) if v.production_slot is not None]
            champion = max(prod, key=lambda v: v.stage_changed_at).version if prod else None
            if not running:
                return ServingAssignment(
                    model=model_record.name,
                    champion=champion,
                    canary=None,
                    canary_weight=0.0,
                    rollout=None,
                )
            r = running[-1]
            return ServingAssignment(
                model=model_record.name,
                champion=champion,
                canary=tx.version_by_id(r.version_id).version,
                canary_weight=r.traffic,
                rollout=r.id,
            )


def _running(tx: Tx, model: ModelRecord) -> RolloutRecord:
    running = tx.rollouts(model_id=model.id, status="running")
    if not running:
        raise NotFound(
            f"model {model.name} has no running rollout; start one with "
            "`clearance rollout start MODEL VERSION`"
        )
    return running[-1]


def advance(
    tx: Tx, model: ModelRecord, rollout: RolloutRecord, *, actor: str, now: dt.datetime
) -> tuple[RolloutRecord, Verdict]:
    """Assess one running rollout and carry out the verdict, audited."""
    request = tx.get_request(rollout.request_id)
    assert request is not None
    loaded = load_recorded(tx.policy_by_id(request.policy_id))
    plan = plan_of(loaded, request.from_stage, request.to_stage)
    assert plan is not None
    readings = {
        k: KpiReading(name=v.name, canary=v.canary, control=v.control, at=v.at)
        for k, v in tx.latest_readings(rollout.id).items()
        # a later step starts at the assessment that ended the one before: readings taken at
        # that instant measured the previous traffic share and do not count for this step
        if rollout.step == 0 or v.at > rollout.step_started_at
    }
    verdict = assess(
        plan,
        rollout.step,
        rollout.step_started_at,
        readings,
        now,
        has_control=rollout.control_version_id is not None,
    )
    version = tx.version_by_id(rollout.version_id).version
    policy = f"{loaded.name}@{loaded.version}"
    subject = subjects.rollout(rollout.id)
    if verdict.action == "hold":
        return rollout, verdict
    if verdict.action == "advance":
        rollout = tx.update_rollout(
            rollout.id,
            step=verdict.step,
            traffic=verdict.traffic,
            step_started_at=now,
            reason=verdict.reason,
        )
        tx.append_event(
            time=now,
            actor=actor,
            action="rollout.advanced",
            subject=subject,
            model=model.name,
            payload={"step": verdict.step + 1, "traffic": verdict.traffic},
        )
        return rollout, verdict
    if verdict.action == "complete":
        execute_request(tx, request, loaded, actor, now)
        tx.set_request_status(request.id, "executed", now)
        rollout = tx.update_rollout(
            rollout.id, status="completed", traffic=1.0, ended_at=now, reason=verdict.reason
        )
        tx.append_event(
            time=now,
            actor=actor,
            action="rollout.completed",
            subject=subject,
            model=model.name,
            payload={"version": version},
        )
        emit(
            tx,
            f"promoted:request:{request.id}",
            event="promoted",
            model=model.name,
            version=version,
            policy=policy,
            now=now,
            actor=actor,
            summary=f"{model.name} {version} completed its canary and is in {request.to_stage}",
            details={"request": request.id, "rollout": rollout.id},
        )
        return rollout, verdict
    rollout = tx.update_rollout(
        rollout.id, status="rolled_back", traffic=0.0, ended_at=now, reason=verdict.reason
    )
    tx.set_request_status(request.id, "rolled_back", now)
    tx.append_event(
        time=now,
        actor=actor,
        action="rollout.rolled_back",
        subject=subject,
        model=model.name,
        payload={"version": version, "breaches": verdict.breaches, "traffic_was": verdict.traffic},
    )
    emit(
        tx,
        f"rolled-back:rollout:{rollout.id}",
        event="rolled_back",
        model=model.name,
        version=version,
        policy=policy,
        now=now,
        actor=actor,
        severity="critical",
        summary=f"canary {model.name} {version} rolled back: {verdict.reason}",
        details={"request": request.id, "rollout": rollout.id, "breaches": verdict.breaches},
        remediation="traffic is back on the control version; investigate the breached KPI "
        "before promoting again",
    )
    return rollout, verdict
