"""The signed webhook and the Slack payload, delivered to a real local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest

from clearance.adapters.clock import FixedClock
from clearance.adapters.notify import SlackChannel, WebhookChannel
from clearance.notify import DeliveryError, canonical_body, sign, verify_signature

from .conftest import SHA_EVAL, START, HttpReceiver, gate_failed

SECRET = "whsec-0123456789abcdef"


def test_webhook_delivers_signed_canonical_json(
    http_receiver: HttpReceiver, clock: FixedClock
) -> None:
    n = gate_failed()
    WebhookChannel(http_receiver.url, SECRET, 5, clock=clock).send(n)

    [got] = http_receiver.requests
    assert got.path == "/hooks/clearance"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-clearance-event"] == "gate_failed"
    assert got.headers["x-clearance-delivery"] == "gate-failed:request:12:auc_vs_champion"
    assert got.headers["x-clearance-timestamp"] == str(int(START.timestamp()))
    assert got.body == canonical_body(n)
    body = json.loads(got.body)
    assert body["policy"] == "credit-risk@1.2.0"
    assert body["model"] == "credit-scorer" and body["version"] == "1.4.0"
    assert body["details"]["evidence"][0]["sha256"] == SHA_EVAL
    assert body["details"]["gates"][0]["remediation"].startswith("retrain")
    assert body["remediation"].startswith("Retrain on the 2026-Q3 snapshot")

    timestamp, signature = (
        got.headers["x-clearance-timestamp"],
        got.headers["x-clearance-signature"],
    )
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature(SECRET, timestamp, got.body, signature, now=START)
    later = START + dt.timedelta(seconds=299)
    assert verify_signature(SECRET, timestamp, got.body, signature, now=later)


def test_signature_refuses_wrong_secret_tampering_and_stale_timestamps(
    http_receiver: HttpReceiver, clock: FixedClock
) -> None:
    WebhookChannel(http_receiver.url, SECRET, 5, clock=clock).send(gate_failed())
    [got] = http_receiver.requests
    ts, sig = got.headers["x-clearance-timestamp"], got.headers["x-clearance-signature"]

    assert not verify_signature("another-secret", ts, got.body, sig, now=START)
    tampered = got.body.replace(b"credit-scorer", b"credit-scorex")
    assert not verify_signature(SECRET, ts, tampered, sig, now=START)
    stale = START + dt.timedelta(seconds=301)
    assert not verify_signature(SECRET, ts, got.body, sig, now=stale)
    early = START - dt.timedelta(seconds=301)
    assert not verify_signature(SECRET, ts, got.body, sig, now=early)
    # The timestamp is signed: moving it forward to look fresh breaks the signature.
    fresh = str(int(stale.timestamp()))
    assert not verify_signature(SECRET, fresh, got.body, sig, now=stale)
    assert not verify_signature(SECRET, "12e3", got.body, sig, now=START)
    assert not verify_signature(SECRET, ts, got.body, "sha256=é", now=START)
    assert verify_signature(SECRET, ts, got.body, sig, now=stale, tolerance_s=600)
    with pytest.raises(ValueError, match="timezone"):
        verify_signature(SECRET, ts, got.body, sig, now=dt.datetime(2026, 11, 22, 9, 0))


def test_sign_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("k", "1700000000", b"{}") == f"sha256={expected}"


@pytest.mark.parametrize("code", [500, 502, 503, 408, 429])
def test_server_errors_are_retryable(http_receiver: HttpReceiver, code: int) -> None:
    http_receiver.answer(code)
    with pytest.raises(DeliveryError) as err:
        WebhookChannel(http_receiver.url, SECRET, 5).send(gate_failed())
    assert err.value.retryable
    assert f"HTTP {code}" in err.value.message


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 302])
def test_client_errors_and_redirects_are_not_retryable(
    http_receiver: HttpReceiver, code: int
) -> None:
    http_receiver.answer(code)
    with pytest.raises(DeliveryError) as err:
        WebhookChannel(http_receiver.url, SECRET, 5).send(gate_failed())
    assert not err.value.retryable
    assert len(http_receiver.requests) == 1  # the redirect was not followed


def test_timeout_is_retryable(http_receiver: HttpReceiver) -> None:
    http_receiver.delay_s = 1.0
    with pytest.raises(DeliveryError) as err:
        WebhookChannel(http_receiver.url, SECRET, 0.2).send(gate_failed())
    assert err.value.retryable


def test_refused_connection_is_retryable() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeliveryError) as err:
        WebhookChannel(f"http://127.0.0.1:{port}/x", SECRET, 2).send(gate_failed())
    assert err.value.retryable
    assert "cannot reach http://127.0.0.1/…" in err.value.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "http:///nohost"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookChannel(url, SECRET)


def test_webhook_needs_a_secret(http_receiver: HttpReceiver) -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookChannel(http_receiver.url, "")


def test_slack_payload_arrives(http_receiver: HttpReceiver) -> None:
    SlackChannel(http_receiver.url, 5).send(gate_failed())
    [got] = http_receiver.requests
    assert got.headers["content-type"] == "application/json"
    assert "x-clearance-signature" not in got.headers
    payload = json.loads(got.body)
    assert set(payload) == {"text", "blocks"}
    assert payload["blocks"][0]["type"] == "header"
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][2]["fields"]
    }
    assert fields == {
        "*Model*": "credit-scorer",
        "*Version*": "1.4.0",
        "*Policy*": "credit-risk@1.2.0",
        "*Severity*": "critical",
    }
    assert "auc_vs_champion" in got.body.decode() and SHA_EVAL in got.body.decode()


def test_slack_errors_do_not_leak_the_url(http_receiver: HttpReceiver) -> None:
    http_receiver.answer(404)
    url = http_receiver.url + "/T000/B000/XXXXSECRETXXXX"
    with pytest.raises(DeliveryError) as err:
        SlackChannel(url, 5).send(gate_failed())
    assert "SECRET" not in err.value.message
    assert not err.value.retryable
