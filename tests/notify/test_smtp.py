"""E-mail, delivered to a real aiosmtpd server: subject, body, attachment, TLS and login."""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from clearance.adapters.clock import FixedClock
from clearance.adapters.notify import SmtpChannel
from clearance.notify import DeliveryError, canonical_body

from .conftest import SHA_CARD, SHA_EVAL, SmtpReceiver, TlsSmtpReceiver, gate_failed

SENDER = "clearance@bank.example"


def _plain(
    receiver: SmtpReceiver, *recipients: str, clock: FixedClock | None = None
) -> SmtpChannel:
    return SmtpChannel(
        receiver.host,
        receiver.port,
        SENDER,
        list(recipients) or ["model-risk@bank.example"],
        starttls=False,
        timeout=5,
        clock=clock,
    )


def test_mail_carries_the_context(smtp_receiver: SmtpReceiver, clock: FixedClock) -> None:
    n = gate_failed()
    _plain(smtp_receiver, "model-risk@bank.example", "ml-lead@bank.example", clock=clock).send(n)

    [mail] = smtp_receiver.messages
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == ["model-risk@bank.example", "ml-lead@bank.example"]
    msg = mail.message
    assert msg["Subject"] == "[clearance] critical gate_failed: credit-scorer 1.4.0"
    assert msg["From"] == SENDER
    assert msg["X-Clearance-Delivery"] == n.id
    assert msg["Date"] == "Sun, 22 Nov 2026 09:00:00 +0000"
    assert msg.is_multipart()
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Policy:       credit-risk@1.2.0" in text
    assert "Model:        credit-scorer 1.4.0" in text
    assert f"sha256:{SHA_EVAL}" in text and f"sha256:{SHA_CARD}" in text
    assert "Retrain on the 2026-Q3 snapshot or request a waiver from risk." in text
    assert "auc_vs_champion (fail): observed -0.023, threshold -0.01" in text
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "notification.json"
    assert attachment.get_content_type() == "application/json"
    assert attachment.get_content() == canonical_body(n)
    assert json.loads(attachment.get_content())["policy"] == "credit-risk@1.2.0"


def test_message_id_is_the_same_on_every_retry(smtp_receiver: SmtpReceiver) -> None:
    channel = _plain(smtp_receiver)
    channel.send(gate_failed())
    channel.send(gate_failed())
    first, second = smtp_receiver.messages
    assert first.message["Message-ID"] == second.message["Message-ID"]
    other = gate_failed(id="gate-failed:request:13:auc_vs_champion")
    assert channel.message(other)["Message-ID"] != first.message["Message-ID"]


def test_starttls_and_login(tls_smtp_receiver: TlsSmtpReceiver) -> None:
    r = tls_smtp_receiver
    SmtpChannel(
        r.host,
        r.port,
        SENDER,
        ["model-risk@bank.example"],
        starttls=True,
        username="clearance",
        password="s3cret",
        timeout=5,
        ssl_context=r.client_context,
    ).send(gate_failed())
    assert r.logins == [("clearance", "s3cret")]
    [mail] = r.messages
    assert mail.message["Subject"].startswith("[clearance] critical gate_failed")


def test_wrong_password_is_not_retryable(tls_smtp_receiver: TlsSmtpReceiver) -> None:
    r = tls_smtp_receiver
    channel = SmtpChannel(
        r.host,
        r.port,
        SENDER,
        ["a@bank.example"],
        username="clearance",
        password="nope",
        timeout=5,
        ssl_context=r.client_context,
    )
    with pytest.raises(DeliveryError) as err:
        channel.send(gate_failed())
    assert not err.value.retryable
    assert "535" in err.value.message
    assert r.messages == []


def test_untrusted_certificate_is_not_retryable(tls_smtp_receiver: TlsSmtpReceiver) -> None:
    r = tls_smtp_receiver
    channel = SmtpChannel(
        r.host,
        r.port,
        SENDER,
        ["a@bank.example"],
        timeout=5,
        ssl_context=ssl.create_default_context(),  # does not trust the self-signed cert
    )
    with pytest.raises(DeliveryError) as err:
        channel.send(gate_failed())
    assert not err.value.retryable
    assert "certificate" in err.value.message


def test_server_without_starttls(smtp_receiver: SmtpReceiver) -> None:
    channel = SmtpChannel(
        smtp_receiver.host,
        smtp_receiver.port,
        SENDER,
        ["a@bank.example"],
        starttls=True,
        timeout=5,
    )
    with pytest.raises(DeliveryError) as err:
        channel.send(gate_failed())
    assert not err.value.retryable
    assert smtp_receiver.messages == []


def test_unknown_recipient_is_permanent(smtp_receiver: SmtpReceiver) -> None:
    with pytest.raises(DeliveryError) as err:
        _plain(smtp_receiver, "ghost@nowhere.invalid").send(gate_failed())
    assert not err.value.retryable
    assert "550" in err.value.message


def test_deferred_recipient_is_retryable(smtp_receiver: SmtpReceiver) -> None:
    with pytest.raises(DeliveryError) as err:
        _plain(smtp_receiver, "busy@bank.example").send(gate_failed())
    assert err.value.retryable
    assert "451" in err.value.message


def test_partly_refused_is_recorded_not_resent(smtp_receiver: SmtpReceiver) -> None:
    with pytest.raises(DeliveryError) as err:
        _plain(smtp_receiver, "ok@bank.example", "ghost@nowhere.invalid").send(gate_failed())
    assert not err.value.retryable  # the others have it: retrying would duplicate
    assert "ghost@nowhere.invalid (550)" in err.value.message
    [mail] = smtp_receiver.messages
    assert mail.rcpt_tos == ["ok@bank.example"]


def test_no_server_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = SmtpChannel("127.0.0.1", port, SENDER, ["a@bank.example"], starttls=False, timeout=2)
    with pytest.raises(DeliveryError) as err:
        channel.send(gate_failed())
    assert err.value.retryable


def test_channel_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="recipient"):
        SmtpChannel("localhost", 25, SENDER, [])
    with pytest.raises(ValueError, match="username and password"):
        SmtpChannel("localhost", 25, SENDER, ["a@b.example"], username="u")
