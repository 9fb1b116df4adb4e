"""Canary rollouts: ramp an approved version up in production, or roll it back on a breach.

A transition with a ``rollout`` plan does not execute when its request is approved: the
request waits as ``approved`` until ``clearance rollout start``. The canary then serves a
share of traffic beside the current production version (the control), KPI readings arrive
(``clearance rollout observe`` or the API) or are pulled by ``tick`` from Prometheus (a KPI
with a ``source``), and each reading or ``tick`` asks the pure ``core.rollout.assess`` what to
do: hold, advance a step, complete (the move executes and the control is deprecated) or roll
back (traffic returns to the control, an alert fires). Triggers over a window read the
stored readings since the window's start (``readings_since``) and, at ``tick``, the series
pulled then, merged in time order. Pulled points are not stored: the events of the verdicts
they move carry each pulled KPI's latest point.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import Field

from clearance.core import subjects
from clearance.core.engine import resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.core.policy import RolloutPlan
from clearance.core.rollout import Action, KpiReading, Verdict, assess, reading_problem
from clearance.errors import ClearanceError, InputError, NotFound
from clearance.service.access import authorize
from clearance.service.alerts import emit
from clearance.service.context import (
    load_recorded,
    model_info,
    require_model,
    require_user,
    require_version,
)
from clearance.service.kpi_sources import KpiSeries, KpiSource
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


Pulled = dict[str, list[KpiReading]]


def lookback(plan: RolloutPlan) -> dt.timedelta:
    """How far back the plan's triggers read: its longest ``for`` or budget window."""
    return max(plan.windows(), default=dt.timedelta())


def pull_kpis(
    store: Store, source: Callable[[], KpiSource | None], model_id: int, now: dt.datetime
) -> tuple[dict[int, Pulled], list[str]]:
    """The readings of the pulled KPIs of the model's running rollouts, by rollout id, and a
    line for each KPI that could not be pulled (it is then judged as unobserved: its
    rollout holds, never advances blind). ``source`` is called only when a KPI needs it."""
    with store.reading() as tx:
        model = tx.model_by_id(model_id)
        work = []
        for rollout in tx.rollouts(model_id=model_id, status="running"):
            request = tx.get_request(rollout.request_id)
            assert request is not None
            loaded = load_recorded(tx.policy_by_id(request.policy_id))
            plan = plan_of(loaded, request.from_stage, request.to_stage)
            if plan is not None and any(k.source is not None for k in plan.kpis):
                work.append((rollout, plan))
    if not work:
        return {}, []
    where = f"model {model.name}"
    try:
        prometheus = source()
    except ClearanceError as exc:
        return {}, [f"{where}: KPIs not pulled: {exc}"]
    if prometheus is None:
        return {}, [
            f"{where}: KPIs not pulled: the rollout pulls them from Prometheus, but this "
            "workspace has no .clearance/prometheus.yaml (docs/rollouts.md)"
        ]
    pulled: dict[int, Pulled] = {}
    problems = []
    for rollout, plan in work:
        pulled[rollout.id], lines = _pull(prometheus, plan, rollout, now)
        problems += [f"rollout {rollout.id} ({model.name}): {line}" for line in lines]
    return pulled, problems


def _pull(
    source: KpiSource, plan: RolloutPlan, rollout: RolloutRecord, now: dt.datetime
) -> tuple[Pulled, list[str]]:
    """Each sourced KPI over the plan's longest window and one step more (so that a point
    stands at the window's start), from the rollout's start on."""
    step = source.resolution
    start = now - (lookback(plan) // step + 1) * step
    out: Pulled = {}
    problems = []
    for kpi in plan.kpis:
        if kpi.source is None:
            continue
        queries = kpi.source.prometheus
        try:
            canary = source.series(queries.query, start=start, end=now, step=step)
            control = (
                source.series(queries.control_query, start=start, end=now, step=step)
                if queries.control_query is not None and rollout.control_version_id is not None
                else None
            )
        except ClearanceError as exc:
            problems.append(f"KPI {kpi.name} not pulled: {exc}")
            continue
        out[kpi.name] = _readings(kpi.name, canary, control, rollout.started_at)
    return out, problems


def _readings(
    name: str, canary: KpiSeries, control: KpiSeries | None, since: dt.datetime
) -> list[KpiReading]:
    """The canary's points from ``since`` on, each with the control's point at its instant."""
    paired = dict(control.points) if control is not None else {}
    return [
        KpiReading(name=name, canary=value, control=paired.get(at), at=at)
        for at, value in canary.points
        if at >= since
    ]


def _latest(readings: Sequence[KpiReading]) -> dict[str, object]:
    r = readings[-1]
    return {"canary": r.canary, "control": r.control, "at": r.at.isoformat()}


def _running(tx: Tx, model: ModelRecord) -> RolloutRecord:
    running = tx.rollouts(model_id=model.id, status="running")
    if not running:
        raise NotFound(
            f"model {model.name} has no running rollout; start one with "
            "`clearance rollout start MODEL VERSION`"
        )
    return running[-1]


def advance(
    tx: Tx,
    model: ModelRecord,
    rollout: RolloutRecord,
    *,
    actor: str,
    now: dt.datetime,
    pulled: Pulled | None = None,
) -> tuple[RolloutRecord, Verdict]:
    """Assess one running rollout and carry out the verdict, audited. ``pulled``: readings
    pulled for this assessment (``pull_kpis``), judged with the stored ones."""
    request = tx.get_request(rollout.request_id)
    assert request is not None
    loaded = load_recorded(tx.policy_by_id(request.policy_id))
    plan = plan_of(loaded, request.from_stage, request.to_stage)
    assert plan is not None
    readings: dict[str, Sequence[KpiReading]] = {
        name: [KpiReading(name=r.name, canary=r.canary, control=r.control, at=r.at) for r in rs]
        for name, rs in tx.readings_since(rollout.id, now - lookback(plan)).items()
    }
    for name, points in (pulled or {}).items():
        readings[name] = sorted([*readings.get(name, ()), *points], key=lambda r: r.at)
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
    evidence = (
        {"pulled": {name: _latest(rs) for name, rs in sorted(pulled.items()) if rs}}
        if pulled
        else {}
    )
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
            payload={"step": verdict.step + 1, "traffic": verdict.traffic, **evidence},
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
            payload={"version": version, **evidence},
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
        payload={
            "version": version,
            "breaches": verdict.breaches,
            "traffic_was": verdict.traffic,
            **evidence,
        },
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
