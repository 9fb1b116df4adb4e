"""The ``Channel`` port, and what senders and receivers agree on: errors, URLs, signatures.

The senders (signed webhook, Slack, SMTP e-mail) are adapters, in
:mod:`clearance.adapters.notify`. A channel either delivers or raises ``DeliveryError`` saying
whether trying again can help; the outbox decides when to retry.

Retryable: 5xx, 408 and 429 answers, timeouts, refused or dropped connections, SMTP 4xx.
Not retryable: other 4xx (the request itself is wrong: a bad URL, a revoked token), a
redirect (configure the final URL), SMTP 5xx (an unknown recipient, refused credentials).

Webhook signatures
------------------
Every webhook request carries::

    X-Clearance-Event:      the event (e.g. gate_failed)
    X-Clearance-Delivery:   the notification id: the same on every retry, to drop duplicates
    X-Clearance-Timestamp:  Unix seconds when this attempt was signed
    X-Clearance-Signature:  sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret>

The body is the notification as canonical JSON. Signing the timestamp with the body lets a
receiver refuse replays: ``verify_signature`` checks the HMAC in constant time and that the
timestamp is within ``tolerance_s`` (5 minutes) of the receiver's clock. Verify the raw
bytes received, before parsing them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Protocol
from urllib.parse import urlsplit

from clearance.notify.events import Notification

SIGNATURE_TOLERANCE_S = 300


class DeliveryError(Exception):
    """A notification could not be delivered; ``retryable`` says whether to try again later."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Channel(Protocol):
    """Somewhere notifications go. ``send`` delivers one or raises ``DeliveryError``."""

    name: str

    def send(self, n: Notification) -> None: ...


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed by ``secret``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    now: dt.datetime,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """For receivers: is ``signature`` ours for this ``body``, signed within ``tolerance_s``?

    ``now`` is the receiver's time, a timezone-aware ``datetime``. A stale or future
    timestamp fails even with a correct HMAC: that is what stops a captured request from
    being replayed later.
    """
    if now.tzinfo is None:
        raise ValueError("verify_signature needs a timezone-aware now")
    if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
        return False
    if abs(now.timestamp() - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def check_url(url: str) -> str:
    """``url`` if it is http(s) with a host; urllib would also open ``file://`` URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a notification URL must be http(s)://host/...: got {redact(url)!r}")
    return url


def redact(url: str) -> str:
    """The URL's scheme and host only: Slack's URL is itself the credential, so an error
    never shows more."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else "<invalid URL>"
