"""``SqlStore``: the service layer's store port over SQLAlchemy, for SQLite and PostgreSQL.

Every use case runs in one ``transaction()``: its state changes and its audit events commit
together or not at all (invariant 1). A writing transaction first locks the ``audit_head``
row, so writers take turns appending to the hash chain and never fork it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic_core import from_json
from sqlalchemy import (
    ARRAY,
    Engine,
    Select,
    String,
    Text,
    bindparam,
    cast,
    func,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from clearance.adapters.store import migrate
from clearance.adapters.store.access import AccessRepo
from clearance.adapters.store.analytics import AnalyticsRepo
from clearance.adapters.store.audit_log import AuditLogRepo
from clearance.adapters.store.database import Disconnected, one, read_engine
from clearance.adapters.store.governance import GovernanceRepo
from clearance.adapters.store.schema import (
    ApprovalRow,
    AuditHeadRow,
    DecisionRow,
    EvidenceRow,
    ModelRow,
    PolicyRow,
    RequestRow,
    ReviewRow,
    RolloutRow,
    UserRow,
    VersionRow,
)
from clearance.adapters.store.sessions import reading, shared_reads, write_session
from clearance.core.approvals import Approval
from clearance.core.hashing import canonical_json
from clearance.core.version import EvidenceItem
from clearance.errors import InputError, StoreConflict, StoreError
from clearance.service.ports import (
    MAX_SCAN,
    DecisionResult,
    ModelTally,
    ResultPath,
    ScannedDecision,
    checked_picks,
)
from clearance.service.records import (
    DecisionBrief,
    DecisionRecord,
    ModelRecord,
    PolicyRecord,
    RequestRecord,
    RequestStatus,
    ReviewRecord,
    RolloutRecord,
    RolloutState,
    StoredEvidence,
    StoredOutcome,
    User,
    VersionRecord,
)

MAX_ROW_ID = 2**31 - 1  # ids are INTEGER columns: 32-bit on PostgreSQL
MAX_OFFSET = 2**63 - 1  # SQL's LIMIT and OFFSET are 64-bit integers
FAULT_ENV = "CLEARANCE_TEST_SLEEP_BEFORE_COMMIT"  # crash tests kill the process in this window


class SqlStore:
    def __init__(self, engine: Engine, *, check_schema: bool = True) -> None:
        self.engine = engine
        self._reads = read_engine(engine)
        if check_schema:
            migrate.require_current(engine)

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        """One unit of work: commit on success, roll back on any exception. Inside an
        idempotent API call the call commits it, with its stored response (sessions.py)."""
        try:
            with write_session(self.engine) as session:
                tx = SqlTx(session, writing=True)
                tx.lock_head()
                yield tx
                session.flush()
                _fault_window()
        except IntegrityError as exc:
            raise StoreConflict(_integrity_message(exc)) from None
        except DataError as exc:
            raise InputError(f"the database refused a value: {_first_line(exc)}") from None
        except OperationalError as exc:
            raise StoreError(f"database error: {_first_line(exc)}") from None

    @contextmanager
    def reading(self) -> Iterator[SqlTx]:
        """Reads: SQLite's in one snapshot; PostgreSQL's each statement on its own (what READ
        COMMITTED gives inside a transaction too), so no BEGIN and ROLLBACK round trips. In
        an API request the reads share one session (``sessions.sharing_reads``)."""
        shared = shared_reads()
        session = None if shared is None else shared.enter(self._reads)
        if shared is not None and session is not None:
            keep = False
            try:
                with _read_errors():
                    yield SqlTx(session, writing=False)
                keep = not session.changed  # what a reading wrote is not kept
            finally:
                shared.leave(keep=keep)  # a failed one is not either
            return
        with reading(self._reads) as session:
            try:
                with _read_errors():
                    yield SqlTx(session, writing=False)
            finally:
                session.rollback()


@contextmanager
def _read_errors() -> Iterator[None]:
    try:
        yield
    except DataError as exc:
        raise InputError(f"the database refused a value: {_first_line(exc)}") from None
    except DBAPIError as exc:
        if exc.connection_invalidated:  # the pool has replaced its connections: retryable
            raise Disconnected(f"database connection lost: {_first_line(exc)}") from None
        raise StoreError(f"database error: {_first_line(exc)}") from None


def _fault_window() -> None:
    delay = os.environ.get(FAULT_ENV)
    if delay:
        time.sleep(float(delay))


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__


def _integrity_message(exc: IntegrityError) -> str:
    text = str(exc.orig).lower()
    if "production_slot" in text:
        return "another promotion took the production slot at the same time; re-run the request"
    if "model_version" in text or "versions.model_id, versions.version" in text:
        return "this version is already registered (versions are immutable)"
    return f"the change conflicts with stored data: {_first_line(exc)}"


def _j(value: Any) -> str:
    return canonical_json(value)


class SqlTx(GovernanceRepo, AccessRepo, AuditLogRepo, AnalyticsRepo):
    """Repository operations inside one transaction; returns records, never ORM rows."""

    def __init__(self, session: Session, *, writing: bool) -> None:
        self.s = session
        self.writing = writing
        self._head: AuditHeadRow | None = None

    def lock_head(self) -> None:
        stmt = select(AuditHeadRow).where(AuditHeadRow.id == 1)
        if self.s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        head = self.s.scalars(stmt).one_or_none()
        if head is None:
            raise StoreError("the audit chain head is missing; run `clearance db upgrade`")
        self._head = head

    # users -------------------------------------------------------------------------------
    def get_user(self, name: str) -> User | None:
        row = self.s.get(UserRow, name)
        return None if row is None else _user(row)

    def add_user(self, name: str, roles: Sequence[str], at: dt.datetime) -> User:
        row = UserRow(name=name, roles=_j(sorted(set(roles))), created_at=at)
        self.s.add(row)
        self.s.flush()
        return _user(row)

    def set_roles(self, name: str, roles: Sequence[str]) -> User:
        row = one(self.s, UserRow, name)
        row.roles = _j(sorted(set(roles)))
        return _user(row)

    def list_users(self) -> list[User]:
        return [_user(r) for r in self.s.scalars(select(UserRow).order_by(UserRow.name))]

    # models and versions -----------------------------------------------------------------
    def get_model(self, name: str) -> ModelRecord | None:
        row = self.s.scalars(select(ModelRow).where(ModelRow.name == name)).one_or_none()
        return None if row is None else _model(row)

    def model_by_id(self, model_id: int) -> ModelRecord:
        return _model(one(self.s, ModelRow, model_id))

    def add_model(
        self,
        *,
        name: str,
        risk_tier: str,
        owner: str,
        team: str,
        tags: dict[str, str],
        at: dt.datetime,
    ) -> ModelRecord:
        row = ModelRow(
            name=name, risk_tier=risk_tier, owner=owner, team=team, tags=_j(tags), created_at=at
        )
        self.s.add(row)
        self.s.flush()
        return _model(row)

    def list_models(self) -> list[ModelRecord]:
        return [_model(r) for r in self.s.scalars(select(ModelRow).order_by(ModelRow.name))]

    def get_version(self, model_id: int, version: str) -> VersionRecord | None:
        stmt = select(VersionRow).where(
            VersionRow.model_id == model_id, VersionRow.version == version
        )
        row = self.s.scalars(stmt).one_or_none()
        return None if row is None else _version(row)

    def version_by_id(self, version_id: int) -> VersionRecord:
        return _version(one(self.s, VersionRow, version_id))

    def versions_by_ids(self, version_ids: Sequence[int]) -> dict[int, VersionRecord]:
        """Several versions in one query (for lists of requests)."""
        if not version_ids:
            return {}
        stmt = select(VersionRow).where(VersionRow.id.in_(set(version_ids)))
        return {row.id: _version(row) for row in self.s.scalars(stmt)}

    def add_version(
        self,
        *,
        model_id: int,
        version: str,
        stage: str,
        record: dict[str, Any],
        actor: str,
        at: dt.datetime,
    ) -> VersionRecord:
        row = VersionRow(
            model_id=model_id,
            version=version,
            stage=stage,
            production_slot=None,
            record=_j(record),
            registered_by=actor,
            created_at=at,
            stage_changed_at=at,
        )
        self.s.add(row)
        self.s.flush()
        return _version(row)

    def list_versions(self, model_id: int) -> list[VersionRecord]:
        stmt = select(VersionRow).where(VersionRow.model_id == model_id).order_by(VersionRow.id)
        return [_version(r) for r in self.s.scalars(stmt)]

    def versions_in_stage(self, model_id: int, stage: str) -> list[VersionRecord]:
        """Oldest arrival first."""
        stmt = (
            select(VersionRow)
            .where(VersionRow.model_id == model_id, VersionRow.stage == stage)
            .order_by(VersionRow.stage_changed_at, VersionRow.id)
        )
        return [_version(r) for r in self.s.scalars(stmt)]

    def set_stage(
        self,
        version_id: int,
        stage: str,
        *,
        slot: int | None,
        at: dt.datetime,
        previous_production_id: int | None = None,
    ) -> VersionRecord:
        row = one(self.s, VersionRow, version_id)
        row.stage, row.production_slot, row.stage_changed_at = stage, slot, at
        if previous_production_id is not None:
            row.previous_production_id = previous_production_id
        self.s.flush()
        return _version(row)

    # evidence ----------------------------------------------------------------------------
    def add_evidence(
        self, version_id: int, item: EvidenceItem, *, stored: bool, actor: str, at: dt.datetime
    ) -> StoredEvidence:
        row = EvidenceRow(
            version_id=version_id,
            name=item.name,
            kind=item.kind,
            uri=item.uri,
            sha256=item.sha256 or "",
            size=item.size,
            stored=int(stored),
            attached_by=actor,
            attached_at=at,
            column_roles=None
            if item.columns is None
            else _j(item.columns.model_dump(mode="json", exclude_none=True)),
        )
        self.s.add(row)
        self.s.flush()
        return _evidence(row)

    def evidence_for(self, version_id: int) -> list[StoredEvidence]:
        """All attachments in order; a later one with the same name supersedes earlier ones."""
        stmt = (
            select(EvidenceRow).where(EvidenceRow.version_id == version_id).order_by(EvidenceRow.id)
        )
        return [_evidence(r) for r in self.s.scalars(stmt)]

    def referenced_blobs(self) -> set[str]:
        """Every blob a version's artifact or its stored evidence names (what GC keeps)."""
        stored = select(EvidenceRow.sha256).where(EvidenceRow.stored == 1)
        shas = set(self.s.scalars(stored))
        for record in self.s.scalars(select(VersionRow.record)):
            blob = json.loads(record).get("artifact_blob")
            if isinstance(blob, str):
                shas.add(blob)
        return shas

    # policies ----------------------------------------------------------------------------
    def get_policy(self, name: str, version: str) -> PolicyRecord | None:
        stmt = select(PolicyRow).where(PolicyRow.name == name, PolicyRow.version == version)
        row = self.s.scalars(stmt).one_or_none()
        return None if row is None else _policy(row)

    def policy_by_id(self, policy_id: int) -> PolicyRecord:
        return _policy(one(self.s, PolicyRow, policy_id))

    def add_policy(
        self,
        *,
        name: str,
        version: str,
        content_hash: str,
        sources: Sequence[tuple[str, str]],
        actor: str,
        at: dt.datetime,
    ) -> PolicyRecord:
        row = PolicyRow(
            name=name,
            version=version,
            content_hash=content_hash,
            sources=json.dumps([list(s) for s in sources]),
            applied_by=actor,
            applied_at=at,
        )
        self.s.add(row)
        self.s.flush()
        return _policy(row)

    def list_policies(self) -> list[PolicyRecord]:
        return [_policy(r) for r in self.s.scalars(select(PolicyRow).order_by(PolicyRow.id))]

    # requests, approvals, decisions ------------------------------------------------------
    def add_request(self, **fields: Any) -> RequestRecord:
        row = RequestRow(**fields, updated_at=fields["created_at"])
        self.s.add(row)
        self.s.flush()
        return RequestRecord.model_validate(row, from_attributes=True)

    def get_request(self, request_id: int) -> RequestRecord | None:
        row = self.s.get(RequestRow, request_id)
        return None if row is None else RequestRecord.model_validate(row, from_attributes=True)

    def set_request_status(
        self, request_id: int, status: RequestStatus, at: dt.datetime
    ) -> RequestRecord:
        row = one(self.s, RequestRow, request_id)
        row.status, row.updated_at = status, at
        self.s.flush()
        return RequestRecord.model_validate(row, from_attributes=True)

    def list_requests(
        self,
        *,
        model_id: int | None = None,
        version_id: int | None = None,
        statuses: Sequence[RequestStatus] = (),
        change_type: str | None = None,
    ) -> list[RequestRecord]:
        stmt = select(RequestRow).order_by(RequestRow.id)
        if model_id is not None:
            stmt = stmt.where(RequestRow.model_id == model_id)
        if version_id is not None:
            stmt = stmt.where(RequestRow.version_id == version_id)
        if statuses:
            stmt = stmt.where(RequestRow.status.in_(statuses))
        if change_type is not None:
            stmt = stmt.where(RequestRow.change_type == change_type)
        return [RequestRecord.model_validate(r, from_attributes=True) for r in self.s.scalars(stmt)]

    def add_approval(self, request_id: int, approval: Approval) -> None:
        a = approval
        self.s.add(
            ApprovalRow(
                request_id=request_id,
                approver=a.approver,
                roles=_j(a.roles),
                verdict=a.verdict,
                reason=a.reason,
                ticket=a.ticket,
                evidence_digest=a.evidence_digest or "",
                at=a.at,
            )
        )
        self.s.flush()

    def approvals_for(self, request_id: int) -> list[Approval]:
        return self.approvals_of([request_id]).get(request_id, [])

    def approvals_of(self, request_ids: Sequence[int]) -> dict[int, list[Approval]]:
        out: dict[int, list[Approval]] = {}
        if not request_ids:
            return out
        stmt = (
            select(ApprovalRow)
            .where(ApprovalRow.request_id.in_(set(request_ids)))
            .order_by(ApprovalRow.id)
        )
        for r in self.s.scalars(stmt):
            out.setdefault(r.request_id, []).append(_approval(r))
        return out

    def add_decision(
        self,
        *,
        request_id: int,
        policy_id: int,
        digest: str,
        outcome: StoredOutcome,
        inputs: dict[str, Any],
        result: dict[str, Any],
        at: dt.datetime,
    ) -> DecisionRecord:
        from clearance.core.analytics import gate_facts  # a write's: reads do not load it

        row = DecisionRow(
            request_id=request_id,
            policy_id=policy_id,
            digest=digest,
            outcome=outcome,
            inputs=_j(inputs),
            result=_j(result),
            created_at=at,
            gate_facts=_j(gate_facts(result)),
        )
        self.s.add(row)
        self.s.flush()
        return _decision(row)

    def get_decision(self, key: str) -> list[DecisionRecord]:
        """By number, or by a prefix (at least 6 hex digits) of the decision digest."""
        if key.isascii() and key.isdigit() and int(key) <= MAX_ROW_ID:  # beyond: no such row
            row = self.s.get(DecisionRow, int(key))
            if row is not None or len(key) < 6:
                return [] if row is None else [_decision(row)]
            # no decision with that number: a digest prefix may well be all decimal digits
        # autoescape: a key's % or _ is a character to match, not a LIKE wildcard
        stmt = select(DecisionRow).where(
            DecisionRow.digest.startswith(key.lower(), autoescape=True)
        )
        return [_decision(r) for r in self.s.scalars(stmt.order_by(DecisionRow.id))]

    def decisions_for(self, request_id: int) -> list[DecisionRecord]:
        stmt = (
            select(DecisionRow).where(DecisionRow.request_id == request_id).order_by(DecisionRow.id)
        )
        return [_decision(r) for r in self.s.scalars(stmt)]

    def latest_decisions(self, request_ids: Sequence[int]) -> dict[int, DecisionBrief]:
        """Each request's latest decision in brief, in one query (for lists of requests)."""
        if not request_ids:
            return {}
        latest = (
            select(func.max(DecisionRow.id))
            .where(DecisionRow.request_id.in_(request_ids))
            .group_by(DecisionRow.request_id)
        )
        stmt = select(
            DecisionRow.id, DecisionRow.request_id, DecisionRow.outcome, DecisionRow.result
        )
        out: dict[int, DecisionBrief] = {}
        for row in self.s.execute(stmt.where(DecisionRow.id.in_(latest))):
            summary = json.loads(row.result).get("summary")
            out[row.request_id] = DecisionBrief(id=row.id, outcome=row.outcome, summary=summary)
        return out

    # audit verify: every row of a governed table in one query ----------------------------
    def all_versions(self) -> list[VersionRecord]:
        table = VersionRow.__table__
        rows = self.s.execute(select(table).order_by(table.c.id))
        return [_version(r) for r in rows]  # type: ignore[arg-type]

    def all_evidence(self) -> list[StoredEvidence]:
        table = EvidenceRow.__table__
        rows = self.s.execute(select(table).order_by(table.c.id))
        return [_evidence(r) for r in rows]  # type: ignore[arg-type]

    def all_approvals(self) -> dict[int, list[Approval]]:
        table = ApprovalRow.__table__
        out: dict[int, list[Approval]] = {}
        for r in self.s.execute(select(table).order_by(table.c.id)):
            out.setdefault(r.request_id, []).append(_approval(r))  # type: ignore[arg-type]
        return out

    def all_decision_results(self, *, batch: int = 1000) -> Iterator[DecisionResult]:
        """Without the recorded inputs, in keyset pages (a driver may buffer a whole result
        set: 100k results would be gigabytes once parsed); each parsed by Rust's parser."""
        d = DecisionRow.__table__.c
        stmt = select(d.id, d.request_id, d.digest, d.outcome, d.result).order_by(d.id)
        last, full = 0, True
        while full:  # a short page is the last
            rows = self.s.execute(stmt.where(d.id > last).limit(batch)).all()
            for i, r, g, o, text in rows:
                yield DecisionResult(
                    id=i, request_id=r, digest=g, outcome=o, result=from_json(text)
                )
            last, full = (rows[-1][0] if rows else last), len(rows) == batch

    # pages: set-based reads for the registry's lists -------------------------------------
    def model_page(
        self,
        *,
        risk_tier: str | None = None,
        team: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[ModelRecord], int | None]:
        """One page of models by name after ``after`` and how many match: paged in SQL, by
        keyset on the name's unique index (or on a team's or tier's name index)."""
        table = ModelRow.__table__
        stmt = select(table)
        if risk_tier is not None:
            stmt = stmt.where(table.c.risk_tier == risk_tier)
        if team is not None:
            stmt = stmt.where(table.c.team == team)
        total = self._count(stmt) if count else None
        if after is not None:
            stmt = stmt.where(table.c.name > after)
        rows = self.s.execute(_paged(stmt.order_by(table.c.name), limit, offset))
        return [_model(r) for r in rows], total  # type: ignore[arg-type]

    def versions_of(self, model_ids: Sequence[int]) -> dict[int, list[VersionRecord]]:
        """Each model's versions, oldest first, in one query (every asked-for id is a key);
        plain rows, not ORM objects: a page of models can hold thousands of versions."""
        out: dict[int, list[VersionRecord]] = {i: [] for i in model_ids}
        if not model_ids:
            return out
        table = VersionRow.__table__
        stmt = select(table).where(table.c.model_id.in_(set(model_ids)))
        for row in self.s.execute(stmt.order_by(table.c.model_id, table.c.id)):
            out[row.model_id].append(_version(row))  # type: ignore[arg-type]
        return out

    def version_page(
        self,
        model_id: int,
        *,
        stage: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[VersionRecord], int | None]:
        """One page of a model's versions, oldest first, after the id ``after``."""
        table = VersionRow.__table__
        stmt = select(table).where(table.c.model_id == model_id)
        if stage is not None:
            stmt = stmt.where(table.c.stage == stage)
        total = self._count(stmt) if count else None
        if after is not None:
            stmt = stmt.where(table.c.id > after)
        rows = self.s.execute(_paged(stmt.order_by(table.c.id), limit, offset))
        return [_version(r) for r in rows], total  # type: ignore[arg-type]

    def model_tallies(
        self, model_ids: Sequence[int], *, statuses: Sequence[RequestStatus]
    ) -> dict[int, ModelTally]:
        """One row per model with three correlated counts and lookups, each an index probe
        ((model_id, id) of the versions, (model_id, status) of the requests), then the
        production versions from the production slot's unique index: two queries a page."""
        if not model_ids:
            return {}
        m, v, r = ModelRow.__table__.c, VersionRow.__table__.c, RequestRow.__table__.c
        versions = select(func.count()).where(v.model_id == m.id).scalar_subquery()
        latest = (
            select(v.version).where(v.model_id == m.id).order_by(v.id.desc()).limit(1)
        ).scalar_subquery()
        waiting = (
            select(func.count()).where(r.model_id == m.id, r.status.in_(list(statuses)))
        ).scalar_subquery()
        ids = set(model_ids)
        rows = self.s.execute(select(m.id, versions, latest, waiting).where(m.id.in_(ids)))
        production: dict[int, list[str]] = {}
        serving = select(v.model_id, v.version).where(
            v.model_id.in_(ids), v.production_slot.is_not(None)
        )
        for row in self.s.execute(serving.order_by(v.model_id, v.id)):
            production.setdefault(row[0], []).append(row[1])
        return {
            row[0]: ModelTally(
                versions=row[1],
                latest=row[2],
                production=tuple(production.get(row[0], ())),
                requests=row[3],
            )
            for row in sorted(rows)
        }

    def version_names(self, version_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        if not version_ids:
            return {}
        v, m = VersionRow.__table__.c, ModelRow.__table__.c
        stmt = (
            select(v.id, m.name, v.version)
            .join_from(VersionRow.__table__, ModelRow.__table__, m.id == v.model_id)
            .where(v.id.in_(set(version_ids)))
        )
        return {row[0]: (row[1], row[2]) for row in self.s.execute(stmt)}

    def request_page(
        self,
        *,
        model_id: int | None = None,
        statuses: Sequence[RequestStatus] = (),
        after: int | None = None,
        limit: int | None = None,
        offset: int = 0,
        count: bool = True,
    ) -> tuple[list[RequestRecord], int | None]:
        """One page of requests by id after ``after`` and how many match, paged in SQL.

        With several statuses (the queue: pending or blocked) each status is its own leg of
        a UNION ALL, read in id order from the (status, id) index and cut to the page: an
        ``IN`` over both would make the database sort every open request for each page."""
        table = RequestRow.__table__
        where = [] if model_id is None else [table.c.model_id == model_id]
        chosen = [table.c.status.in_(statuses)] if statuses else []
        total = self._count(select(table).where(*where, *chosen)) if count else None
        legs = sorted(set(statuses))
        if len(legs) > 1 and limit is not None:
            stmt = _legs(len(legs), model_id is not None, after is not None)
            params = {f"status_{i}": s for i, s in enumerate(legs)} | {
                "model_id": model_id,
                "after": after,
                "reach": min(offset + limit, MAX_OFFSET),
                "limit": limit,
                "offset": offset,
            }
            return [_request(r) for r in self.s.execute(stmt, params)], total
        if after is not None:
            where.append(table.c.id > after)
        stmt = _paged(select(table).where(*where, *chosen).order_by(table.c.id), limit, offset)
        return [_request(r) for r in self.s.execute(stmt)], total

    def requests_of(
        self,
        model_ids: Sequence[int],
        *,
        statuses: Sequence[RequestStatus],
        change_type: str | None = None,
    ) -> list[RequestRecord]:
        if not model_ids or not statuses:
            return []
        table = RequestRow.__table__
        stmt = select(table).where(
            table.c.model_id.in_(set(model_ids)), table.c.status.in_(statuses)
        )
        if change_type is not None:
            stmt = stmt.where(table.c.change_type == change_type)
        # sorted here, not in SQL: with ORDER BY id, SQLite walks the (status, id) index
        # through every request of that status (70k executed ones: 18 ms, not 0.1)
        rows = sorted(self.s.execute(stmt), key=lambda r: r.id)
        return [_request(r) for r in rows]

    def reviews_for(self, request_ids: Sequence[int]) -> dict[int, ReviewRecord]:
        if not request_ids:
            return {}
        stmt = select(ReviewRow).where(ReviewRow.request_id.in_(set(request_ids)))
        return {
            row.request_id: ReviewRecord(
                request_id=row.request_id,
                summary=row.summary,
                actions=json.loads(row.actions),
                recorded_by=row.recorded_by,
                recorded_at=row.recorded_at,
            )
            for row in self.s.scalars(stmt)
        }

    def rollouts_of(self, model_ids: Sequence[int], *, status: RolloutState) -> list[RolloutRecord]:
        if not model_ids:
            return []
        stmt = select(RolloutRow).where(
            RolloutRow.model_id.in_(set(model_ids)), RolloutRow.status == status
        )
        return [
            RolloutRecord.model_validate(r, from_attributes=True)
            for r in self.s.scalars(stmt.order_by(RolloutRow.id))
        ]

    def _count(self, stmt: Select[Any]) -> int:
        counted = stmt.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
        return int(self.s.scalar(counted) or 0)

    # backtests: a page of decisions, each result read only where asked ---------------------
    def decisions_under(
        self,
        policy_ids: Sequence[int],
        *,
        since: dt.datetime | None,
        before: int | None,
        limit: int,
        picks: Sequence[ResultPath] = (),
        after: int | None = None,
    ) -> list[ScannedDecision]:
        """One query: the page in an index range, each result parsed once by the database
        (SQLite's ``json_extract``, PostgreSQL's ``jsonb``) and only the picked values sent."""
        paths = checked_picks(picks)
        if not 1 <= limit <= MAX_SCAN:
            raise InputError(f"limit: give 1 to {MAX_SCAN:,} decisions, not {limit}")
        if not policy_ids:
            return []
        d = DecisionRow.__table__
        where: list[ColumnElement[bool]] = [d.c.policy_id.in_(sorted(set(policy_ids)))]
        if since is not None:
            where.append(d.c.created_at >= since)
        if before is not None:
            where.append(d.c.id < before)
        if after is not None:
            where.append(d.c.id > after)
        postgres = self.s.get_bind().dialect.name == "postgresql"
        from sqlalchemy.dialects.postgresql import JSONB  # the dialect only when asked

        doc = cast(d.c.result, JSONB) if postgres else d.c.result
        # SQLite's times as their text: SQLAlchemy's parser of it was a fifth of the scan
        made = d.c.created_at if postgres else type_coerce(d.c.created_at, String)
        head = (d.c.id, d.c.request_id, d.c.policy_id, d.c.outcome, made.label("made"), d.c.inputs)
        page = (
            select(*head, doc.label("doc"))
            .where(*where)
            .order_by(d.c.id.desc())
            .limit(limit)
            .subquery()  # with its LIMIT, never merged: each result is parsed once
        )
        chunks = [paths[i : i + _PICKS_PER_CALL] for i in range(0, len(paths), _PICKS_PER_CALL)]
        picked = [_picks(page.c.doc, chunk, postgres) for chunk in chunks]
        stmt = select(*(page.c[c.key] for c in head), *picked).order_by(page.c.id.desc())
        out: list[ScannedDecision] = []
        for row in self.s.execute(stmt):
            values: list[Any] = []
            for got, chunk in zip(row[len(head) :], chunks, strict=True):
                values += (from_json(got) if isinstance(got, str) else got)[: len(chunk)]
            out.append(
                ScannedDecision(
                    id=row[0],
                    request_id=row[1],
                    policy_id=row[2],
                    outcome=row[3],
                    created_at=_utc(row[4]),
                    inputs=from_json(row[5]),  # Rust's parser: twice as fast as json's
                    picked=tuple(values),
                )
            )
        return out


def _paged(stmt: Select[Any], limit: int | None, offset: int) -> Select[Any]:
    return stmt.offset(offset or None).limit(limit)


@functools.cache
def _legs(statuses: int, by_model: bool, after: bool) -> Select[Any]:
    """A page of requests in id order whose status is one of ``statuses`` (bound as
    ``status_0``...): the first ``reach`` (offset + limit) rows of each status, an index range
    each, merged and cut. Built once per shape: making the union costs more than running it."""
    table = RequestRow.__table__
    where = [] if not by_model else [table.c.model_id == bindparam("model_id")]
    if after:
        where.append(table.c.id > bindparam("after"))
    legs = [
        select(table)
        .where(*where, table.c.status == bindparam(f"status_{i}"))
        .order_by(table.c.id)
        .limit(bindparam("reach"))
        for i in range(statuses)
    ]
    merged = union_all(*(select(leg.subquery()) for leg in legs)).subquery()
    page = select(merged).order_by(merged.c.id)
    return page.limit(bindparam("limit")).offset(bindparam("offset"))


def _request(row: Any) -> RequestRecord:
    """A request from its ORM object or its plain row."""
    return RequestRecord.model_validate(row, from_attributes=True)


def _user(row: UserRow) -> User:
    return User(
        name=row.name,
        roles=json.loads(row.roles),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _model(row: ModelRow) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        name=row.name,
        risk_tier=row.risk_tier,
        owner=row.owner,
        team=row.team,
        tags=json.loads(row.tags),
        created_at=row.created_at,
    )


def _version(row: VersionRow) -> VersionRecord:
    return VersionRecord(
        id=row.id,
        model_id=row.model_id,
        version=row.version,
        stage=row.stage,
        production_slot=row.production_slot,
        previous_production_id=row.previous_production_id,
        record=json.loads(row.record),
        registered_by=row.registered_by,
        created_at=row.created_at,
        stage_changed_at=row.stage_changed_at,
    )


def _evidence(row: EvidenceRow) -> StoredEvidence:
    item = EvidenceItem(
        name=row.name,
        kind=row.kind,
        uri=row.uri,
        sha256=row.sha256 or None,
        size=row.size,
        columns=None if row.column_roles is None else json.loads(row.column_roles),
    )
    return StoredEvidence(
        id=row.id,
        version_id=row.version_id,
        item=item,
        stored=bool(row.stored),
        attached_by=row.attached_by,
        attached_at=row.attached_at,
    )


def _approval(row: ApprovalRow) -> Approval:
    return Approval(
        approver=row.approver,
        roles=json.loads(row.roles),
        verdict=row.verdict,
        reason=row.reason,
        ticket=row.ticket,
        at=row.at,
        evidence_digest=row.evidence_digest or None,
    )


def _policy(row: PolicyRow) -> PolicyRecord:
    sources = [(f, t) for f, t in json.loads(row.sources)]
    return PolicyRecord(
        id=row.id,
        name=row.name,
        version=row.version,
        content_hash=row.content_hash,
        sources=sources,
        applied_by=row.applied_by,
        applied_at=row.applied_at,
    )


def _decision(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord(
        id=row.id,
        request_id=row.request_id,
        policy_id=row.policy_id,
        digest=row.digest,
        outcome=row.outcome,
        inputs=json.loads(row.inputs),
        result=json.loads(row.result),
        created_at=row.created_at,
    )


def _utc(value: dt.datetime | str) -> dt.datetime:
    """A stored time in UTC: as ``UtcDateTime`` reads it, from SQLite's text too."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


_PICKS_PER_CALL = 50  # paths per json_extract / jsonb_build_array call (both cap arguments)


def _picks(doc: Any, paths: Sequence[ResultPath], postgres: bool) -> Any:
    """A JSON array of the values at ``paths`` (checked: ``checked_picks``) in ``doc``."""
    if postgres:
        from sqlalchemy.dialects.postgresql import JSONB

        steps = [literal([str(step) for step in path], ARRAY(Text)) for path in paths]
        return func.jsonb_build_array(*(doc.op("#>")(step) for step in steps), type_=JSONB)
    texts = [
        "$" + "".join(f"[{s}]" if type(s) is int else f'."{s}"' for s in path) for path in paths
    ]
    if len(texts) == 1:  # one path alone gives the bare value, not an array of it
        texts.append(texts[0])
    return func.json_extract(doc, *(literal(t) for t in texts))
