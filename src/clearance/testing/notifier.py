"""``RecordingNotifier``: a notification ``Channel`` that keeps what it would have sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearance.notify.channels import Channel, DeliveryError
from clearance.notify.events import Notification


class RecordingNotifier:
    """Records every notification sent to it; ``fail_next`` makes the next sends fail."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.attempts = 0
        self._failures: list[DeliveryError] = []

    def send(self, n: Notification) -> None:
        self.attempts += 1
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(n)

    def fail_next(self, times: int = 1, *, message: str = "down", retryable: bool = True) -> None:
        """The next ``times`` sends raise ``DeliveryError`` (the outbox then retries or not)."""
        self._failures += [DeliveryError(message, retryable) for _ in range(times)]

    @property
    def events(self) -> list[str]:
        """The event of each notification sent, in order (e.g. ``gate_failed``)."""
        return [n.event for n in self.sent]


if TYPE_CHECKING:  # mypy holds the fake to the port
    _port: Channel = RecordingNotifier()
