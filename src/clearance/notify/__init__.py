"""Notifications: telling people what clearance did, or needs from them, with enough context to act.

Seed 003 asks that every alert carry the policy violated, the model affected, the data
involved and the recommended remediation. This package is pure (no network, no clock, no
store): what a notification says, who receives it and how delivery is retried, in four
modules. The service raises and routes notifications with it; the senders and outbox stores
are adapters, in :mod:`clearance.adapters.notify`.

``events``    the ``Notification`` record and its renderings (plain text, Slack blocks)
``channels``  the ``Channel`` port, ``DeliveryError`` and the webhook signature contract
``config``    which channels exist and which notifications each one receives
``outbox``    delivery with retries and backoff over an ``OutboxStore``: nothing is lost
              silently, a delivery that keeps failing stays visible with its error
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The names below are loaded from their module on first use (PEP 562): the store's outbox
# reads a ``Delivery`` without this package's YAML configuration or Slack rendering.
if TYPE_CHECKING:
    from clearance.notify.channels import Channel, DeliveryError, sign, verify_signature
    from clearance.notify.config import (
        NotificationConfig,
        NotificationConfigError,
        load_config,
        parse_config,
        route_names,
    )
    from clearance.notify.events import (
        EVENT_TYPES,
        EventType,
        Notification,
        Severity,
        canonical_body,
        render_slack,
        render_text,
        subject,
    )
    from clearance.notify.outbox import (
        Attempt,
        Delivery,
        DispatchReport,
        OutboxStore,
        RetryPolicy,
        dispatch,
        enqueue,
    )

_EXPORTS = {
    "channels": ("Channel", "DeliveryError", "sign", "verify_signature"),
    "config": (
        "NotificationConfig",
        "NotificationConfigError",
        "load_config",
        "parse_config",
        "route_names",
    ),
    "events": (
        "EVENT_TYPES",
        "EventType",
        "Notification",
        "Severity",
        "canonical_body",
        "render_slack",
        "render_text",
        "subject",
    ),
    "outbox": (
        "Attempt",
        "Delivery",
        "DispatchReport",
        "OutboxStore",
        "RetryPolicy",
        "dispatch",
        "enqueue",
    ),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "EVENT_TYPES",
    "Attempt",
    "Channel",
    "Delivery",
    "DeliveryError",
    "DispatchReport",
    "EventType",
    "Notification",
    "NotificationConfig",
    "NotificationConfigError",
    "OutboxStore",
    "RetryPolicy",
    "Severity",
    "canonical_body",
    "dispatch",
    "enqueue",
    "load_config",
    "parse_config",
    "render_slack",
    "render_text",
    "route_names",
    "sign",
    "subject",
    "verify_signature",
]
