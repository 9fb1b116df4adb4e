"""The registry's list pages on SQL: a fixed number of statements per page, whatever the
registry's size, and every statement over versions or requests served by an index.

The rows are inserted in bulk through the schema (as ``bench/registry.py`` does): the views
only read, so what matters is what they ask the database.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text

from clearance.adapters.clock import FixedClock
from clearance.adapters.store import migrate
from clearance.adapters.store.database import make_engine
from clearance.adapters.store.schema import ModelRow, PolicyRow, RequestRow, VersionRow
from clearance.adapters.store.sql import SqlStore
from clearance.core.loading import read_policy_files
from clearance.errors import InputError
from clearance.service.governance import compliance_issues
from clearance.service.records import ReviewRecord
from clearance.service.views import CursorPage, ModelSummary, Views, compliance

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
STATUSES = ("executed",) * 16 + ("rejected", "approved", "pending", "blocked")  # 1 in 10 open
POLICY = Path(__file__).parents[2] / "examples" / "credit-risk" / "policy"
SOURCES = json.dumps([list(source) for source in read_policy_files(POLICY)])
SCANNED = {"versions", "requests"}  # big tables a page must never read whole


def _load(engine: Engine, first: int, count: int, versions: int) -> None:
    """Models ``first``..``first + count - 1``, each with ``versions`` versions and a request
    per version (statuses in turn), inserted in bulk."""
    with engine.begin() as conn:
        if first == 0:
            conn.execute(
                insert(PolicyRow),
                [
                    {
                        "name": "credit",
                        "version": "1.0.0",
                        "content_hash": "c" * 64,
                        "sources": SOURCES,
                        "applied_by": "dave",
                        "applied_at": T0,
                    }
                ],
            )
        policy = conn.execute(text("SELECT min(id) FROM policies")).scalar_one()
        models = [
            {
                "name": f"model-{i:05d}",
                "risk_tier": "high",
                "owner": "o",
                "team": f"team-{i % 7}",
                "tags": "{}",
                "created_at": T0,
            }
            for i in range(first, first + count)
        ]
        conn.execute(insert(ModelRow), models)
        ids = conn.execute(
            text("SELECT id FROM models WHERE name >= :n ORDER BY id"),
            {"n": f"model-{first:05d}"},
        ).scalars()
        rows = [
            {
                "model_id": m,
                "version": f"{v}.0.0",
                "stage": "staging" if v else "production",
                "production_slot": None if v else 1,
                "record": json.dumps({"v": v}),
                "registered_by": "alice",
                "created_at": T0,
                "stage_changed_at": T0,
            }
            for m in ids
            for v in range(versions)
        ]
        conn.execute(insert(VersionRow), rows)
        made = conn.execute(
            text("SELECT id, model_id FROM versions WHERE id > :after ORDER BY id"),
            {"after": conn.execute(text("SELECT count(*) FROM versions")).scalar_one() - len(rows)},
        ).all()
        conn.execute(
            insert(RequestRow),
            [
                {
                    "model_id": m,
                    "version_id": v,
                    "policy_id": policy,
                    "from_stage": "staging",
                    "to_stage": "production",
                    "change_type": "emergency" if v % 11 == 0 else "standard",
                    "requester": "alice",
                    "reason": "",
                    "ticket": "",
                    "status": STATUSES[v % len(STATUSES)],
                    "created_at": T0,
                    "updated_at": T0,
                }
                for v, m in made
            ],
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _reads(views: Views) -> dict[str, int]:
    """The reads of the registry's pages, first and deep (by cursor and by offset); how many
    statements each issued."""
    engine = views.store.engine  # type: ignore[attr-defined]
    deep = views.models(limit=50, offset=10).next
    queue = views.requests(status="open", limit=50).next
    counts = {}
    calls: dict[str, Callable[[], object]] = {
        "models": lambda: views.models(limit=50),
        "models after": lambda: views.models(limit=50, cursor=deep),
        "team": lambda: views.models(team="team-3", limit=50, offset=2),
        "queue": lambda: views.requests(status="open", limit=50, offset=20),
        "queue after": lambda: views.requests(status="open", limit=50, cursor=queue),
        "requests": lambda: views.requests(limit=50),
        "status": lambda: views.model_status("model-00042"),
        "versions": lambda: views.versions("model-00042"),
    }
    for name, call in calls.items():
        with _statements(engine) as seen:
            call()
        counts[name] = len([sql for sql, _ in seen if sql != "BEGIN"])  # SQLite's BEGIN
    return counts


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.mark.backends("sqlite", "postgresql")
def test_a_page_costs_the_same_statements_at_any_registry_size(engine: Engine) -> None:
    views = Views(SqlStore(engine), FixedClock(T0))
    _load(engine, 0, 100, versions=6)
    small = _reads(views)
    page = views.models(limit=50)
    _load(engine, 100, 400, versions=6)
    assert _reads(views) == small
    assert max(small.values()) <= 12, small
    assert small["models"] <= 12, small  # with the page's statuses (compliance) and waivers
    assert small["models after"] == small["models"] - 1, small  # a cursor's page counts none
    assert page.total == 100 and views.models(limit=50).total == 500
    assert views.models(limit=50).items[:5] == page.items[:5]  # those models did not change
    chosen = views.models(limit=50, offset=40).items
    assert [m.model for m in chosen] == [f"model-{i:05d}" for i in range(40, 90)]
    status = views.model_status("model-00042")
    assert chosen[2] == ModelSummary(
        model="model-00042",
        risk_tier=status.risk_tier,
        owner=status.owner,
        team=status.team,
        tags=status.tags,
        production=[v.version for v in status.versions if v.stage == "production"],
        latest=status.versions[-1].version,
        versions=len(status.versions),
        open_requests=len(status.open_requests),
        latest_stage=status.versions[-1].stage,
        compliance=compliance(status, waiver_active=False),
    )
    assert chosen[2].production == ["0.0.0"] and chosen[2].open_requests > 0


@pytest.mark.backends("sqlite", "postgresql")
def test_following_next_walks_every_row_once_in_order(engine: Engine) -> None:
    """The cursors give the same rows as offsets, each once, and a row added behind the
    cursor while walking neither repeats nor shifts one (as an offset would)."""
    _load(engine, 0, 60, versions=3)
    views = Views(SqlStore(engine), FixedClock(T0))
    walks: dict[str, Callable[[int, str | None], CursorPage[Any]]] = {
        "models": lambda n, c: views.models(limit=n, cursor=c),
        "team": lambda n, c: views.models(team="team-2", limit=n, cursor=c),
        "queue": lambda n, c: views.requests(status="open", limit=n, cursor=c),
        "requests": lambda n, c: views.requests(model="model-00007", limit=n, cursor=c),
        "versions": lambda n, c: views.versions("model-00007", limit=n, cursor=c),
    }
    for name, fetch in walks.items():
        everything = fetch(500, None)
        assert everything.next is None, name
        seen, cursor, pages = [], None, 0
        while True:
            page = fetch(2, cursor)
            seen += page.items
            pages += 1
            assert page.total == (everything.total if cursor is None else None), name
            if page.next is None:
                break
            cursor = page.next
        assert seen == everything.items and len(seen) == everything.total, name
        assert everything.total and everything.total > 2, name
        assert pages == -(-len(seen) // 2), name  # no empty page at the end when it divides
    first = views.models(limit=10)
    _load(engine, 60, 1, versions=1)  # model-00060 sorts after the page
    with engine.begin() as conn:  # and one sorts before it: an offset would shift by one
        conn.execute(text("UPDATE models SET name = 'model-0000' WHERE name = 'model-00060'"))
    after = views.models(limit=10, cursor=first.next)
    assert [m.model for m in after.items] == [f"model-{i:05d}" for i in range(10, 20)]


def _plans(engine: Engine, statement: str, params: Any) -> list[str]:
    """What the database would do for ``statement`` that a page must not: read a whole big
    table, or cut a page by sorting rows it read from one (an index in the page's order gives
    them sorted; sorting a page's few rows, as the queue's merge of its legs does, is fine)."""
    paged = " LIMIT " in statement
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar_one()
            nodes, found = [plan[0]["Plan"]], []
            while nodes:
                node = nodes.pop()
                below = node.get("Plans", [])
                nodes += below
                if node["Node Type"] == "Seq Scan" and node["Relation Name"] in SCANNED:
                    found.append(f"Seq Scan {node['Relation Name']}")
                table = {b.get("Relation Name") for b in below} & SCANNED
                if paged and node["Node Type"] == "Sort" and table:
                    found.append(f"sort after reading {table}")
            return found
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
        found = []
        for node, parent, _, detail in rows:
            words = detail.split()
            if words[0] == "SCAN" and words[1] in SCANNED and "INDEX" not in detail:
                found.append(detail)
            if paged and detail == "USE TEMP B-TREE FOR ORDER BY":
                siblings = [d.split() for n, p, _, d in rows if p == parent and n != node]
                found += [f"sort after {' '.join(w)}" for w in siblings if w[1] in SCANNED]
        return found


@pytest.mark.backends("sqlite", "postgresql")
def test_page_queries_read_versions_and_requests_through_an_index(engine: Engine) -> None:
    _load(engine, 0, 1000, versions=5)
    views = Views(SqlStore(engine), FixedClock(T0))
    with _statements(engine) as seen:
        views.models(limit=50, offset=500)
        views.models(team="team-3", limit=50, cursor=views.models(team="team-3").next)
        views.requests(status="open", limit=50, offset=100)
        views.requests(status="open", limit=50, cursor=views.requests(status="open").next)
        views.requests(model="model-00123", limit=50)
        views.versions("model-00123", limit=2, cursor=views.versions("model-00123", limit=2).next)
        views.model_status("model-00777")
    full = [(sql, found) for sql, params in seen for found in _plans(engine, sql, params)]
    assert not full, full
    assert any("FROM versions" in sql for sql, _ in seen)
    assert any("FROM requests" in sql for sql, _ in seen)
    if engine.dialect.name == "sqlite":  # a page's models' requests: by model, not by status
        by_models = [(s, p) for s, p in seen if "FROM requests" in s and "model_id IN" in s]
        assert by_models
        with engine.connect() as conn:
            for sql, params in by_models:
                plan = " ".join(
                    r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
                )
                assert "ix_requests_model_id" in plan, (sql, plan)


@pytest.mark.backends("sqlite", "postgresql")
def test_a_page_finds_the_overdue_reviews_governance_finds(engine: Engine) -> None:
    _load(engine, 0, 30, versions=6)
    store = SqlStore(engine)
    later = T0 + dt.timedelta(days=30)  # past every emergency's review deadline
    with store.transaction() as tx:
        reviewed = tx.list_requests(statuses=("executed",))
        emergency = next(r for r in reviewed if r.change_type == "emergency")
        tx.add_review(
            ReviewRecord(
                request_id=emergency.id,
                summary="s",
                actions=[],
                recorded_by="frank",
                recorded_at=later,
            )
        )
    statuses = Views(store, FixedClock(later)).status()
    with store.reading() as tx:
        expected = [compliance_issues(tx, m.id, later) for m in tx.list_models()]
    assert [s.non_compliant for s in statuses] == expected
    assert sum(map(len, expected)) > 3  # overdue emergencies on several models
    changes = [c for s in statuses for c in s.emergency_changes]
    assert [c.request for c in changes if c.review] == [emergency.id]


@pytest.mark.backends("sqlite", "postgresql")
def test_an_offset_past_every_row_is_an_empty_page_and_past_64_bits_bad_input(
    engine: Engine,
) -> None:
    views = Views(SqlStore(engine), FixedClock(T0))
    _load(engine, 0, 3, versions=1)
    far = views.models(limit=50, offset=2**63 - 1)
    assert far.items == [] and far.total == 3 and far.next is None
    assert views.requests(limit=50, offset=2**63 - 1).items == []
    assert views.requests(status="open", limit=50, offset=2**63 - 1).items == []
    for offset in (2**63, 87481441361455736684544, -1):
        with pytest.raises(InputError, match="offset must be between 0 and"):
            views.models(offset=offset)
        with pytest.raises(InputError, match="offset must be between 0 and"):
            views.requests(offset=offset)
    for limit in (0, 501, -5):
        with pytest.raises(InputError, match="limit must be between 1 and 500"):
            views.versions("model-00001", limit=limit)


def _cursor(body: object) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.backends("sqlite", "postgresql")
def test_a_bad_cursor_is_bad_input_naming_it_and_reaches_no_database(engine: Engine) -> None:
    views = Views(SqlStore(engine), FixedClock(T0))
    _load(engine, 0, 3, versions=2)
    first = views.models(limit=1)
    queue = views.requests(limit=1).next
    real = json.loads(base64.urlsafe_b64decode(queue + "=" * (-len(queue) % 4)))
    bad = {
        "garbage": "!!not base64!!",
        "empty JSON": _cursor(b""),
        "not JSON": _cursor(b"\xff\xfe{"),
        "a list": _cursor([1, 2]),
        "extra key": _cursor({**real, "x": 1}),
        "too long": "A" * 1300,
        "not ascii": "é" * 8,
        "a string id": _cursor({**real, "k": "7"}),
        "a float id": _cursor({**real, "k": 7.0}),
        "true as id": _cursor({**real, "k": True}),
        "id 0": _cursor({**real, "k": 0}),
        "id past 64 bits": _cursor({**real, "k": 2**63}),
        "SQL as id": _cursor({**real, "k": "1; DROP TABLE requests"}),
        "another list's": first.next,
        "other filters": views.requests(model="model-00001", limit=1).next,
    }
    with _statements(engine) as seen:
        for case, cursor in bad.items():
            with pytest.raises(InputError, match=r"^cursor: ") as caught:
                views.requests(limit=1, cursor=cursor)
            assert "database" not in str(caught.value), case
    assert seen == []
    with pytest.raises(InputError, match="other filters"):
        views.models(team="team-2", cursor=first.next)
    with pytest.raises(InputError, match="another list"):
        views.versions("model-00001", cursor=first.next)
    for name in ("", "x" * 201, "a\x00b", 7):
        with pytest.raises(InputError, match=r"^cursor: "):
            views.models(cursor=_cursor({**real, "l": "models", "k": name}))
