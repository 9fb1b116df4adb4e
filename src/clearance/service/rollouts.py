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
from dataclasses import dataclass
from typing import Any

from clearance.core.engine import resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.core.policy import RolloutPlan
from clearance.core.rollout import KpiReading, Verdict, assess, reading_problem
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
from clearance.service.records import KpiRecord, ModelRecord, RolloutRecord


def plan_of(loaded: LoadedPolicy, from_stage: str, to_stage: str) -> RolloutPlan | None:
    return resolve_transition(loaded, from_stage, to_stage).rollout


@dataclass(frozen=True)
class Rollouts:
    store: Store
    clock: Clock

    def start(self, model_name: str, version: str, *, actor: str) -> RolloutRecord:
        now = self.clock.now()
        with self.store.transaction() as tx:
            require_user(tx, actor)
            model = require_model(tx, model_name)
            authorize(tx, actor, "rollout", model_info(model))
            row = require_version(tx, model, version)
            if tx.rollouts(model_id=model.id, status="running"):
                raise InputError(
                    f"model {model.name} already has a running rollout; "
                    "let it complete or roll back first"
                )
            waiting = tx.list_requests(version_id=row.id, statuses=("approved",))
            if not waiting:
                raise NotFound(
                    f"no approved promotion of {model.name} {version} is waiting "
                    "for a rollout; promote it and collect its approvals first"
                )
            request = waiting[-1]
            loaded = load_recorded(tx.policy_by_id(request.policy_id))
            plan = plan_of(loaded, request.from_stage, request.to_stage)
            assert plan is not None, "approved requests wait only when a plan exists"
            control = tx.versions_in_stage(model.id, request.to_stage)
            rollout = tx.add_rollout(
                model_id=model.id,
                request_id=request.id,
                version_id=row.id,
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
                subject=f"rollout:{rollout.id}",
                model=model.name,
                payload={
                    "version": version,
                    "request": request.id,
                    "traffic": rollout.traffic,
                    "control": control[-1].version if control else None,
                },
            )
            return rollout

    def observe(
        self, model_name: str, readings: dict[str, tuple[float, float | None]], *, actor: str
    ) -> tuple[RolloutRecord, Verdict]:
        """Record KPI readings for the model's running rollout, then act on them."""
        if not readings:
            raise InputError("give at least one --kpi name=value")
        for name, (canary, control) in readings.items():
            if (problem := reading_problem(name, canary, control)) is not None:
                raise InputError(problem)
        now = self.clock.now()
        with self.store.transaction() as tx:
            require_user(tx, actor)
            model = require_model(tx, model_name)
            authorize(tx, actor, "rollout", model_info(model))
            rollout = _running(tx, model)
            for name, (canary, control) in readings.items():
                tx.add_reading(
                    rollout.id,
                    KpiRecord(name=name, canary=canary, control=control, at=now, recorded_by=actor),
                )
            tx.append_event(
                time=now,
                actor=actor,
                action="rollout.observed",
                subject=f"rollout:{rollout.id}",
                model=model.name,
                payload={k: {"canary": v[0], "control": v[1]} for k, v in readings.items()},
            )
            return advance(tx, model, rollout, actor=actor, now=now)

    def status(self, model_name: str) -> dict[str, Any]:
        with self.store.reading() as tx:
            model = require_model(tx, model_name)
            rollouts = tx.rollouts(model_id=model.id)
            if not rollouts:
                raise NotFound(f"model {model.name} has had no rollout")
            r = rollouts[-1]
            readings = tx.latest_readings(r.id)
            return {
                **_describe(tx, r),
                "readings": {k: v.model_dump(mode="json") for k, v in readings.items()},
            }

    def serving(self, model_name: str) -> dict[str, Any]:
        """The serving assignment any serving layer can read: champion, canary, weight."""
        with self.store.reading() as tx:
            model = require_model(tx, model_name)
            running = tx.rollouts(model_id=model.id, status="running")
            prod = [v for v in tx.list_versions(model.id) if v.production_slot is not None]
            champion = max(prod, key=lambda v: v.stage_changed_at).version if prod else None
            out: dict[str, Any] = {
                "model": model.name,
                "champion": champion,
                "canary": None,
                "canary_weight": 0.0,
                "rollout": None,
            }
            if running:
                r = running[-1]
                out.update(
                    canary=tx.version_by_id(r.version_id).version,
                    canary_weight=r.traffic,
                    rollout=r.id,
                )
            return out


def _running(tx: Tx, model: ModelRecord) -> RolloutRecord:
    running = tx.rollouts(model_id=model.id, status="running")
    if not running:
        raise NotFound(
            f"model {model.name} has no running rollout; start one with "
            "`clearance rollout start MODEL VERSION`"
        )
    return running[-1]


def _describe(tx: Tx, r: RolloutRecord) -> dict[str, Any]:
    control = tx.version_by_id(r.control_version_id).version if r.control_version_id else None
    return {
        "id": r.id,
        "model": tx.model_by_id(r.model_id).name,
        "request": r.request_id,
        "canary": tx.version_by_id(r.version_id).version,
        "control": control,
        "step": r.step + 1,
        "traffic": r.traffic,
        "status": r.status,
        "reason": r.reason,
        "started_at": r.started_at.isoformat(),
        "step_started_at": r.step_started_at.isoformat(),
    }


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
    subject = f"rollout:{rollout.id}"
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
