"""Real local receivers for the notification tests: an SMTP server (aiosmtpd) and an HTTP
server, both recording what arrives. No mocks.

Both listen on 127.0.0.1 on a port the OS picks and run in a thread. SMTP refuses
``*@nowhere.invalid`` (550) and defers ``busy@*`` (451); HTTP answers the status codes it is
scripted with, then 200; so delivery failures can be tested too.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


# --- HTTP -------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Records every request; answers from ``script`` (status codes, in order), then 200.

    ``base`` is the server's root; ``url`` a hook path on it, for tests that need one URL.
    """

    base: str = ""
    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/clearance"

    def answer(self, *codes: int) -> None:
        with self.lock:
            self.script.extend(codes)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def _next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else 200


def _handler(receiver: HttpReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.requests.append(Received("POST", self.path, headers, body))
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            status = receiver._next_status()
            payload = b"ok" if status < 300 else f"status {status}".encode()
            try:
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (timeout tests)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def http_receivers() -> Iterator[Callable[[], HttpReceiver]]:
    """A factory of receivers, each on its own port; all shut down after the test."""
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def make() -> HttpReceiver:
        receiver = HttpReceiver()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        servers.append((server, thread))
        receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
        return receiver

    try:
        yield make
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(5)


@pytest.fixture
def http_receiver(http_receivers: Callable[[], HttpReceiver]) -> HttpReceiver:
    return http_receivers()
