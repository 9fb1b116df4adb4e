"""The notification record and its renderings carry seed 003's context: policy, model, data,
remediation."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from clearance.notify import EVENT_TYPES, canonical_body, render_slack, render_text, subject

from .conftest import SHA_CARD, SHA_EVAL, START, gate_failed


def test_event_types_are_the_issue_list() -> None:
    assert set(EVENT_TYPES) == {
        "approval_requested",
        "monitor_failed",
        "retrain_requested",
        "gate_failed",
        "request_approved",
        "request_rejected",
        "promoted",
        "rolled_back",
        "waiver_expiring",
        "review_due",
        "review_overdue",
        "non_compliant",
        "approval_escalated",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"occurred_at": dt.datetime(2026, 11, 22, 9, 0)}, "occurred_at"),
        ({"event": "model_exploded"}, "event"),
        ({"severity": "fatal"}, "severity"),
        ({"model": "credit\r\nBcc: everyone@example.com"}, "model"),
        ({"summary": "two\nlines"}, "summary"),
        ({"details": {"z": 1j}}, "details"),
        ({"details": {"x": float("nan")}}, "details"),
        ({"policy": ""}, "policy"),
    ],
)
def test_invalid_notifications_are_refused_with_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        gate_failed(**changes)
    assert err.value.errors()[0]["loc"][0] == field


def test_notification_is_immutable() -> None:
    n = gate_failed()
    with pytest.raises(ValidationError):
        n.summary = "changed"  # type: ignore[misc]


def test_canonical_body_is_stable_json() -> None:
    a = canonical_body(gate_failed())
    b = canonical_body(gate_failed())
    assert a == b
    data = json.loads(a)
    assert data["id"] == "gate-failed:request:12:auc_vs_champion"
    assert data["occurred_at"] == "2026-11-22T09:00:00Z"
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert a == canonical.encode("utf-8")


def test_subject_line() -> None:
    assert subject(gate_failed()) == "[clearance] critical gate_failed: credit-scorer 1.4.0"


def test_text_rendering_carries_the_context() -> None:
    text = render_text(gate_failed())
    for expected in (
        "auc_vs_champion failed: the challenger is worse than production",
        "Model:        credit-scorer 1.4.0",
        "Policy:       credit-risk@1.2.0",
        "Severity:     critical",
        "Request:      12",
        "auc_vs_champion (fail): observed -0.023, threshold -0.01",
        "remediation: retrain or justify with a waiver signed by the risk officer",
        f"eval_set (dataset) sha256:{SHA_EVAL}",
        f"model_card (document) sha256:{SHA_CARD}",
        "Retrain on the 2026-Q3 snapshot or request a waiver from risk.",
        "request: https://clearance.bank.example/requests/12",
        "stage: staging -> production",
        "Notification id: gate-failed:request:12:auc_vs_champion",
        "2026-11-22T09:00:00+00:00",
    ):
        assert expected in text, expected


def test_text_rendering_of_a_bare_notification() -> None:
    text = render_text(gate_failed(details={}, remediation="", event="promoted", severity="info"))
    assert "Recommended remediation:\n  none given" in text
    assert "Gates:" not in text and "Data and evidence" not in text


def test_text_rendering_tolerates_odd_details() -> None:
    text = render_text(gate_failed(details={"gates": "not a list", "evidence": [1, {"x": 2}]}))
    assert "Details:" not in text or "gates" not in text.split("Details:")[0]
    assert "  - ?" in text


def test_slack_payload_shape() -> None:
    payload = render_slack(gate_failed())
    assert payload["text"].startswith("[critical] gate_failed: credit-scorer 1.4.0")
    blocks = payload["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "gate failed: credit-scorer 1.4.0"},
    }
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert fields == [
        "*Model*\ncredit-scorer",
        "*Version*\n1.4.0",
        "*Policy*\ncredit-risk@1.2.0",
        "*Severity*\ncritical",
    ]
    texts = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b)
    assert "`auc_vs_champion` (fail): observed -0.023, threshold -0.01" in texts
    assert "retrain or justify with a waiver" in texts
    assert SHA_EVAL in texts
    assert "*Recommended remediation*\nRetrain on the 2026-Q3 snapshot" in texts
    assert "<https://clearance.bank.example/requests/12|request>" in texts
    assert blocks[-1]["type"] == "context"
    assert "request 12" in blocks[-1]["elements"][0]["text"]
    assert all(b["type"] in {"header", "section", "context"} for b in blocks)


def test_slack_escapes_and_clips() -> None:
    n = gate_failed(summary="<!channel> & " + "x" * 480, model="m" * 200)
    payload = render_slack(n)
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    assert "&lt;!channel&gt; &amp;" in payload["blocks"][1]["text"]["text"]
    assert "<!channel>" not in json.dumps(payload["blocks"])


def test_occurred_at_keeps_its_instant_across_zones() -> None:
    here = START.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert "2026-11-22T09:00:00+00:00" in render_text(gate_failed(occurred_at=here))
