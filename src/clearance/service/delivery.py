"""Deliver recorded notifications: route each to its channels, then send with retries.

Runs outside any use-case transaction (``clearance tick`` and after commands), so sending
never holds a database lock. Routing and sending are both idempotent: a notification is
routed once, a (notification, channel) delivery is queued once and sent until it succeeds
or runs out of attempts, and a failed delivery stays recorded with its error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from clearance.notify.channels import Channel
from clearance.notify.config import (
    NotificationConfig,
    NotificationConfigError,
    build_channels,
    route_names,
)
from clearance.notify.events import Notification
from clearance.notify.outbox import Delivery, DispatchReport, dispatch, enqueue
from clearance.service.ports import Clock, Store


class SqlOutbox:
    """The ``OutboxStore`` port over the store, one short transaction per operation."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, delivery: Delivery) -> bool:
        with self.store.transaction() as tx:
            return tx.add_delivery(delivery)

    def due(self, now: dt.datetime) -> list[Delivery]:
        with self.store.reading() as tx:
            return tx.due_deliveries(now)

    def update(self, delivery: Delivery) -> None:
        with self.store.transaction() as tx:
            tx.update_delivery(delivery)


@dataclass(frozen=True)
class Deliveries:
    store: Store
    clock: Clock
    config: NotificationConfig | None
    env: Mapping[str, str] | None = None

    def route(self) -> int:
        """Queue every unrouted notification for its channels; return how many were routed."""
        outbox = SqlOutbox(self.store)
        now = self.clock.now()
        with self.store.reading() as tx:
            pending = tx.unrouted_notifications()
        for key, body in pending:
            n = Notification.model_validate(body)
            names = route_names(self.config, n) if self.config else []
            names += [c for c in n.details.get("escalate_to", []) if c not in names]
            enqueue(outbox, n, names, now)
            with self.store.transaction() as tx:
                tx.mark_routed(key)
        return len(pending)

    def send(self) -> DispatchReport:
        return dispatch(SqlOutbox(self.store), self._channels(), self.clock.now())

    def _channels(self) -> dict[str, Channel]:
        """Every channel that can be built; one with a missing secret is left out, and its
        deliveries are retried (and recorded as failing) until the secret is set."""
        out: dict[str, Channel] = {}
        config = self.config
        if config is None:
            return out
        for spec in config.channels:
            try:
                out.update(build_channels(config, self.env, clock=self.clock, only=[spec.name]))
            except NotificationConfigError:
                continue
        return out
