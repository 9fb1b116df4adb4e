"""The analytics computation on plain facts: each figure on a small table, then the
invariants (rates in [0, 1], counts that add up, buckets that tile the window) for any facts."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.analytics import (
    DecisionFact,
    EmergencyFact,
    Facts,
    GateFact,
    StageMove,
    WaiverFact,
    Window,
    bucket_start,
    buckets,
    compute,
    durations,
)

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)  # a Monday
H = dt.timedelta(hours=1)


def decision(
    n: int, at: dt.datetime, outcome: str, *gates: GateFact, model: str = "m", policy: str = "p"
) -> DecisionFact:
    return DecisionFact(n, at, model, policy, "staging", "production", "standard", outcome, gates)


def gate(gid: str, status: str, margin: float | None = None, near: bool = False) -> GateFact:
    return GateFact(gid, status, margin, near)


def window(days: int = 14, bucket: str = "week") -> Window:
    return Window(T0, T0 + dt.timedelta(days=days), T0 + dt.timedelta(days=days), bucket)  # type: ignore[arg-type]


def test_the_gate_that_blocks_most_comes_first_with_its_closest_near_miss() -> None:
    facts = Facts(
        decisions=[
            decision(1, T0, "deny", gate("auc", "fail", -0.1), gate("card", "pass")),
            decision(2, T0 + H, "deny", gate("auc", "fail", -0.01), gate("card", "fail")),
            decision(3, T0 + 2 * H, "allow", gate("auc", "pass", 0.02, True), gate("card", "pass")),
            decision(4, T0 + 3 * H, "allow", gate("auc", "pass", 0.005, True),
                     gate("card", "waived")),
        ],
        moves=[],
        waivers=[],
        emergencies=[],
    )  # fmt: skip
    a = compute(facts, window())
    auc, card = a.gates
    assert (auc.gate_id, auc.failed, auc.passed, auc.near_misses) == ("auc", 2, 2, 2)
    assert auc.smallest_margin == 0.005 and auc.pass_rate == 0.5
    assert auc.blocked_decisions == 2
    assert (card.failed, card.waived, card.pass_rate) == (1, 1, 2 / 3)  # waived: out of the rate
    assert [(n.decision, n.margin) for n in a.near_misses] == [(4, 0.005), (3, 0.02)]
    assert a.remediation.durations.p50 == (2 * H).total_seconds()  # first block to next allow
    assert a.remediation.unresolved == 0
    (policy,) = a.policies
    assert (policy.decisions, policy.allow_rate) == (4, 0.5)


def test_lead_time_stage_times_and_change_failure_rate_from_stage_moves() -> None:
    v1, v2 = "model:m/version:1", "model:m/version:2"
    moves = [
        StageMove(T0, "m", v1, None, "draft"),
        StageMove(T0 + 2 * H, "m", v1, "draft", "staging"),
        StageMove(T0 + 5 * H, "m", v1, "staging", "production"),
        StageMove(T0 + 6 * H, "m", v2, None, "draft"),
        StageMove(T0 + 7 * H, "m", v2, "draft", "production"),
        StageMove(T0 + 7 * H, "m", v1, "production", "deprecated"),
        StageMove(T0 + 8 * H, "m", v2, "production", "deprecated", rollback=True),
        StageMove(T0 + 8 * H, "m", v1, "deprecated", "production", rollback=True),
    ]
    a = compute(Facts([], moves, [], [], frozenset({"production"})), window())
    assert a.lead_time.count == 2  # first arrivals only: v1's return is not a lead time
    assert sorted([a.lead_time.p50, a.lead_time.max]) == [3600.0, 5 * 3600.0]
    stays = {s.stage: s.durations for s in a.stages}
    assert stays["draft"].count == 2 and stays["draft"].max == 7200.0
    assert stays["production"].count == 2  # v1 until v2 replaced it, v2 until the rollback
    assert (stays["production"].p50, stays["production"].max) == (3600.0, 7200.0)
    cf = a.change_failure
    assert (cf.production_changes, cf.rollbacks, cf.rate) == (2, 1, 0.5)


def test_waivers_and_emergency_reviews_against_now() -> None:
    now = T0 + dt.timedelta(days=14)
    waivers = [
        WaiverFact("W-1", "m", "auc", T0, now + dt.timedelta(days=3), None),
        WaiverFact("W-2", "m", "auc", T0, now + dt.timedelta(days=60), None),
        WaiverFact("W-3", "m", "auc", T0 - dt.timedelta(days=30), T0, None),
        WaiverFact("W-4", "m", "auc", T0, now + dt.timedelta(days=3), T0 + H),
    ]
    emergencies = [
        EmergencyFact(7, "m", "2", T0 + H, T0 + dt.timedelta(days=5), None),
        EmergencyFact(8, "m", "3", T0 + H, T0 + dt.timedelta(days=5), T0 + 2 * H),
        EmergencyFact(9, "m", "4", T0 + 13 * 24 * H, now + dt.timedelta(days=4), None),
    ]
    a = compute(Facts([], [], waivers, emergencies), window())
    w = a.waivers
    assert (w.active, w.expiring_soon, w.expired, w.revoked, w.granted) == (2, 1, 1, 1, 3)
    e = a.emergencies
    assert (e.changes, e.reviewed, e.overdue) == (3, 1, 1)
    assert [r.request for r in e.changes_list if r.overdue] == [7]


@pytest.mark.parametrize(
    ("at", "bucket", "start"),
    [
        (dt.datetime(2026, 3, 8, 23, 59, tzinfo=dt.UTC), "week", dt.date(2026, 3, 2)),
        (dt.datetime(2026, 3, 9, 0, 0, tzinfo=dt.UTC), "week", dt.date(2026, 3, 9)),
        (dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "day",
         dt.date(2026, 3, 8)),
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "week", dt.date(2025, 12, 29)),
    ],
)  # fmt: skip
def test_bucket_start_is_the_utc_day_or_monday(
    at: dt.datetime, bucket: str, start: dt.date
) -> None:
    assert bucket_start(at, bucket) == start  # type: ignore[arg-type]


def test_durations_use_the_nearest_rank() -> None:
    d = durations([10.0, 1.0, 2.0, 3.0])
    assert (d.count, d.p50, d.p90, d.max, d.mean) == (4, 2.0, 10.0, 10.0, 4.0)
    assert durations([]).p50 is None


# --- invariants ------------------------------------------------------------------------------

STATUSES = ["pass", "fail", "warn", "error", "waived", "skipped"]
gates_st = st.lists(
    st.builds(
        GateFact,
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(STATUSES),
        st.none() | st.floats(-1, 1, allow_nan=False),
        st.booleans(),
    ),
    max_size=4,
    unique_by=lambda g: g.gate_id,
)
times = st.integers(0, 60 * 24 * 40).map(
    lambda m: T0 - dt.timedelta(days=5) + dt.timedelta(minutes=m)
)
decisions_st = st.lists(
    st.tuples(times, st.sampled_from(["allow", "deny", "needs_approval"]), gates_st,
              st.sampled_from(["p", "q"]), st.sampled_from(["m", "n"])),
    max_size=30,
).map(lambda rows: [decision(i, at, o, *g, policy=p, model=m)
                    for i, (at, o, g, p, m) in enumerate(rows, 1)])  # fmt: skip
moves_st = st.lists(
    st.builds(
        StageMove,
        times,
        st.sampled_from(["m", "n"]),
        st.sampled_from(["v1", "v2", "v3"]),
        st.none() | st.sampled_from(["draft", "staging", "production"]),
        st.sampled_from(["draft", "staging", "production", "deprecated"]),
        st.booleans(),
    ),
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(
    decisions=decisions_st,
    moves=moves_st,
    days=st.integers(1, 60),
    bucket=st.sampled_from(["day", "week"]),
)
def test_rates_are_rates_and_counts_add_up(
    decisions: list[DecisionFact], moves: list[StageMove], days: int, bucket: str
) -> None:
    w = window(days, bucket)
    a = compute(Facts(decisions, moves, [], []), w)
    inside = [d for d in decisions if w.since <= d.at < w.until]
    assert a.decisions == len(inside)
    for g in a.gates:
        assert g.evaluated == g.passed + g.failed + g.warned + g.waived + g.skipped
        assert g.pass_rate is None or 0 <= g.pass_rate <= 1
        assert g.blocked_decisions <= g.failed and g.near_misses <= g.evaluated
    assert sum(g.evaluated for g in a.gates) == sum(len(d.gates) for d in inside)
    assert all(
        s.pass_rate is None or 0 <= s.pass_rate <= 1 for g in a.gate_series for s in g.buckets
    )
    rated = {(g.policy, g.gate_id): g.evaluated - g.waived - g.skipped for g in a.gates}
    for series in a.gate_series:
        assert sum(b.evaluated for b in series.buckets) == rated[series.policy, series.gate_id]
    assert sum(p.decisions for p in a.policies) == a.decisions
    for p in a.policies:
        assert sum(b.allow + b.deny + b.needs_approval for b in p.buckets) == p.decisions
    cf = a.change_failure
    assert cf.rate is None or cf.rate >= 0
    assert len(a.near_misses) <= 20
    assert [abs(n.margin) for n in a.near_misses] == sorted(abs(n.margin) for n in a.near_misses)


@settings(max_examples=150, deadline=None)
@given(days=st.integers(1, 400), start=times, bucket=st.sampled_from(["day", "week"]))
def test_buckets_tile_the_window(days: int, start: dt.datetime, bucket: str) -> None:
    w = Window(start, start + dt.timedelta(days=days), start, bucket)  # type: ignore[arg-type]
    axis = buckets(w)
    step = dt.timedelta(days=1 if bucket == "day" else 7)
    assert axis[0] == bucket_start(w.since, w.bucket)
    assert axis[-1] == bucket_start(w.until - dt.timedelta(microseconds=1), w.bucket)
    assert all(b - a == step for a, b in itertools.pairwise(axis))
    assert all(bucket == "day" or b.weekday() == 0 for b in axis)
