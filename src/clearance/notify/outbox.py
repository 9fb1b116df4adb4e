"""Delivery with retries and backoff, so that no notification is lost silently.

A notification is first *enqueued*: one ``Delivery`` per (notification id, channel) is
written to an ``OutboxStore``, normally in the same transaction as the state change that
caused it. ``dispatch`` later sends what is due. This module is pure logic: the time is
passed in and the store is a protocol, so retries are tested by advancing a fake clock. The
stores are adapters: :mod:`clearance.adapters.notify.outbox`.

Rules:

* Idempotent: adding a delivery whose (notification id, channel) already exists does
  nothing, so a scheduler may notice the same fact many times and it is sent once.
* A retryable failure schedules the next attempt after ``base * factor**(attempts-1)``
  seconds, capped (30 s, 1 min, 2 min, ... at most 1 h); after ``max_attempts`` attempts
  the delivery is ``failed``. A non-retryable failure is ``failed`` at once.
* A failed delivery is never deleted: it stays in the store with its last error and the
  history of every attempt, for people to see and re-send.
* Delivery is at least once: a crash between sending and recording sends again on the
  next dispatch. Receivers drop duplicates by the notification id (the webhook's
  ``X-Clearance-Delivery`` header, the e-mail's ``Message-ID``).
* When a channel fails with a retryable error, its other deliveries are skipped for the
  rest of that dispatch (not counted as attempts): one dead receiver costs one timeout
  per run, not one per queued notification.

Implementing ``OutboxStore`` over SQL: key the table on (notification id, channel) with a
unique constraint so ``add`` is ``INSERT ... ON CONFLICT DO NOTHING``; store the
notification and history as JSON (``Delivery.model_dump_json``); index (status,
next_attempt_at) for ``due``. Several processes may dispatch at once (a server's request
pushing its alerts while the leader ticks): ``claim`` moves a due delivery's next attempt
past the longest send (``CLAIM``) in one conditional ``UPDATE``, and only the dispatcher
whose update changed the row sends it; one that dies while sending leaves it due again when
the claim runs out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from clearance.notify.channels import Channel, DeliveryError
from clearance.notify.events import Notification

DeliveryStatus = Literal["pending", "sent", "failed"]
# How long a claimed delivery is left to its dispatcher: past the longest channel timeout
# (300 s, ``notify.config``), so a live sender always records its outcome first.
CLAIM = dt.timedelta(minutes=10)


class Attempt(BaseModel):
    """One try at sending: when, and the error if it failed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    ok: bool
    error: str | None = None
    retryable: bool | None = None


class Delivery(BaseModel):
    """One notification on its way to one channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notification: Notification
    channel: str
    status: DeliveryStatus = "pending"
    attempts: int = Field(default=0, ge=0)
    created_at: AwareDatetime
    next_attempt_at: AwareDatetime | None  # when to try next; None once sent or failed
    last_error: str | None = None
    history: tuple[Attempt, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """(notification id, channel name): what makes a delivery unique."""
        return (self.notification.id, self.channel)


class OutboxStore(Protocol):
    """Where deliveries wait. Three operations; see the module doc for a SQL shape."""

    def add(self, delivery: Delivery) -> bool:
        """Store ``delivery`` unless its ``key`` exists; True if it was new."""
        ...

    def due(self, now: dt.datetime) -> list[Delivery]:
        """Pending deliveries with ``next_attempt_at <= now``, earliest first."""
        ...

    def update(self, delivery: Delivery) -> None:
        """Replace the stored delivery with the same ``key``."""
        ...

    def claim(self, delivery: Delivery, now: dt.datetime, until: dt.datetime) -> bool:
        """If ``delivery`` is still pending and due at ``now``, make it due at ``until``
        instead, atomically; True for the one caller that did."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base_s * factor**(n-1)`` after the n-th failure, at most ``cap_s``."""

    base_s: float = 30.0
    factor: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempts: int) -> dt.timedelta:
        """How long to wait after ``attempts`` failed attempts."""
        return dt.timedelta(seconds=min(self.base_s * self.factor ** (attempts - 1), self.cap_s))


DEFAULT_RETRY = RetryPolicy()


@dataclass
class DispatchReport:
    """What one ``dispatch`` did; every delivery it touched, in its new state."""

    sent: list[Delivery] = field(default_factory=list)
    retrying: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)
    skipped: list[Delivery] = field(default_factory=list)  # channel down this run; untouched


def _aware(now: dt.datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("the outbox needs a timezone-aware time")


def enqueue(
    store: OutboxStore, n: Notification, channels: Iterable[str], now: dt.datetime
) -> list[Delivery]:
    """Queue ``n`` for each named channel, due at once; return the deliveries that were new."""
    _aware(now)
    added = []
    for name in dict.fromkeys(channels):
        delivery = Delivery(notification=n, channel=name, created_at=now, next_attempt_at=now)
        if store.add(delivery):
            added.append(delivery)
    return added


def dispatch(
    store: OutboxStore,
    channels: Mapping[str, Channel],
    now: dt.datetime,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> DispatchReport:
    """Try every due delivery once; record each outcome in the store."""
    _aware(now)
    report = DispatchReport()
    down: set[str] = set()
    for delivery in store.due(now):
        if delivery.channel in down:
            report.skipped.append(delivery)
            continue
        if not store.claim(delivery, now, now + CLAIM):
            continue  # another dispatcher took it since ``due`` was read: theirs to send
        channel = channels.get(delivery.channel)
        try:
            if channel is None:
                # Retryable: the configuration (or a secret) may be fixed before attempts
                # run out; until then the delivery stays visible rather than vanishing.
                raise DeliveryError(f"no channel named {delivery.channel!r} is configured", True)
            channel.send(delivery.notification)
        except DeliveryError as exc:
            updated = _failed(delivery, now, exc.message, exc.retryable, retry)
        except Exception as exc:  # a bug in a channel must not lose the notification either
            updated = _failed(delivery, now, f"{type(exc).__name__}: {exc}", True, retry)
        else:
            updated = delivery.model_copy(
                update={
                    "status": "sent",
                    "attempts": delivery.attempts + 1,
                    "next_attempt_at": None,
                    "history": (*delivery.history, Attempt(at=now, ok=True)),
                }
            )
        store.update(updated)
        if updated.status == "sent":
            report.sent.append(updated)
        elif updated.status == "failed":
            report.failed.append(updated)
        else:
            report.retrying.append(updated)
            down.add(delivery.channel)
    return report


def _failed(
    delivery: Delivery, now: dt.datetime, error: str, retryable: bool, retry: RetryPolicy
) -> Delivery:
    attempts = delivery.attempts + 1
    final = not retryable or attempts >= retry.max_attempts
    if final and retryable:
        error = f"{error} (gave up after {attempts} attempts)"
    return delivery.model_copy(
        update={
            "status": "failed" if final else "pending",
            "attempts": attempts,
            "next_attempt_at": None if final else now + retry.delay(attempts),
            "last_error": error,
            "history": (
                *delivery.history,
                Attempt(at=now, ok=False, error=error, retryable=retryable),
            ),
        }
    )
