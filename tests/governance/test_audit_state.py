"""``audit verify`` covers the state, not only the chain: the events are folded into the rows
they imply and compared with the tables. Tampering is plain SQL, as someone with database
access would do it; the chain stays intact, so only the state comparison can tell.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

from clearance.core.audit import generate_key, public_key_raw
from clearance.service.auditing import Auditing

from .conftest import BREACH, MODEL, Env


def _sql(env: Env, statement: str, **params: Any) -> None:
    with env.ws.engine.begin() as conn:
        conn.execute(text(statement), params)


def _scalar(env: Env, statement: str) -> Any:
    with env.ws.engine.connect() as conn:
        return conn.execute(text(statement)).scalar_one()


@pytest.fixture
def busy(env: Env) -> Env:
    """Every use case that changes governed rows, once: canaries, a retirement, a rollback,
    a rejection, waivers granted and revoked, roles changed, a token, a disabled user."""
    env.canary_to_production("1")
    env.canary_to_production("2")  # retires 1, which 2 replaced
    env.ws.promotions.rollback(MODEL, actor="carol", reason="ctr fell")  # 1 back, 2 retired
    env.to_staging("3")
    rid = env.request_production("3").request.id
    env.ws.promotions.reject(rid, actor="carol", reason="not yet")
    now = env.clock.now()
    waiver: dict[str, Any] = {"justification": "slo renegotiated", "controls": ["watch p95"]}
    until = now + dt.timedelta(days=10)
    env.ws.waivers.grant(MODEL, "latency_p95", until=until, actor="dave", **waiver)
    env.ws.waivers.grant(MODEL, "auc_floor", until=until, actor="dave", **waiver)
    env.ws.waivers.revoke("W-2", reason="no longer needed", actor="dave")
    env.ws.registry.set_roles("olga", ["auditor", "tech_lead"], actor="admin", operator=True)
    env.ws.tokens.create("alice", actor="alice", expires_in="1h")
    env.ws.tokens.create("olga", actor="olga")
    env.ws.users.disable("olga", actor="admin", operator=True)
    card = env.tmp / "card-v2.md"
    card.write_text("# Model card\n\n## Intended use\nFraud.\n\n## Limitations\nSome.\n")
    env.ws.registry.attach(MODEL, "3", "model_card", path=card, actor="alice")
    report = env.ws.auditing.verify()
    assert report.ok and report.state_checked, [d.message for d in report.differences]
    assert report.differences == ()
    return env


V = f"model:{MODEL}/version:"

# (id, SQL tamper, table, key (None: any), field)
TAMPERS: list[tuple[str, str, str, str | None, str]] = [
    (
        "stage",
        "UPDATE versions SET stage = 'production' WHERE version = '3'",
        "versions",
        f"{V}3",
        "stage",
    ),
    (
        "production slot",
        "UPDATE versions SET production_slot = 7 WHERE version = '3'",
        "versions",
        f"{V}3",
        "production_slot",
    ),
    (
        "previous production",
        "UPDATE versions SET previous_production_id = NULL WHERE version = '2'",
        "versions",
        f"{V}2",
        "previous_production",
    ),
    (
        "registration record",
        "UPDATE versions SET record = REPLACE(record, '9b1d2c3', 'deadbee') WHERE version = '1'",
        "versions",
        f"{V}1",
        "record",
    ),
    (
        "roles",
        """UPDATE users SET roles = '["admin"]' WHERE name = 'alice'""",
        "users",
        "user:alice",
        "roles",
    ),
    (
        "user re-enabled",
        "UPDATE users SET disabled_at = NULL WHERE name = 'olga'",
        "users",
        "user:olga",
        "disabled",
    ),
    (
        "user added",
        """INSERT INTO users (name, roles, created_at) SELECT 'mallory', '["admin"]',
     created_at FROM users WHERE name = 'alice'""",
        "users",
        "user:mallory",
        "(row)",
    ),
    (
        "model tags",
        """UPDATE models SET tags = '{"domain": "other"}'""",
        "models",
        f"model:{MODEL}",
        "tags",
    ),
    (
        "request status",
        "UPDATE requests SET status = 'approved' WHERE status = 'rejected'",
        "requests",
        None,
        "status",
    ),
    (
        "requester",
        "UPDATE requests SET requester = 'frank' WHERE status = 'rejected'",
        "requests",
        None,
        "requester",
    ),
    (
        "approval verdict",
        "UPDATE approvals SET verdict = 'approve' WHERE verdict = 'reject'",
        "approvals",
        None,
        "verdict",
    ),
    (
        "approval forged",
        "INSERT INTO approvals (request_id, approver, roles, verdict, reason, "
        "ticket, evidence_digest, at) SELECT request_id, 'dave', roles, 'approve', reason, ticket, "
        "evidence_digest, at FROM approvals WHERE verdict = 'reject'",
        "approvals",
        None,
        "(row)",
    ),
    (
        "approval deleted",
        "DELETE FROM approvals WHERE verdict = 'reject'",
        "approvals",
        None,
        "(row)",
    ),
    (
        "waiver gate",
        "UPDATE waivers SET gate_id = 'model_card' WHERE id = 1",
        "waivers",
        "waiver:W-1",
        "gate_id",
    ),
    (
        "waiver expiry",
        "UPDATE waivers SET expires_at = granted_at WHERE id = 1",
        "waivers",
        "waiver:W-1",
        "expires_at",
    ),
    (
        "waiver un-revoked",
        "UPDATE waivers SET revoked_at = NULL, revoked_by = NULL WHERE id = 2",
        "waivers",
        "waiver:W-2",
        "revoked_at",
    ),
    (
        "decision outcome",
        "UPDATE decisions SET outcome = 'deny' WHERE id = 1",
        "decisions",
        "decision:1",
        "outcome",
    ),
    (
        "evidence digest",
        "UPDATE evidence SET sha256 = '" + "f" * 64 + "' WHERE id = 1",
        "evidence",
        f"{V}1/evidence:model_card",
        "sha256",
    ),
    (
        "policy hash",
        "UPDATE policies SET content_hash = '" + "0" * 64 + "'",
        "policies",
        "policy:gov@1.0.0",
        "content_hash",
    ),
    (
        "policy text",
        "UPDATE policies SET sources = REPLACE(sources, 'max: 200', 'max: 900')",
        "policies",
        "policy:gov@1.0.0",
        "source_hash",
    ),
    (
        "token made permanent",
        "UPDATE api_tokens SET expires_at = NULL WHERE id = 1",
        "tokens",
        "token:1",
        "expires_at",
    ),
    (
        "token un-revoked",
        "UPDATE api_tokens SET revoked_at = NULL, revoked_by = NULL WHERE id = 2",
        "tokens",
        "token:2",
        "revoked",
    ),
]


@pytest.mark.backends("sqlite")  # edits rows behind the store
@pytest.mark.parametrize(
    ("statement", "table", "key", "field"), [t[1:] for t in TAMPERS], ids=[t[0] for t in TAMPERS]
)
def test_a_row_changed_without_an_event_fails_verify_naming_it(
    busy: Env, statement: str, table: str, key: str | None, field: str
) -> None:
    _sql(busy, statement)
    report = busy.ws.auditing.verify()
    assert report.fault is None, "the chain itself is intact"
    assert not report.ok
    found = [(d.table, d.key, d.field) for d in report.differences]
    assert any((t, f) == (table, field) and (key is None or k == key) for t, k, f in found), found
    first = next(d for d in report.differences if (d.table, d.field) == (table, field))
    assert first.message.startswith(f"{table} {first.key}: ")
    assert "\n" not in first.message
    if field != "(row)":
        assert "in the table, but the events say" in first.message
        assert first.seq is not None and f"(event seq {first.seq})" in first.message


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_the_first_difference_says_expected_and_found(busy: Env) -> None:
    _sql(busy, "UPDATE versions SET stage = 'production' WHERE version = '3'")
    [d] = busy.ws.auditing.verify().differences
    assert (d.expected, d.found) == ("staging", "production")
    assert d.message == (
        f"versions {V}3: stage is 'production' in the table, but the events say 'staging' "
        f"(event seq {d.seq})"
    )


@pytest.mark.backends("sqlite")  # reads the evidence table in SQL
def test_blobs_are_rehashed_only_with_blobs(busy: Env) -> None:
    sha = _scalar(busy, "SELECT sha256 FROM evidence WHERE id = 1")
    blob = busy.ws.blobs.root / sha[:2] / sha[2:]
    blob.write_text("# Model card\n\n## Intended use\nAnything at all.\n")
    assert busy.ws.auditing.verify().ok  # the tables still match the events
    report = busy.ws.auditing.verify(blobs=True)
    assert not report.ok and report.blobs_checked and report.blobs_checked >= 2
    [fault] = report.blob_faults
    assert (fault.sha256, fault.kind) == (sha, "corrupted")
    assert f"{V}1/evidence:model_card" in fault.message
    blob.unlink()
    [fault] = busy.ws.auditing.verify(blobs=True).blob_faults
    assert (fault.sha256, fault.kind) == (sha, "missing")


def test_a_replaced_workspace_key_is_a_loud_warning(busy: Env) -> None:
    """Someone who rewrote the trail replaces the key and re-signs: the workspace's own key
    then verifies, but the auditor's copy kept outside does not, and says why."""
    original = public_key_raw(busy.ws.key)
    busy.ws.auditing.checkpoint()
    assert busy.ws.auditing.verify(original).ok
    other = generate_key()
    forger = Auditing(busy.ws.store, busy.clock, lambda: other)
    forger.checkpoint()  # next to the genuine checkpoint
    report = busy.ws.auditing.verify(original)
    assert not report.ok and report.fault is not None
    assert "CHECKPOINT KEY CHANGED" in report.fault.message
    [warning] = report.warnings
    assert "CHECKPOINT KEY CHANGED: 1 checkpoint(s)" in warning
    assert "--public-key" in warning and "outside the workspace" in warning
    report = forger.verify()  # as the forger's workspace would verify itself
    assert not report.ok and "CHECKPOINT KEY CHANGED" in report.warnings[0]


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_canary_rolled_back_leaves_no_difference(env: Env) -> None:
    """The rollout events carry the request's status changes: the fold follows them."""
    env.canary_to_production("1")
    rid = env.approved("2")
    env.ws.rollouts.start(MODEL, "2", actor="frank")
    _, verdict = env.ws.rollouts.observe(MODEL, BREACH, actor="frank")
    assert verdict.action == "rollback"
    assert env.request(rid).status == "rolled_back"
    report = env.ws.auditing.verify()
    assert report.ok and report.state_checked, [d.message for d in report.differences]
    _sql(env, f"UPDATE requests SET status = 'executed' WHERE id = {rid}")
    [d] = env.ws.auditing.verify().differences
    assert (d.key, d.expected, d.found) == (f"request:{rid}", "rolled_back", "executed")
