"""Read models: where every model and version stands, and what happened to them.

The views are typed records: the service returns them, the API serves them as its response
models and the SDK parses them back, so every transport shows the same fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from clearance.core.approvals import Approval
from clearance.core.durations import parse_duration
from clearance.core.results import Decision
from clearance.errors import ClearanceError, NotFound
from clearance.service import paging
from clearance.service.context import (
    close_names,
    governing_record,
    load_recorded,
    require_model,
    require_request,
    require_user,
    require_version,
)
from clearance.service.monitor_trail import MonitorBrief, latest_runs
from clearance.service.paging import check_page
from clearance.service.ports import Clock, ModelTally, Store, Tx
from clearance.service.records import (
    OPEN_STATUSES,
    DecisionBrief,
    ModelRecord,
    PolicyRecord,
    RequestRecord,
    RequestStatus,
    RolloutRecord,
    RolloutState,
    StoredEvidence,
    StoredOutcome,
    User,
    VersionRecord,
)

# A list of models reads records and policies' selectors only: the decision engine (a
# request's approval rules) and the governance rules (an overdue post-incident review) are
# imported by the functions that apply them, so ``clearance status`` loads neither.
if TYPE_CHECKING:
    from clearance.core.audit import AuditEvent

T = TypeVar("T")


class View(BaseModel):
    # validators are built when first used: a command shows one or two of these views
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class RequestRow(View):
    """A promotion request as lists show it, with its latest decision in brief."""

    id: int
    model: str
    version: str
    from_stage: str = Field(alias="from")
    to: str
    change_type: str
    requester: str
    reason: str
    ticket: str
    status: RequestStatus
    created_at: str
    updated_at: str
    decision: int | None = Field(description="Number of the latest decision.")
    outcome: StoredOutcome | None
    summary: str | None


class DecisionRef(View):
    id: int
    digest: str
    outcome: StoredOutcome
    at: str


class RequestDetail(RequestRow):
    """One request with its sign-offs and every decision (the latest in full)."""

    approvals: list[Approval]
    decisions: list[DecisionRef]
    latest_decision: Decision | None = Field(description="The Decision as recorded.")


class VersionStage(View):
    version: str
    stage: str
    since: str
    registered_by: str


class EmergencyChange(View):
    request: int
    version: str
    executed_at: str
    review: bool = Field(description="Whether its post-incident review is recorded.")


class RunningRollout(View):
    id: int
    version: str
    status: RolloutState
    traffic: float


class ModelStatus(View):
    """Where a model's versions stand, its governing policy, and what is open or owed."""

    model: str
    risk_tier: str
    owner: str
    team: str
    tags: dict[str, str]
    policy: str = Field(description="name@version, or 'none: why'.")
    versions: list[VersionStage]
    open_requests: list[RequestRow]
    emergency_changes: list[EmergencyChange]
    non_compliant: list[str]
    rollouts: list[RunningRollout]
    monitors: list[MonitorBrief] = Field(
        default_factory=list,
        description="Each production monitor's latest run (docs/monitoring.md).",
    )


Compliance = Literal["compliant", "waiver active", "emergency review due", "non-compliant"]


def compliance(status: ModelStatus, waiver_active: bool) -> Compliance:
    """The one compliance verdict a model's lists and pages show, worst first: an overdue
    post-incident review, an emergency change still awaiting its review, a waived gate."""
    if status.non_compliant:
        return "non-compliant"
    if any(not e.review for e in status.emergency_changes):
        return "emergency review due"
    if waiver_active:
        return "waiver active"
    return "compliant"


class ModelSummary(View):
    """A model as a list shows it: who owns it, which versions serve and which came last,
    and counts, read set-based for the whole page. Its full status (every version's stage,
    open requests, emergency changes, compliance) is the model's own read."""

    model: str
    risk_tier: str
    owner: str
    team: str
    tags: dict[str, str]
    production: list[str] = Field(description="Versions holding a production slot, oldest first.")
    latest: str | None = Field(description="The version registered last (null: none yet).")
    versions: int = Field(description="How many versions are registered.")
    open_requests: int = Field(description="Promotion requests pending or blocked.")
    latest_stage: str | None = Field(
        description="The stage of the version registered last (null: none yet)."
    )
    compliance: Compliance = Field(
        description="Worst first: non-compliant (a post-incident review overdue), emergency "
        "review due, waiver active, compliant."
    )


class QueueItem(View):
    """An open request waiting for a sign-off the actor may give, and how long it has waited."""

    request: RequestRow
    roles: list[str] = Field(description="The required roles the actor holds.")
    age_seconds: int = Field(description="Seconds since the request was opened.")
    approval_sla: str | None = Field(description="The transition's approval SLA, if any.")
    overdue: bool = Field(description="Whether it has waited longer than its SLA.")


class CursorPage(View, Generic[T]):
    """One page of a list in key order. Ask for the following one with ``cursor`` set to
    ``next`` (null on the last page): each page then costs the same however deep it is.
    ``offset`` still skips rows (after the cursor, when one is given), at the cost of reading
    them."""

    items: list[T]
    total: int | None = Field(
        description="How many rows match the filters, in all; null on a page asked for by "
        "cursor (the first page counted them: a deep page does not read every row again)."
    )
    limit: int
    offset: int
    next: str | None = Field(description="The cursor of the following page; null on the last.")


# The lists' pages, made once: pydantic holds parametrised models weakly, and building one
# again (its schema and validator) would cost a page more than its queries do.
ModelPage = CursorPage[ModelSummary]
VersionPage = CursorPage[VersionRecord]
RequestPage = CursorPage[RequestRow]
QueuePage = CursorPage[QueueItem]


@dataclass(frozen=True)
class Listing(Generic[T]):
    """Some of a list and how long the whole list is (kept for the transports' paged
    operations; the registry's lists answer a ``CursorPage``)."""

    items: list[T]
    total: int


@dataclass(frozen=True)
class Views:
    store: Store
    clock: Clock

    def status(self, model: str | None = None) -> list[ModelStatus]:
        """One model's full status, or every model's (read in chunks, by keyset)."""
        with self.store.reading() as tx:
            now = self.clock.now()
            if model:
                return _monitored(tx, [require_model(tx, model)], now)
            out: list[ModelStatus] = []
            after = None
            while chunk := tx.model_page(after=after, limit=STATUS_CHUNK, count=False)[0]:
                out += _monitored(tx, chunk, now)
                after = chunk[-1].name
            return out

    def model_status(self, model: str) -> ModelStatus:
        return self.status(model)[0]

    def models(
        self,
        *,
        risk_tier: str | None = None,
        team: str | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> ModelPage:
        """A page of models by name (optionally filtered), each summarised with its
        compliance: the page, its tallies, its statuses (``_statuses``, one query per kind)
        and the active waivers take a fixed number of queries, whatever its size or depth."""
        check_page(limit, offset)
        filters = {"risk_tier": risk_tier, "team": team}
        after = paging.decode(cursor, "models", filters, str)
        with self.store.reading() as tx:
            chosen, total = tx.model_page(
                risk_tier=risk_tier,
                team=team,
                after=after,
                limit=limit + 1,
                offset=offset,
                count=cursor is None,
            )
            shown = chosen[:limit]
            ids = [m.id for m in shown]
            tallies = tx.model_tallies(ids, statuses=OPEN_STATUSES)
            now = self.clock.now()
            statuses = _statuses(tx, shown, now) if shown else []
            waived = {w.model for w in tx.list_waivers() if w.state(now) == "active"}
        return ModelPage(
            items=[
                _summary(m, tallies[m.id], s, s.model in waived)
                for m, s in zip(shown, statuses, strict=True)
            ],
            total=total,
            limit=limit,
            offset=offset,
            next=_next("models", filters, shown[-1].name if len(chosen) > limit else None),
        )

    def versions(
        self,
        model: str,
        *,
        stage: str | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> VersionPage:
        """A page of the model's versions, oldest first (only those in ``stage``, when
        given)."""
        check_page(limit, offset)
        filters = {"model": model, "stage": stage}
        after = paging.decode(cursor, "versions", filters, int)
        with self.store.reading() as tx:
            found = require_model(tx, model)
            chosen, total = tx.version_page(
                found.id,
                stage=stage,
                after=after,
                limit=limit + 1,
                offset=offset,
                count=cursor is None,
            )
        shown = chosen[:limit]
        return VersionPage(
            items=shown,
            total=total,
            limit=limit,
            offset=offset,
            next=_next("versions", filters, shown[-1].id if len(chosen) > limit else None),
        )

    def version(self, model: str, version: str) -> VersionRecord:
        with self.store.reading() as tx:
            return require_version(tx, require_model(tx, model), version)

    def evidence(self, model: str, version: str) -> list[StoredEvidence]:
        """Every evidence item attached to the version, in order (later supersedes)."""
        with self.store.reading() as tx:
            return tx.evidence_for(require_version(tx, require_model(tx, model), version).id)

    def policies(self, *, name: str | None = None) -> list[PolicyRecord]:
        """Applied policies, every version, oldest first (only ``name``'s, when given)."""
        with self.store.reading() as tx:
            return [p for p in tx.list_policies() if name is None or p.name == name]

    def policy(self, name: str, version: str) -> PolicyRecord:
        """One applied policy version with its source files, as it was applied."""
        with self.store.reading() as tx:
            record = tx.get_policy(name, version)
            if record is None:
                applied = [p.version for p in tx.list_policies() if p.name == name]
                hint = close_names(version, applied, f"versions of policy {name}")
                raise NotFound(f"no policy {name} version '{version}' ({hint})")
            return record

    def users(self) -> list[User]:
        with self.store.reading() as tx:
            return tx.list_users()

    def user(self, name: str) -> User:
        with self.store.reading() as tx:
            return require_user(tx, name)

    def history(self, model: str) -> list[AuditEvent]:
        with self.store.reading() as tx:
            require_model(tx, model)
            return list(tx.events(model=model))

    def requests(
        self,
        *,
        model: str | None = None,
        status: Literal["open"] | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> RequestPage:
        """A page of requests, oldest first, and their total (``open``: pending or blocked
        only); only the page's rows are built."""
        check_page(limit, offset)
        filters = {"model": model, "status": status}
        after = paging.decode(cursor, "requests", filters, int)
        with self.store.reading() as tx:
            model_id = require_model(tx, model).id if model else None
            statuses = OPEN_STATUSES if status == "open" else ()
            chosen, total = tx.request_page(
                model_id=model_id,
                statuses=statuses,
                after=after,
                limit=limit + 1,
                offset=offset,
                count=cursor is None,
            )
            shown = chosen[:limit]
            rows = _request_rows(tx, shown)
        return RequestPage(
            items=rows,
            total=total,
            limit=limit,
            offset=offset,
            next=_next("requests", filters, shown[-1].id if len(chosen) > limit else None),
        )

    def request(self, request_id: int) -> RequestDetail:
        with self.store.reading() as tx:
            return _request(tx, require_request(tx, request_id))

    def approval_queue(
        self, *, actor: str, limit: int = 50, cursor: str | None = None
    ) -> QueuePage:
        """A page of the open requests, oldest first, waiting for a sign-off ``actor`` may
        give: one whose transition (or change type) requires a role they hold, not their
        own, not yet signed by them.

        The open requests are read in keyset chunks and sorted out by the policies' rules in
        memory (none read when no policy asks for the actor's roles); the sign-offs of the
        chunk's requests the actor may sign are read in one query. ``total`` is null:
        counting would read every open request's sign-offs."""
        check_page(limit, 0)
        filters: dict[str, str | None] = {"queue": actor}
        after = paging.decode(cursor, "requests", filters, int)
        with self.store.reading() as tx:
            user = require_user(tx, actor)
            now = self.clock.now()
            held = set(user.roles)
            policies = {p.id: p for p in tx.list_policies()}
            chosen: list[tuple[RequestRecord, list[str], str | None]] = []
            more = False
            asked = any(_asks_for(p, held) for p in policies.values())
            while asked and not more:  # no applied policy asks for their roles: no read
                chunk, _ = tx.request_page(
                    statuses=OPEN_STATUSES, after=after, limit=QUEUE_CHUNK, count=False
                )
                due = []
                for r in chunk:
                    if r.requester == actor or r.policy_id not in policies:
                        continue
                    needed, sla = _requirements(policies[r.policy_id], r)
                    roles = sorted(needed & held)
                    if roles:
                        due.append((r, roles, sla))
                signed = tx.approvals_of([r.id for r, _, _ in due]) if due else {}
                for r, roles, sla in due:
                    if all(a.approver != actor for a in signed.get(r.id, ())):
                        if len(chosen) == limit:
                            more = True
                            break
                        chosen.append((r, roles, sla))
                if len(chunk) < QUEUE_CHUNK:
                    break
                after = chunk[-1].id
            rows = _request_rows(tx, [r for r, _, _ in chosen])
        items = []
        for row, (r, roles, sla) in zip(rows, chosen, strict=True):
            opened = r.created_at
            age = now - (opened if opened.tzinfo else opened.replace(tzinfo=dt.UTC))
            late = sla is not None and age > parse_duration(sla)
            seconds = max(0, int(age.total_seconds()))
            items.append(
                QueueItem(
                    request=row, roles=roles, age_seconds=seconds, approval_sla=sla, overdue=late
                )
            )
        return QueuePage(
            items=items,
            total=None,
            limit=limit,
            offset=0,
            next=_next("requests", filters, chosen[-1][0].id if more else None),
        )


QUEUE_CHUNK = 500  # open requests read at once while looking for an actor's queue page
STATUS_CHUNK = 500  # models per batch of set-based queries when every model's status is asked


class _PageReads:
    """What a page of models shows, read with one query per kind (not one per model). As a
    ``Tx`` it answers the policy reads of ``governing_policy`` and ``review_deadline`` from
    memory too; every other read goes through to the transaction."""

    def __init__(self, tx: Tx, models: Sequence[ModelRecord]) -> None:
        self.tx = tx
        ids = [m.id for m in models]
        self.policies = tx.list_policies()
        self.versions = tx.versions_of(ids)
        self.version = {v.id: v for vs in self.versions.values() for v in vs}
        self.open = _by_model(ids, tx.requests_of(ids, statuses=OPEN_STATUSES))
        emergencies = tx.requests_of(ids, statuses=("executed",), change_type="emergency")
        self.emergencies = _by_model(ids, emergencies)
        self.reviews = tx.reviews_for([r.id for r in emergencies])
        self.rollouts: dict[int, list[RolloutRecord]] = {i: [] for i in ids}
        for rollout in tx.rollouts_of(ids, status="running"):
            self.rollouts[rollout.model_id].append(rollout)
        self.latest = tx.latest_decisions([r.id for rs in self.open.values() for r in rs])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)

    def list_policies(self) -> list[PolicyRecord]:
        return list(self.policies)

    def policy_by_id(self, policy_id: int) -> PolicyRecord:
        found = [p for p in self.policies if p.id == policy_id]
        return found[0] if found else self.tx.policy_by_id(policy_id)

    def version_by_id(self, version_id: int) -> VersionRecord:
        found = self.version.get(version_id)
        return found if found is not None else self.tx.version_by_id(version_id)

    def as_tx(self) -> Tx:
        return cast(Tx, self)

    def overdue(self, model_id: int, now: dt.datetime) -> list[str]:
        """``governance.compliance_issues`` over the page's reads (only executed emergency
        changes owe a review)."""
        executed = self.emergencies[model_id]
        if not executed:  # the common case: nothing owed, and no governance rules to load
            return []
        from clearance.service.governance import overdue_reviews, review_deadline

        deadline = partial(review_deadline, self.as_tx())
        return overdue_reviews(executed, self.reviews, deadline, now)


def _asks_for(policy: PolicyRecord, roles: set[str]) -> bool:
    """Whether any transition or change type of ``policy`` requires one of ``roles``."""
    loaded = load_recorded(policy).policy
    needs = [a for t in loaded.workflow.transitions for a in t.approvals]
    needs += [a for c in loaded.change_types.values() for a in (c.approvals or ())]
    return any(a.role in roles for a in needs)


def _requirements(policy: PolicyRecord, request: RequestRecord) -> tuple[set[str], str | None]:
    """The roles that must sign ``request`` off under the policy it was decided by (its
    change type's approvals when that names its own, else its transition's), and the
    transition's approval SLA; none when the policy no longer resolves the transition."""
    from clearance.core.engine import resolve_transition

    loaded = load_recorded(policy)  # parsed once per process
    try:
        transition = resolve_transition(loaded, request.from_stage, request.to_stage)
    except ClearanceError:
        return set(), None
    ctype = loaded.policy.change_types.get(request.change_type)  # type: ignore[call-overload]
    needed = ctype.approvals if ctype and ctype.approvals is not None else transition.approvals
    return {a.role for a in needed}, transition.approval_sla


def _by_model(
    ids: Sequence[int], records: Sequence[RequestRecord]
) -> dict[int, list[RequestRecord]]:
    grouped: dict[int, list[RequestRecord]] = {i: [] for i in ids}
    for r in records:
        grouped[r.model_id].append(r)
    return grouped


def _summary(
    model: ModelRecord, tally: ModelTally, status: ModelStatus, waiver_active: bool
) -> ModelSummary:
    return ModelSummary(
        model=model.name,
        risk_tier=model.risk_tier,
        owner=model.owner,
        team=model.team,
        tags=model.tags,
        production=list(tally.production),
        latest=tally.latest,
        versions=tally.versions,
        open_requests=tally.requests,
        latest_stage=status.versions[-1].stage if status.versions else None,
        compliance=compliance(status, waiver_active),
    )


def _next(
    name: paging.ListName, filters: dict[str, str | None], last: paging.Key | None
) -> str | None:
    """The cursor after the page's last row, when more rows follow."""
    return None if last is None else paging.encode(name, filters, last)


def _monitored(tx: Tx, models: Sequence[ModelRecord], now: dt.datetime) -> list[ModelStatus]:
    """The statuses with each model's latest monitor runs (from its audit events)."""
    statuses = _statuses(tx, models, now)
    return [
        s.model_copy(update={"monitors": latest_runs(tx, m)})
        for s, m in zip(statuses, models, strict=True)
    ]


def _statuses(tx: Tx, models: Sequence[ModelRecord], now: dt.datetime) -> list[ModelStatus]:
    page = _PageReads(tx, models)
    return [_model_status(page, m, now) for m in models]


def _model_status(page: _PageReads, model: ModelRecord, now: dt.datetime) -> ModelStatus:
    try:
        record = governing_record(page.as_tx(), model)  # chosen by selector: no full parse
        policy = f"{record.name}@{record.version}"
    except ClearanceError as exc:
        policy = f"none: {exc}"
    versions = [
        VersionStage(
            version=v.version,
            stage=v.stage,
            since=v.stage_changed_at.isoformat(),
            registered_by=v.registered_by,
        )
        for v in page.versions[model.id]
    ]
    open_requests = [
        _row(r, model.name, page.version_by_id(r.version_id).version, page.latest.get(r.id))
        for r in page.open[model.id]
    ]
    return ModelStatus(
        model=model.name,
        risk_tier=model.risk_tier,
        owner=model.owner,
        team=model.team,
        tags=model.tags,
        policy=policy,
        versions=versions,
        open_requests=open_requests,
        emergency_changes=[
            EmergencyChange(
                request=r.id,
                version=page.version_by_id(r.version_id).version,
                executed_at=r.updated_at.isoformat(),
                review=r.id in page.reviews,
            )
            for r in page.emergencies[model.id]
        ],
        non_compliant=page.overdue(model.id, now),
        rollouts=[
            RunningRollout(
                id=r.id,
                version=page.version_by_id(r.version_id).version,
                status=r.status,
                traffic=r.traffic,
            )
            for r in page.rollouts[model.id]
        ],
    )


def _request_rows(tx: Tx, records: Sequence[RequestRecord]) -> list[RequestRow]:
    """List rows: the versions' and models' names, and the latest decisions, in one query
    each (no version's registration record is read)."""
    latest = tx.latest_decisions([r.id for r in records])
    names = tx.version_names([r.version_id for r in records])
    return [_row(r, *names[r.version_id], latest.get(r.id)) for r in records]


def _row_fields(
    r: RequestRecord, model: str, version: str, latest: DecisionBrief | None
) -> dict[str, object]:
    return {
        "id": r.id,
        "model": model,
        "version": version,
        "from_stage": r.from_stage,
        "to": r.to_stage,
        "change_type": r.change_type,
        "requester": r.requester,
        "reason": r.reason,
        "ticket": r.ticket,
        "status": r.status,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "decision": None if latest is None else latest.id,
        "outcome": None if latest is None else latest.outcome,
        "summary": None if latest is None else latest.summary,
    }


def _row(r: RequestRecord, model: str, version: str, latest: DecisionBrief | None) -> RequestRow:
    return RequestRow.model_validate(_row_fields(r, model, version, latest))


def _request(tx: Tx, r: RequestRecord) -> RequestDetail:
    """One request in full: the list row, its approvals and every decision."""
    decisions = tx.decisions_for(r.id)
    latest = decisions[-1] if decisions else None
    brief = (
        None
        if latest is None
        else DecisionBrief(
            id=latest.id, outcome=latest.outcome, summary=latest.result.get("summary")
        )
    )
    version = tx.version_by_id(r.version_id).version
    fields = _row_fields(r, tx.model_by_id(r.model_id).name, version, brief)
    return RequestDetail.model_validate(
        {
            **fields,
            "approvals": tx.approvals_for(r.id),
            "decisions": [
                DecisionRef(
                    id=d.id, digest=d.digest, outcome=d.outcome, at=d.created_at.isoformat()
                )
                for d in decisions
            ],
            "latest_decision": None if latest is None else Decision.model_validate(latest.result),
        }
    )
