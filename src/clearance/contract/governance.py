# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Waivers, canary rollouts, serving, alerts and the time-based work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from clearance.contract.operations import Contract, operation
from clearance.errors import InputError

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.contract.schemas import (  # noqa: F401 (named by body=)
        ObserveBody,
        RevokeBody,
        RolloutBody,
        WaiverBody,
    )
    from clearance.core.rollout import Verdict
    from clearance.service.alerts import Alert
    from clearance.service.records import RolloutRecord, TickSummary, WaiverRecord, WaiverState
    from clearance.service.rollouts import KpiIn, ObserveOut, RolloutStatus, ServingAssignment
    from clearance.service.waivers import Until, WaiverBacklog, WaiverOut

ModelFilter = Annotated[str | None, Field(description="Only this model's.")]
WaiverId = Annotated[str, Field(description="A waiver id: W-3 (or 3).")]


class GovernanceOps(Contract):
    # waivers -------------------------------------------------------------------------------
    @operation(
        "GET",
        "/waivers/backlog",
        service="waivers",
        handler="backlog",
        tags=("waivers",),
        errors=(404,),
    )
    def waiver_backlog(
        self,
        *,
        model: ModelFilter = None,
        expiring_within: Annotated[
            str | None,
            Field(max_length=12, description="Only active waivers expiring within, e.g. 7d."),
        ] = None,
    ) -> WaiverBacklog:
        """The exception backlog: every waiver's state, counts, and the monthly trend."""

    @operation(
        "GET",
        "/waivers",
        service="waivers",
        handler="list",
        tags=("waivers",),
        errors=(404,),
        paged=True,
        route="list_waivers",
    )
    def waivers(
        self, *, model: ModelFilter = None, state: WaiverState | None = None
    ) -> list[WaiverOut]:
        """Waivers with their state now, oldest first; filter by model and state."""

    @operation(
        "POST",
        "/waivers",
        service="waivers",
        handler="grant",
        tags=("waivers",),
        errors=(403, 404, 409),
        body="WaiverBody",
        actor=True,
    )
    def grant_waiver(
        self,
        model: str,
        gate: str,
        *,
        justification: str,
        controls: Sequence[str],
        until: Until | None = None,
        expires_in: str | None = None,
        version: str | None = None,
    ) -> WaiverRecord:
        """Grant a waiver for one gate (only the roles the policy names for waivers may).

        Give the expiry as ``until`` or ``expires_in`` (``14d``); the policy caps it. A date
        means the end of that day, UTC; a time without a zone is UTC.
        """

    @operation(
        "POST",
        "/waivers/{waiver_id}/revoke",
        service="waivers",
        handler="revoke",
        tags=("waivers",),
        errors=(403, 404, 409),
        status=200,
        body="RevokeBody",
        actor=True,
        route="revoke_waiver",
    )
    def revoke_waiver_by_id(self, waiver_id: WaiverId, *, reason: str) -> WaiverRecord:
        """Revoke a waiver before it expires (its grantor, or a grantor role)."""

    def revoke_waiver(self, waiver: str | int, *, reason: str) -> WaiverRecord:
        """Revoke ``W-3`` (or ``3``) before it expires."""
        return self.revoke_waiver_by_id(str(waiver), reason=reason)

    # canary rollouts -----------------------------------------------------------------------
    @operation(
        "POST",
        "/models/{model}/rollouts",
        service="rollouts",
        handler="start",
        tags=("rollouts",),
        errors=(403, 404, 409),
        body="RolloutBody",
        actor=True,
    )
    def start_rollout(self, model: str, version: str) -> RolloutRecord:
        """Start the canary of an approved promotion (the first step of the policy's plan)."""

    @operation(
        "POST",
        "/models/{model}/rollouts/observe",
        service="rollouts",
        handler="observe_readings",
        tags=("rollouts",),
        errors=(403, 404, 409),
        status=200,
        body="ObserveBody",
        actor=True,
        route="observe_rollout",
    )
    def observe_rollout_readings(self, model: str, readings: Mapping[str, KpiIn]) -> ObserveOut:
        """Feed KPI readings to the running canary: it holds, advances, completes or rolls back."""

    def observe_rollout(
        self, model: str, readings: Mapping[str, float | tuple[float, float | None]]
    ) -> tuple[RolloutRecord, Verdict]:
        """Feed KPI readings (``{name: canary}`` or ``{name: (canary, control)}``).

        The rollout advances, completes or rolls back; returns it with the verdict.
        """
        from clearance.core.rollout import Verdict, reading_problem
        from clearance.service.rollouts import KpiIn

        kpis: dict[str, KpiIn] = {}
        for name, value in readings.items():
            canary, control = value if isinstance(value, tuple) else (value, None)
            # the service's own check, before the reading is built: the same message here
            # as from the workspace (the API's body would refuse it field by field)
            if (problem := reading_problem(name, canary, control)) is not None:
                raise InputError(problem)
            kpis[name] = KpiIn(canary=canary, control=control)
        out = self.observe_rollout_readings(model, kpis)
        rollout = out.rollout
        verdict = Verdict(
            action=out.action,
            reason=out.reason,
            step=rollout.step,
            traffic=rollout.traffic,
            breaches=list(out.breaches),
        )
        return rollout, verdict

    @operation(
        "GET",
        "/models/{model}/rollouts",
        service="rollouts",
        handler="status",
        tags=("rollouts",),
        errors=(404,),
    )
    def rollout_status(self, model: str) -> RolloutStatus:
        """Where the model's latest rollout stands, with its latest KPI readings."""

    @operation(
        "GET", "/models/{model}/serving", service="rollouts", tags=("rollouts",), errors=(404,)
    )
    def serving(self, model: str) -> ServingAssignment:
        """The serving assignment a serving layer reads: champion, canary and its weight."""

    # alerts and the tick -------------------------------------------------------------------
    @operation("GET", "/alerts", service="governance", tags=("alerts",), route="list_alerts")
    def alerts(self, *, model: ModelFilter = None) -> list[Alert]:
        """The alerts recorded (newest last)."""

    @operation(
        "POST",
        "/tick",
        service="scheduler",
        tags=("alerts",),
        errors=(403, 409),
        actor=True,
    )
    def tick(self) -> TickSummary:
        """Run the time-based work once (idempotent): expiries, SLAs, reviews, rollouts, then
        route and deliver alerts (admin or mlops_oncall)."""
