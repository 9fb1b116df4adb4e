"""Analytics over a real story on the store: promotions, a block then a pass (time to
remediation), a near miss, a rollback (change failure rate), a waiver, an emergency change
whose review goes overdue. The SQL store's set-based scan answers what the ports answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from clearance.adapters.store.analytics import AnalyticsRepo
from clearance.core.analytics import Analytics
from clearance.errors import InputError, NotFound
from clearance.service.analytics import AnalyticsScan, AnalyticsService

if TYPE_CHECKING:
    from conftest import Env


def story(env: Env) -> dict[str, dt.datetime]:
    """The story; the times the expectations are computed from."""
    doc = env.policy(version="1.1.0")
    doc["waivers"] = {"grantors": ["risk_officer"], "max_duration": "30d"}
    env.apply(doc)
    at: dict[str, dt.datetime] = {"start": env.clock.now()}
    env.to_production("1")  # auc 0.80: registration, staging, production
    env.clock.advance(hours=1)
    env.register("2", auc=0.65)  # below auc_floor (0.70): blocked on the way to staging
    blocked = env.ws.promotions.promote(env.model, "2", "staging", actor="alice")
    assert blocked.request.status == "blocked"
    at["blocked"] = env.clock.now()
    env.clock.advance(hours=5)
    env.to_staging("3", auc=0.72)  # passes, 0.02 above the floor: a near miss
    at["remediated"] = env.clock.now()
    env.clock.advance(hours=2)
    env.to_staging("4", auc=0.81)
    req = env.ws.promotions.promote(env.model, "4", "production", actor="alice").request
    env.ws.promotions.approve(req.id, actor="carol")
    assert env.ws.promotions.approve(req.id, actor="dave").executed
    env.clock.advance(hours=1)
    env.ws.promotions.rollback(env.model, actor="carol", reason="KPI breach")  # 1 is back
    env.ws.waivers.grant(
        env.model, "auc_floor", justification="retraining", controls=["manual review"],
        actor="dave", expires_in="7d",
    )  # fmt: skip
    env.clock.advance(hours=1)
    env.to_staging("5")
    emergency = env.ws.promotions.promote(
        env.model, "5", "production", actor="alice", change_type="emergency", ticket="INC-1"
    ).request
    assert env.ws.promotions.approve(emergency.id, actor="frank", ticket="INC-1").executed
    at["emergency"] = env.clock.now()
    env.clock.advance(days=6)  # the 5-day post-incident review is now overdue
    return at


def analytics(env: Env, **kw: Any) -> Analytics:
    return AnalyticsService(env.ws.store, env.clock).analytics(**kw)


def test_the_story_in_figures(env: Env) -> None:
    at = story(env)
    a = analytics(env, since=at["start"], bucket="day")

    floor = next(g for g in a.gates if g.gate_id == "auc_floor")
    assert a.gates[0] is floor  # the gate that blocks most comes first
    assert (floor.policy, floor.failed, floor.blocked_decisions) == ("credit", 1, 1)
    assert floor.near_misses >= 1
    assert floor.smallest_margin == pytest.approx(0.02)
    closest = a.near_misses[0]
    assert (closest.gate_id, closest.margin) == ("auc_floor", pytest.approx(0.02))
    assert floor.pass_rate == pytest.approx(floor.passed / (floor.evaluated - floor.skipped))

    assert a.remediation.durations.count == 1
    remediation = (at["remediated"] - at["blocked"]).total_seconds()
    assert a.remediation.durations.p50 == remediation
    assert a.remediation.unresolved == 0

    cf = a.change_failure
    assert (cf.production_changes, cf.rollbacks) == (3, 1)  # 1, 4 and the emergency 5
    assert cf.rate == pytest.approx(1 / 3)
    assert a.lead_time.count == 3
    stages = {s.stage: s.durations.count for s in a.stages}
    assert stages["draft"] == 4 and stages["staging"] == 3

    assert (a.waivers.active, a.waivers.expiring_soon) == (1, 1)  # 7 days, 6 gone by
    assert (a.waivers.expired, a.waivers.granted) == (0, 1)
    assert (a.emergencies.changes, a.emergencies.reviewed, a.emergencies.overdue) == (1, 0, 1)
    assert a.emergencies.changes_list[0].executed_at == at["emergency"]

    series = next(s for s in a.gate_series if s.gate_id == "auc_floor")
    assert sum(b.evaluated for b in series.buckets) == floor.evaluated - floor.skipped
    assert sum(p.decisions for p in a.policies) == a.decisions


def test_filters_and_a_later_call_sees_new_decisions(env: Env) -> None:
    at = story(env)
    service = AnalyticsService(env.ws.store, env.clock)
    assert service.warm() == 13  # every decision of the story read, nothing computed
    before = service.analytics(since=at["start"])
    assert before.decisions == 13
    assert service.analytics(since=at["start"], policy="credit").decisions == before.decisions
    assert service.analytics(since=at["start"], model=env.model).decisions == before.decisions
    env.to_staging("6")
    env.clock.advance(minutes=1)  # until (now, by default) is exclusive
    after = service.analytics(since=at["start"])
    assert after.decisions == before.decisions + 1
    # the window: nothing before the story started
    assert service.analytics(until=at["start"]).decisions == 0


def test_bad_arguments_are_input_errors_naming_what_to_change(env: Env) -> None:
    now = env.clock.now()
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        analytics(env, model="nope")
    with pytest.raises(NotFound, match="unknown policy 'nope'"):
        analytics(env, policy="nope")
    with pytest.raises(InputError, match="must be before until"):
        analytics(env, since=now, until=now)
    with pytest.raises(InputError, match="at most 366 with --bucket day"):
        analytics(env, since=now - dt.timedelta(days=400), bucket="day")
    with pytest.raises(InputError, match="bucket must be"):
        analytics(env, bucket="month")  # type: ignore[arg-type]


class _Scan:
    """The SQL store with ``AnalyticsScan`` added (the mixin proposed for ``SqlTx``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.inner.reading() as tx:
            yield tx if isinstance(tx, AnalyticsScan) else _ScanTx(tx)


class _ScanTx(AnalyticsRepo):
    def __init__(self, inner: Any) -> None:
        self.inner, self.s = inner, inner.s

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _PortsOnly:
    """The same store read through its ordinary ports only."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.inner.reading() as tx:
            yield _Hidden(tx)


class _Hidden:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name.startswith("analytics_"):
            raise AttributeError(name)
        return getattr(self.inner, name)


@pytest.mark.backends("sqlite", "postgresql")
def test_the_sql_scan_answers_what_the_ports_answer(env: Env) -> None:
    at = story(env)
    scan = _Scan(env.ws.store)
    with scan.reading() as tx:
        assert isinstance(tx, AnalyticsScan)
        assert len(tx.analytics_decisions(after=0, limit=3)) == 3  # pages by keyset
    with _PortsOnly(env.ws.store).reading() as tx:
        assert not isinstance(tx, AnalyticsScan)
    kw: dict[str, Any] = {"since": at["start"], "bucket": "day"}
    by_scan = AnalyticsService(scan, env.clock).analytics(**kw)  # type: ignore[arg-type]
    by_ports = AnalyticsService(_PortsOnly(env.ws.store), env.clock).analytics(**kw)  # type: ignore[arg-type]
    assert by_scan == by_ports
    assert by_scan.change_failure.rollbacks == 1 and by_scan.remediation.durations.count == 1


@pytest.mark.backends("sqlite", "postgresql")
def test_gate_facts_are_written_with_each_decision_and_filled_for_older_rows(env: Env) -> None:
    """The store writes ``gate_facts`` beside each decision; a row without them (made before
    migration 0010) is read from its whole result with the same answer, and the migration
    fills them by the same rule."""
    import json

    from alembic import command
    from sqlalchemy import select, update

    from clearance.adapters.store import migrate
    from clearance.adapters.store.schema import DecisionRow
    from clearance.core.analytics import gate_facts
    from clearance.core.hashing import canonical_json

    at = story(env)
    kw: dict[str, Any] = {"since": at["start"], "bucket": "day"}
    engine = env.ws.engine

    def rows() -> list[tuple[str, str | None]]:
        with engine.connect() as conn:
            return list(conn.execute(select(DecisionRow.result, DecisionRow.gate_facts)).tuples())

    written = rows()
    assert written and all(f == canonical_json(gate_facts(json.loads(r))) for r, f in written)
    assert any(json.loads(f or "[]") for _, f in written)  # a decision with gates
    answer = AnalyticsService(env.ws.store, env.clock).analytics(**kw)
    with engine.begin() as conn:
        conn.execute(update(DecisionRow).values(gate_facts=None))
    unfilled = AnalyticsService(_Scan(env.ws.store), env.clock)  # a store nothing was read of
    assert unfilled.analytics(**kw) == answer
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    migrate.upgrade(engine)
    assert rows() == written
