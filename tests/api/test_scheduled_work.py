"""The server's background work (``api/background.py``): the scheduled tick under the leader
lease, and alerts pushed as soon as a change commits.

Real parts: the leases in memory, on SQLite and on PostgreSQL (two schedulers, each with an
engine of its own as two processes have, racing for one lease); a real HTTP receiver behind
a webhook channel; the real server in a thread.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from api.test_routes_support import MODEL, apply_policy, promote, register, team
from api_server import running_server, token_for
from clearance.adapters.clock import SystemClock
from clearance.adapters.store.database import make_engine
from clearance.adapters.store.leases import SqlLeases
from clearance.api.app import Settings, create_app
from clearance.api.background import Background
from clearance.api.metrics import Metrics
from clearance.errors import InputError, StoreError
from clearance.service.leader import Leadership, Lease
from clearance.testing import FixedClock, MemoryWorkspace
from clearance.testing.leases import InMemoryLeases
from clearance.workspace import Workspace, init_workspace
from receivers import HttpReceiver, http_receivers  # noqa: F401  (real HTTP receivers)

T0 = dt.datetime(2026, 12, 4, 20, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=30)
SECRET = "a-long-enough-shared-secret-for-pushes"


def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def metrics(tmp_path: Path) -> Callable[[], Metrics]:
    """A fresh ``Metrics`` per call (its state gauges read an empty in-memory store)."""
    ws = MemoryWorkspace(tmp_path / "metrics", FixedClock(T0))
    return lambda: Metrics(ws)


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@dataclass
class Ticks:
    """A tick that records who ran it, from when to when (``time.monotonic``)."""

    runs: list[tuple[str, float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by(self, holder: str, seconds: float = 0.0) -> Callable[[], str]:
        def tick() -> str:
            started = time.monotonic()
            time.sleep(seconds)
            with self.lock:
                self.runs.append((holder, started, time.monotonic()))
            return "ticked"

        return tick


def _scheduler(
    leases: Any, clock: Any, holder: str, tick: Callable[[], Any], **kw: Any
) -> Background:
    leadership = Leadership(leases, clock, "scheduler", holder, kw.pop("ttl", TTL))
    return Background(tick=tick, leadership=leadership, push=None, **{"every": 0.05, **kw})


def test_only_the_lease_holder_ticks_until_its_lease_lapses(
    metrics: Callable[[], Metrics],
) -> None:
    leases, clock, ticks = InMemoryLeases(), FixedClock(T0), Ticks()
    metrics_a, metrics_b = metrics(), metrics()
    a = _scheduler(leases, clock, "a", ticks.by("a"), metrics=metrics_a)
    b = _scheduler(leases, clock, "b", ticks.by("b"), metrics=metrics_b)
    assert a.run_once() and not b.run_once() and a.run_once()
    assert [r[0] for r in ticks.runs] == ["a", "a"]
    assert _sample(metrics_a, "clearance_scheduler_leader") == 1
    assert _sample(metrics_b, "clearance_scheduler_leader") == 0
    assert _sample(metrics_a, "clearance_scheduler_ticks_total", outcome="ok") == 2
    clock.advance(seconds=30)  # a stopped beating (paused, or died): its lease ran out
    assert b.run_once() and not a.run_once()
    assert [r[0] for r in ticks.runs] == ["a", "a", "b"]
    assert leases.get_lease("scheduler") == Lease("scheduler", "b", 2, T0 + TTL, T0 + 2 * TTL)


def test_a_failing_tick_or_lease_is_counted_and_the_scheduler_goes_on(
    metrics: Callable[[], Metrics],
) -> None:
    leases, clock, counted = InMemoryLeases(), FixedClock(T0), metrics()
    outcomes = iter([InputError("notifications.yaml:3: bad channel"), None])

    def tick() -> None:
        problem = next(outcomes)
        if problem is not None:
            raise problem

    background = _scheduler(leases, clock, "a", tick, metrics=counted)
    assert not background.run_once()  # raised: logged, counted, not propagated
    assert background.run_once()
    assert _sample(counted, "clearance_scheduler_ticks_total", outcome="failed") == 1
    assert _sample(counted, "clearance_scheduler_ticks_total", outcome="ok") == 1

    class Down(InMemoryLeases):
        def acquire_lease(self, *args: Any) -> Lease | None:
            raise StoreError("database error: connection refused")

    down = _scheduler(Down(), clock, "c", tick, metrics=counted)
    assert not down.run_once() and not down.leading
    assert _sample(counted, "clearance_scheduler_ticks_total", outcome="lease_error") == 1


def test_the_lease_is_renewed_while_a_long_tick_runs() -> None:
    leases, clock = InMemoryLeases(), FixedClock(T0)
    renewed = threading.Event()

    def long_tick() -> None:
        clock.advance(seconds=25)  # most of the lease gone while the tick works
        _until(lambda: _expiry(leases) == clock.now() + TTL)
        renewed.set()

    background = _scheduler(leases, clock, "a", long_tick)
    assert background.run_once() and renewed.is_set()
    clock.advance(seconds=20)  # past the first lease's end: still a's, it was renewed
    assert leases.acquire_lease("scheduler", "b", clock.now(), TTL) is None


def _expiry(leases: InMemoryLeases) -> dt.datetime | None:
    lease = leases.get_lease("scheduler")
    return None if lease is None else lease.expires_at


def test_two_schedulers_on_one_postgresql_database_never_tick_together(
    pg_schema_url: str,
) -> None:
    """Two schedulers, each on an engine of its own (as two server processes): one ticks,
    the other stands by; when the first stops (releasing the lease) the other takes over."""
    engines = [make_engine(pg_schema_url, pooled=True) for _ in range(2)]
    ticks, clock = Ticks(), SystemClock()
    ttl = dt.timedelta(seconds=3)  # renewed every beat: only a stall of 3 s would lose it
    a, b = (
        _scheduler(SqlLeases(e), clock, name, ticks.by(name, 0.02), ttl=ttl, every=0.1)
        for e, name in zip(engines, "ab", strict=True)
    )
    try:
        a.start()
        _until(lambda: a.leading)
        b.start()
        _until(lambda: len(ticks.runs) >= 6)
        assert {r[0] for r in ticks.runs} == {"a"} and not b.leading
        a.stop()  # a clean shutdown releases the lease: b takes over at its next beat
        stopped = len(ticks.runs)
        _until(lambda: b.leading, 2.0)
        _until(lambda: len(ticks.runs) >= stopped + 3)
    finally:
        a.stop()
        b.stop()
        for engine in engines:
            engine.dispose()
    runs = sorted(ticks.runs, key=lambda r: r[1])
    assert [r[0] for r in runs] == ["a"] * stopped + ["b"] * (len(runs) - stopped)
    for earlier, later in itertools.pairwise(runs):
        assert earlier[2] <= later[1], "two ticks ran at once"
    lease = SqlLeases(make_engine(pg_schema_url)).get_lease("scheduler")
    assert lease is not None and (lease.holder, lease.epoch) == ("b", 2)
    assert lease.expires_at <= clock.now()  # b released it too


def test_a_failing_push_is_counted_and_the_next_poke_pushes_again(
    metrics: Callable[[], Metrics],
) -> None:
    counted, calls = metrics(), []

    def push() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise ConnectionError("channel down")

    background = Background(tick=lambda: None, leadership=None, every=60, push=push,
                            metrics=counted)  # fmt: skip
    background.start()
    try:
        background.poke()
        _until(lambda: _sample(counted, "clearance_alert_pushes_total", outcome="failed") == 1)
        background.poke()
        _until(lambda: _sample(counted, "clearance_alert_pushes_total", outcome="ok") == 1)
    finally:
        background.stop()
    assert calls == [0, 1]


# --- through the server -------------------------------------------------------------------


def _webhook(ws: Workspace, receiver: HttpReceiver) -> None:
    channel = {"name": "hooks", "type": "webhook", "url": receiver.url,
               "secret_env": "PUSH_HOOK_SECRET"}  # fmt: skip
    ws.notifications_file.write_text(yaml.safe_dump({"channels": [channel]}))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the leases ran on both above
def test_a_promotion_through_the_api_reaches_the_webhook_without_a_tick(
    server_ws: Workspace,
    http_receivers: Callable[[], HttpReceiver],  # noqa: F811  (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http_receiver = http_receivers()
    monkeypatch.setenv("PUSH_HOOK_SECRET", SECRET)
    monkeypatch.setenv("CLEARANCE_PUSH_ALERTS", "1")  # what `clearance serve` sets
    _webhook(server_ws, http_receiver)
    with running_server(server_ws) as url:
        api = team(url, server_ws)
        assert apply_policy(api).status_code == 201
        assert register(api, "7").status_code == 201
        assert http_receiver.at("/hooks/clearance") == []
        r = promote(api, "7", "staging")
        assert r.status_code == 201, r.text
        _until(lambda: bool(http_receiver.at("/hooks/clearance")))
        (hook,) = http_receiver.at("/hooks/clearance")
        assert hook.headers["x-clearance-event"] == "approval_requested"
        assert MODEL.encode() in hook.body
        metrics = httpx.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {api.token('adam')}"}
        ).text
    assert 'clearance_alert_pushes_total{outcome="ok"}' in metrics
    with server_ws.store.reading() as tx:
        assert [d.status for d in tx.all_deliveries()] == ["sent"]


def test_the_app_runs_the_scheduled_tick_and_a_failing_one_does_not_stop_it(
    tmp_path: Path,
) -> None:
    ws = init_workspace(tmp_path / "ws", clock=SystemClock())
    ws.notifications_file.write_text("channels: [{name: x, type: carrier-pigeon}]\n")
    app = create_app(ws, Settings(schedule_every=1))
    with TestClient(app) as client:  # the lifespan starts the scheduler: its first beat is now
        metrics: Metrics = app.state.metrics
        _until(lambda: _sample(metrics, "clearance_scheduler_ticks_total", outcome="failed") > 0)
        assert client.get("/healthz").json() == {"status": "ok"}
        ws.notifications_file.unlink()  # fixed: the next beat's tick passes
        _until(lambda: _sample(metrics, "clearance_scheduler_ticks_total", outcome="ok") > 0)
        token = token_for(ws, "adam", ["admin"])
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
        assert "clearance_scheduler_leader 1.0" in text
        holder = ws.leases.get_lease("scheduler")
        assert holder is not None and holder.expires_at > ws.clock.now()
    released = ws.leases.get_lease("scheduler")  # the shutdown gave it up
    assert released is not None and released.expires_at <= ws.clock.now()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLEARANCE_SCHEDULE_EVERY": "0.5"}, "CLEARANCE_SCHEDULE_EVERY"),
        ({"CLEARANCE_SCHEDULE_EVERY": "soon"}, "CLEARANCE_SCHEDULE_EVERY"),
        ({"CLEARANCE_SCHEDULE_EVERY": "nan"}, "CLEARANCE_SCHEDULE_EVERY"),
        ({"CLEARANCE_PUSH_ALERTS": "yes"}, "CLEARANCE_PUSH_ALERTS"),
    ],
)
def test_bad_background_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Settings.from_environment(env)


def test_background_settings_from_the_environment() -> None:
    assert Settings.from_environment({}) == Settings()  # nothing in the background
    on = Settings.from_environment({"CLEARANCE_SCHEDULE_EVERY": "60", "CLEARANCE_PUSH_ALERTS": "1"})
    assert (on.schedule_every, on.push_alerts) == (60.0, True)
    off = Settings.from_environment({"CLEARANCE_SCHEDULE_EVERY": "0"})
    assert (off.schedule_every, off.push_alerts) == (0.0, False)
