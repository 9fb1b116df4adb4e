"""Governance analytics as a pure function of the stored facts.

The figures are computed from what the store keeps for ever (decisions, the audit trail's
stage changes, waivers, emergency changes and their reviews), never from counters that a
restart resets, so any past window can be computed again. The caller reads the facts and
passes the clock's ``now``; nothing here reads a clock or a store. docs/analytics.md says
exactly how each figure is computed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import operator
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

Bucket = Literal["day", "week"]
BLOCKING = frozenset({"fail", "error"})
_BY_TIME = operator.itemgetter(1, 0)  # a DecisionFact's (at, id)
_AT = operator.itemgetter(0)  # a StageMove's time
_NOT_RATED = frozenset({"skipped", "waived"})  # neither passed nor failed: out of a rate
NEAR_MISS_LIST = 20  # the closest near misses listed
EXPIRING_WITHIN = dt.timedelta(days=14)  # a waiver "expiring soon"


class GateFact(NamedTuple):
    """One gate's result inside a stored decision: what analytics needs of it."""

    gate_id: str
    status: str
    margin: float | None
    near_miss: bool


def gate_facts(result: Mapping[str, Any]) -> tuple[GateFact, ...]:
    """What analytics keeps of a recorded decision's gates. The store writes it beside each
    decision (a few dozen bytes a gate), so a first read of 100k decisions need not parse
    the whole results again; older rows are read through this same rule."""
    out = []
    for g in result.get("gates", ()):
        if not isinstance(g, dict):
            continue
        margin = g.get("margin")
        out.append(
            GateFact(
                gate_id=str(g.get("gate_id", "")),
                status=str(g.get("status", "")),
                margin=float(margin) if isinstance(margin, int | float) else None,
                near_miss=g.get("near_miss") is True,
            )
        )
    return tuple(out)


def facts_of_summary(rows: Any) -> tuple[GateFact, ...]:
    """``gate_facts`` as the store keeps it (JSON arrays of four values) back into facts.
    Only ``gate_facts`` writes them, so they are taken whole; a row of another shape is
    read value by value, and anything that is not a gate is dropped."""
    if not isinstance(rows, list):
        return ()
    try:
        facts = tuple(map(GateFact._make, rows))
    except TypeError:  # a row of another length
        facts = ()
    if all(
        type(f.gate_id) is str and type(f.status) is str and type(f.near_miss) is bool
        and (f.margin is None or type(f.margin) is float)
        for f in facts
    ) and len(facts) == len(rows):  # fmt: skip
        return facts
    out = []
    for r in rows:
        if isinstance(r, list) and len(r) == 4:
            margin = float(r[2]) if isinstance(r[2], int | float) else None
            out.append(GateFact(str(r[0]), str(r[1]), margin, r[3] is True))
    return tuple(out)


class DecisionFact(NamedTuple):
    id: int
    at: dt.datetime
    model: str
    policy: str  # the policy's name (its versions are counted together)
    from_stage: str
    to_stage: str
    change_type: str
    outcome: str
    gates: tuple[GateFact, ...]


class StageMove(NamedTuple):
    """A version arriving in a stage (registration: ``from_stage`` None); ``version`` names
    the version uniquely across models (its audit subject)."""

    at: dt.datetime
    model: str
    version: str
    from_stage: str | None
    to_stage: str
    rollback: bool = False


class WaiverFact(NamedTuple):
    label: str
    model: str
    gate_id: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


class EmergencyFact(NamedTuple):
    """An executed emergency change and the post-incident review it owes."""

    request_id: int
    model: str
    version: str
    executed_at: dt.datetime
    review_due: dt.datetime | None
    reviewed_at: dt.datetime | None


@dataclass(frozen=True)
class Facts:
    decisions: Sequence[DecisionFact]
    moves: Sequence[StageMove]
    waivers: Sequence[WaiverFact]
    emergencies: Sequence[EmergencyFact]
    production_stages: frozenset[str] = frozenset({"production"})


@dataclass(frozen=True)
class Window:
    since: dt.datetime
    until: dt.datetime
    now: dt.datetime
    bucket: Bucket = "week"

    def holds(self, at: dt.datetime) -> bool:
        return self.since <= at < self.until


# --- the answer ----------------------------------------------------------------------------


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Durations(Section):
    """Seconds; percentiles by nearest rank, None when nothing was measured."""

    count: int
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    max: float | None = None


class GateStats(Section):
    policy: str = Field(description="The policy's name (all its versions together).")
    gate_id: str
    evaluated: int
    passed: int
    failed: int = Field(description="fail or error: the results that block.")
    warned: int
    waived: int
    skipped: int
    pass_rate: float | None = Field(description="passed / (evaluated - skipped - waived).")
    near_misses: int
    smallest_margin: float | None = Field(description="Closest passing margin of a near miss.")
    blocked_decisions: int = Field(description="Denied decisions this gate helped deny.")


class BucketCount(Section):
    start: dt.date
    evaluated: int
    passed: int
    pass_rate: float | None


class GateSeries(Section):
    policy: str
    gate_id: str
    buckets: list[BucketCount]


class OutcomeBucket(Section):
    start: dt.date
    allow: int
    deny: int
    needs_approval: int


class PolicySeries(Section):
    policy: str
    decisions: int
    allow_rate: float | None
    buckets: list[OutcomeBucket]


class NearMiss(Section):
    decision: int
    at: dt.datetime
    model: str
    policy: str
    gate_id: str
    status: str
    margin: float


class StageTime(Section):
    stage: str
    durations: Durations


class ChangeFailure(Section):
    production_changes: int
    rollbacks: int
    rate: float | None


class Remediation(Section):
    durations: Durations
    unresolved: int = Field(description="Blocks not followed by an allowed decision yet.")


class WaiverRow(Section):
    label: str
    model: str
    gate_id: str
    expires_at: dt.datetime
    state: Literal["active", "expired", "revoked"]
    expiring_soon: bool


class WaiverSummary(Section):
    granted: int = Field(description="Granted within the window.")
    active: int
    expiring_soon: int
    expired: int
    revoked: int
    waivers: list[WaiverRow]


class EmergencyRow(Section):
    request: int
    model: str
    version: str
    executed_at: dt.datetime
    review_due: dt.datetime | None
    reviewed: bool
    overdue: bool


class EmergencySummary(Section):
    changes: int
    reviewed: int
    overdue: int
    changes_list: list[EmergencyRow]


class Analytics(Section):
    since: dt.datetime
    until: dt.datetime
    now: dt.datetime
    bucket: Bucket
    decisions: int
    gates: list[GateStats] = Field(description="Most failures first: the gate that blocks most.")
    gate_series: list[GateSeries]
    policies: list[PolicySeries]
    near_misses: list[NearMiss] = Field(description="The closest near misses, closest first.")
    stages: list[StageTime]
    lead_time: Durations
    change_failure: ChangeFailure
    remediation: Remediation
    waivers: WaiverSummary
    emergencies: EmergencySummary


# --- the computation -------------------------------------------------------------------------


def bucket_start(at: dt.datetime, bucket: Bucket) -> dt.date:
    """The day, or the Monday of the ISO week, that ``at`` (UTC) falls in."""
    return dt.date.fromordinal(_bucket_key(at.astimezone(dt.UTC).toordinal(), bucket))


def _bucket_key(ordinal: int, bucket: Bucket) -> int:
    # ordinal 1 (0001-01-01) is a Monday, so a week starts where (ordinal - 1) % 7 == 0
    return ordinal if bucket == "day" else ordinal - (ordinal - 1) % 7


def buckets(window: Window) -> list[dt.date]:
    """Every bucket of the window in order, empty ones too (a chart's x axis)."""
    step = dt.timedelta(days=1 if window.bucket == "day" else 7)
    first = bucket_start(window.since, window.bucket)
    last = bucket_start(window.until - dt.timedelta(microseconds=1), window.bucket)
    out = []
    while first <= last:
        out.append(first)
        first += step
    return out


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def durations(seconds: Iterable[float]) -> Durations:
    values = sorted(seconds)
    if not values:
        return Durations(count=0)

    def rank(q: float) -> float:
        return values[max(0, math.ceil(q * len(values)) - 1)]

    return Durations(
        count=len(values),
        mean=math.fsum(values) / len(values),
        p50=rank(0.5),
        p90=rank(0.9),
        max=values[-1],
    )


def compute(facts: Facts, window: Window) -> Analytics:
    """Every figure over the window (``since`` inclusive, ``until`` exclusive). Times are
    UTC; decisions come in any order."""
    since, until = window.since, window.until
    ordered = sorted(facts.decisions, key=_BY_TIME)
    decisions = [d for d in ordered if since <= d.at < until]
    keys = [_bucket_key(d.at.toordinal(), window.bucket) for d in decisions]
    counts = Counter(
        (d.policy, g.gate_id, key, g.status)
        for d, key in zip(decisions, keys, strict=True)
        for g in d.gates
    )
    near = [(d, g) for d in decisions for g in d.gates if g.near_miss]
    histories = _histories(facts.moves)
    return Analytics(
        since=since,
        until=until,
        now=window.now,
        bucket=window.bucket,
        decisions=len(decisions),
        gates=_gate_stats(decisions, counts, near),
        gate_series=_gate_series(counts, window),
        policies=_policy_series(decisions, keys, window),
        near_misses=_near_misses(near),
        stages=_stage_times(histories, window),
        lead_time=_lead_time(histories, facts.production_stages, window),
        change_failure=_change_failure(facts.moves, facts.production_stages, window),
        remediation=_remediation(ordered, window),
        waivers=_waivers(facts.waivers, window),
        emergencies=_emergencies(facts.emergencies, window),
    )


def _gate_stats(
    decisions: Sequence[DecisionFact],
    counts: Counter[tuple[str, str, int, str]],
    near: Sequence[tuple[DecisionFact, GateFact]],
) -> list[GateStats]:
    blocked = Counter(
        (d.policy, g.gate_id)
        for d in decisions
        if d.outcome == "deny"
        for g in d.gates
        if g.status in BLOCKING
    )
    margins: dict[tuple[str, str], list[float]] = defaultdict(list)
    for d, g in near:
        margins[d.policy, g.gate_id].append(math.inf if g.margin is None else abs(g.margin))
    by_gate: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (policy, gate, _, status), n in counts.items():
        by_gate[policy, gate][status] += n
    stats = [_gate_row(key, c, margins.get(key, []), blocked[key]) for key, c in by_gate.items()]
    stats.sort(key=lambda s: (-s.failed, -s.near_misses, s.policy, s.gate_id))
    return stats


def _gate_row(
    key: tuple[str, str], c: dict[str, int], near: list[float], blocked: int
) -> GateStats:
    passed, waived, skipped = c["pass"], c["waived"], c["skipped"]
    evaluated = sum(c.values())
    smallest = min(near, default=math.inf)
    return GateStats(
        policy=key[0],
        gate_id=key[1],
        evaluated=evaluated,
        passed=passed,
        failed=c["fail"] + c["error"],
        warned=c["warn"],
        waived=waived,
        skipped=skipped,
        pass_rate=rate(passed, evaluated - skipped - waived),
        near_misses=len(near),
        smallest_margin=None if smallest == math.inf else smallest,
        blocked_decisions=blocked,
    )


def _gate_series(counts: Counter[tuple[str, str, int, str]], window: Window) -> list[GateSeries]:
    cells: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(dict)
    for (policy, gate, key, status), n in counts.items():
        if status in _NOT_RATED:
            continue
        cell = cells[policy, gate].setdefault(key, [0, 0])
        cell[0] += n
        cell[1] += n if status == "pass" else 0
    axis = buckets(window)
    out = []
    for (policy, gate), by_key in sorted(cells.items()):
        series = []
        for start in axis:
            evaluated, passed = by_key.get(start.toordinal(), (0, 0))
            series.append(
                BucketCount(
                    start=start,
                    evaluated=evaluated,
                    passed=passed,
                    pass_rate=rate(passed, evaluated),
                )
            )
        out.append(GateSeries(policy=policy, gate_id=gate, buckets=series))
    return out


def _policy_series(
    decisions: Sequence[DecisionFact], keys: Sequence[int], window: Window
) -> list[PolicySeries]:
    counts = Counter((d.policy, key, d.outcome) for d, key in zip(decisions, keys, strict=True))
    policies = sorted({policy for policy, _, _ in counts})
    axis = buckets(window)
    out = []
    for policy in policies:
        series = [
            OutcomeBucket(
                start=s,
                allow=counts[policy, s.toordinal(), "allow"],
                deny=counts[policy, s.toordinal(), "deny"],
                needs_approval=counts[policy, s.toordinal(), "needs_approval"],
            )
            for s in axis
        ]
        total = sum(n for (p, _, _), n in counts.items() if p == policy)
        allowed = sum(n for (p, _, o), n in counts.items() if p == policy and o == "allow")
        out.append(
            PolicySeries(
                policy=policy, decisions=total, allow_rate=rate(allowed, total), buckets=series
            )
        )
    return out


def _near_misses(near: Sequence[tuple[DecisionFact, GateFact]]) -> list[NearMiss]:
    found = [(abs(g.margin), d, g) for d, g in near if g.margin is not None]
    found.sort(key=lambda x: (x[0], x[1].id, x[2].gate_id))
    return [
        NearMiss(
            decision=d.id,
            at=d.at,
            model=d.model,
            policy=d.policy,
            gate_id=g.gate_id,
            status=g.status,
            margin=margin if g.margin is None else g.margin,
        )
        for margin, d, g in found[:NEAR_MISS_LIST]
    ]


def _histories(moves: Sequence[StageMove]) -> list[list[StageMove]]:
    """Each version's moves in time order."""
    by_version: dict[str, list[StageMove]] = defaultdict(list)
    for m in sorted(moves, key=_AT):
        by_version[m.version].append(m)
    return list(by_version.values())


def _stage_times(histories: Sequence[list[StageMove]], window: Window) -> list[StageTime]:
    """Completed stays: a version's arrival in a stage to its next move, ending in the window."""
    stays: dict[str, list[float]] = defaultdict(list)
    for history in histories:
        for arrived, left in itertools.pairwise(history):
            if window.holds(left.at):
                stays[arrived.to_stage].append((left.at - arrived.at).total_seconds())
    return [StageTime(stage=s, durations=durations(v)) for s, v in sorted(stays.items())]


def _lead_time(
    histories: Sequence[list[StageMove]], production: frozenset[str], window: Window
) -> Durations:
    """Registration to first arrival in production, for versions first arriving in the window."""
    times = []
    for history in histories:
        registered = next((m.at for m in history if m.from_stage is None), None)
        arrived = next((m.at for m in history if m.to_stage in production), None)
        if registered is not None and arrived is not None and window.holds(arrived):
            times.append((arrived - registered).total_seconds())
    return durations(times)


def _change_failure(
    moves: Sequence[StageMove], production: frozenset[str], window: Window
) -> ChangeFailure:
    """Rollbacks / production changes: a rollback is the restored version's return."""
    arrivals = [m for m in moves if m.to_stage in production and window.holds(m.at)]
    rollbacks = sum(m.rollback for m in arrivals)
    changes = len(arrivals) - rollbacks
    return ChangeFailure(
        production_changes=changes, rollbacks=rollbacks, rate=rate(rollbacks, changes)
    )


def _remediation(ordered: Sequence[DecisionFact], window: Window) -> Remediation:
    """A block (a denied decision) to the next allowed one for the same model and move;
    counted when the block is in the window."""
    blocked_since: dict[tuple[str, str, str], dt.datetime] = {}
    times: list[float] = []
    for d in ordered:
        key = (d.model, d.from_stage, d.to_stage)
        if d.outcome == "deny":
            blocked_since.setdefault(key, d.at)
        elif d.outcome == "allow" and key in blocked_since:
            start = blocked_since.pop(key)
            if window.holds(start):
                times.append((d.at - start).total_seconds())
    unresolved = sum(window.holds(at) for at in blocked_since.values())
    return Remediation(durations=durations(times), unresolved=unresolved)


def _waivers(waivers: Sequence[WaiverFact], window: Window) -> WaiverSummary:
    now = window.now
    rows = []
    for w in sorted(waivers, key=lambda w: (w.expires_at, w.label)):
        state: Literal["active", "expired", "revoked"] = (
            "revoked" if w.revoked_at is not None else "active" if now < w.expires_at else "expired"
        )
        soon = state == "active" and w.expires_at - now <= EXPIRING_WITHIN
        rows.append(
            WaiverRow(
                label=w.label,
                model=w.model,
                gate_id=w.gate_id,
                expires_at=w.expires_at,
                state=state,
                expiring_soon=soon,
            )
        )
    return WaiverSummary(
        granted=sum(window.holds(w.granted_at) for w in waivers),
        active=sum(r.state == "active" for r in rows),
        expiring_soon=sum(r.expiring_soon for r in rows),
        expired=sum(r.state == "expired" for r in rows),
        revoked=sum(r.state == "revoked" for r in rows),
        waivers=rows,
    )


def _emergencies(emergencies: Sequence[EmergencyFact], window: Window) -> EmergencySummary:
    rows = []
    for e in sorted(emergencies, key=lambda e: (e.executed_at, e.request_id)):
        if not window.holds(e.executed_at):
            continue
        reviewed = e.reviewed_at is not None
        overdue = not reviewed and e.review_due is not None and window.now > e.review_due
        rows.append(
            EmergencyRow(
                request=e.request_id,
                model=e.model,
                version=e.version,
                executed_at=e.executed_at,
                review_due=e.review_due,
                reviewed=reviewed,
                overdue=overdue,
            )
        )
    return EmergencySummary(
        changes=len(rows),
        reviewed=sum(r.reviewed for r in rows),
        overdue=sum(r.overdue for r in rows),
        changes_list=rows,
    )
