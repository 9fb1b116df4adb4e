"""The ``Channel`` port and its adapters: a signed JSON webhook, Slack, and SMTP e-mail.

Only the standard library speaks HTTP (``urllib.request``) and SMTP (``smtplib``): a
notifier is no reason for a new runtime dependency. A channel either delivers or raises
``DeliveryError`` saying whether trying again can help; the outbox decides when to retry.

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
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from http.client import HTTPException
from typing import Any, Protocol
from urllib.parse import urlsplit

from clearance.adapters.clock import SystemClock
from clearance.core.hashing import canonical_json
from clearance.notify.events import Notification, canonical_body, render_slack, render_text, subject
from clearance.service.ports import Clock

USER_AGENT = "clearance-notify/1"
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET and drop the body: refuse instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def check_url(url: str) -> str:
    """``url`` if it is http(s) with a host; urllib would also open ``file://`` URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a notification URL must be http(s)://host/...: got {_redact(url)!r}")
    return url


def _redact(url: str) -> str:
    # Slack's URL is itself the credential: never put more than its host in an error.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else "<invalid URL>"


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("User-Agent", USER_AGENT)
    for key, value in headers.items():
        request.add_header(key, value)
    where = _redact(url)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        code = exc.code
        exc.close()
        if 300 <= code < 400:
            raise DeliveryError(
                f"{where} answered a redirect ({code}); configure the final URL", False
            ) from None
        retryable = code >= 500 or code in (408, 429)
        raise DeliveryError(f"{where} answered HTTP {code}", retryable) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach {where}: {exc.reason}", True) from None
    except TimeoutError:
        raise DeliveryError(f"{where} did not answer within {timeout:g} s", True) from None
    except (HTTPException, OSError) as exc:
        raise DeliveryError(f"connection to {where} failed: {exc!r}", True) from None


class WebhookChannel:
    """POSTs the notification as canonical JSON, signed with HMAC-SHA256 (see module doc)."""

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        timeout: float = 10.0,
        *,
        name: str = "webhook",
        clock: Clock | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a non-empty signing secret")
        self.url = check_url(url)
        self.secret = secret
        self.timeout = timeout
        self.name = name
        self.clock: Clock = clock or SystemClock()

    def send(self, n: Notification) -> None:
        body = canonical_body(n)
        timestamp = str(int(self.clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-Clearance-Event": n.event,
            "X-Clearance-Delivery": n.id,
            "X-Clearance-Timestamp": timestamp,
            "X-Clearance-Signature": sign(self.secret, timestamp, body),
        }
        _post(self.url, body, headers, self.timeout)


class SlackChannel:
    """POSTs ``render_slack`` to a Slack (or Mattermost, ...) incoming-webhook URL."""

    def __init__(self, url: str, timeout: float = 10.0, *, name: str = "slack") -> None:
        self.url = check_url(url)
        self.timeout = timeout
        self.name = name

    def send(self, n: Notification) -> None:
        body = canonical_json(render_slack(n)).encode("utf-8")
        _post(self.url, body, {"Content-Type": "application/json"}, self.timeout)


class SmtpChannel:
    """Sends an e-mail: the plain-text rendering, with the notification's JSON attached.

    The attachment lets a ticketing system that ingests mail read the facts, not scrape
    the text. ``Message-ID`` derives from the notification id, so a retried delivery is
    recognisably the same message.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        name: str = "smtp",
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not recipients:
            raise ValueError("an e-mail channel needs at least one recipient")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.name = name
        self.ssl_context = ssl_context
        self.clock: Clock = clock or SystemClock()

    def message(self, n: Notification) -> EmailMessage:
        """The e-mail for ``n``, as it will be sent."""
        msg = EmailMessage()
        msg["Subject"] = subject(n)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = format_datetime(self.clock.now())
        digest = hashlib.sha256(n.id.encode("utf-8")).hexdigest()[:32]
        msg["Message-ID"] = f"<{digest}@clearance.invalid>"
        msg["X-Clearance-Event"] = n.event
        msg["X-Clearance-Delivery"] = n.id
        msg.set_content(render_text(n))
        msg.add_attachment(
            canonical_body(n),
            maintype="application",
            subtype="json",
            filename="notification.json",
        )
        return msg

    def send(self, n: Notification) -> None:
        msg = self.message(n)
        where = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(msg, self.sender, self.recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            who = ", ".join(sorted(exc.recipients))
            raise DeliveryError(
                f"{where} refused every recipient ({who}): codes {codes}",
                any(code < 500 for code in codes),
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where} does not support {exc}", False) from None
        except smtplib.SMTPResponseException as exc:
            err = exc.smtp_error
            text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
            raise DeliveryError(
                f"{where} answered {exc.smtp_code} {text}".rstrip(), exc.smtp_code < 500
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"{where}: TLS certificate refused: {exc.verify_message}", False
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot deliver mail via {where}: {exc!r}", True) from None
        if refused:
            # Some recipients took it; retrying would send duplicates to them, so record
            # the refusals as a permanent failure for this delivery instead.
            who = ", ".join(f"{r} ({code})" for r, (code, _) in sorted(refused.items()))
            raise DeliveryError(f"{where} refused some recipients: {who}", False)
