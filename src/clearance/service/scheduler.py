"""``tick``: all the time-based work, once; what a scheduler (cron, a systemd timer) runs.

Governance deadlines first (expiring waivers, overdue reviews, canary steps, escalations),
then the MLflow reconcile (a write-back MLflow missed, a hand-moved alias), then routing and
sending the alerts they raised, so one tick delivers what it noticed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clearance.errors import ClearanceError
from clearance.service.access import authorize_server
from clearance.service.delivery import Deliveries
from clearance.service.governance import Governance
from clearance.service.ports import Store
from clearance.service.records import TickSummary

if TYPE_CHECKING:
    from clearance.service.mlflow_governance import MlflowGovernance
    from clearance.service.monitors import Monitors


@dataclass(frozen=True)
class Scheduler:
    """``deliveries`` is called after the governance step: the notification configuration
    is read then, so a bad one does not stop the deadlines from being handled. ``mlflow``
    likewise (None: MLflow is not used); an MLflow that cannot be reached, or a bad
    ``mlflow.yaml``, is one line of the summary, and the rest of the tick still runs."""

    store: Store
    governance: Governance
    deliveries: Callable[[], Deliveries]
    mlflow: Callable[[], MlflowGovernance | None] = lambda: None
    monitors: Callable[[], Monitors | None] = lambda: None

    def tick(self, *, actor: str | None = None, operator: bool = False) -> TickSummary:
        """``actor`` (the API's caller) must hold a role that may run it; the local CLI and
        schedulers run it as the operator."""
        if actor is not None and not operator:
            with self.store.reading() as tx:
                authorize_server(tx, actor, "tick")
        report = self.governance.tick()
        actions = [*report.actions, *self._monitor(), *self._reconcile()]
        deliveries = self.deliveries()
        routed = deliveries.route()
        sent = deliveries.send()
        return TickSummary(
            actions=actions,
            routed=routed,
            delivered=len(sent.sent),
            retrying=len(sent.retrying),
            failed=len(sent.failed),
        )

    def _monitor(self) -> list[str]:
        """The production monitors that are due, run (docs/monitoring.md); their alerts go
        out with the rest of the tick's."""
        try:
            monitors = self.monitors()
            if monitors is None:
                return []
            out = monitors.run(operator=True, send=False)
        except ClearanceError as exc:
            return [f"monitors: not run: {exc}"]
        lines = [
            f"monitor {r.monitor} ({r.model} {r.version}): {r.result.status.value}"
            + "".join(f"; {note}" for note in r.notes)
            for r in out.results
        ]
        return lines + [f"monitors: {p}" for p in out.problems]

    def _reconcile(self) -> list[str]:
        """The MLflow reconcile's lines: what it wrote, what it found changed by hand, what
        failed (then the next tick tries again)."""
        try:
            mlflow = self.mlflow()
            if mlflow is None:
                return []
            results = mlflow.reconcile(operator=True)  # authorized as the tick already
        except ClearanceError as exc:
            return [f"mlflow: not reconciled: {exc}"]
        lines = []
        for result in results:
            where = f"mlflow {result.model}"
            if result.error is not None:
                lines.append(f"{where}: not synced, tried again next tick: {result.error}")
            lines += [f"{where}: wrote {w}" for w in result.written]
            lines += [
                f"{where}: ungoverned change {c.target}: found {c.found}, expected {c.expected}"
                + (" (moved back)" if c.reverted else "")
                for c in result.ungoverned
            ]
        return lines
