"""Notifications: telling people what clearance did, or needs from them, with enough context to act.

Seed 003 asks that every alert carry the policy violated, the model affected, the data
involved and the recommended remediation. The package is an adapter layer behind a small
port, in four modules:

``events``    the ``Notification`` record and its renderings (plain text, Slack blocks)
``channels``  the ``Channel`` port and its adapters: signed webhook, Slack, SMTP e-mail
``config``    which channels exist and which notifications each one receives
``outbox``    delivery with retries and backoff over an ``OutboxStore``: nothing is lost
              silently, a delivery that keeps failing stays visible with its error
"""

from clearance.notify.channels import (
    Channel,
    DeliveryError,
    SlackChannel,
    SmtpChannel,
    WebhookChannel,
    sign,
    verify_signature,
)
from clearance.notify.config import (
    NotificationConfig,
    NotificationConfigError,
    build_channels,
    load_config,
    parse_config,
    route_names,
    routes,
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
    InMemoryOutbox,
    OutboxStore,
    RetryPolicy,
    dispatch,
    enqueue,
)

__all__ = [
    "EVENT_TYPES",
    "Attempt",
    "Channel",
    "Delivery",
    "DeliveryError",
    "DispatchReport",
    "EventType",
    "InMemoryOutbox",
    "Notification",
    "NotificationConfig",
    "NotificationConfigError",
    "OutboxStore",
    "RetryPolicy",
    "Severity",
    "SlackChannel",
    "SmtpChannel",
    "WebhookChannel",
    "build_channels",
    "canonical_body",
    "dispatch",
    "enqueue",
    "load_config",
    "parse_config",
    "render_slack",
    "render_text",
    "route_names",
    "routes",
    "sign",
    "subject",
    "verify_signature",
]
