"""A real local SMTP server (aiosmtpd) for tests: records what arrives, no mocks.

Listens on 127.0.0.1 on a port the OS picks. ``*@nowhere.invalid`` is refused (550) and
``busy@*`` deferred (451), so delivery failures can be tested too.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class MailHandler:
    """Records messages. ``*@nowhere.invalid`` is refused (550), ``busy@*`` deferred (451)."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.endswith("@nowhere.invalid"):
            return "550 5.1.1 no such user here"
        if address.startswith("busy@"):
            return "451 4.3.0 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted"


class _PortZeroController(Controller):
    """aiosmtpd's Controller, listening on the port the OS picked for ``port=0``."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass
class SmtpReceiver:
    host: str
    port: int
    handler: MailHandler

    @property
    def messages(self) -> list[Mail]:
        return self.handler.messages


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    handler = MailHandler()
    controller = _PortZeroController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield SmtpReceiver("127.0.0.1", controller.port, handler)
    finally:
        controller.stop()
