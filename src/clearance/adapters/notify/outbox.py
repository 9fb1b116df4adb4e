"""Outbox stores (the ``OutboxStore`` port of :mod:`clearance.notify.outbox`).

``StoreOutbox`` keeps deliveries in the workspace's store, one short transaction per
operation, so sending never holds a database lock; ``InMemoryOutbox`` keeps them in a dict.
"""

from __future__ import annotations

import datetime as dt

from clearance.notify.outbox import Delivery
from clearance.service.ports import Store


class StoreOutbox:
    """The outbox in the store's tables, one short transaction per operation."""

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

    def claim(self, delivery: Delivery, now: dt.datetime, until: dt.datetime) -> bool:
        with self.store.transaction() as tx:
            return tx.claim_delivery(delivery.key, now, until)


class InMemoryOutbox:
    """An ``OutboxStore`` in a dict: for tests, ``clearance.testing`` and one-shot runs."""

    def __init__(self) -> None:
        self._deliveries: dict[tuple[str, str], Delivery] = {}

    def add(self, delivery: Delivery) -> bool:
        if delivery.key in self._deliveries:
            return False
        self._deliveries[delivery.key] = delivery
        return True

    def due(self, now: dt.datetime) -> list[Delivery]:
        ready = [
            d
            for d in self._deliveries.values()
            if d.status == "pending" and d.next_attempt_at is not None and d.next_attempt_at <= now
        ]
        return sorted(ready, key=lambda d: (d.next_attempt_at or now, d.created_at, d.key))

    def update(self, delivery: Delivery) -> None:
        if delivery.key not in self._deliveries:
            raise KeyError(f"no delivery {delivery.key} to update")
        self._deliveries[delivery.key] = delivery

    def claim(self, delivery: Delivery, now: dt.datetime, until: dt.datetime) -> bool:
        kept = self._deliveries.get(delivery.key)
        if kept is None or kept.status != "pending" or kept.next_attempt_at is None:
            return False
        if kept.next_attempt_at > now:
            return False
        self._deliveries[delivery.key] = kept.model_copy(update={"next_attempt_at": until})
        return True

    def get(self, notification_id: str, channel: str) -> Delivery | None:
        return self._deliveries.get((notification_id, channel))

    def all(self) -> list[Delivery]:
        """Every delivery, sent and failed included, in the order they were added."""
        return list(self._deliveries.values())
