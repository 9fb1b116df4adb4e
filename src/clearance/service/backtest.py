"""Backtest: every stored decision of a policy, decided again under a proposed version.

A policy change is a change to every model the policy governs. Before applying one, its
owner can see what it would have done: each stored decision is re-evaluated from its
recorded inputs (the replay path: version snapshot, approvals, waivers, clock) under the new
policy, and the report lists the decisions whose outcome would change, the gates whose
status would change (observed value and threshold, before and after), and the versions now
in production whose latest decision would no longer pass.

Work is skipped only where the answer is provably the recorded one:

- a gate whose definition and parameters are equal in the policy that decided and in the new
  one, with the same bypass under the change type and the same settings, measures what it
  measured then (the inputs are the recorded ones), so its recorded result stands and only
  the other gates are measured; hypothesis tests adjusted together (a Holm family) stand
  only all together;
- approvals are computed again only when their requirements or rules differ;
- decisions with identical recorded inputs (the digests the decision recorded) under the
  same policy version are evaluated once.

When the engine's methods changed since a decision (``inputs.methods``), all its gates are
measured again. Decisions are read newest first in one read transaction, a page at a time
(``decisions_under``), and of each recorded result only what the answer needs (the store
parses it, ``_layout``): the engine methods, the input digests, the approval status, each
gate's id and status, and what the gates the change may measure again observed and their
thresholds. The result is read whole only where those do not say enough (more gates than
the stored policies list, evidence reads that failed). The gates measured again are
measured alone (``core.engine.measure_gates``: no digests, no Decision), and the cyclic
collector is paused for the walk.

A decision that cannot be evaluated again (the new policy has no such transition or change
type, its recorded inputs are malformed, or evidence it read is gone from the blob store)
is counted as ``unreplayable`` with the reason, never left out.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import multiprocessing
import multiprocessing.context
import pickle
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from clearance.core.approvals import Approval
from clearance.core.collector import collector_paused
from clearance.core.engine import Evaluation, evaluate, measure_gates, resolve_transition
from clearance.core.gates.base import in_holm_family
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.loading import LoadedPolicy, is_policy_test_file, parse_policy
from clearance.core.policy import ApprovalRequirement, Policy, Transition
from clearance.core.policy_diff import diff_policies
from clearance.core.results import METHODS, ApprovalStatus
from clearance.core.version import ModelVersion
from clearance.core.waivers import Waiver
from clearance.errors import ClearanceError, InputError, NotFound
from clearance.service.context import EvidenceSource, close_names, load_recorded, semver_key
from clearance.service.ports import MAX_PICKS, ResultPath, ScannedDecision, Store, Tx
from clearance.service.records import PolicyRecord

MAX_FILES = 64
MAX_TEXT = 1 << 20  # one policy file's characters
MAX_DECISIONS = 1_000_000
DEFAULT_LIMIT = 100_000
PAGE = 2_000  # decisions read at a time
MAX_LISTED = 1_000  # changed or unreplayable decisions listed one by one (all are counted)
MAX_KEPT = 10_000  # answers kept for decisions with equal recorded inputs
PARALLEL_FROM = 20_000  # fewer decisions are decided in one process (workers cost ~0.3 s)
RANGES_PER_WORKER = 4  # id ranges each worker takes in turn: even work, a small last one
Outcome = Literal["allow", "deny", "needs_approval"]
_BLOCKING = ("fail", "error")


class PolicyDocument(BaseModel):
    """One file of the proposed policy: its name (for error locations) and its text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=500)
    text: str = Field(max_length=MAX_TEXT)


Documents = Annotated[list[PolicyDocument], Field(min_length=1, max_length=MAX_FILES)]
DecisionLimit = Annotated[
    int, Field(ge=1, le=MAX_DECISIONS, description="Examine at most this many, newest first.")
]
MAX_WORKERS = 4
Workers = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_WORKERS,
        description="Processes to decide in when more than 20,000 decisions are examined "
        "(where the store can be opened again; 1: in this one).",
    ),
]


class BacktestBody(BaseModel):
    """``POST /v1/policies/backtest``: the proposed policy's files and what to examine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: Documents
    replaces: str | None = Field(
        default=None,
        max_length=200,
        description="The stored policy it replaces (default: the one of the same name).",
    )
    since: dt.date | None = Field(
        default=None, description="Only decisions made on or after this day (UTC)."
    )
    limit: DecisionLimit = DEFAULT_LIMIT
    workers: Workers = 1

    @model_validator(mode="after")
    def _no_nul(self) -> BacktestBody:
        for doc in self.files:
            if "\x00" in doc.name or "\x00" in doc.text:
                raise ValueError(f"{doc.name!r}: text may not contain NUL characters")
        return self


class GateChange(BaseModel):
    """A gate whose status differs; ``absent`` when the transition did not (or will not)
    have it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate_id: str
    before: str
    after: str
    observed_before: Any = None
    threshold_before: Any = None
    observed_after: Any = None
    threshold_after: Any = None
    message_after: str | None = None


class ChangedDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: int
    request: int
    model: str
    version: str
    from_stage: str | None
    to_stage: str
    decided_under: str = Field(description="The policy version that made the decision.")
    before: Outcome
    after: Outcome
    gates: list[GateChange]
    approvals: str | None = Field(
        default=None, description="How the approval status changed, when it did."
    )


class UnreplayableDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: int
    request: int
    model: str
    version: str
    reason: str


class ProductionAtRisk(BaseModel):
    """A version in the production stage whose latest decision would no longer pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: str
    decision: int
    before: Outcome
    after: Outcome
    gates: list[str] = Field(description="Gates that would now block it.")


class BacktestOut(BaseModel):
    """What a proposed policy would have decided on the stored decisions
    (``clearance policy backtest --json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str = Field(description="The proposed policy: name, version and hash prefix.")
    replaces: str = Field(description="The stored policy name it was compared with.")
    since: dt.date | None
    limit: int
    examined: int
    more: bool = Field(description="More decisions matched than ``limit``: the oldest were left.")
    same: int
    newly_blocked: int = Field(description="Would now be denied; were not.")
    newly_allowed: int = Field(description="Were denied; would not be now.")
    approvals_changed: int = Field(description="allow and needs-approval swapped.")
    unreplayable: int
    evaluated: int = Field(
        description="Decisions the engine evaluated again; the others' answers are their "
        "recorded results, or those of a decision with identical recorded inputs."
    )
    gate_changes: dict[str, int] = Field(description="Decisions whose status of each gate moved.")
    production_stage: str
    production_at_risk: list[ProductionAtRisk]
    changed: list[ChangedDecision] = Field(description=f"Newest first, at most {MAX_LISTED}.")
    unreplayable_decisions: list[UnreplayableDecision] = Field(
        description=f"Newest first, at most {MAX_LISTED}."
    )
    policy_changes: list[str] = Field(
        description="The semantic diff from the latest applied version (`policy diff`)."
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="What the CLI exits with: 0 no production version would newly fail, "
        "1 some would."
    )
    @property
    def exit_code(self) -> int:
        return 1 if self.production_at_risk else 0

    @model_validator(mode="before")
    @classmethod
    def _derived_fields(cls, data: Any) -> Any:
        """``exit_code`` follows from the report: a report as served validates again."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "exit_code"}
        return data


class BacktestWorkerFailed(ClearanceError):
    """A worker process of a parallel backtest ended without an answer (killed, out of
    memory): the backtest stops with this rather than wait for it."""


@dataclass(frozen=True)
class Backtests:
    """``open_store`` and ``workers`` > 1: a store of more than ``PARALLEL_FROM`` decisions
    is read and decided in ``workers`` processes, each over contiguous ranges of decision
    ids with its own store (``open_store`` is sent to it: a picklable factory), and their
    answers merged newest range first: the report is the one a single process makes."""

    store: Store
    evidence: EvidenceSource
    registry: GateRegistry | None = None
    open_store: Callable[[], Store] | None = None
    workers: int = 1

    def run(
        self,
        files: Sequence[PolicyDocument | Mapping[str, str]],
        *,
        replaces: str | None = None,
        since: dt.date | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> BacktestOut:
        documents = _documents(files)
        new = parse_policy(documents, self.registry)  # the loader and errors of `policy apply`
        if not 1 <= limit <= MAX_DECISIONS:
            raise InputError(f"limit: give 1 to {MAX_DECISIONS:,} decisions, not {limit}")
        name = replaces or new.name
        start = None if since is None else dt.datetime.combine(since, dt.time(), dt.UTC)
        stage = new.policy.workflow.production_stage
        with self.store.reading() as tx:
            stored = [p for p in tx.list_policies() if p.name == name]
            if not stored:
                known = close_names(name, (p.name for p in tx.list_policies()), "policies")
                raise NotFound(
                    f"no applied policy named '{name}' ({known}); "
                    "name the applied policy it replaces (--replaces NAME)"
                )
            layout = _layout(stored, new, self.registry)
            run = _Run(new, {p.id: p for p in stored}, self.evidence, self.registry, tx, layout)
            with collector_paused():
                if self.workers > 1 and self.open_store is not None and limit > PARALLEL_FROM:
                    shared = _Shared(
                        self.open_store,
                        self.evidence,
                        self.registry,
                        documents,
                        stored,
                        layout,
                        start,
                    )
                    more = _parallel(run, tx, shared, limit, self.workers)
                else:
                    found = _Decisions(tx, [p.id for p in stored], start, limit, layout.picks)
                    for record in found:
                        run.decide(record)
                    more = found.more
            in_production = _in_stage(tx, {model for model, _ in run.latest}, stage)
        latest = max(stored, key=lambda p: semver_key(p.version))
        return run.report(
            replaces=name,
            since=since,
            limit=limit,
            more=more,
            production_stage=stage,
            in_production=in_production,
            changes=[c.note for c in diff_policies(load_recorded(latest), new).changes],
        )


def _documents(files: Sequence[PolicyDocument | Mapping[str, str]]) -> list[tuple[str, str]]:
    """The files as (name, text), bounded; test files (``*.test.yaml``) are left out, as a
    folder's are by ``policy apply``."""
    if not files:
        raise InputError("files: give the proposed policy's files")
    if len(files) > MAX_FILES:
        raise InputError(f"files: at most {MAX_FILES} files, got {len(files)}")
    room = MAX_TEXT * 4
    out: list[tuple[str, str]] = []
    for item in files:
        try:
            doc = item if isinstance(item, PolicyDocument) else PolicyDocument.model_validate(item)
        except ValidationError as exc:
            raise InputError(f"files: {exc.errors()[0]['msg']}") from None
        room -= len(doc.text)
        if room < 0:
            raise InputError(
                f"files: the policy's files hold more than {MAX_TEXT * 4:,} characters"
            )
        if not is_policy_test_file(Path(doc.name)):
            out.append((doc.name, doc.text))
    if not out:
        raise InputError("files: only policy test files (*.test.yaml) were given")
    return out


# --- reading ---------------------------------------------------------------------------


class _Decisions:
    """The decisions to examine, newest first, read a page at a time; ``more`` once read:
    whether ``limit`` left some out."""

    def __init__(
        self,
        tx: Tx,
        policy_ids: list[int],
        since: dt.datetime | None,
        limit: int,
        picks: list[ResultPath],
        *,
        before: int | None = None,
        after: int | None = None,
    ) -> None:
        self.tx, self.policy_ids, self.since, self.limit = tx, policy_ids, since, limit
        self.picks, self.before, self.after = picks, before, after
        self.more = False

    def __iter__(self) -> Iterator[ScannedDecision]:
        tx, left, ids, since, after = self.tx, self.limit, self.policy_ids, self.since, self.after
        before = self.before
        while left > 0:
            asked = min(PAGE, left + 1)  # one beyond the limit says whether more match
            page = tx.decisions_under(
                ids, since=since, before=before, after=after, limit=asked, picks=self.picks
            )
            if len(page) > left:
                self.more = True
                yield from page[:left]
                return
            yield from page
            if len(page) < asked:
                return
            left -= len(page)
            before = page[-1].id
        self.more = bool(tx.decisions_under(ids, since=since, before=before, after=after, limit=1))


# --- in worker processes -----------------------------------------------------------------


@dataclass(frozen=True)
class _Shared:
    """What every worker needs, sent once to each (plain data and the store's factory)."""

    open_store: Callable[[], Store]
    evidence: EvidenceSource
    registry: GateRegistry | None
    documents: list[tuple[str, str]]
    stored: list[PolicyRecord]
    layout: _Layout
    since: dt.datetime | None


@dataclass(frozen=True)
class _Range:
    """Decisions numbered above ``after`` and below ``before``: at most ``cap`` of them."""

    before: int
    after: int
    cap: int


@dataclass(frozen=True)
class _Part:
    """A range's answers as plain data, merged by ``_Run.absorb``; ``more``: the range held
    more than its cap."""

    tally: Counter[str]
    gate_changes: Counter[str]
    changed: list[ChangedDecision]
    unreplayable: list[UnreplayableDecision]
    latest: dict[tuple[str, str], tuple[int, Outcome, list[str]] | None]
    more: bool


@dataclass
class _Worker:
    shared: _Shared
    store: Store
    new: LoadedPolicy
    plans: dict[tuple[int, str | None, str, str], _Plan] = field(default_factory=dict)
    answers: dict[tuple[Any, ...], _Measured] = field(default_factory=dict)


_shared: _Shared | None = None  # this process's, when it is a backtest's worker
_worker: _Worker | None = None


def _start_worker(shared: _Shared) -> None:
    global _shared
    _shared = shared


def _ready() -> _Worker:
    """The worker's own store and the proposed policy parsed again (the parent's are not
    sent: a pool or a connection cannot cross processes), made in its first task so that
    an error (the database unreachable) reaches the parent as it is."""
    global _worker
    if _worker is None:
        if _shared is None:
            raise RuntimeError("not a backtest worker process")
        store = _shared.open_store()
        _worker = _Worker(_shared, store, parse_policy(_shared.documents, _shared.registry))
        gc.collect()
        gc.freeze()  # the modules and the policy live to the end: not walked again
    return _worker


def _walk_range(task: _Range) -> _Part:
    """One range decided again, as the parent decides its own decisions."""
    w = _ready()
    shared = w.shared
    with w.store.reading() as tx, collector_paused():
        run = _Run(
            w.new,
            {p.id: p for p in shared.stored},
            shared.evidence,
            shared.registry,
            tx,
            shared.layout,
            plans=w.plans,
            answers=w.answers,
        )
        ids = [p.id for p in shared.stored]
        found = _Decisions(
            tx,
            ids,
            shared.since,
            task.cap,
            shared.layout.picks,
            before=task.before,
            after=task.after,
        )
        for record in found:
            run.decide(record)
    return _Part(run.tally, run.gate_changes, run.changed, run.unreplayable, run.latest, found.more)


def _context() -> multiprocessing.context.BaseContext:
    """Workers start from a fresh interpreter (never a fork of this one, whose engine,
    pool and threads must not be shared): forked from a server process that has imported
    the main script and the backtest once (the workers then need not), where there is one,
    else spawned."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(
            ["__main__", "clearance.service.backtest", "clearance.adapters.store.sql"]
        )
        return ctx
    return multiprocessing.get_context("spawn")


def _parallel(run: _Run, tx: Tx, shared: _Shared, limit: int, workers: int) -> bool:
    """The decisions read and decided: the newest page here, the rest in ranges of ids in
    ``workers`` processes while this one decides its page, their answers merged newest
    first. Fewer than ``PARALLEL_FROM`` left, or a state that cannot be sent, and they are
    decided here. Returns whether ``limit`` left some out."""
    ids, picks, since = [p.id for p in shared.stored], shared.layout.picks, shared.since
    first = tx.decisions_under(ids, since=since, before=None, limit=PAGE, picks=picks)
    if len(first) < PAGE:  # all of them (limit > PARALLEL_FROM > PAGE)
        for record in first:
            run.decide(record)
        return False
    rest = _Decisions(tx, ids, since, limit - len(first), picks, before=first[-1].id)
    top, hi = first[0].id, first[-1].id
    low = _lowest(tx, ids, since, hi)
    expected = len(first) * (hi - low) / (top - hi + 1)  # as dense as the newest page
    ranges = _ranges(hi, low - 1, min(workers * RANGES_PER_WORKER, hi - low), rest.limit)
    try:
        pickle.dumps(shared)  # a registry of gates defined in a script cannot be sent
    except (pickle.PicklingError, AttributeError, TypeError):
        ranges = []
    if min(expected, rest.limit) < PARALLEL_FROM or not ranges:
        for record in itertools.chain(first, rest):
            run.decide(record)
        return rest.more
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(ranges)),
        mp_context=_context(),
        initializer=_start_worker,
        initargs=(shared,),
    )
    try:
        futures = [pool.submit(_walk_range, r) for r in ranges]
        for record in first:
            run.decide(record)
        left = rest.limit
        for i, (r, future) in enumerate(zip(ranges, futures, strict=True)):
            part = future.result()
            if part.tally["examined"] <= left:
                run.absorb(part)
                left -= part.tally["examined"]
                if left:
                    continue
                beyond = i + 1 < len(ranges) and _any_below(tx, ids, since, r.after + 1)
                return part.more or beyond
            # the limit falls inside this range: its newest ones, decided here
            found = _Decisions(tx, ids, since, left, picks, before=r.before, after=r.after)
            for record in found:
                run.decide(record)
            return found.more or _any_below(tx, ids, since, r.after + 1)
        return False
    except BrokenProcessPool:
        raise BacktestWorkerFailed(
            "a backtest worker process ended without an answer (killed, or out of memory); "
            "run again with --workers 1 to decide in one process"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _any_below(tx: Tx, ids: list[int], since: dt.datetime | None, before: int) -> bool:
    return bool(tx.decisions_under(ids, since=since, before=before, limit=1))


def _lowest(tx: Tx, ids: list[int], since: dt.datetime | None, known: int) -> int:
    """The lowest number of a matching decision (``known`` is one): a binary search of
    one-row index reads."""
    lo, hi = 0, known  # none matches at or below lo; hi matches
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tx.decisions_under(ids, since=since, before=mid + 1, after=lo, limit=1):
            hi = mid
        else:
            lo = mid
    return hi


def _ranges(before: int, after: int, count: int, cap: int) -> list[_Range]:
    """The numbers above ``after`` and below ``before`` cut into ``count`` ranges of equal
    width, newest first."""
    if count < 2:
        return []
    top = before - 1  # each range holds its upper bound
    bounds = [top - (i * (top - after)) // count for i in range(count + 1)]
    return [_Range(b + 1, a, cap) for b, a in itertools.pairwise(bounds) if b > a]


# What is read of each recorded result: these, then each gate's id and status (``_picks``).
_HEAD: list[ResultPath] = [
    ("approvals",),
    ("inputs", "version_digest"),
    ("inputs", "approvals_digest"),
    ("inputs", "waivers_digest"),
    ("inputs", "now"),
    ("inputs", "methods"),
]
_FIELD = {path[-1]: i for i, path in enumerate(_HEAD)}


@dataclass(frozen=True)
class _Layout:
    """What is read of each recorded result (``picks``) and where in what comes back: the
    gates' ids from ``ids``, their statuses from ``statuses`` (``count`` of each), then for
    each position in ``observed`` what that gate observed and its threshold."""

    picks: list[ResultPath]
    count: int
    observed: tuple[int, ...]

    @property
    def ids(self) -> int:
        return len(_HEAD)

    @property
    def statuses(self) -> int:
        return len(_HEAD) + self.count


def _layout(
    stored: Sequence[PolicyRecord], new: LoadedPolicy, registry: GateRegistry | None
) -> _Layout:
    """``_HEAD``; the id and status of each recorded gate, as many as the stored policies'
    longest transition has; what each gate the new policy may measure again observed, and
    its threshold (what a listed change shows); and the id of one gate more (present: a
    result with more gates than its policy has, read whole)."""
    most, measured = 0, set()
    for record in stored:
        old = load_recorded(record)
        changes = {"standard", *old.policy.change_types, *new.policy.change_types}
        for t in old.policy.workflow.transitions:
            most = max(most, len(t.gates))
            for change in changes:
                plan = _make_plan(old, new, t.from_, t.to, change, registry)
                measured |= {i for i, g in enumerate(t.gates) if g in plan.measure}
    observed = tuple(sorted(measured))
    if len(_HEAD) + 2 * most + 2 * len(observed) + 1 > MAX_PICKS:  # transitions of many
        return _Layout([*_HEAD, ("gates", 0, "gate_id")], 0, ())  # gates: results read whole
    picks: list[ResultPath] = [
        *_HEAD,
        *(("gates", i, "gate_id") for i in range(most)),
        *(("gates", i, "status") for i in range(most)),
        *(("gates", i, field) for i in observed for field in ("observed", "threshold")),
        ("gates", most, "gate_id"),
    ]
    return _Layout(picks, most, observed)


def _statuses(picked: tuple[Any, ...], layout: _Layout) -> dict[str, dict[str, Any]] | None:
    """The recorded gates by id, from the picked values: each one's status, and what it
    observed and its threshold where picked; None when the result must be read whole to
    say (more gates than picked, an id that is not text)."""
    if picked[-1] is not None:
        return None
    at, count = layout.ids, layout.count
    ids = picked[at : at + count]
    out = {
        gid: {"gate_id": gid, "status": status}
        for gid, status in zip(ids, picked[at + count : at + 2 * count], strict=True)
        if gid is not None
    }
    if any(type(gid) is not str for gid in out):
        return None
    at += 2 * count
    for i in layout.observed:
        gid = ids[i]
        if gid is not None:
            out[gid]["observed"], out[gid]["threshold"] = picked[at], picked[at + 1]
        at += 2
    return out


def _in_stage(tx: Tx, models: set[str], stage: str) -> set[tuple[str, str]]:
    """(model, version) of every version of ``models`` now in ``stage``."""
    out: set[tuple[str, str]] = set()
    for name in sorted(models):
        model = tx.get_model(name)
        if model is not None:
            out |= {(name, v.version) for v in tx.versions_in_stage(model.id, stage)}
    return out


# --- deciding again ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """How decisions of one transition and change type under one stored policy version are
    decided again: the new transition, the gates measured again (the others' recorded
    results stand) and whether the recorded approval status stands."""

    transition: Transition | None
    refused: str | None
    measure: tuple[str, ...]
    approvals_stand: bool


@dataclass(frozen=True)
class _After:
    """A decision's answer under the new policy."""

    outcome: Outcome
    gates: dict[str, dict[str, Any]]  # gate id -> result fields, of the new transition's gates
    approvals: dict[str, Any]
    measured: frozenset[str]  # the gates measured again (the others are the recorded ones)
    evaluated: bool  # False: an answer for equal inputs was reused


@dataclass(frozen=True)
class _Measured:
    """What evaluating one set of recorded inputs gave: kept for decisions with equal ones."""

    gates: dict[str, dict[str, Any]]
    approvals: dict[str, Any] | None  # None: not evaluated (the recorded status stands)


class _Unreplayable(Exception):
    """A decision whose recorded inputs cannot be evaluated again; the message says why."""


@dataclass
class _Run:
    new: LoadedPolicy
    stored: dict[int, PolicyRecord]
    evidence: EvidenceSource
    registry: GateRegistry | None
    tx: Tx  # the read transaction: a result read whole when its picked values do not say
    layout: _Layout  # enough
    plans: dict[tuple[int, str | None, str, str], _Plan] = field(default_factory=dict)
    answers: dict[tuple[Any, ...], _Measured] = field(default_factory=dict)
    tally: Counter[str] = field(default_factory=Counter)
    gate_changes: Counter[str] = field(default_factory=Counter)
    changed: list[ChangedDecision] = field(default_factory=list)
    unreplayable: list[UnreplayableDecision] = field(default_factory=list)
    # (model, version) -> its latest decision into the production stage, when it passed and
    # would not now: (decision, outcome now, gates that would block it)
    latest: dict[tuple[str, str], tuple[int, Outcome, list[str]] | None] = field(
        default_factory=dict
    )

    @property
    def production_stage(self) -> str:
        return self.new.policy.workflow.production_stage

    def decide(self, record: ScannedDecision) -> None:
        inputs, picked = record.inputs, record.picked
        model, version = _names(inputs)
        self.tally["examined"] += 1
        recorded = _statuses(picked, self.layout)
        partial = recorded is not None  # picked values only: the results whole when needed
        if recorded is None:
            recorded = self._whole(record.id)
        try:
            after = self._after(record, recorded)
        except _Unreplayable as exc:
            self.tally["unreplayable"] += 1
            if len(self.unreplayable) < MAX_LISTED:
                self.unreplayable.append(
                    UnreplayableDecision(
                        decision=record.id,
                        request=record.request_id,
                        model=model,
                        version=version,
                        reason=str(exc),
                    )
                )
            return
        before: Outcome = record.outcome
        self.tally["evaluated"] += after.evaluated
        to_stage = inputs.get("to")
        if to_stage == self.production_stage and (model, version) not in self.latest:
            # newest first: the first seen is the version's latest decision into production
            fails = before == "allow" and after.outcome != "allow"
            self.latest[model, version] = (
                (record.id, after.outcome, _blocking(after.gates)) if fails else None
            )
        if after.outcome == before:
            self.tally["same"] += 1
        elif after.outcome == "deny":
            self.tally["newly_blocked"] += 1
        elif before == "deny":
            self.tally["newly_allowed"] += 1
        else:
            self.tally["approvals_changed"] += 1
        gates = _gate_changes(recorded, after)
        if partial and any("observed" not in recorded.get(g.gate_id, {}) for g in gates):
            gates = _gate_changes(self._whole(record.id), after)  # what they observed then
        for g in gates:
            self.gate_changes[g.gate_id] += 1
        if after.outcome == before:
            return
        if len(self.changed) < MAX_LISTED:
            policy = self.stored[record.policy_id]
            self.changed.append(
                ChangedDecision(
                    decision=record.id,
                    request=record.request_id,
                    model=model,
                    version=version,
                    from_stage=inputs.get("from"),
                    to_stage=str(to_stage),
                    decided_under=f"{policy.name} {policy.version}",
                    before=before,
                    after=after.outcome,
                    gates=gates,
                    approvals=_approval_change(picked[_FIELD["approvals"]], after.approvals),
                )
            )

    def absorb(self, part: _Part) -> None:
        """A later (older) range's answers, as if decided here after the ones so far."""
        self.tally.update(part.tally)
        self.gate_changes.update(part.gate_changes)
        self.changed += part.changed[: MAX_LISTED - len(self.changed)]
        self.unreplayable += part.unreplayable[: MAX_LISTED - len(self.unreplayable)]
        for key, fails in part.latest.items():
            self.latest.setdefault(key, fails)  # the newest decision of each version counts

    def _whole(self, decision_id: int) -> dict[str, dict[str, Any]]:
        """The decision's recorded gate results whole, by id (read again: rarely needed)."""
        found = self.tx.get_decision(str(decision_id))
        return _by_id(found[0].result.get("gates")) if found else {}

    def _after(self, record: ScannedDecision, recorded: dict[str, dict[str, Any]]) -> _After:
        """The new policy's answer: the recorded results of the gates that stand, the others
        measured under the new policy (all of them when the engine's methods changed)."""
        inputs, picked = record.inputs, record.picked
        try:
            plan = self._plan(record.policy_id, inputs["from"], inputs["to"], inputs["change_type"])
            for name in ("version_digest", "approvals_digest", "waivers_digest", "now"):
                if picked[_FIELD[name]] is None:
                    raise KeyError(name)
            key = (
                record.policy_id,
                inputs["from"],
                inputs["to"],
                inputs["change_type"],
                inputs["requester"],
                inputs["artifact_blob"],
                *picked[1 : len(_HEAD)],  # the digests, the clock and the methods
            )
            hash(key)
        except (KeyError, TypeError) as exc:
            raise _Unreplayable(f"its recorded inputs lack {exc}") from None
        if plan.transition is None:
            raise _Unreplayable(plan.refused or "not evaluable under the new policy")
        gate_ids = plan.transition.gates
        full = picked[_FIELD["methods"]] != METHODS  # the engine measures differently now
        measure = [g for g in gate_ids if full or g in plan.measure or g not in recorded]
        approvals = picked[_FIELD["approvals"]]
        evaluated = False
        if measure or not plan.approvals_stand or not isinstance(approvals, dict):
            again = not plan.approvals_stand or not isinstance(approvals, dict)
            known = self.answers.get(key)
            if known is None or (again and known.approvals is None):
                evaluated = True
                known = self._measure(record, plan.transition, measure, again)
                if len(self.answers) >= MAX_KEPT:
                    self.answers.clear()
                self.answers[key] = known
            measured = known.gates
            if again:
                approvals = known.approvals
        else:
            measured = {}
        gates = {g: measured[g] if g in measured else recorded[g] for g in gate_ids}
        return _After(_outcome(gates, approvals), gates, approvals, frozenset(measured), evaluated)

    def _plan(self, policy_id: int, from_stage: str | None, to: str, change: str) -> _Plan:
        key = (policy_id, from_stage, to, change)
        plan = self.plans.get(key)
        if plan is None:
            old = load_recorded(self.stored[policy_id])
            plan = self.plans[key] = _make_plan(
                old, self.new, from_stage, to, change, self.registry
            )
        return plan

    def _measure(
        self, record: ScannedDecision, transition: Transition, measure: list[str], again: bool
    ) -> _Measured:
        """The ``measure`` gates' results under the new policy; with ``again`` the approval
        status too (a full evaluation of those gates, which digests the version), else only
        the gates (``measure_gates``: no digests, the sign-offs not read)."""
        inputs = record.inputs
        approvals: dict[str, Any] | None = None
        try:
            version = ModelVersion.model_validate(inputs["version"])
            reader = _Reads(self.evidence.open(version, inputs["artifact_blob"]))
            now = dt.datetime.fromisoformat(inputs["now"])
            waivers = [Waiver.model_validate(w) for w in inputs["waivers"]]
            change, requester = inputs["change_type"], inputs["requester"]
            if again:
                narrowed = (
                    transition
                    if measure == transition.gates
                    else transition.model_copy(update={"gates": measure})
                )
                signed = [Approval.model_validate(a) for a in inputs["approvals"]]
                decision = evaluate(
                    Evaluation(
                        self.new,
                        narrowed,
                        version,
                        reader,
                        now,
                        approvals=signed,
                        waivers=waivers,
                        change_type=change,
                        requester=requester,
                    ),
                    registry=self.registry,
                )
                results = list(decision.gates)
                approvals = decision.approvals.model_dump(mode="json")
            else:
                request = Evaluation(
                    self.new,
                    transition,
                    version,
                    reader,
                    now,
                    waivers=waivers,
                    change_type=change,
                    requester=requester,
                )
                results = list(measure_gates(request, measure, registry=self.registry).values())
        except (KeyError, TypeError) as exc:
            raise _Unreplayable(f"its recorded inputs lack {exc}") from None
        except (ValidationError, ValueError) as exc:
            raise _Unreplayable(f"its recorded inputs are invalid: {_first_line(exc)}") from None
        except InputError as exc:  # a transition or change type the new policy refuses
            raise _Unreplayable(f"not evaluable under the new policy: {exc}") from None
        if reader.failed:
            read_then = {
                n for r in self._whole(record.id).values() for n in (r.get("evidence") or {})
            }
            gone = sorted(name for name in reader.failed if name in read_then)
            if gone:
                raise _Unreplayable(
                    f"evidence {', '.join(gone)} can no longer be read (gone from the blob "
                    "store); the decision read it when it was made"
                )
        return _Measured({g.gate_id: g.model_dump(mode="json") for g in results}, approvals)

    def report(
        self,
        *,
        replaces: str,
        since: dt.date | None,
        limit: int,
        more: bool,
        production_stage: str,
        in_production: set[tuple[str, str]],
        changes: list[str],
    ) -> BacktestOut:
        at_risk = [
            ProductionAtRisk(
                model=model, version=version, decision=d, before="allow", after=now, gates=gates
            )
            for (model, version), fails in sorted(self.latest.items())
            if fails is not None and (model, version) in in_production
            for d, now, gates in [fails]
        ]
        t = self.tally
        return BacktestOut(
            policy=f"{self.new.name} {self.new.version} ({self.new.content_hash[:12]})",
            replaces=replaces,
            since=since,
            limit=limit,
            examined=t["examined"],
            more=more,
            same=t["same"],
            newly_blocked=t["newly_blocked"],
            newly_allowed=t["newly_allowed"],
            approvals_changed=t["approvals_changed"],
            unreplayable=t["unreplayable"],
            evaluated=t["evaluated"],
            gate_changes=dict(sorted(self.gate_changes.items())),
            production_stage=production_stage,
            production_at_risk=at_risk,
            changed=self.changed,
            unreplayable_decisions=self.unreplayable,
            policy_changes=changes,
        )


def _make_plan(
    old: LoadedPolicy,
    new: LoadedPolicy,
    from_stage: str | None,
    to: str,
    change: str,
    registry: GateRegistry | None,
) -> _Plan:
    try:
        transition = resolve_transition(new, from_stage, to)
    except InputError as exc:  # NotFound and TransitionRefused are InputErrors
        return _Plan(None, f"not evaluable under the new policy: {exc}", (), False)
    before = old.policy.transition(from_stage, to) if from_stage is not None else None
    reg = registry or default_registry()
    old_bypass, new_bypass = _bypass(old.policy, change), _bypass(new.policy, change)
    same_settings = old.policy.settings == new.policy.settings

    def unchanged(gid: str) -> bool:
        return (
            before is not None
            and gid in before.gates
            and same_settings
            and _spec(old.policy, gid) == _spec(new.policy, gid)
            and old.params.get(gid) == new.params.get(gid)
            and (gid in old_bypass) == (gid in new_bypass)
        )

    def family(policy: Policy, gates: Sequence[str]) -> set[str]:
        """The gates whose type joins the Holm family: each one's result depends on all."""
        specs = {g: _spec(policy, g) for g in gates}
        return {
            g for g, s in specs.items() if s and s.type in reg and in_holm_family(reg.get(s.type))
        }

    # a hypothesis test stands only with its whole family: else all of it is measured again
    tests = family(new.policy, transition.gates)
    tests_stand = tests == family(old.policy, before.gates if before else []) and all(
        unchanged(g) for g in tests
    )

    def stands(gid: str) -> bool:
        return unchanged(gid) and (gid not in tests or tests_stand)

    measure = tuple(g for g in transition.gates if not stands(g))
    approvals_stand = (
        before is not None
        and _requirements(old.policy, before, change)
        == _requirements(new.policy, transition, change)
        and old.policy.approval_rules == new.policy.approval_rules
    )
    return _Plan(transition, None, measure, approvals_stand)


def _spec(policy: Policy, gate_id: str) -> Any:
    return next((g for g in policy.gates if g.id == gate_id), None)


def _bypass(policy: Policy, change: str) -> set[str]:
    ctype = policy.change_types.get(change)  # type: ignore[call-overload]
    return set(ctype.bypass) if ctype is not None else set()


def _requirements(policy: Policy, transition: Transition, change: str) -> list[ApprovalRequirement]:
    """The approvals the engine asks for: the change type's when it names some."""
    ctype = policy.change_types.get(change)  # type: ignore[call-overload]
    if ctype is not None and ctype.approvals is not None:
        return list(ctype.approvals)
    return list(transition.approvals)


def _outcome(gates: Mapping[str, Mapping[str, Any]], approvals: Mapping[str, Any]) -> Outcome:
    """The engine's reduction: a blocking gate or a rejection denies, missing sign-offs
    hold, else allow (``core.engine._outcome``; the tests hold the two equal)."""
    if _blocking(gates):
        return "deny"
    status = ApprovalStatus.model_validate(approvals)
    if status.rejected_by:
        return "deny"
    return "allow" if status.satisfied else "needs_approval"


def _blocking(gates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [g for g, r in gates.items() if r.get("status") in _BLOCKING]


def _by_id(gates: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(gates, list):
        return {}
    return {g["gate_id"]: g for g in gates if isinstance(g, dict) and "gate_id" in g}


def _gate_changes(before: dict[str, dict[str, Any]], after: _After) -> list[GateChange]:
    """The gates whose status moved: only a measured gate, or one that joined or left the
    transition, can have (the others are the recorded results themselves)."""
    out: list[GateChange] = []
    candidates = after.measured | (before.keys() ^ after.gates.keys())
    if not any(
        (before.get(g) or {}).get("status") != (after.gates.get(g) or {}).get("status")
        or (g in before) != (g in after.gates)
        for g in candidates
    ):
        return out
    order = [*after.gates, *(g for g in before if g not in after.gates)]
    for gid in (g for g in order if g in candidates):
        a, b = before.get(gid), after.gates.get(gid)
        was = str(a.get("status")) if a else "absent"
        now = str(b.get("status")) if b else "absent"
        if was != now:
            out.append(
                GateChange(
                    gate_id=gid,
                    before=was,
                    after=now,
                    observed_before=a.get("observed") if a else None,
                    threshold_before=a.get("threshold") if a else None,
                    observed_after=b.get("observed") if b else None,
                    threshold_after=b.get("threshold") if b else None,
                    message_after=b.get("message") if b else None,
                )
            )
    return out


def _approval_change(before: Any, after: Mapping[str, Any]) -> str | None:
    def text(data: Any) -> str:
        try:
            status = ApprovalStatus.model_validate(data)
        except ValidationError:
            return "unreadable"
        if status.rejected_by:
            return f"rejected by {', '.join(status.rejected_by)}"
        if status.satisfied:
            return "complete"
        return "pending " + ", ".join(
            f"{r.role} ({len(r.approved_by)}/{r.required})" for r in status.pending
        )

    was, now = text(before), text(after)
    return None if was == now else f"{was} -> {now}"


def _names(inputs: Mapping[str, Any]) -> tuple[str, str]:
    version = inputs.get("version")
    if isinstance(version, dict):
        model = version.get("model")
        name = model.get("name") if isinstance(model, dict) else None
        return str(name or "?"), str(version.get("version") or "?")
    return "?", "?"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _Reads:
    """The evidence reader, noting every read that failed (absent or unreadable): a read
    that worked when the decision was made and fails now makes it unreplayable."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failed: set[str] = set()

    def read_bytes(self, name: str) -> bytes:
        try:
            data: bytes = self._inner.read_bytes(name)
        except (KeyError, OSError):
            self.failed.add(name)
            raise
        return data

    def read_columns(self, name: str, columns: Sequence[str]) -> Any:
        try:
            return self._inner.read_columns(name, columns)
        except (KeyError, OSError):
            self.failed.add(name)
            raise

    def read_artifact(self, max_bytes: int) -> bytes:
        try:
            data: bytes = self._inner.read_artifact(max_bytes)
        except (KeyError, OSError):
            self.failed.add("artifact")
            raise
        return data

    def artifact_sha256(self) -> str | None:
        sha: str | None = self._inner.artifact_sha256()
        return sha

    def __getattr__(self, name: str) -> Any:
        """The inner reader's other capabilities, as it has them; its dataset reads
        (``read_batches``, ``dataset_rows``) noted like the others."""
        found = getattr(self._inner, name)
        if name not in ("read_batches", "dataset_rows"):
            return found

        def noted(dataset: str, *args: Any) -> Any:
            try:
                return found(dataset, *args)
            except (KeyError, OSError):
                self.failed.add(dataset)
                raise

        return noted
