"""``tick``: all the time-based work, once; what a scheduler (cron, a systemd timer) runs.

Governance deadlines first (expiring waivers, overdue reviews, canary steps, escalations),
then routing and sending the alerts they raised, so one tick delivers what it noticed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clearance.service.access import authorize_server
from clearance.service.delivery import Deliveries
from clearance.service.governance import Governance
from clearance.service.ports import Store
from clearance.service.records import TickSummary


@dataclass(frozen=True)
class Scheduler:
    """``deliveries`` is called after the governance step: the notification configuration
    is read then, so a bad one does not stop the deadlines from being handled."""

    store: Store
    governance: Governance
    deliveries: Callable[[], Deliveries]

    def tick(self, *, actor: str | None = None, operator: bool = False) -> TickSummary:
        """``actor`` (the API's caller) must hold a role that may run it; the local CLI and
        schedulers run it as the operator."""
        if actor is not None and not operator:
            with self.store.reading() as tx:
                authorize_server(tx, actor, "tick")
        report = self.governance.tick()
        deliveries = self.deliveries()
        routed = deliveries.route()
        sent = deliveries.send()
        return TickSummary(
            actions=report.actions,
            routed=routed,
            delivered=len(sent.sent),
            retrying=len(sent.retrying),
            failed=len(sent.failed),
        )
