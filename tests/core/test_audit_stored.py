"""Verifying stored rows: hashing the stored bytes gives the definition's hash, a row the
fast check refuses is judged by the definition, and the fold sees each good row once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core import audit
from clearance.core.audit import (
    GENESIS,
    AuditEvent,
    StoredEvent,
    event_hash,
    hashed_time,
    next_event,
    stored,
    stored_hash,
    verify_chain,
    verify_stored,
)
from clearance.core.trail import Folder, compare, implied_state

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def as_row(event: AuditEvent) -> StoredEvent:
    """The row ``append_event`` writes: time as ``isoformat()``, payload as canonical JSON."""
    return stored(event)._replace(time=event.time.isoformat())


def rows(n: int) -> list[StoredEvent]:
    out: list[AuditEvent] = []
    for i in range(n):
        out.append(
            next_event(
                out[-1] if out else None,
                time=T0 + dt.timedelta(seconds=i, microseconds=0 if i % 2 else 7),
                actor="ann",
                action="user.roles_changed" if i else "user.added",
                subject="user:ann",
                payload={"roles": ["admin"] if i % 2 else ["auditor"]},
            )
        )
    return [as_row(e) for e in out]


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(),
    payload=st.dictionaries(st.text(), JSON, max_size=4),
    micro=st.integers(0, 999_999),
    seq=st.integers(1, 2**40),
)
def test_the_stored_bytes_hash_to_the_definitions_hash(
    text: str, payload: dict[str, Any], micro: int, seq: int
) -> None:
    """Quotes, backslashes, control characters, any Unicode, whole seconds: the same sha256."""
    when = T0.replace(microsecond=micro)
    fields: dict[str, Any] = {
        "seq": seq,
        "time": when,
        "actor": text,
        "action": text + '"',
        "subject": "\\" + text,
    }
    fields |= {"payload": payload, "prev_hash": GENESIS}
    event = AuditEvent(**fields, hash=event_hash(**fields))
    row = as_row(event)
    assert stored_hash(row, hashed_time(row.time)) == event.hash


def test_a_whole_second_stored_by_isoformat_is_hashed_with_its_microseconds() -> None:
    assert hashed_time("2026-03-01T12:00:00+00:00") == "2026-03-01T12:00:00.000000+00:00"
    assert hashed_time("2026-03-01T12:00:00.000007+00:00") == "2026-03-01T12:00:00.000007+00:00"
    assert hashed_time("2026-03-01T13:00:00+01:00") == "2026-03-01T12:00:00.000000+00:00"


def test_stored_rows_verify_as_the_events_do() -> None:
    good = rows(6)
    report = verify_stored(good)
    assert (report.ok, report.events, report.head_seq, report.head_hash) == (
        True,
        6,
        6,
        good[-1].hash,
    )


def test_a_payload_stored_as_other_json_still_verifies_by_the_definition() -> None:
    """Rows written by other tools (spaces in the JSON) fail the fast check only."""
    good = rows(4)
    spaced = [r._replace(payload=json.dumps(json.loads(r.payload), indent=1)) for r in good]
    assert spaced[1].payload != good[1].payload
    assert verify_stored(spaced).ok


def test_an_edited_payload_is_the_same_fault_as_on_events() -> None:
    good = rows(5)
    edited = list(good)
    edited[2] = good[2]._replace(payload='{"roles":["admin","risk_officer"]}')
    fault = verify_stored(edited).fault
    assert fault is not None and (fault.seq, fault.kind) == (3, "modified")
    assert verify_stored(edited).fault == verify_chain(_events(edited)).fault


@pytest.mark.parametrize(
    "edit",
    [{"payload": "not json"}, {"time": "garbage"}, {"payload": "[1, 2"}, {"time": ""}],
)
def test_a_row_edited_into_something_unparseable_is_a_fault_not_a_crash(
    edit: dict[str, str],
) -> None:
    edited = rows(5)
    edited[2] = edited[2]._replace(**edit)
    fault = verify_stored(edited).fault
    assert fault is not None and (fault.seq, fault.kind) == (3, "modified")
    assert "do not parse" in fault.message


def _events(rows: list[StoredEvent]) -> list[AuditEvent]:
    return [
        AuditEvent(
            seq=r.seq,
            time=dt.datetime.fromisoformat(r.time),
            actor=r.actor,
            action=r.action,
            subject=r.subject,
            payload=json.loads(r.payload),
            prev_hash=r.prev_hash,
            hash=r.hash,
        )
        for r in rows
    ]


def test_the_fold_sees_each_good_row_once_and_not_the_faulty_one() -> None:
    good = rows(5)
    seen: list[tuple[int, str]] = []
    broken = [*good[:3], good[3]._replace(actor="mallory"), good[4]]
    report = verify_stored(
        broken,
        fold=lambda batch, times: seen.extend(
            (r.seq, t) for r, t in zip(batch, times, strict=True)
        ),
    )
    assert report.fault is not None and report.fault.seq == 4
    assert seen == [(r.seq, hashed_time(r.time)) for r in good[:3]]


def test_folding_stored_rows_gives_the_state_folding_events_gives() -> None:
    good = rows(5)
    folder = Folder()
    assert verify_stored(good, fold=folder.add_stored).ok
    from_events = implied_state(_events(good))
    assert folder.state.rows == from_events.rows
    assert compare(folder.state, {"users": {"user:ann": {"roles": ["auditor"]}}}) == []
    assert folder.state.seq("users", "user:ann", "roles") == 5


def test_rows_past_the_head_read_end_the_walk_wherever_a_batch_ends() -> None:
    """``upto``: rows appended after the caller read the head are left to the next run."""
    good = rows(6)
    for size in (1, 2, 4, 4096):
        with mock.patch.object(audit, "BATCH", size):
            report = verify_stored(good, upto=4)
        assert (report.ok, report.events, report.head_hash) == (True, 4, good[3].hash)
    assert verify_stored(good, upto=0).events == 0
    assert verify_stored(good, upto=9).events == 6
