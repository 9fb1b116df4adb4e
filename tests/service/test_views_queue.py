"""The approval queue, the list's compliance column and an evidence document's text: each
read set-based where the page used to read per row, and agreeing with the per-model reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from clearance.errors import InputError, NotFound
from clearance.service.registry import MAX_EVIDENCE_TEXT
from clearance.service.views import compliance
from service.conftest import MODEL_CARD, Env


def _queue(env: Env, actor: str) -> list[tuple[int, list[str]]]:
    return [(i.request.id, i.roles) for i in env.ws.views.approval_queue(actor=actor).items]


def test_the_queue_holds_what_each_may_sign_not_their_own_nor_signed(env: Env) -> None:
    env.to_staging("1")
    env.clock.advance(minutes=5)
    first = env.ws.promotions.promote(env.model, "1", "production", actor="alice").request
    env.to_staging("2")
    env.clock.advance(minutes=5)
    urgent = env.ws.promotions.promote(
        env.model, "2", "production", actor="carol", change_type="emergency", ticket="INC-2"
    ).request
    env.clock.advance(hours=2)
    assert _queue(env, "carol") == [(first.id, ["model_owner"])]  # not her own emergency
    assert _queue(env, "dave") == [(first.id, ["model_owner", "risk_officer"])]
    assert _queue(env, "frank") == [(urgent.id, ["mlops_oncall"])]  # the change type's role
    assert _queue(env, "alice") == [] and _queue(env, "erin") == []
    item = env.ws.views.approval_queue(actor="dave").items[0]
    assert item.age_seconds == 2 * 3600 + 5 * 60 and item.request.model == env.model
    assert item.request.version == "1" and item.approval_sla is None and not item.overdue

    env.ws.promotions.approve(first.id, actor="carol")
    assert _queue(env, "carol") == []  # signed by her: gone from hers ...
    assert _queue(env, "dave") == [(first.id, ["model_owner", "risk_officer"])]  # ... not his
    env.ws.promotions.approve(first.id, actor="dave")  # executed: no longer open
    assert _queue(env, "dave") == []
    with pytest.raises(NotFound):
        env.ws.views.approval_queue(actor="nobody")


def test_the_queue_says_when_a_request_is_past_its_approval_sla(env: Env) -> None:
    doc = env.policy(version="1.1.0")
    doc["workflow"]["transitions"][1]["approval_sla"] = "4h"
    env.apply(doc)
    env.to_staging("1")
    req = env.ws.promotions.promote(env.model, "1", "production", actor="alice").request
    env.clock.advance(hours=3)
    (item,) = env.ws.views.approval_queue(actor="carol").items
    assert (item.request.id, item.approval_sla, item.overdue) == (req.id, "4h", False)
    env.clock.advance(hours=2)
    assert env.ws.views.approval_queue(actor="carol").items[0].overdue


@contextmanager
def _statements(env: Env) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement != "BEGIN":
            seen.append(statement)

    engine = env.ws.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.backends("sqlite")
def test_the_queue_costs_the_same_however_many_requests_are_open(env: Env) -> None:
    """Open requests the actor may not sign cost no read of their own: the statements for
    someone with nothing to sign do not grow with the open requests, and someone no policy
    asks for reads none of them."""

    def cost(actor: str) -> int:
        with _statements(env) as seen:
            env.ws.views.approval_queue(actor=actor)
        return len(seen)

    env.to_staging("1")
    env.ws.promotions.promote(env.model, "1", "production", actor="alice")
    few, none = cost("frank"), cost("erin")  # on-call signs emergencies only; erin nothing
    for v in ("2", "3", "4", "5"):
        env.to_staging(v)
        env.ws.promotions.promote(env.model, v, "production", actor="alice")
    assert cost("frank") == few <= 4
    assert cost("erin") == none < few  # no policy asks for her role: no request is read
    assert len(_queue(env, "carol")) == 5


def test_list_compliance_is_the_model_status_verdict(env: Env) -> None:
    def listed() -> str:
        (summary,) = env.ws.views.models().items
        status = env.ws.views.model_status(env.model)
        waived = any(w.state == "active" for w in env.ws.waivers.list(model=env.model))
        assert summary.compliance == compliance(status, waived)
        assert summary.latest_stage == status.versions[-1].stage
        return summary.compliance

    doc = env.policy(version="1.1.0")
    doc["waivers"] = {"grantors": ["risk_officer"], "max_duration": "30d"}
    env.apply(doc)
    env.to_production("1")
    assert listed() == "compliant"
    env.ws.waivers.grant(
        env.model, "auc_floor", justification="retraining", controls=["manual review"],
        actor="dave", expires_in="7d",
    )  # fmt: skip
    assert listed() == "waiver active"
    env.to_staging("2")
    urgent = env.ws.promotions.promote(
        env.model, "2", "production", actor="alice", change_type="emergency", ticket="INC-1"
    ).request
    assert env.ws.promotions.approve(urgent.id, actor="frank").executed
    assert listed() == "emergency review due"
    env.clock.advance(days=6)  # the 5-day post-incident review is overdue
    assert listed() == "non-compliant"
    env.ws.governance.record_review(urgent.id, summary="drift", actions=[], actor="dave")
    assert listed() == "waiver active"  # reviewed; the waiver still runs a day
    env.clock.advance(days=2)
    assert listed() == "compliant"


def test_evidence_text_only_for_stored_text_documents(env: Env) -> None:
    env.register("1")
    text = env.ws.registry.evidence_content(env.model, "1", "model_card")
    assert (text.text, text.format, text.size) == (MODEL_CARD, "markdown", len(MODEL_CARD))
    notes = env.tmp / "notes.txt"
    notes.write_bytes("naïve notes\n".encode())
    env.ws.registry.attach(env.model, "1", "notes", path=notes, actor="alice")
    assert env.ws.registry.evidence_content(env.model, "1", "notes").format == "text"

    refusals: dict[str, tuple[type[Exception], str]] = {}
    binary = env.tmp / "card.md"
    binary.write_bytes(b"# card\n\xff\xfe")
    env.ws.registry.attach(env.model, "1", "binary", path=binary, actor="alice")
    refusals["binary"] = (InputError, "not UTF-8 text (byte 8")
    big = env.tmp / "big.md"
    big.write_bytes(b"a" * (MAX_EVIDENCE_TEXT + 1))
    env.ws.registry.attach(env.model, "1", "big", path=big, actor="alice")
    refusals["big"] = (InputError, f"at most {MAX_EVIDENCE_TEXT}")
    env.ws.registry.attach(env.model, "1", "data", path=notes, kind="dataset", actor="alice")
    refusals["data"] = (InputError, "is a dataset, not a document")
    far = {"uri": "s3://b/card.md", "sha256": "a" * 64}
    env.ws.registry.attach(env.model, "1", "far", **far, actor="alice")
    refusals["far"] = (NotFound, "its content is not stored")
    refusals["model_crad"] = (NotFound, "no evidence named 'model_crad'")
    for name, (error, words) in refusals.items():
        with pytest.raises(error, match=words.replace("(", r"\(")):
            env.ws.registry.evidence_content(env.model, "1", name)
    with pytest.raises(NotFound):
        env.ws.registry.evidence_content(env.model, "9", "model_card")


def test_the_queue_pages_by_cursor_each_request_once(env: Env) -> None:
    opened = []
    for v in ("1", "2", "3", "4", "5"):
        env.to_staging(v)
        opened.append(env.ws.promotions.promote(env.model, v, "production", actor="alice"))
    env.ws.promotions.approve(opened[1].request.id, actor="carol")  # hers no longer waits
    seen, cursor, pages = [], None, 0
    while True:
        page = env.ws.views.approval_queue(actor="carol", limit=2, cursor=cursor)
        assert page.total is None and len(page.items) <= 2
        seen += [i.request.id for i in page.items]
        pages += 1
        if page.next is None:
            break
        cursor = page.next
    expected = [r.request.id for r in opened if r is not opened[1]]
    assert seen == expected and pages == 2  # no empty page after the last
    with pytest.raises(InputError, match="cursor"):  # another user's cursor does not apply
        env.ws.views.approval_queue(actor="dave", limit=2, cursor=cursor)
