"""Issue 12.2: the audit trail's speed, against its floors, in one run.

    .venv/bin/python bench/audit.py                      # 200k events, SQLite and PostgreSQL
    .venv/bin/python bench/audit.py -n 1000000           # 1M events
    .venv/bin/python bench/audit.py --writers 1,4,8 --per-tx 1,10 --seconds 5
    .venv/bin/python bench/audit.py -n 200000 --tables 10000 --writers 1 --per-tx 10

Each database (a SQLite file in a temporary directory, a PostgreSQL database of its own,
dropped afterwards) is filled with N events through a bulk path: the rows are built with
``event_hash`` (the definition), inserted in batches (COPY on PostgreSQL) and the head set.
The events cycle through the actions the use cases write (decisions with their gates,
approvals, stage changes, unfolded rollout observations...) over 2,000 subjects each.

Verify, timed side by side, alternating rounds:

* ``read rows``: ``tx.stored_events()`` alone (the database and the driver);
* ``hash + link``: ``verify_stored(tx.stored_events())``: read, hash the stored bytes, link;
* ``chain``: ``verify_stored(tx.stored_events(), fold=Folder().add_stored)``, the call
  ``Auditing.verify`` makes: the above, and every event folded into the implied state;
* ``audit verify``: the whole use case (``Auditing.verify()``: the chain, checkpoints, the
  tables read and compared); the tables are empty here (or, with ``--tables``, hold rows the
  events did not make), so it reports rows as differing: it must find no fault in the chain;
* ``floor``: ``hashlib.sha256`` over exactly the bytes the chain hashes, already in memory;
* ``previous path`` (once): ORM rows parsed into ``AuditEvent`` and re-serialised, what
  ``audit verify`` did before;
* ``read tables`` (with ``--tables K``): ``read_state``, the governed tables as ``audit
  verify`` reads them to compare, over K requests (one version each, one evidence item,
  two approvals and a decision per request, ten versions a model) inserted in bulk; it does
  not grow with the events but with the rows, so it is timed beside them, not per event.

Appends (PostgreSQL): K writer processes, each appending events in its own transactions
(``SqlStore.transaction`` + ``append_event``, E events a transaction) for S seconds; then
the whole chain is verified as one unbroken chain. Beside them, with the same K: the same
statements through bare psycopg (lock the head, insert, update the head, commit: what the
database alone allows) and one connection's bare commits (the fsync bound). CPU figures are
this process's and its children's (``resource``); the machine is shared, see the load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import multiprocessing as mp
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from _pg import pg_database  # bench/ is on sys.path when a bench runs
from sqlalchemy import Engine, Table, insert, update
from sqlalchemy import event as sa_event

from clearance.adapters.store import migrate
from clearance.adapters.store.database import make_engine
from clearance.adapters.store.schema import (
    ApprovalRow,
    AuditEventRow,
    AuditHeadRow,
    DecisionRow,
    EvidenceRow,
    ModelRow,
    PolicyRow,
    RequestRow,
    VersionRow,
)
from clearance.adapters.store.sql import SqlStore
from clearance.core import subjects
from clearance.core.audit import (
    GENESIS,
    AuditEvent,
    StoredEvent,
    event_hash,
    generate_key,
    hashed_bytes,
    hashed_time,
    stored_hash,
    verify_chain,
    verify_stored,
)
from clearance.core.hashing import canonical_json
from clearance.core.trail import Folder
from clearance.service.auditing import Auditing
from clearance.service.state import read_state

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
SUBJECTS = 2000
BATCH = 10_000
H = "ab" * 32


def _event(i: int) -> tuple[str, str, str, dict[str, Any]]:
    """(actor, action, subject, payload) of the i-th event: the use cases' shapes."""
    k = (i // 8) % SUBJECTS
    gates = [{"id": f"g{g}", "status": "pass", "value": 0.8 + g / 100} for g in range(6)]
    shapes: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "ana",
            "request.opened",
            subjects.request(k),
            {"version": str(k), "from": "staging", "to": "production", "change_type": "promotion"},
        ),
        (
            "svc",
            "decision.recorded",
            subjects.decision(k),
            {
                "request": k,
                "decision_id": H,
                "outcome": "pass",
                "policy_hash": H,
                "summary": "6 of 6 gates pass",
                "gates": gates,
            },
        ),
        (
            "bo",
            "request.approved",
            subjects.request(k),
            {
                "roles": ["model_owner"],
                "reason": "looks fine",
                "ticket": f"RISK-{k}",
                "evidence_digest": H,
            },
        ),
        ("svc", "request.status_changed", subjects.request(k), {"status": "approved"}),
        (
            "ana",
            "version.stage_changed",
            subjects.version(f"m{k % 50}", str(k)),
            {"from": "staging", "to": "production", "slot": 0, "replaced_by": None},
        ),
        ("svc", "rollout.observed", subjects.rollout(k), {"step": 2, "error_rate": 0.0012}),
        ("cy", "review.recorded", subjects.model(f"m{k % 50}"), {"note": "quarterly review"}),
        ("svc", "request.status_changed", subjects.request(k), {"status": "executed"}),
    ]
    return shapes[i % 8]


def rows(n: int) -> Iterator[dict[str, Any]]:
    """N chained rows as ``append_event`` stores them, hashed by ``event_hash``."""
    prev = GENESIS
    for i in range(n):
        actor, action, subject, payload = _event(i)
        when = T0 + dt.timedelta(milliseconds=i)
        fields: dict[str, Any] = {"seq": i + 1, "time": when, "actor": actor, "action": action}
        fields |= {"subject": subject, "payload": payload, "prev_hash": prev}
        prev = event_hash(**fields)
        yield {
            **fields,
            "time": when.isoformat(),
            "payload": canonical_json(payload),
            "model": None,
            "hash": prev,
        }


EVENTS: Table = AuditEventRow.__table__  # type: ignore[assignment]
HEAD: Table = AuditHeadRow.__table__  # type: ignore[assignment]
COLUMNS = ["seq", "time", "actor", "action", "subject", "model", "payload", "prev_hash", "hash"]


def fill(engine: Engine, url: str, n: int) -> None:
    migrate.upgrade(engine)
    last: dict[str, Any] = {"seq": 0, "hash": GENESIS}
    if url.startswith("postgresql"):
        sql = f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN"
        with (
            psycopg.connect(url.replace("+psycopg", "")) as pg,
            pg.cursor() as cur,
            cur.copy(sql) as copy,
        ):
            for last in rows(n):
                copy.write_row([last[c] for c in COLUMNS])
    else:
        with engine.begin() as conn:
            batch: list[dict[str, Any]] = []
            for last in rows(n):
                batch.append(last)
                if len(batch) == BATCH:
                    conn.execute(insert(EVENTS), batch)
                    batch = []
            if batch:
                conn.execute(insert(EVENTS), batch)
    with engine.begin() as conn:
        head = update(HEAD).where(HEAD.c.id == 1)
        conn.execute(head.values(seq=last["seq"], hash=last["hash"]))


def fill_tables(engine: Engine, k: int) -> None:
    """K requests' worth of governed rows, in bulk: what ``read_state`` reads."""
    tables = {r.__tablename__: r.__table__ for r in (PolicyRow, ModelRow, VersionRow)}
    tables |= {r.__tablename__: r.__table__ for r in (EvidenceRow, RequestRow)}
    tables |= {r.__tablename__: r.__table__ for r in (ApprovalRow, DecisionRow)}
    source = [["p.yaml", "apiVersion: clearance/v1\n"]]
    result = canonical_json({"decision_id": H, "outcome": "allow", "gates": [], "summary": "ok"})
    rows: dict[str, list[dict[str, Any]]] = {
        "policies": [
            {"id": 1, "name": "p", "version": "1.0.0", "content_hash": H}
            | {"sources": canonical_json(source), "applied_by": "op", "applied_at": T0}
        ],
        "models": [
            {"id": m + 1, "name": f"m{m}", "risk_tier": "high", "owner": "o", "team": "t"}
            | {"tags": "{}", "created_at": T0}
            for m in range(max(1, k // 10))
        ],
    }
    rows["versions"] = [
        {"id": i + 1, "model_id": i % len(rows["models"]) + 1, "version": str(i)}
        | {"stage": "staging", "production_slot": None, "previous_production_id": None}
        | {"record": "{}", "registered_by": "ana", "created_at": T0, "stage_changed_at": T0}
        for i in range(k)
    ]
    rows["evidence"] = [
        {"version_id": i + 1, "name": "card", "kind": "document", "uri": "u", "sha256": H}
        | {"size": 1, "stored": 0, "attached_by": "ana", "attached_at": T0}
        for i in range(k)
    ]
    rows["requests"] = [
        {"id": i + 1, "model_id": v["model_id"], "version_id": i + 1, "policy_id": 1}
        | {"from_stage": "staging", "to_stage": "production", "change_type": "standard"}
        | {"requester": "ana", "reason": "r", "ticket": "t", "status": "executed"}
        | {"created_at": T0, "updated_at": T0}
        for i, v in enumerate(rows["versions"])
    ]
    rows["approvals"] = [
        {"request_id": i // 2 + 1, "approver": f"a{i % 2}", "roles": '["model_owner"]'}
        | {"verdict": "approve", "reason": "ok", "ticket": "t", "evidence_digest": H, "at": T0}
        for i in range(2 * k)
    ]
    rows["decisions"] = [
        {"request_id": i + 1, "policy_id": 1, "digest": H, "outcome": "allow", "inputs": "{}"}
        | {"result": result, "created_at": T0}
        for i in range(k)
    ]
    with engine.begin() as conn:
        for name, values in rows.items():
            for start in range(0, len(values), BATCH):
                conn.execute(insert(tables[name]), values[start : start + BATCH])


def bench_tables(name: str, store: SqlStore, k: int, rounds: int) -> None:
    """``read_state`` over the filled tables: its statements and its time."""
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    sa_event.listen(store.engine, "before_cursor_execute", count)

    def read() -> Any:
        with store.reading() as tx:
            return read_state(tx)

    best = (float("inf"), float("inf"))
    for _ in range(rounds):
        statements[0] = 0
        wall, cpus, out = timed(read)
        best = (min(best[0], wall), min(best[1], cpus))
    sa_event.remove(store.engine, "before_cursor_execute", count)
    held = sum(len(v) for v in out.values())
    print(
        f"  read tables    wall {best[0]:7.2f} s  cpu {best[1]:7.2f} s  {held:,} rows "
        f"({k:,} requests), {statements[0]:,} statements, "
        f"{best[1] / held * 1e6:.1f} µs/row (cpu)   [{name}, load {_load()}]"
    )


def chain_bytes(store: SqlStore) -> list[bytes]:
    """What the chain hashes, per event (``hashed_bytes``): the floor hashes exactly these."""
    with store.reading() as tx:
        return [hashed_bytes(r, hashed_time(r.time)) for r in tx.stored_events()]


def cpu() -> float:
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    c, w = cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - w, cpu() - c, out


def bench_verify(name: str, store: SqlStore, n: int, rounds: int, previous: bool) -> None:
    key = generate_key()
    auditing = Auditing(store=store, clock=_Clock(), key=lambda: key)
    blobs = chain_bytes(store)
    assert len(blobs) == n and hashlib.sha256(blobs[-1]).hexdigest() == _head(store)[1]

    def read() -> Any:
        with store.reading() as tx:
            return sum(1 for _ in tx.stored_events())

    def links() -> Any:
        with store.reading() as tx:
            return verify_stored(tx.stored_events())

    def chain() -> Any:
        with store.reading() as tx:
            return verify_stored(tx.stored_events(), fold=Folder().add_stored)

    def floor() -> Any:
        sha = hashlib.sha256
        return [sha(b).hexdigest() for b in blobs][-1]

    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for label, fn in (
            ("read rows", read),
            ("hash + link", links),
            ("chain", chain),
            ("audit verify", auditing.verify),
            ("floor", floor),
        ):
            wall, cpus, out = timed(fn)
            if label == "read rows":
                assert out == n
            elif label != "floor":
                assert out.fault is None and out.head_seq == n, out.fault
            prior = best.get(label, (float("inf"), float("inf")))
            best[label] = (min(prior[0], wall), min(prior[1], cpus))
    if previous:

        def old() -> Any:
            with store.reading() as tx:
                return verify_chain(_folded(tx.events(), Folder()))

        wall, cpus, out = timed(old)
        assert out.fault is None
        best["previous path"] = (wall, cpus)
    floor_cpu = best["floor"][1]
    print(f"\n{name}: verify {n:,} events (best of {rounds}; load {_load()})")
    for label, (wall, cpus) in best.items():
        print(
            f"  {label:<14} wall {wall:7.2f} s  cpu {cpus:7.2f} s  "
            f"{cpus / n * 1e6:6.2f} µs/event  {cpus / floor_cpu:6.1f}x floor (cpu)"
        )


def _folded(events: Iterable[AuditEvent], folder: Folder) -> Iterator[AuditEvent]:
    for event in events:
        folder.add(event)
        yield event


class _Clock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def _head(store: SqlStore) -> tuple[int, str]:
    with store.reading() as tx:
        head = tx.head_event()
        return (0, GENESIS) if head is None else (head.seq, head.hash)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# --- appends ------------------------------------------------------------------------------


def _writer(url: str, seconds: float, per_tx: int, counts: Any, slot: int) -> None:
    store = SqlStore(make_engine(url, pooled=True), check_schema=False)
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        with store.transaction() as tx:
            for _ in range(per_tx):
                tx.append_event(
                    time=dt.datetime.now(dt.UTC),
                    actor=f"w{slot}",
                    action="review.recorded",
                    subject=subjects.model("m"),
                    model=None,
                    payload={"writer": slot, "n": done},
                )
                done += 1
    counts[slot] = done


def _bare_writer(url: str, seconds: float, per_tx: int, counts: Any, slot: int) -> None:
    """The same statements with no ORM: what the database itself allows."""
    done, end = 0, time.perf_counter() + seconds
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        while time.perf_counter() < end:
            with conn.transaction():
                seq, prev = conn.execute(
                    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
                ).fetchone() or (0, GENESIS)
                for _ in range(per_tx):
                    seq += 1
                    when = dt.datetime.now(dt.UTC).isoformat()
                    row = StoredEvent(
                        seq,
                        when,
                        f"b{slot}",
                        "review.recorded",
                        "model:m",
                        canonical_json({"writer": slot}),
                        prev,
                        "",
                    )
                    prev = stored_hash(row, hashed_time(when))
                    conn.execute(
                        "INSERT INTO audit_events (seq, time, actor, action, subject, payload, "
                        "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (*row[:7], prev),
                    )
                    done += 1
                conn.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (seq, prev))
    counts[slot] = done


def _commits(url: str, seconds: float) -> float:
    """Commits per second of one connection doing nothing else: the fsync bound."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commits (n int)")
        conn.commit()
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            conn.execute("INSERT INTO bench_commits VALUES (1)")
            conn.commit()
            done += 1
        return done / (time.perf_counter() - start)


def _run(
    target: Callable[..., None], url: str, k: int, seconds: float, per_tx: int
) -> tuple[int, float, float]:
    ctx = mp.get_context("fork")
    counts = ctx.Array("l", k)
    procs = [ctx.Process(target=target, args=(url, seconds, per_tx, counts, s)) for s in range(k)]
    c, w = cpu(), time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0, f"writer exited with {p.exitcode}"
    return sum(counts[:]), time.perf_counter() - w, cpu() - c


def bench_appends(
    store: SqlStore, url: str, writers: list[int], per_txs: list[int], seconds: float
) -> None:
    print(f"\npostgresql: appends, {seconds:g} s each (load {_load()})")
    print(f"  one connection's bare commits: {_commits(url, seconds):,.0f}/s (the fsync bound)")
    for per_tx in per_txs:
        for k in writers:
            for label, target in (("store", _writer), ("bare psycopg", _bare_writer)):
                n, wall, cpus = _run(target, url, k, seconds, per_tx)
                print(
                    f"  {label:<12} {k:>2} writers x {per_tx:>2} events/tx: {n / wall:7,.0f} "
                    f"events/s  {n / wall / per_tx:7,.0f} tx/s  cpu {cpus / n * 1e6:6.0f} µs/event"
                )
    with store.reading() as tx:
        report = verify_stored(tx.stored_events())
    head = _head(store)
    assert report.fault is None and (report.head_seq, report.head_hash) == head, report.fault
    print(f"  the chain after the appends: {report.events:,} events, one chain, verifies")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=200_000, help="events to fill (default 200k)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writers", default="1,4,8", help="writer processes, comma-separated")
    ap.add_argument("--per-tx", default="1,10", help="events per transaction, comma-separated")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--no-previous", action="store_true", help="skip the previous verify path")
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    ap.add_argument("--tables", type=int, default=0, help="requests' worth of table rows")
    args = ap.parse_args()
    writers = [int(x) for x in args.writers.split(",")]
    per_tx = [int(x) for x in args.per_tx.split(",")]
    print(f"bench/audit.py -n {args.n}: {os.cpu_count()} cpus, load {_load()}")
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'audit.db'}"
            engine = make_engine(url)
            _, fill_s, _ = timed(lambda: fill(engine, url, args.n))
            print(f"\nsqlite: filled {args.n:,} events in {fill_s:.1f} s")
            if args.tables:
                fill_tables(engine, args.tables)
            store = SqlStore(engine)
            bench_verify("sqlite", store, args.n, args.rounds, not args.no_previous)
            if args.tables:
                bench_tables("sqlite", store, args.tables, args.rounds)
    if args.only != "sqlite":
        with pg_database("clearance_bench_audit") as url:
            engine = make_engine(url, pooled=True)
            _, fill_s, _ = timed(lambda: fill(engine, url, args.n))
            print(f"\npostgresql: filled {args.n:,} events in {fill_s:.1f} s")
            if args.tables:
                fill_tables(engine, args.tables)
            store = SqlStore(engine)
            bench_verify("postgresql", store, args.n, args.rounds, not args.no_previous)
            if args.tables:
                bench_tables("postgresql", store, args.tables, args.rounds)
            bench_appends(store, url, writers, per_tx, args.seconds)
            engine.dispose()


if __name__ == "__main__":
    main()
