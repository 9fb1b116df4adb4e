"""Governance analytics over a window, read from what the store keeps (``core.analytics``).

Decisions and audit events are immutable and numbered, so what is read of them is kept per
store (``_Memo``, bounded) and a later call reads only the rows added since: the first call
after a start reads everything once, the next ones cost the computation. A store offering
``AnalyticsScan`` (the SQL store) is read in keyset pages of plain rows; another one (the
in-memory fake) through its ordinary ports, with the same answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from clearance.core import subjects
from clearance.core.analytics import (
    Analytics,
    Bucket,
    DecisionFact,
    EmergencyFact,
    Facts,
    StageMove,
    WaiverFact,
    Window,
    compute,
    facts_of_summary,
    gate_facts,
)
from clearance.core.collector import collector_paused
from clearance.core.durations import parse_duration
from clearance.errors import ClearanceError, InputError, NotFound
from clearance.service.context import close_names, load_recorded, require_model
from clearance.service.ports import Clock, Store, Tx
from clearance.service.records import PolicyRecord

DEFAULT_DAYS = 90
MAX_DAYS = {"day": 366, "week": 366 * 5}  # at most ~260 buckets on a chart's axis
PAGE = 5000
MAX_KEPT = 500_000  # decisions kept per store (~1 KB each); beyond, each call reads afresh
REGISTERED_STAGE = "draft"  # service.registry.INITIAL_STAGE (no import: registry is heavy)


class DecisionRowIn(NamedTuple):
    """A stored decision as analytics reads it: its gate facts as the store keeps them (JSON
    text, ``core.analytics.gate_facts``), or else ``result`` as stored, parsed here."""

    id: int
    at: dt.datetime
    policy_id: int
    outcome: str
    result: str | dict[str, Any] | None
    model_id: int
    from_stage: str
    to_stage: str
    change_type: str
    gate_facts: str | None = None


class MoveRowIn(NamedTuple):
    """A registration (``payload`` None) or a stage change (its payload as JSON text)."""

    seq: int
    at: dt.datetime
    model: str | None
    subject: str
    payload: str | None


@runtime_checkable
class AnalyticsScan(Protocol):
    """Set-based reads for analytics: keyset pages, ids (seqs) above ``after``, in order."""

    def analytics_decisions(self, *, after: int, limit: int) -> list[DecisionRowIn]: ...
    def analytics_moves(self, *, after: int, limit: int) -> list[MoveRowIn]: ...


class _Memo:
    """What was read of one store: facts by decision id and stage moves by seq."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decisions: list[DecisionFact] = []
        self.moves: list[StageMove] = []
        self.last_decision = 0
        self.last_seq = 0
        self.policies: dict[int, str] = {}
        self.production: dict[int, str] = {}


_MEMOS: weakref.WeakKeyDictionary[Any, _Memo] = weakref.WeakKeyDictionary()
_MEMOS_LOCK = threading.Lock()


def _memo_for(store: Store) -> _Memo:
    with _MEMOS_LOCK:
        try:
            memo = _MEMOS.get(store)
            if memo is None:
                memo = _MEMOS[store] = _Memo()
            return memo
        except TypeError:  # a store that cannot be weakly referenced: nothing kept
            return _Memo()


def _forget(store: Store) -> None:
    with _MEMOS_LOCK, contextlib.suppress(TypeError):
        _MEMOS.pop(store, None)


@dataclass(frozen=True)
class AnalyticsService:
    store: Store
    clock: Clock

    def analytics(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        model: str | None = None,
        policy: str | None = None,
        bucket: Bucket = "week",
    ) -> Analytics:
        """Gate pass rates, near misses, stage times, lead time, change failure rate, time to
        remediation, waivers and emergency changes, over [since, until)."""
        window = _window(self.clock.now(), since, until, bucket)
        memo = _memo_for(self.store)
        with collector_paused(), self.store.reading() as tx:
            if model is not None:
                require_model(tx, model)
            if policy is not None:
                _require_policy(tx, policy)
            with memo.lock:
                _catch_up(tx, memo)
                decisions, moves = list(memo.decisions), list(memo.moves)
                production = frozenset(memo.production.values()) or frozenset({"production"})
                if len(memo.decisions) > MAX_KEPT:
                    _forget(self.store)  # read afresh next time: memory stays bounded
            waivers = [
                WaiverFact(w.label, w.model, w.gate_id, w.granted_at, w.expires_at, w.revoked_at)
                for w in tx.list_waivers(model=model)
            ]
            emergencies = _emergencies(tx, model)
        if model is not None:
            decisions = [d for d in decisions if d.model == model]
            moves = [m for m in moves if m.model == model]
        if policy is not None:
            decisions = [d for d in decisions if d.policy == policy]
        facts = Facts(decisions, moves, waivers, emergencies, production)
        with collector_paused():
            return compute(facts, window)

    def warm(self) -> int:
        """Read what is new (all of it, the first time) without computing anything: a server
        calls this once at start-up so that no request pays for the first read. Returns how
        many decisions are kept."""
        memo = _memo_for(self.store)
        with collector_paused(), self.store.reading() as tx, memo.lock:
            _catch_up(tx, memo)
            return len(memo.decisions)


def _window(
    now: dt.datetime, since: dt.datetime | None, until: dt.datetime | None, bucket: Bucket
) -> Window:
    if bucket not in MAX_DAYS:
        raise InputError(f"bucket must be 'day' or 'week', not {bucket!r}")
    until = _utc(until) if until is not None else now
    since = _utc(since) if since is not None else until - dt.timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise InputError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    limit = MAX_DAYS[bucket]
    if until - since > dt.timedelta(days=limit):
        raise InputError(
            f"the window is {(until - since).days} days; at most {limit} with --bucket {bucket} "
            "(use a weekly bucket or a shorter window)"
        )
    return Window(since=since, until=until, now=now, bucket=bucket)


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _require_policy(tx: Tx, name: str) -> None:
    names = {p.name for p in tx.list_policies()}
    if name not in names:
        hint = close_names(name, names, "policies")
        raise NotFound(f"unknown policy '{name}' ({hint}); `clearance policy list` lists them")


# --- reading what is new ---------------------------------------------------------------------


def _catch_up(tx: Tx, memo: _Memo) -> None:
    for p in tx.list_policies():
        if p.id not in memo.policies:
            memo.policies[p.id] = p.name
            memo.production[p.id] = _production_stage(p)
    names = {m.id: m.name for m in tx.list_models()}
    for row in _new_decisions(tx, memo.last_decision):
        memo.decisions.append(_decision(row, names, memo.policies))
        memo.last_decision = row.id
    for move in _new_moves(tx, memo.last_seq):
        memo.last_seq = move.seq
        parsed = _move(move)
        if parsed is not None:
            memo.moves.append(parsed)


def _production_stage(policy: PolicyRecord) -> str:
    try:
        return load_recorded(policy).policy.workflow.production_stage
    except ClearanceError:  # a stored policy that no longer parses: the default name
        return "production"


def _new_decisions(tx: Tx, after: int) -> Iterator[DecisionRowIn]:
    if isinstance(tx, AnalyticsScan):
        while True:
            page = tx.analytics_decisions(after=after, limit=PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].id
    rows = [
        DecisionRowIn(
            d.id,
            d.created_at,
            d.policy_id,
            d.outcome,
            d.result,
            r.model_id,
            r.from_stage,
            r.to_stage,
            r.change_type,
        )
        for r in tx.list_requests()
        for d in tx.decisions_for(r.id)
        if d.id > after
    ]
    yield from sorted(rows, key=lambda row: row.id)


def _new_moves(tx: Tx, after: int) -> Iterator[MoveRowIn]:
    if isinstance(tx, AnalyticsScan):
        while True:
            page = tx.analytics_moves(after=after, limit=PAGE)
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].seq
    for e in tx.events(after=after):
        if e.action in ("version.registered", "version.stage_changed"):
            payload = None if e.action == "version.registered" else json.dumps(e.payload)
            yield MoveRowIn(e.seq, e.time, _model_of(e.subject), e.subject, payload)


def _model_of(subject: str) -> str | None:
    """The model a version's subject names (the store keeps it in a column of its own)."""
    try:
        return subjects.parse(subject).key_of("model")
    except (ValueError, KeyError):
        return None


def _decision(row: DecisionRowIn, models: dict[int, str], policies: dict[int, str]) -> DecisionFact:
    if row.gate_facts is not None:
        gates = facts_of_summary(json.loads(row.gate_facts))
    else:
        result = json.loads(row.result) if isinstance(row.result, str) else row.result
        gates = gate_facts(result) if isinstance(result, dict) else ()
    return DecisionFact(
        id=row.id,
        at=row.at,
        model=models.get(row.model_id, f"model #{row.model_id}"),
        policy=policies.get(row.policy_id, f"policy #{row.policy_id}"),
        from_stage=row.from_stage,
        to_stage=row.to_stage,
        change_type=row.change_type,
        outcome=str(row.outcome),
        gates=gates,
    )


def _move(row: MoveRowIn) -> StageMove | None:
    if row.model is None:
        return None
    if row.payload is None:
        return StageMove(row.at, row.model, row.subject, None, REGISTERED_STAGE)
    payload = json.loads(row.payload)
    to = payload.get("to")
    if not isinstance(to, str):
        return None
    before = payload.get("from")
    rollback = payload.get("rollback") is True
    return StageMove(row.at, row.model, row.subject, str(before), to, rollback)


def _emergencies(tx: Tx, model: str | None) -> list[EmergencyFact]:
    """Executed emergency changes (one query), their reviews (one) and due dates."""
    models = tx.list_models() if model is None else [require_model(tx, model)]
    names = {m.id: m.name for m in models}
    executed = tx.requests_of(list(names), statuses=("executed",), change_type="emergency")
    reviews = tx.reviews_for([r.id for r in executed])
    versions = tx.version_names([r.version_id for r in executed])
    within: dict[int, dt.timedelta | None] = {}
    out = []
    for r in executed:
        if r.policy_id not in within:
            within[r.policy_id] = _review_within(tx, r.policy_id)
        due = within[r.policy_id]
        review = reviews.get(r.id)
        out.append(
            EmergencyFact(
                request_id=r.id,
                model=names[r.model_id],
                version=versions.get(r.version_id, ("", "?"))[1],
                executed_at=r.updated_at,
                review_due=None if due is None else r.updated_at + due,
                reviewed_at=None if review is None else review.recorded_at,
            )
        )
    return out


def _review_within(tx: Tx, policy_id: int) -> dt.timedelta | None:
    """The emergency change type's review deadline (``governance.review_deadline``'s rule)."""
    try:
        policy = load_recorded(tx.policy_by_id(policy_id)).policy
    except ClearanceError:
        return None
    ctype = policy.change_types.get("emergency")
    if ctype is None or not ctype.post_incident_review_within:
        return None
    return parse_duration(ctype.post_incident_review_within)
