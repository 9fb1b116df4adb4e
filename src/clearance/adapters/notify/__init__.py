"""Notification adapters: the senders, the builder that gives them their secrets, the outboxes.

``webhooks``  the signed JSON webhook and Slack (HTTP, ``urllib``)
``mail``      e-mail over SMTP
``build``     the configured channels, secrets read from the environment
``outbox``    where deliveries wait: the workspace's store, or memory

What a notification says, who receives it and the retry rules are not here: they are pure,
in :mod:`clearance.notify`, and the service uses them without any sender.
"""

from clearance.adapters.notify.build import build_channels, routes, usable_channels
from clearance.adapters.notify.mail import SmtpChannel
from clearance.adapters.notify.outbox import InMemoryOutbox, StoreOutbox
from clearance.adapters.notify.webhooks import SlackChannel, WebhookChannel

__all__ = [
    "InMemoryOutbox",
    "SlackChannel",
    "SmtpChannel",
    "StoreOutbox",
    "WebhookChannel",
    "build_channels",
    "routes",
    "usable_channels",
]
