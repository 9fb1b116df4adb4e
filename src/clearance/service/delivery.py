"""Deliver recorded notifications: route each to its channels, then send with retries.

Runs outside any use-case transaction (``clearance tick`` and after commands), so sending
never holds a database lock. Routing and sending are both idempotent: a notification is
routed once, a (notification, channel) delivery is queued once and sent until it succeeds
or runs out of attempts, and a failed delivery stays recorded with its error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clearance.notify.channels import Channel
from clearance.notify.config import NotificationConfig, route_names
from clearance.notify.events import Notification
from clearance.notify.outbox import DispatchReport, OutboxStore, dispatch, enqueue
from clearance.service.ports import Clock, Store


@dataclass(frozen=True)
class Deliveries:
    """``outbox`` holds the deliveries; ``channels`` are the senders that could be built
    (one whose secret is missing is absent: its deliveries fail, retryably, until it is set)."""

    store: Store
    clock: Clock
    config: NotificationConfig | None
    outbox: OutboxStore
    channels: Mapping[str, Channel]

    def route(self) -> int:
        """Queue every unrouted notification for its channels; return how many were routed."""
        now = self.clock.now()
        with self.store.reading() as tx:
            pending = tx.unrouted_notifications()
        for key, body in pending:
            n = Notification.model_validate(body)
            names = route_names(self.config, n) if self.config else []
            names += [c for c in n.details.get("escalate_to", []) if c not in names]
            enqueue(self.outbox, n, names, now)
            with self.store.transaction() as tx:
                tx.mark_routed(key)
        return len(pending)

    def send(self) -> DispatchReport:
        return dispatch(self.outbox, self.channels, self.clock.now())
