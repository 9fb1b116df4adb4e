"""Alerts end to end: recorded with the change, routed, and delivered to real receivers.

The webhook and the Slack-compatible channel post to a real local HTTP server, the e-mail
channel talks to a real aiosmtpd server; the assertions are on what arrived.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import yaml

from clearance.notify.channels import verify_signature
from clearance.workspace import Workspace

from .conftest import (
    BREACH,
    LATENCY_FIX,
    MODEL,
    MODEL_CARD,
    POLICY,
    Env,
    HttpReceiver,
    SmtpReceiver,
)

SECRET = "whsec-governance-test"


def _configure(ws: Workspace, channels: list[dict[str, Any]], **extra: Any) -> None:
    ws.notifications_file.write_text(yaml.safe_dump({"channels": channels, **extra}))


def _deliveries(ws: Workspace) -> dict[tuple[str, str], Any]:
    with ws.store.reading() as tx:
        return {d.key: d for d in tx.all_deliveries()}


def test_alerts_reach_a_signed_webhook_slack_and_email(
    env: Env, http_receivers: Callable[[], HttpReceiver], smtp_receiver: SmtpReceiver
) -> None:
    http = http_receivers()
    _configure(
        env.ws,
        [
            {"name": "risk-hooks", "type": "webhook", "url": f"{http.base}/hook",
             "secret_env": "GOV_HOOK_SECRET"},
            {"name": "ml-team", "type": "slack", "url_env": "GOV_SLACK_URL",
             "events": ["gate_failed", "rolled_back"]},
            {"name": "risk-office", "type": "smtp", "host": smtp_receiver.host,
             "port": smtp_receiver.port, "starttls": False, "sender": "clearance@bank.example",
             "recipients": ["model-risk@bank.example"], "min_severity": "warning"},
        ],
    )  # fmt: skip
    secrets = {"GOV_HOOK_SECRET": SECRET, "GOV_SLACK_URL": f"{http.base}/slack"}

    # a promotion, a gate failure, an approval request, an approval and a rollback
    env.to_staging("1", latency=350)
    blocked = env.request_production("1")
    env.to_staging("2")
    rid = env.request_production("2").request.id
    env.ws.promotions.approve(rid, actor="carol")
    env.ws.rollouts.start(MODEL, "2", actor="frank")
    env.ws.rollouts.observe(MODEL, BREACH, actor="frank")

    deliveries = env.ws.deliveries(secrets)
    assert deliveries.route() == 6
    report = deliveries.send()
    assert (len(report.retrying), len(report.failed)) == (0, 0)
    assert deliveries.route() == 0 and deliveries.send().sent == []  # nothing twice

    # the signed webhook: every notification once, each signature valid
    hooks = http.at("/hook")
    events = [r.headers["x-clearance-event"] for r in hooks]
    assert sorted(events) == sorted(
        ["promoted", "promoted", "gate_failed", "approval_requested", "request_approved",
         "rolled_back"]
    )  # fmt: skip
    for r in hooks:
        ts, sig = r.headers["x-clearance-timestamp"], r.headers["x-clearance-signature"]
        assert verify_signature(SECRET, ts, r.body, sig, now=env.clock.now())
        assert not verify_signature(SECRET, ts, r.body + b" ", sig, now=env.clock.now())
        assert not verify_signature("wrong", ts, r.body, sig, now=env.clock.now())
    [gate_hook] = [r for r in hooks if r.headers["x-clearance-event"] == "gate_failed"]
    body = json.loads(gate_hook.body)
    assert (body["model"], body["version"], body["policy"]) == (MODEL, "1", POLICY)
    assert body["remediation"] == f"latency_p95: {LATENCY_FIX}"
    [gate] = body["details"]["gates"]
    assert (gate["id"], gate["status"], gate["observed"], gate["threshold"]) == (
        "latency_p95", "fail", 350.0, 200.0
    )  # fmt: skip
    card_sha = hashlib.sha256(MODEL_CARD.encode()).hexdigest()
    assert {"name": "model_card", "sha256": card_sha} in body["details"]["evidence"]
    assert body["details"]["request"] == blocked.request.id
    assert gate_hook.headers["x-clearance-delivery"] == body["id"]
    [rollback_hook] = [r for r in hooks if r.headers["x-clearance-event"] == "rolled_back"]
    assert json.loads(rollback_hook.body)["details"]["breaches"] == [
        "error_rate = 0.01 > max 0.005"
    ]

    # the Slack-compatible channel: only the events it asked for, as Block Kit
    slack = [json.loads(r.body) for r in http.at("/slack")]
    assert len(slack) == 2
    assert all("x-clearance-signature" not in r.headers for r in http.at("/slack"))
    texts = sorted(p["text"] for p in slack)
    assert texts[0].startswith(f"[critical] rolled_back: {MODEL} 2 ({POLICY})")
    assert texts[1].startswith(f"[warning] gate_failed: {MODEL} 1 ({POLICY})")
    gate_blocks = json.dumps(next(p for p in slack if "gate_failed" in p["text"])["blocks"])
    assert "latency_p95" in gate_blocks and card_sha in gate_blocks

    # e-mail: warning and above only (the gate failure and the rollback)
    mails = {m.message["Subject"]: m for m in smtp_receiver.messages}
    assert set(mails) == {
        f"[clearance] warning gate_failed: {MODEL} 1",
        f"[clearance] critical rolled_back: {MODEL} 2",
    }
    gate_mail = mails[f"[clearance] warning gate_failed: {MODEL} 1"]
    assert gate_mail.rcpt_tos == ["model-risk@bank.example"]
    text = gate_mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert f"Policy:       {POLICY}" in content
    assert f"remediation: {LATENCY_FIX}" in content
    assert f"model_card sha256:{card_sha}" in content
    [attachment] = list(gate_mail.message.iter_attachments())
    assert json.loads(attachment.get_content())["id"] == body["id"]

    # every delivery is recorded as sent
    states = {(d.channel, d.status) for d in _deliveries(env.ws).values()}
    assert states == {("risk-hooks", "sent"), ("ml-team", "sent"), ("risk-office", "sent")}


def test_failed_deliveries_are_retried_with_backoff_and_never_lost(
    env: Env, http_receivers: Callable[[], HttpReceiver]
) -> None:
    flaky, dead = http_receivers(), http_receivers()
    _configure(
        env.ws,
        [
            {"name": "flaky", "type": "webhook", "url": f"{flaky.base}/hook",
             "secret_env": "GOV_HOOK_SECRET"},
            {"name": "dead", "type": "webhook", "url": f"{dead.base}/gone",
             "secret_env": "GOV_HOOK_SECRET"},
        ],
    )  # fmt: skip
    env.to_staging("1")  # one "promoted" alert
    [alert] = env.alerts()
    flaky.answer(500)
    dead.answer(404, 404)
    deliveries = env.ws.deliveries({"GOV_HOOK_SECRET": SECRET})
    assert deliveries.route() == 1

    report = deliveries.send()
    assert [d.channel for d in report.retrying] == ["flaky"]
    assert [d.channel for d in report.failed] == ["dead"]
    retry = _deliveries(env.ws)[(alert["id"], "flaky")]
    assert retry.status == "pending" and "answered HTTP 500" in (retry.last_error or "")
    assert retry.next_attempt_at == env.clock.now() + dt.timedelta(seconds=30)

    # not due yet: nothing is sent before the backoff has passed
    env.clock.advance(seconds=29)
    assert deliveries.send().sent == []
    assert len(flaky.requests) == 1

    env.clock.advance(seconds=2)
    assert [d.channel for d in deliveries.send().sent] == ["flaky"]
    assert deliveries.send().sent == []
    assert len(flaky.requests) == 2
    first, second = flaky.requests
    assert first.body == second.body  # the same notification, re-signed per attempt
    assert first.headers["x-clearance-delivery"] == second.headers["x-clearance-delivery"]
    assert verify_signature(
        SECRET,
        second.headers["x-clearance-timestamp"],
        second.body,
        second.headers["x-clearance-signature"],
        now=env.clock.now(),
    )

    stored = _deliveries(env.ws)
    sent = stored[(alert["id"], "flaky")]
    assert (sent.status, sent.attempts) == ("sent", 2)
    assert [a.ok for a in sent.history] == [False, True]
    failed = stored[(alert["id"], "dead")]
    assert failed.status == "failed" and "HTTP 404" in (failed.last_error or "")
    assert len(dead.requests) == 1  # not retried: a 404 will not heal by itself
    env.clock.advance(hours=2)
    deliveries.send()
    assert len(dead.requests) == 1 and _deliveries(env.ws)[(alert["id"], "dead")].status == "failed"
