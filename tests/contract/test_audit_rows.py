"""The SQL stores' audit rows: appends link to the locked head, several in one transaction
form one chain, and ``stored_events`` hands over exactly what ``events`` does."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from clearance.adapters.store.sql import SqlStore, SqlTx
from clearance.core.audit import hashed_time, parsed, verify_chain, verify_stored
from clearance.service.ports import Store

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _sql(store: Store) -> SqlStore:
    if not isinstance(store, SqlStore):
        pytest.skip("stored rows are the SQL stores'")
    return store


def _append(tx: SqlTx, i: int) -> None:
    tx.append_event(
        time=T0 + dt.timedelta(seconds=i),  # whole seconds: stored without microseconds
        actor="ann",
        action="user.roles_changed",
        subject="user:ann",
        model=None,
        payload={"i": i, "note": 'a "quoted" é'},
    )


def test_events_of_one_transaction_chain_and_the_head_follows(store: Store) -> None:
    sql = _sql(store)
    with sql.transaction() as tx:
        for i in range(3):
            _append(tx, i)
    with sql.transaction() as tx:
        _append(tx, 3)
    with sql.reading() as tx:
        events = list(tx.events())
        head = tx.s.execute(text("SELECT seq, hash FROM audit_head")).one()
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert verify_chain(events).ok
    assert tuple(head) == (4, events[-1].hash)


def test_stored_rows_are_the_events_in_seq_order_across_batches(store: Store) -> None:
    sql = _sql(store)
    for i in range(5):
        with sql.transaction() as tx:
            _append(tx, i)
    with sql.reading() as tx:
        events = list(tx.events())
        rows = list(tx.stored_events(batch=2))
    assert [parsed(r) for r in rows] == events
    assert verify_stored(rows).ok
    assert hashed_time(rows[0].time) == "2026-03-01T12:00:00.000000+00:00"


def test_an_append_after_a_tail_cut_behind_the_store_leaves_a_visible_gap(store: Store) -> None:
    """The head row, not the last row, says where the chain ends: deleting the last event
    in the database does not let the next append hide the cut."""
    sql = _sql(store)
    for i in range(3):
        with sql.transaction() as tx:
            _append(tx, i)
    with sql.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    with sql.transaction() as tx:
        _append(tx, 9)
    with sql.reading() as tx:
        fault = verify_stored(tx.stored_events()).fault
    assert fault is not None and (fault.seq, fault.kind) == (3, "deleted")
