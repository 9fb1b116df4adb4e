"""The e-mail channel: SMTP (``smtplib``), STARTTLS by default.

Retry rules (SMTP 4xx retryable, 5xx not) are the contract in :mod:`clearance.notify.channels`.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from clearance.adapters.clock import SystemClock
from clearance.notify.channels import DeliveryError
from clearance.notify.events import Notification, canonical_body, render_text, subject
from clearance.service.ports import Clock


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
