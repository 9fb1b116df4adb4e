"""Fixtures for the notification tests: the real local receivers (tests/receivers.py), a TLS
SMTP server, and notifications to send."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clearance.adapters.clock import FixedClock
from clearance.notify import Notification
from receivers import (  # shared with the other notification tests  # noqa: F401
    HttpReceiver,
    Mail,
    MailHandler,
    Received,
    SmtpReceiver,
    _PortZeroController,
    http_receiver,
    http_receivers,
    smtp_receiver,
)

START = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)
SHA_EVAL = "3f" * 32
SHA_CARD = "a1" * 32


# --- SMTP -------------------------------------------------------------------------------


@dataclass
class TlsSmtpReceiver(SmtpReceiver):
    client_context: ssl.SSLContext
    logins: list[tuple[str, str]]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_smtp_receiver(tmp_path: Path) -> Iterator[TlsSmtpReceiver]:
    """STARTTLS required, then AUTH (user ``clearance``, password ``s3cret``) required."""
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticate(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            logins.append((user, password))
            if (user, password) == ("clearance", "s3cret"):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    handler = MailHandler()
    controller = _PortZeroController(
        handler,
        hostname="127.0.0.1",
        port=0,
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield TlsSmtpReceiver(
            "127.0.0.1",
            controller.port,
            handler,
            ssl.create_default_context(cafile=str(cert)),
            logins,
        )
    finally:
        controller.stop()


# --- notifications and time -------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def gate_failed(**changes: Any) -> Notification:
    """A gate failure as the service will raise it: every piece of context seed 003 asks for."""
    fields: dict[str, Any] = {
        "id": "gate-failed:request:12:auc_vs_champion",
        "event": "gate_failed",
        "model": "credit-scorer",
        "version": "1.4.0",
        "summary": "auc_vs_champion failed: the challenger is worse than production",
        "policy": "credit-risk@1.2.0",
        "details": {
            "request": 12,
            "gates": [
                {
                    "id": "auc_vs_champion",
                    "status": "fail",
                    "observed": -0.023,
                    "threshold": -0.01,
                    "message": "AUC drop 0.023 exceeds the allowed 0.01",
                    "remediation": "retrain or justify with a waiver signed by the risk officer",
                }
            ],
            "evidence": [
                {"name": "eval_set", "kind": "dataset", "sha256": SHA_EVAL},
                {"name": "model_card", "kind": "document", "sha256": SHA_CARD},
            ],
            "links": {"request": "https://clearance.bank.example/requests/12"},
            "stage": "staging -> production",
        },
        "remediation": "Retrain on the 2026-Q3 snapshot or request a waiver from risk.",
        "severity": "critical",
        "occurred_at": START,
    }
    fields.update(changes)
    return Notification(**fields)
