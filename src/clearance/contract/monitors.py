# mypy: disable-error-code="empty-body"
# (the declarations have no bodies: the decorator sends each call through the transport)
"""Production monitors: run the due ones, and where each stands (docs/monitoring.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from clearance.contract.operations import Contract, operation

if TYPE_CHECKING:  # imported when a transport reads the declarations (operations.py says why)
    from clearance.service.monitors import MonitorRunOut, MonitorStatusOut


class MonitorOps(Contract):
    @operation(
        "POST",
        "/monitors/run",
        service="monitors",
        handler="run",
        tags=("monitors",),
        errors=(403, 404),
        actor=True,
    )
    def run_monitors(
        self,
        *,
        model: Annotated[
            str | None, Field(min_length=1, max_length=200, description="Only this model's.")
        ] = None,
        dry_run: Annotated[
            bool, Field(description="Evaluate and report; record nothing, take no action.")
        ] = False,
    ) -> MonitorRunOut:
        """Run the production monitors that are due: record each result in the audit trail,
        alert, and retrain, fall back or roll back where the policy says (admin or
        mlops_oncall)."""

    @operation(
        "GET",
        "/models/{model}/monitors",
        service="monitors",
        handler="status",
        tags=("monitors",),
        errors=(404,),
    )
    def monitor_status(self, model: str) -> MonitorStatusOut:
        """Each monitor of the model's policy on each production version: its last run, its
        result, how long it has been failing, and when it is next due."""
