"""The registry's list pages on SQL: a fixed number of statements per page, whatever the
registry's size, and every statement over versions or requests served by an index.

The rows are inserted in bulk through the schema (as ``bench/registry.py`` does): the views
only read, so what matters is what they ask the database.
"""

from __future__ import annotations

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
from clearance.errors import InputError
from clearance.service.governance import compliance_issues
from clearance.service.records import ReviewRecord
from clearance.service.views import Views

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
STATUSES = ("executed",) * 16 + ("rejected", "approved", "pending", "blocked")  # 1 in 10 open
POLICY = Path(__file__).parents[2] / "examples" / "credit-risk" / "policy"
SOURCES = json.dumps([[p.name, p.read_text()] for p in sorted(POLICY.glob("*.yaml"))])
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
    """The four reads of a registry page; how many statements each issued."""
    engine = views.store.engine  # type: ignore[attr-defined]
    counts = {}
    calls: dict[str, Callable[[], object]] = {
        "models": lambda: views.models(limit=50),
        "team": lambda: views.models(team="team-3", limit=50, offset=2),
        "queue": lambda: views.requests(status="open", limit=50, offset=20),
        "requests": lambda: views.requests(limit=50),
        "status": lambda: views.model_status("model-00042"),
        "versions": lambda: views.versions("model-00042"),
    }
    for name, call in calls.items():
        with _statements(engine) as seen:
            call()
        counts[name] = len(seen)
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
    assert max(small.values()) <= 10, small
    assert page.total == 100 and views.models(limit=50).total == 500
    assert views.models(limit=50).items[:5] == page.items[:5]  # those models did not change
    chosen = views.models(limit=50, offset=40).items
    assert [m.model for m in chosen] == [f"model-{i:05d}" for i in range(40, 90)]
    assert chosen[2] == views.model_status("model-00042")  # the page builds what one does


def _plans(engine: Engine, statement: str, params: Any) -> list[str]:
    """What the database would scan for ``statement``: (access, table) for each table read."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar_one()
            nodes, scans = [plan[0]["Plan"]], []
            while nodes:
                node = nodes.pop()
                nodes += node.get("Plans", [])
                if node["Node Type"] == "Seq Scan":
                    scans.append(f"Seq Scan {node['Relation Name']}")
            return scans
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
        return [r[-1] for r in rows if r[-1].startswith("SCAN ") and "INDEX" not in r[-1]]


@pytest.mark.backends("sqlite", "postgresql")
def test_page_queries_read_versions_and_requests_through_an_index(engine: Engine) -> None:
    _load(engine, 0, 1000, versions=5)
    views = Views(SqlStore(engine), FixedClock(T0))
    with _statements(engine) as seen:
        views.models(limit=50, offset=500)
        views.models(team="team-3", limit=50)
        views.requests(status="open", limit=50, offset=100)
        views.requests(model="model-00123", limit=50)
        views.model_status("model-00777")
    full = [
        (sql, scan)
        for sql, params in seen
        for scan in _plans(engine, sql, params)
        if scan.split()[-1] in SCANNED
    ]
    assert not full, full
    assert any("FROM versions" in sql for sql, _ in seen)
    assert any("FROM requests" in sql for sql, _ in seen)


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
    statuses = Views(store, FixedClock(later)).models().items
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
    assert far.items == [] and far.total == 3
    assert views.requests(limit=50, offset=2**63 - 1).items == []
    for offset in (2**63, 87481441361455736684544, -1):
        with pytest.raises(InputError, match="offset must be between 0 and"):
            views.models(offset=offset)
        with pytest.raises(InputError, match="offset must be between 0 and"):
            views.requests(offset=offset)
