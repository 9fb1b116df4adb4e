"""Delivery with retries: backoff under a fake clock, idempotency, failures kept visible.

Sends go to the real local HTTP and SMTP receivers; only time is simulated.
"""

from __future__ import annotations

import datetime as dt

import pytest

from clearance.adapters.clock import FixedClock
from clearance.adapters.notify import InMemoryOutbox, SmtpChannel, WebhookChannel
from clearance.notify import Channel, Delivery, Notification, RetryPolicy, dispatch, enqueue

from .conftest import START, HttpReceiver, SmtpReceiver, gate_failed

SECRET = "s"


def _hook(receiver: HttpReceiver, clock: FixedClock, name: str = "hook") -> WebhookChannel:
    return WebhookChannel(receiver.url, SECRET, 5, name=name, clock=clock)


def _only(outbox: InMemoryOutbox) -> Delivery:
    [delivery] = outbox.all()
    return delivery


def test_backoff_schedule() -> None:
    delays = [RetryPolicy().delay(n).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_retries_with_backoff_then_sends(http_receiver: HttpReceiver, clock: FixedClock) -> None:
    http_receiver.answer(500, 503, 502)  # then 200
    outbox = InMemoryOutbox()
    channels: dict[str, Channel] = {"hook": _hook(http_receiver, clock)}
    enqueue(outbox, gate_failed(), ["hook"], clock.now())

    report = dispatch(outbox, channels, clock.now())
    assert len(report.retrying) == 1 and not report.sent
    assert _only(outbox).next_attempt_at == START + dt.timedelta(seconds=30)

    clock.advance(seconds=29)  # not due yet: nothing is sent
    assert dispatch(outbox, channels, clock.now()).retrying == []
    assert len(http_receiver.requests) == 1

    clock.advance(seconds=1)  # t+30: second attempt, fails, next in 60 s
    dispatch(outbox, channels, clock.now())
    assert _only(outbox).next_attempt_at == START + dt.timedelta(seconds=90)

    clock.advance(seconds=60)  # t+90: third attempt, fails, next in 120 s
    dispatch(outbox, channels, clock.now())
    assert _only(outbox).next_attempt_at == START + dt.timedelta(seconds=210)

    clock.advance(seconds=120)  # t+210: fourth attempt succeeds
    report = dispatch(outbox, channels, clock.now())
    assert [d.channel for d in report.sent] == ["hook"]

    delivery = _only(outbox)
    assert delivery.status == "sent" and delivery.attempts == 4
    assert delivery.next_attempt_at is None
    assert [a.at - START for a in delivery.history] == [
        dt.timedelta(seconds=s) for s in (0, 30, 90, 210)
    ]
    assert [a.ok for a in delivery.history] == [False, False, False, True]
    assert delivery.history[0].error is not None and "HTTP 500" in delivery.history[0].error
    assert delivery.last_error is not None and "HTTP 502" in delivery.last_error
    # Every attempt was the same delivery, so a receiver can drop duplicates.
    assert {r.headers["x-clearance-delivery"] for r in http_receiver.requests} == {gate_failed().id}
    assert len(http_receiver.requests) == 4

    clock.advance(hours=5)
    assert dispatch(outbox, channels, clock.now()).sent == []
    assert len(http_receiver.requests) == 4


def test_same_notification_is_delivered_once(
    http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver, clock: FixedClock
) -> None:
    outbox = InMemoryOutbox()
    channels: dict[str, Channel] = {
        "hook": _hook(http_receiver, clock),
        "mail": SmtpChannel(
            smtp_receiver.host,
            smtp_receiver.port,
            "c@bank.example",
            ["r@bank.example"],
            starttls=False,
            timeout=5,
        ),
    }
    first = enqueue(outbox, gate_failed(), ["hook", "mail", "hook"], clock.now())
    assert [d.channel for d in first] == ["hook", "mail"]
    # The scheduler notices the same fact again, later: same id, nothing new.
    clock.advance(minutes=5)
    assert (
        enqueue(outbox, gate_failed(occurred_at=clock.now()), ["hook", "mail"], clock.now()) == []
    )
    for _ in range(5):
        dispatch(outbox, channels, clock.now())
        clock.advance(hours=1)
    assert len(http_receiver.requests) == 1
    assert len(smtp_receiver.messages) == 1
    assert {d.status for d in outbox.all()} == {"sent"}
    # Even after it was sent, the same id is not queued again.
    assert enqueue(outbox, gate_failed(), ["hook"], clock.now()) == []
    assert dispatch(outbox, channels, clock.now()).sent == []
    assert len(http_receiver.requests) == 1


def test_gives_up_after_max_attempts_and_keeps_the_record(
    http_receiver: HttpReceiver, clock: FixedClock
) -> None:
    http_receiver.answer(*[503] * 20)
    outbox = InMemoryOutbox()
    channels: dict[str, Channel] = {"hook": _hook(http_receiver, clock)}
    enqueue(outbox, gate_failed(), ["hook"], clock.now())
    times = []
    for _ in range(20):
        due = outbox.due(dt.datetime.max.replace(tzinfo=dt.UTC))
        if not due:
            break
        next_at = due[0].next_attempt_at
        assert next_at is not None
        clock.at = next_at
        times.append((clock.now() - START).total_seconds())
        dispatch(outbox, channels, clock.now())

    assert times == [0, 30, 90, 210, 450, 930, 1890, 3810]
    assert len(http_receiver.requests) == 8
    delivery = _only(outbox)
    assert delivery.status == "failed"
    assert delivery.attempts == 8 and len(delivery.history) == 8
    assert delivery.next_attempt_at is None
    assert delivery.last_error is not None
    assert "HTTP 503" in delivery.last_error and "gave up after 8 attempts" in delivery.last_error
    assert delivery.notification == gate_failed()  # what was to be said is still there
    clock.advance(days=2)
    assert outbox.due(clock.now()) == []


def test_client_error_fails_at_once(http_receiver: HttpReceiver, clock: FixedClock) -> None:
    http_receiver.answer(400)
    outbox = InMemoryOutbox()
    channels: dict[str, Channel] = {"hook": _hook(http_receiver, clock)}
    enqueue(outbox, gate_failed(), ["hook"], clock.now())
    report = dispatch(outbox, channels, clock.now())
    assert [d.status for d in report.failed] == ["failed"]
    delivery = _only(outbox)
    assert delivery.attempts == 1
    assert delivery.last_error is not None and "HTTP 400" in delivery.last_error
    assert delivery.history[0].retryable is False
    clock.advance(days=1)
    dispatch(outbox, channels, clock.now())
    assert len(http_receiver.requests) == 1


def test_a_down_channel_is_tried_once_per_run_and_others_still_go(
    http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver, clock: FixedClock
) -> None:
    http_receiver.answer(500)
    outbox = InMemoryOutbox()
    channels: dict[str, Channel] = {
        "hook": _hook(http_receiver, clock),
        "mail": SmtpChannel(
            smtp_receiver.host,
            smtp_receiver.port,
            "c@bank.example",
            ["r@bank.example"],
            starttls=False,
            timeout=5,
        ),
    }
    for i in range(3):
        enqueue(outbox, gate_failed(id=f"n{i}"), ["hook", "mail"], clock.now())
    report = dispatch(outbox, channels, clock.now())
    assert len(http_receiver.requests) == 1  # the first failure stops the others this run
    assert len(report.retrying) == 1 and len(report.skipped) == 2
    assert len(smtp_receiver.messages) == 3
    skipped = outbox.get("n1", "hook")
    assert skipped is not None and skipped.attempts == 0
    # The next run sends the skipped ones; the failed one waits for its backoff.
    dispatch(outbox, channels, clock.now())
    assert len(http_receiver.requests) == 3
    clock.advance(seconds=30)
    dispatch(outbox, channels, clock.now())
    assert {d.status for d in outbox.all()} == {"sent"}


def test_unconfigured_channel_is_recorded_not_dropped(clock: FixedClock) -> None:
    outbox = InMemoryOutbox()
    enqueue(outbox, gate_failed(), ["removed-channel"], clock.now())
    report = dispatch(outbox, {}, clock.now())
    [delivery] = report.retrying
    assert delivery.last_error == "no channel named 'removed-channel' is configured"


class _BrokenChannel:
    """A channel with a bug: raises something that is not a DeliveryError."""

    name = "broken"

    def send(self, n: Notification) -> None:
        raise RuntimeError("boom")


def test_a_crashing_channel_does_not_lose_the_notification(clock: FixedClock) -> None:
    outbox = InMemoryOutbox()
    enqueue(outbox, gate_failed(), ["broken"], clock.now())
    dispatch(outbox, {"broken": _BrokenChannel()}, clock.now())
    delivery = _only(outbox)
    assert delivery.status == "pending" and delivery.last_error == "RuntimeError: boom"


def test_due_order_and_naive_times(clock: FixedClock) -> None:
    outbox = InMemoryOutbox()
    enqueue(outbox, gate_failed(id="late"), ["x"], clock.now() + dt.timedelta(seconds=5))
    enqueue(outbox, gate_failed(id="early"), ["x"], clock.now())
    assert [d.notification.id for d in outbox.due(clock.now() + dt.timedelta(minutes=1))] == [
        "early",
        "late",
    ]
    with pytest.raises(ValueError, match="timezone"):
        dispatch(outbox, {}, dt.datetime(2026, 1, 1))


def test_delivery_round_trips_as_json(clock: FixedClock) -> None:
    """What a SQL store will do: keep the delivery as JSON and read it back unchanged."""
    outbox = InMemoryOutbox()
    enqueue(outbox, gate_failed(), ["nowhere"], clock.now())
    dispatch(outbox, {}, clock.now())
    delivery = _only(outbox)
    assert Delivery.model_validate_json(delivery.model_dump_json()) == delivery


class _Recording:
    name = "hook"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, n: Notification) -> None:
        self.sent.append(n.id)


class _RacedOutbox(InMemoryOutbox):
    """Another dispatcher claims each due delivery between this one's ``due`` and ``claim``."""

    def due(self, now: dt.datetime) -> list[Delivery]:
        found = super().due(now)
        for d in found:
            assert super().claim(d, now, now + dt.timedelta(minutes=10))
        return found


def test_a_delivery_another_dispatcher_claimed_is_left_to_it(clock: FixedClock) -> None:
    outbox, hook = _RacedOutbox(), _Recording()
    enqueue(outbox, gate_failed(), ["hook"], clock.now())
    report = dispatch(outbox, {"hook": hook}, clock.now())
    assert hook.sent == [] and report.sent == report.retrying == report.failed == []
    assert _only(outbox).status == "pending"  # still the other dispatcher's to record
    clock.advance(minutes=11)  # that one died: the claim ran out, it is due again
    report = dispatch(_plain(outbox), {"hook": hook}, clock.now())
    assert hook.sent == [gate_failed().id] and len(report.sent) == 1


def _plain(outbox: InMemoryOutbox) -> InMemoryOutbox:
    plain = InMemoryOutbox()
    for d in outbox.all():
        plain.add(d)
    return plain
