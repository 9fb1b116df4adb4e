"""The leader-lease contract: ``InMemoryLeases`` and ``SqlLeases`` on SQLite and PostgreSQL.

Every ``LeasePort`` method on each store: a lease is taken, renewed by its holder, refused to
anyone else until it expires or is released, then taken over with the next epoch; a reign
that is over can neither renew nor release; holders racing for one lease (threads, each on
a connection of its own) leave exactly one winner.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearance.adapters.store.database import make_engine
from clearance.adapters.store.leases import SqlLeases
from clearance.errors import InputError
from clearance.service.leader import Leadership, Lease, released, renewed, taken
from clearance.service.ports import LeasePort
from clearance.testing import FixedClock
from clearance.testing.leases import InMemoryLeases

from .backends import MEMORY, POSTGRESQL, SQLITE
from .conftest import _emptied

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=30)
PLUS2 = dt.timezone(dt.timedelta(hours=2))


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture(params=[MEMORY, SQLITE, POSTGRESQL])
def leases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LeasePort]:
    if request.param == MEMORY:
        yield InMemoryLeases()
    elif request.param == SQLITE:
        path = tmp_path / "leases.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}", pooled=True)
        yield SqlLeases(engine)
        engine.dispose()
    else:
        yield SqlLeases(_emptied(request.getfixturevalue("pg_engine")))


def test_a_free_lease_is_taken_at_epoch_one_and_renewed_by_its_holder(leases: LeasePort) -> None:
    assert leases.get_lease("scheduler") is None
    first = leases.acquire_lease("scheduler", "a", T0, TTL)
    assert first == Lease("scheduler", "a", 1, T0, T0 + TTL)
    assert leases.get_lease("scheduler") == first
    again = leases.acquire_lease("scheduler", "a", at(10), TTL)  # a renewal: same reign
    assert again == Lease("scheduler", "a", 1, T0, at(10) + TTL)
    renewed = leases.renew_lease("scheduler", "a", 1, at(20), TTL)
    assert renewed == Lease("scheduler", "a", 1, T0, at(20) + TTL)
    assert leases.get_lease("scheduler") == renewed
    assert leases.get_lease("other") is None  # leases are per name


def test_another_holder_is_refused_until_expiry_then_takes_over_with_the_next_epoch(
    leases: LeasePort,
) -> None:
    leases.acquire_lease("scheduler", "a", T0, TTL)
    assert leases.acquire_lease("scheduler", "b", at(29.999), TTL) is None
    assert leases.get_lease("scheduler") == Lease("scheduler", "a", 1, T0, T0 + TTL)
    b = leases.acquire_lease("scheduler", "b", at(30), TTL)  # expired at exactly its end
    assert b == Lease("scheduler", "b", 2, at(30), at(60))
    # the old holder's reign is over: it can neither renew nor release, nor take it back
    assert leases.renew_lease("scheduler", "a", 1, at(31), TTL) is None
    assert not leases.release_lease("scheduler", "a", 1, at(31))
    assert leases.acquire_lease("scheduler", "a", at(31), TTL) is None
    assert leases.get_lease("scheduler") == b
    # a takeover of a takeover counts on
    c = leases.acquire_lease("scheduler", "c", at(90), TTL)
    assert c is not None and c.epoch == 3 and c.acquired_at == at(90)


def test_an_expired_reign_cannot_be_renewed_but_its_holder_may_take_it_again(
    leases: LeasePort,
) -> None:
    leases.acquire_lease("scheduler", "a", T0, TTL)
    assert leases.renew_lease("scheduler", "a", 1, at(30), TTL) is None  # too late
    assert leases.renew_lease("scheduler", "a", 2, at(10), TTL) is None  # not its epoch
    assert leases.renew_lease("missing", "a", 1, at(10), TTL) is None
    back = leases.acquire_lease("scheduler", "a", at(40), TTL)  # nobody reigned between
    assert back == Lease("scheduler", "a", 1, T0, at(70))


def test_a_released_lease_is_free_at_once_and_its_epoch_counts_on(leases: LeasePort) -> None:
    leases.acquire_lease("scheduler", "a", T0, TTL)
    assert not leases.release_lease("scheduler", "b", 1, at(5))  # not b's to release
    assert not leases.release_lease("scheduler", "a", 2, at(5))
    assert leases.release_lease("scheduler", "a", 1, at(5))
    assert leases.get_lease("scheduler") == Lease("scheduler", "a", 1, T0, at(5))
    assert leases.renew_lease("scheduler", "a", 1, at(6), TTL) is None  # released: over
    b = leases.acquire_lease("scheduler", "b", at(6), TTL)
    assert b == Lease("scheduler", "b", 2, at(6), at(36))
    assert not leases.release_lease("missing", "a", 1, at(6))
    # releasing after expiry keeps the earlier end
    assert leases.release_lease("scheduler", "b", 2, at(100))
    released = leases.get_lease("scheduler")
    assert released is not None and released.expires_at == at(36)


def test_times_come_back_in_utc(leases: LeasePort) -> None:
    lease = leases.acquire_lease("scheduler", "a", T0.astimezone(PLUS2), TTL)
    assert lease is not None and lease.acquired_at.tzinfo == dt.UTC
    assert lease.acquired_at == T0 and lease.expires_at == T0 + TTL
    stored = leases.get_lease("scheduler")
    assert stored is not None and stored.expires_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("name", "holder", "ttl", "field"),
    [
        ("", "a", TTL, "lease name"),
        ("n" * 101, "a", TTL, "lease name"),
        ("scheduler", "", TTL, "lease holder"),
        ("scheduler", "h" * 201, TTL, "lease holder"),
        ("scheduler", "a", dt.timedelta(0), "lease ttl"),
        ("scheduler", "a", dt.timedelta(days=2), "lease ttl"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field_and_change_nothing(
    leases: LeasePort, name: str, holder: str, ttl: dt.timedelta, field: str
) -> None:
    with pytest.raises(InputError, match=field):
        leases.acquire_lease(name, holder, T0, ttl)
    with pytest.raises(InputError, match=field):
        leases.renew_lease(name, holder, 1, T0, ttl)
    assert leases.get_lease("scheduler") is None


def test_holders_racing_for_a_lease_leave_exactly_one_winner(leases: LeasePort) -> None:
    everyone = [f"server-{i}" for i in range(6)]
    won: list[str] = []
    for round_ in range(4):  # a first take, then takeovers of an expired lease
        now = at(100 * round_)
        holders = [h for h in everyone if h not in won[-1:]]  # its last holder sits out
        start = threading.Barrier(len(holders))

        def race(holder: str, now: dt.datetime = now, start: threading.Barrier = start) -> bool:
            start.wait()
            return leases.acquire_lease("scheduler", holder, now, TTL) is not None

        with ThreadPoolExecutor(len(holders)) as pool:
            won = [h for h, ok in zip(holders, pool.map(race, holders), strict=True) if ok]
        assert len(won) == 1, f"round {round_}: winners {won}"
        lease = leases.get_lease("scheduler")
        assert lease is not None and lease.holder == won[0] and lease.epoch == round_ + 1


def test_leadership_holds_renews_and_releases(leases: LeasePort) -> None:
    clock = FixedClock(T0)
    a = Leadership(leases, clock, "scheduler", "a", TTL)
    b = Leadership(leases, clock, "scheduler", "b", TTL)
    assert not a.renew() and not a.release()  # nothing held yet
    assert a.hold() is not None and b.hold() is None and b.held is None
    clock.advance(seconds=20)
    assert a.renew() and a.held is not None and a.held.expires_at == at(50)
    clock.advance(seconds=30)
    assert b.hold() is not None  # a's lease ran out at 50 s
    assert not a.renew() and a.held is None  # a finds out, and stops
    assert b.release() and b.held is None
    taken = a.hold()
    assert taken is not None and taken.epoch == 3


# --- properties: every store keeps the rule, and the rule keeps holders apart ---------------

HOLDERS = ("a", "b", "c")
OPS = st.lists(
    st.tuples(
        st.sampled_from(("acquire", "renew", "release")),
        st.sampled_from(HOLDERS),
        st.integers(0, 45_000),  # milliseconds since the step before: times never go back
        st.integers(1, 4),  # the epoch a renew or release names
    ),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_every_store_follows_the_rule_and_no_two_holders_ever_overlap(
    leases: LeasePort, ops: list[tuple[str, str, int, int]]
) -> None:
    name = f"p-{uuid.uuid4().hex[:12]}"  # one fresh lease per example, on one database
    model: Lease | None = None
    reigns: list[tuple[str, int, dt.datetime, dt.datetime]] = []  # holder, epoch, from, to
    now = T0
    for op, holder, step, epoch in ops:
        now += dt.timedelta(milliseconds=step)
        if op == "acquire":
            expected = taken(model, name=name, holder=holder, now=now, ttl=TTL)
            assert leases.acquire_lease(name, holder, now, TTL) == expected
        elif op == "renew":
            expected = renewed(model, holder=holder, epoch=epoch, now=now, ttl=TTL)
            assert leases.renew_lease(name, holder, epoch, now, TTL) == expected
        else:
            expected = released(model, holder=holder, epoch=epoch, now=now)
            assert leases.release_lease(name, holder, epoch, now) == (expected is not None)
        if expected is not None:
            if model is not None and expected.holder != model.holder:
                assert expected.epoch == model.epoch + 1  # a new reign, never a reused number
            reigns = [r for r in reigns if r[:2] != (expected.holder, expected.epoch)]
            reigns.append(
                (expected.holder, expected.epoch, expected.acquired_at, expected.expires_at)
            )
            model = expected
        assert leases.get_lease(name) == model
    for one, other in itertools.combinations(reigns, 2):
        if one[0] != other[0]:  # two holders' reigns never overlap in time
            assert one[3] <= other[2] or other[3] <= one[2], (one, other)
