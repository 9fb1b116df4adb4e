"""The audit trail on a real store: every use case writes its events; tampering shows.

Tampering is done the way an attacker with database access would: plain SQL on the
``audit_events`` table, bypassing the service layer entirely.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from clearance.core.audit import AuditEvent, Checkpoint, event_hash, public_key_raw, verify_chain
from clearance.errors import InputError
from clearance.service import auditing, state
from clearance.service.auditing import EXPORT_FIELDS

if TYPE_CHECKING:
    from conftest import Env

COLUMNS = "seq, time, actor, action, subject, model, payload, prev_hash, hash"


@pytest.fixture
def flowed(env: Env) -> Env:
    """A version through to production, another rejected on its way: a realistic trail."""
    env.to_production("1")
    env.to_staging("2")
    request = env.ws.promotions.promote(env.model, "2", "production", actor="alice").request
    env.ws.promotions.reject(request.id, actor="carol", reason="no")
    report = env.ws.auditing.verify()
    assert report.ok, report.fault
    assert report.events == env.event_count() > 20
    return env


def _sql(env: Env, statement: str, **params: Any) -> list[Any]:
    with env.ws.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def _row(env: Env, seq: int) -> dict[str, Any]:
    rows = _sql(env, f"SELECT {COLUMNS} FROM audit_events WHERE seq = :seq", seq=seq)
    return dict(rows[0]._mapping)


def _fault(env: Env) -> tuple[int | None, str]:
    report = env.ws.auditing.verify()
    assert not report.ok
    assert report.fault is not None
    return report.fault.seq, report.fault.kind


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_modified_payload_is_found_at_its_seq(flowed: Env) -> None:
    payload = json.loads(_row(flowed, 7)["payload"])
    payload["tampered"] = True
    _sql(
        flowed,
        "UPDATE audit_events SET payload = :p WHERE seq = 7",
        p=json.dumps(payload, sort_keys=True),
    )
    assert _fault(flowed) == (7, "modified")


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_deleted_middle_row_is_found(flowed: Env) -> None:
    _sql(flowed, "DELETE FROM audit_events WHERE seq = 9")
    assert _fault(flowed) == (9, "deleted")


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_two_swapped_rows_are_found_at_the_first(flowed: Env) -> None:
    a, b = _row(flowed, 10), _row(flowed, 11)
    fields = [c for c in COLUMNS.split(", ") if c != "seq"]
    assignments = ", ".join(f"{f} = :{f}" for f in fields)
    _sql(flowed, "UPDATE audit_events SET hash = 'x' WHERE seq = 10")  # unique hash column
    _sql(flowed, f"UPDATE audit_events SET {assignments} WHERE seq = 11", **{**a, "seq": 11})
    _sql(flowed, f"UPDATE audit_events SET {assignments} WHERE seq = 10", **{**b, "seq": 10})
    assert _row(flowed, 10)["action"] == b["action"]
    assert _fault(flowed)[0] == 10


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_forged_row_inserted_with_renumbering_is_found(flowed: Env) -> None:
    """The forger hashes their row correctly and shifts the rest up by one: the row after
    the forgery no longer matches its own hash (its seq changed), but it still hashes as
    its original seq right after seq 5, so the forgery is named at its own seq 6."""
    prev = _row(flowed, 5)
    _sql(flowed, "UPDATE audit_events SET seq = seq + 100000 WHERE seq >= 6")
    _sql(flowed, "UPDATE audit_events SET seq = seq - 99999 WHERE seq >= 100006")
    forged = {
        "seq": 6,
        "time": dt.datetime.fromisoformat(prev["time"]),
        "actor": "carol",
        "action": "request.approved",
        "subject": "request:1",
        "payload": {"roles": ["model_owner"], "reason": "looks fine"},
        "prev_hash": prev["hash"],
    }
    row = {
        **forged,
        "time": prev["time"],
        "model": flowed.model,
        "payload": json.dumps(forged["payload"]),
        "hash": event_hash(**forged),
    }
    _sql(
        flowed,
        f"INSERT INTO audit_events ({COLUMNS}) VALUES (:{COLUMNS.replace(', ', ', :')})",
        **row,
    )
    report = flowed.ws.auditing.verify()
    assert report.fault is not None
    assert (report.fault.seq, report.fault.kind) == (6, "inserted"), report.fault.message
    assert report.fault.message.startswith("event seq 6 (request.approved on request:1)")
    assert "stored as seq 7" in report.fault.message
    assert (report.events, report.head_seq, report.head_hash) == (5, 5, prev["hash"])


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_cut_off_tail_is_found_only_after_a_signed_checkpoint(flowed: Env) -> None:
    n = flowed.event_count()
    _sql(flowed, "DELETE FROM audit_events WHERE seq = :seq", seq=n)
    report = flowed.ws.auditing.verify()
    assert report.fault is None and report.head_seq == n - 1  # the chain cannot see it go
    # ...but the state can: the cut event was the request's last status change
    assert not report.ok
    assert [(d.table, d.field) for d in report.differences] == [("requests", "status")]

    cp = flowed.ws.auditing.checkpoint()
    assert cp.seq == n - 1
    assert flowed.ws.auditing.verify().checkpoints == 1
    _sql(flowed, "DELETE FROM audit_events WHERE seq = :seq", seq=n - 1)
    report = flowed.ws.auditing.verify()
    assert not report.ok and report.fault is not None
    assert (report.fault.kind, report.fault.seq) == ("truncated", n - 1)


@pytest.mark.backends("sqlite")  # edits rows behind the store
def test_a_fully_rehashed_rewrite_is_caught_by_the_checkpoint(flowed: Env) -> None:
    """Rewriting an event AND re-hashing everything after it keeps the chain consistent;
    only the signed checkpoint can tell."""
    flowed.ws.auditing.checkpoint()
    rows = _sql(flowed, f"SELECT {COLUMNS} FROM audit_events ORDER BY seq")
    prev_hash = None
    for r in rows:
        m = dict(r._mapping)
        if m["seq"] < 4:
            prev_hash = m["hash"]
            continue
        payload = json.loads(m["payload"])
        if m["seq"] == 4:
            payload["forged"] = True
        fields = {
            "seq": m["seq"],
            "time": dt.datetime.fromisoformat(m["time"]),
            "actor": m["actor"],
            "action": m["action"],
            "subject": m["subject"],
            "payload": payload,
            "prev_hash": prev_hash,
        }
        prev_hash = event_hash(**fields)
        _sql(
            flowed,
            "UPDATE audit_events SET payload = :p, prev_hash = :ph, hash = :h WHERE seq = :s",
            p=json.dumps(payload),
            ph=fields["prev_hash"],
            h=prev_hash,
            s=m["seq"],
        )
    report = flowed.ws.auditing.verify()
    assert not report.ok and report.fault is not None
    assert report.fault.kind == "modified"
    assert report.fault.seq == len(rows)


def test_every_use_case_writes_its_audit_events(env: Env) -> None:
    ws, m = env.ws, env.model
    card = env.card("card.md", "# Intended use\nx\n# Limitations\ny\n")
    steps: list[tuple[Any, list[str]]] = [
        (
            lambda: ws.registry.add_user("gina", ["tech_lead"], actor="admin", operator=True),
            ["user.added"],
        ),
        (lambda: env.register("1"), ["model.registered", "version.registered"]),
        (
            lambda: ws.registry.attach(m, "1", "model_card", path=card, actor="alice"),
            ["evidence.attached"],
        ),
        (
            lambda: ws.promotions.promote(m, "1", "staging", actor="alice"),
            [
                "request.opened",
                "decision.recorded",
                "version.stage_changed",
                "request.status_changed",
            ],
        ),
        (
            lambda: ws.promotions.promote(m, "1", "production", actor="alice"),
            ["request.opened", "decision.recorded"],  # pending was already its status
        ),
        (
            lambda: ws.promotions.approve(2, actor="carol"),
            ["request.approved", "decision.recorded"],
        ),
        (
            lambda: ws.promotions.reevaluate(2, actor="alice"),
            ["request.reevaluated", "decision.recorded"],
        ),
        (
            lambda: ws.promotions.approve(2, actor="dave"),
            [
                "request.approved",
                "decision.recorded",
                "version.stage_changed",
                "request.status_changed",
            ],
        ),
        (lambda: env.to_production("2"), None),
        (
            lambda: ws.promotions.rollback(m, actor="frank", reason="alerts"),
            ["version.stage_changed", "version.stage_changed", "model.rolled_back"],
        ),
        (lambda: env.to_staging("3"), None),
        (
            lambda: ws.promotions.promote(m, "3", "production", actor="alice"),
            ["request.opened", "decision.recorded"],
        ),
        (
            lambda: ws.promotions.reject(6, actor="carol", reason="not now"),
            ["request.rejected", "decision.recorded", "request.status_changed"],
        ),
        (
            lambda: env.apply(env.policy(version="2.0.0")),
            ["policy.change_proposed", "policy.change_approved", "policy.applied"],
        ),
        (lambda: ws.auditing.checkpoint(), []),  # a checkpoint signs the chain, outside it
    ]
    for step, expected in steps:
        before = env.event_count()
        step()
        got = env.actions(after=before)
        if expected is not None:
            assert got == expected, step
    assert ws.auditing.verify().ok


@pytest.fixture
def two_models(env: Env) -> Env:
    env.to_staging("1")
    env.clock.advance(hours=1)
    env.ws.registry.register(env.manifest("1", model="fraud-score"), actor="alice")
    env.ws.promotions.promote("fraud-score", "1", "staging", actor="alice")
    env.clock.advance(hours=1)
    env.register("2")
    return env


def _checkpoints(env: Env) -> list[Any]:
    with env.ws.store.reading() as tx:
        return tx.checkpoints()


def _jsonl(env: Env, **kw: Any) -> list[AuditEvent]:
    return [AuditEvent.model_validate_json(line) for line in env.ws.auditing.export("jsonl", **kw)]


def test_export_jsonl_round_trips_and_verifies_offline(two_models: Env) -> None:
    env = two_models
    events = _jsonl(env)
    assert [e.seq for e in events] == list(range(1, env.event_count() + 1))
    with env.ws.store.reading() as tx:
        assert events == list(tx.events())
    env.ws.auditing.checkpoint()
    checkpoints = [Checkpoint(**c.model_dump()) for c in _checkpoints(env)]
    assert verify_chain(events, checkpoints, public_key_raw(env.ws.key)).ok
    assert not verify_chain(events[:-1], checkpoints, public_key_raw(env.ws.key)).ok

    fraud = _jsonl(env, model="fraud-score")
    assert [e.action for e in fraud] == [
        "model.registered",
        "version.registered",
        "request.opened",
        "decision.recorded",
        "version.stage_changed",
        "request.status_changed",
    ]
    assert {e.subject for e in fraud} >= {"model:fraud-score", "model:fraud-score/version:1"}

    since = env.clock.now()  # the last hour: only version 2 of credit-default
    recent = _jsonl(env, since=since)
    assert [e.action for e in recent] == ["version.registered"]
    assert recent[0].subject == "model:credit-default/version:2"
    assert _jsonl(env, since=since, model="fraud-score") == []
    assert [e.seq for e in _jsonl(env, since=since - dt.timedelta(hours=1))] == [
        e.seq for e in events if e.time >= since - dt.timedelta(hours=1)
    ]


def test_export_csv_carries_the_same_events(two_models: Env) -> None:
    env = two_models
    text_out = "".join(env.ws.auditing.export("csv", model="credit-default"))
    rows = list(csv.DictReader(io.StringIO(text_out)))
    assert list(rows[0]) == EXPORT_FIELDS
    expected = _jsonl(env, model="credit-default")
    assert [int(r["seq"]) for r in rows] == [e.seq for e in expected]
    for row, event in zip(rows, expected, strict=True):
        assert json.loads(row["payload"]) == event.payload
        assert row["hash"] == event.hash
        assert dt.datetime.fromisoformat(row["time"]) == event.time
    with pytest.raises(InputError, match="jsonl or csv"):
        list(env.ws.auditing.export("xml"))


# --- verifying while others write --------------------------------------------------------


def _append_one(env: Env) -> None:
    """What another writer commits meanwhile: an event that changes no table."""
    with env.ws.store.transaction() as tx:
        tx.append_event(
            time=env.clock.now(),
            actor="op",
            action="review.noted",
            subject=f"model:{env.model}",
            model=env.model,
            payload={},
        )


@pytest.mark.backends("memory", "sqlite", "postgresql")
def test_events_appended_while_the_chain_is_walked_are_left_to_the_next_run(
    flowed: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One walk, up to the head the tables were read at: writers going on meanwhile do not
    make verify walk the chain again, nor their events count as state it did not read."""
    count = flowed.event_count()
    reading, walks = flowed.ws.store.reading, []

    @contextmanager
    def appending() -> Iterator[Any]:
        with reading() as tx:
            stored_events = tx.stored_events

            def walk(**kw: Any) -> Iterator[Any]:
                walks.append(1)
                rows = stored_events(batch=4)  # later pages are read after the append
                yield next(rows)
                _append_one(flowed)
                yield from rows

            monkeypatch.setattr(tx, "stored_events", walk)
            yield tx

    monkeypatch.setattr(flowed.ws.store, "reading", appending)
    report = flowed.ws.auditing.verify()
    assert (report.ok, report.state_checked, report.warnings) == (True, True, ())
    assert (report.events, len(walks)) == (count, 1)
    monkeypatch.undo()
    assert flowed.ws.auditing.verify().events == flowed.event_count() == count + 1


@pytest.mark.backends("memory", "sqlite", "postgresql")
def test_a_change_committed_while_the_tables_are_read_reads_them_again(
    flowed: Env, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """PostgreSQL reads each statement as of its start: a change that lands between the
    statements shows as a moved head, and the tables are read again. The memory store and
    SQLite read in one snapshot, so the change is not seen at all."""
    count, reads = flowed.event_count(), []

    def read_state(tx: Any, *args: Any) -> Any:
        reads.append(1)
        found = state.read_state(tx, *args)
        if len(reads) == 1:
            _append_one(flowed)
        return found

    monkeypatch.setattr(auditing, "read_state", read_state)
    report = flowed.ws.auditing.verify()
    assert (report.ok, report.warnings) == (True, ())
    seen = (count + 1, 2) if backend == "postgresql" else (count, 1)
    assert (report.events, len(reads)) == seen


@pytest.mark.backends("postgresql")  # the others read in one snapshot
def test_tables_that_keep_changing_are_compared_as_last_read_and_said_so(
    flowed: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_state(tx: Any, *args: Any) -> Any:
        found = state.read_state(tx, *args)
        _append_one(flowed)
        return found

    monkeypatch.setattr(auditing, "read_state", read_state)
    report = flowed.ws.auditing.verify()
    assert report.ok and report.state_checked
    assert report.warnings == (
        "the tables kept changing while they were read; compared as last read",
    )


@pytest.mark.backends("sqlite")  # a dynamically typed column holds what it is given
@pytest.mark.parametrize("value", [12345, 1.5, b"2026"])
def test_a_time_that_is_not_text_is_a_modified_row_not_a_crash(flowed: Env, value: Any) -> None:
    _sql(flowed, "UPDATE audit_events SET time = :t WHERE seq = 8", t=value)
    assert _fault(flowed) == (8, "modified")
