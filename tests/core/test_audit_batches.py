"""Verifying in batches (``core.audit_batch``: columns compared and hashed by ``map``) says
exactly what checking each row alone says: the same report, the same fault at the same seq,
the same rows and times handed to the fold, whatever the batch size and wherever a batch
boundary falls. Rows the batch check cannot vouch for (strings that need JSON escapes, a
time stored in another form or zone, values of another type) are checked row by row."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearance.core import audit, audit_batch
from clearance.core.audit import (
    GENESIS,
    StoredEvent,
    VerifyReport,
    event_hash,
    generate_key,
    hashed_time,
    next_event,
    public_key_raw,
    sign_checkpoint,
    stored,
    verify_stored,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
KEY = generate_key()
PUBLIC = public_key_raw(KEY)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Rows = list[StoredEvent]


@contextmanager
def batches_of(size: int, *, columns: bool = True) -> Iterator[None]:
    """Verify ``size`` rows at a time; without ``columns`` every row is checked alone."""
    with mock.patch.object(audit, "BATCH", size):
        if columns:
            yield
        else:
            with mock.patch.object(audit, "batch_check", lambda *_: None):
                yield


def chain_rows(n: int, *, actor: str = "ann", start: dt.datetime = T0) -> Rows:
    """``n`` rows as ``append_event`` stores them (a whole second stored by isoformat)."""
    events: list[audit.AuditEvent] = []
    for i in range(n):
        events.append(
            next_event(
                events[-1] if events else None,
                time=start + dt.timedelta(seconds=i, microseconds=0 if i % 3 else 250),
                actor=actor,
                action="request.approved" if i % 2 else "version.registered",
                subject=f"model:m/version:{i}",
                payload={"i": i, "note": "übergeben", "tags": ["a", i]},
            )
        )
    return [stored(e)._replace(time=e.time.isoformat()) for e in events]


def walk(rows: Sequence[Any], size: int, *, columns: bool = True, checkpoints: Any = ()) -> Any:
    """The report and what the fold saw, verifying ``size`` rows at a time."""
    seen: list[tuple[int, str]] = []

    def fold(batch: Sequence[StoredEvent], times: Sequence[str]) -> None:
        seen.extend((row[0], time) for row, time in zip(batch, times, strict=True))

    with batches_of(size, columns=columns):
        report = verify_stored(list(rows), checkpoints, PUBLIC, fold=fold)
    return report, seen


def test_a_long_chain_verifies_batch_by_batch_and_folds_every_row_once() -> None:
    rows = chain_rows(25)
    assert audit_batch.batch_check(rows[:4], 0, GENESIS) is not None  # vouched for as columns
    report, seen = walk(rows, 4)
    assert (report.ok, report.events, report.head_hash) == (True, 25, rows[-1].hash)
    assert seen == [(r.seq, hashed_time(r.time)) for r in rows]
    assert seen[1][1] == "2026-03-01T12:00:01.000000+00:00"  # stored as isoformat gave it


def test_a_fault_in_a_later_batch_is_named_as_row_by_row_names_it() -> None:
    rows = chain_rows(25)
    rows[13] = rows[13]._replace(actor="mallory")
    report, seen = walk(rows, 4)
    assert report == walk(rows, 4, columns=False)[0]
    assert report.fault is not None and (report.fault.seq, report.fault.kind) == (14, "modified")
    assert (report.events, report.head_hash) == (13, rows[12].hash)
    assert [seq for seq, _ in seen] == list(range(1, 14))


def test_an_inserted_block_is_traced_back_across_batches() -> None:
    """The genuine row after a forged block links to the last genuine one, batches back."""
    rows = chain_rows(20)
    forged = []
    prev = rows[5]
    for k in range(6):  # a block of six well-formed forgeries after seq 6
        fields: dict[str, Any] = {
            "seq": prev.seq + 1,
            "time": T0,
            "actor": "mallory",
            "action": "request.approved",
            "subject": "request:1",
            "payload": {"k": k},
            "prev_hash": prev.hash,
        }
        forged.append(prev := stored(audit.AuditEvent(**fields, hash=event_hash(**fields))))
    tail = [r._replace(seq=r.seq + 6) for r in rows[6:]]  # the later rows renumbered
    tampered = [*rows[:6], *forged, *tail]
    report, _ = walk(tampered, 4)
    assert report == walk(tampered, 4, columns=False)[0]
    assert report.fault is not None and (report.fault.seq, report.fault.kind) == (7, "inserted")
    assert (report.events, report.head_hash) == (6, rows[5].hash)


def test_checkpoints_at_batch_edges_cover_the_hashes_they_signed() -> None:
    rows = chain_rows(12)
    cps = [sign_checkpoint(KEY, audit.parsed(rows[k]), T0) for k in (0, 3, 4, 11)]
    report, _ = walk(rows, 4, checkpoints=cps)
    assert (report.ok, report.checkpoints) == (True, 4)
    rewritten = [*rows[:4], rows[4]._replace(hash="0" * 64), *rows[5:]]
    report, _ = walk(rewritten, 4, checkpoints=cps)
    assert report.fault is not None and report.fault.seq == 5


def test_strings_that_need_escapes_are_checked_row_by_row_and_verify() -> None:
    rows = chain_rows(9, actor='o"neil\\\n\x7f\u2028 ü')
    report, seen = walk(rows, 4)
    assert report.ok and len(seen) == 9


def test_a_time_stored_in_another_zone_is_hashed_in_utc_not_as_stored() -> None:
    """32 characters like the UTC form: the batch check must not take its text as hashed."""
    local = dt.timezone(dt.timedelta(hours=1))
    rows = chain_rows(6)
    row = rows[3]
    moved = dt.datetime.fromisoformat(row.time).astimezone(local).isoformat()
    assert len(moved) == 32 and moved.endswith("+01:00")
    rows[3] = row._replace(time=moved)  # the same instant: still verifies
    report, seen = walk(rows, 3)
    assert report.ok and seen[3] == (4, hashed_time(row.time))
    as_stored = row._replace(time=moved)
    forged_hash = audit.stored_hash(as_stored, moved)  # hashed over the text as stored
    rows[3] = as_stored._replace(hash=forged_hash)
    report, _ = walk(rows, 3)
    assert report.fault is not None and (report.fault.seq, report.fault.kind) == (4, "modified")


def test_values_of_another_type_are_judged_row_by_row() -> None:
    rows = chain_rows(6)
    for bad in (row._replace(seq=float(row.seq)) for row in rows[3:4]):
        tampered = [*rows[:3], bad, *rows[4:]]
        report, _ = walk(tampered, 3)
        assert report.ok  # 4.0 is seq 4 to the definition, as before
    tampered = [*rows[:3], rows[3]._replace(payload=b'{"i":3}'), *rows[4:]]
    report, _ = walk(tampered, 3)
    assert report == walk(tampered, 3, columns=False)[0]
    assert report.fault is not None and report.fault.seq == 4


def _forgeries(rows: Rows, k: int) -> dict[str, Rows]:
    """Row ``k`` forged five ways, each with the rows after it re-chained to it."""
    row = rows[k]
    local = dt.timezone(dt.timedelta(hours=1))
    when = dt.datetime.fromisoformat(row.time)
    whole = when.replace(microsecond=0).astimezone(local).isoformat()
    return {
        "broken link": relinked(
            [*rows[:k], row._replace(prev_hash="f" * 64), *rows[k + 1 :]],
            k,
            _by_definition,
            keep_link=True,
        ),
        "seq gap": relinked(
            [*rows[:k], *(r._replace(seq=r.seq + 1) for r in rows[k:])], k, _by_definition
        ),
        "unescaped quote": relinked(
            [*rows[:k], row._replace(actor='ann","x":"y'), *rows[k + 1 :]], k, _unescaped
        ),
        "zone as stored": relinked(
            [*rows[:k], row._replace(time=when.astimezone(local).isoformat()), *rows[k + 1 :]],
            k,
            _over_stored_time,
        ),
        "whole second as utc": relinked(
            [*rows[:k], row._replace(time=whole), *rows[k + 1 :]], k, _whole_second_as_utc
        ),
    }


def test_a_consistent_forgery_anywhere_in_a_batch_is_found_as_row_by_row_finds_it() -> None:
    """Each forgery re-chains the rows after it, so only checking exactly the definition's
    bytes, every link and every seq can tell: at every offset from a batch's start."""
    rows = chain_rows(9)
    rows = [r._replace(time=hashed_time(r.time)) for r in rows]  # every row fit for columns
    for k in range(9):
        for name, forged in _forgeries(rows, k).items():
            alone = walk(forged, 1, columns=False)[0]
            assert alone.fault is not None, (name, k)
            assert alone.fault.seq == k + 1, (name, k, alone.fault)
            for size in (1, 2, 3, 4, 9):
                assert walk(forged, size)[0] == alone, (name, k, size)


# --- the batch check and the row check agree on any chain and any tampering -----------------

BARE = st.sampled_from(["ann", "bo b", "ü", "", "request.approved"])
TEXTS = BARE | st.sampled_from(['q"', "b\\s", "c\x01"])


def _by_definition(row: StoredEvent) -> str:
    return audit.stored_hash(row, hashed_time(row.time))


def _over_stored_time(row: StoredEvent) -> str:
    """A forger's hash over the time as stored (not its UTC rendering)."""
    return audit.stored_hash(row, row.time)


def _unescaped(row: StoredEvent) -> str:
    """A forger's hash over the strings laid out without their JSON escapes."""
    seq, time, actor, action, subject, payload, prev_hash, _ = row
    laid = audit_batch._LAYOUT % (action, actor, payload, prev_hash, seq, subject, time)
    return hashlib.sha256(laid.encode()).hexdigest()


def _whole_second_as_utc(row: StoredEvent) -> str:
    """A forger's hash over a whole second in another zone taken as if it were UTC."""
    return audit.stored_hash(row, row.time[:19] + ".000000+00:00")


HASHERS = st.sampled_from([_by_definition, _over_stored_time, _unescaped, _whole_second_as_utc])


def relinked(
    rows: Rows, k: int, hasher: Callable[[StoredEvent], str], *, keep_link: bool = False
) -> Rows:
    """Rows ``k`` on re-chained by ``hasher``: each links to the one before (row ``k``
    keeps its prev_hash with ``keep_link``) and hashes right by it: a consistent rewrite,
    which a lax check would take as intact."""
    out = list(rows[:k])
    for i, row in enumerate(rows[k:]):
        if not (keep_link and i == 0):
            row = row._replace(prev_hash=out[-1].hash if out else GENESIS)
        out.append(row._replace(hash=hasher(row)))
    return out


@st.composite
def tampered_rows(draw: st.DrawFn) -> Rows:
    """A chain of stored rows, then a few edits of any column, deletions, duplicates,
    swaps and renumberings, and maybe the rows from one on re-chained by a forger's hash
    (the definition's, or one over the time as stored or the strings unescaped)."""
    rows: Rows = []
    prev = GENESIS
    texts = draw(st.sampled_from([BARE, BARE, TEXTS]))  # mostly rows the batch check takes
    for i in range(draw(st.integers(0, 14))):
        when = T0 + dt.timedelta(seconds=i, microseconds=draw(st.sampled_from([0, 1, 999_999])))
        fields: dict[str, Any] = {
            "seq": i + 1,
            "time": when,
            "actor": draw(texts),
            "action": draw(texts),
            "subject": draw(texts),
            "payload": {"n": draw(st.integers(0, 3))},
            "prev_hash": prev,
        }
        row = stored(audit.AuditEvent(**fields, hash=(prev := event_hash(**fields))))
        form = draw(st.sampled_from(["utc"] * 8 + ["isoformat", "+01:00"]))
        if form == "isoformat":
            row = row._replace(time=when.isoformat())
        elif form == "+01:00":
            row = row._replace(time=when.astimezone(dt.timezone(dt.timedelta(hours=1))).isoformat())
        rows.append(row)
    for _ in range(draw(st.integers(0, 3))):
        if not rows:
            break
        k = draw(st.integers(0, len(rows) - 1))
        edit = draw(st.sampled_from(["field", "delete", "copy", "swap", "renumber"]))
        if edit == "field":
            column = draw(st.sampled_from(StoredEvent._fields))
            value = draw(
                st.sampled_from([0, 7, "x", 'a","b', "0" * 64, '{"n":9}', rows[k - 1].hash])
            )
            if column == "time":
                value = draw(st.sampled_from(["2026-03-01T12:00:00.000000+00:00", "bad"]))
            rows[k] = rows[k]._replace(**{column: value})
        elif edit == "delete":
            del rows[k]
        elif edit == "copy":
            rows.insert(k, rows[draw(st.integers(0, len(rows) - 1))])
        elif edit == "swap":
            j = draw(st.integers(0, len(rows) - 1))
            rows[k], rows[j] = rows[j], rows[k]
        else:
            step = draw(st.sampled_from([-1, 1]))
            rows[k:] = [r._replace(seq=r.seq + step) if type(r.seq) is int else r for r in rows[k:]]
    if rows and draw(st.booleans()):
        k = draw(st.integers(0, len(rows) - 1))
        hasher, keep_link = draw(HASHERS), draw(st.booleans())
        with contextlib.suppress(TypeError, ValueError):  # a value no hash lays out: kept
            rows = relinked(rows, k, hasher, keep_link=keep_link)
    return rows


def _outcome(rows: Rows, size: int, *, columns: bool) -> Any:
    try:
        return walk(rows, size, columns=columns)
    except (ValueError, TypeError) as exc:  # an unparseable time, a number for a string:
        return type(exc)  # the definition cannot hash it (as before batches)


@PROPERTY
@given(tampered_rows(), st.integers(1, 6))
def test_any_batch_size_gives_the_row_by_row_report(rows: Rows, size: int) -> None:
    assert _outcome(rows, size, columns=True) == _outcome(rows, 1, columns=False)


def test_reports_compare_equal_only_when_equal() -> None:
    """The property above compares whole reports: make sure two differ when they should."""
    rows = chain_rows(5)
    a: VerifyReport = walk(rows, 2)[0]
    b: VerifyReport = walk([*rows[:2], rows[2]._replace(actor="x"), *rows[3:]], 2)[0]
    assert a != b
