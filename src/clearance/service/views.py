"""Read models: where every model and version stands, and what happened to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clearance.core.audit import AuditEvent
from clearance.errors import ClearanceError
from clearance.service.context import governing_policy, require_model, require_request
from clearance.service.governance import compliance_issues
from clearance.service.ports import Clock, Store, Tx
from clearance.service.records import (
    OPEN_STATUSES,
    DecisionBrief,
    ModelRecord,
    RequestRecord,
    VersionRecord,
)


@dataclass(frozen=True)
class Views:
    store: Store
    clock: Clock

    def status(self, model: str | None = None) -> list[dict[str, Any]]:
        with self.store.reading() as tx:
            models = [require_model(tx, model)] if model else tx.list_models()
            return [_model_status(tx, m, self.clock.now()) for m in models]

    def status_page(
        self,
        *,
        limit: int,
        offset: int = 0,
        risk_tier: str | None = None,
        team: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of ``status`` and the total: only the page's models are built."""
        with self.store.reading() as tx:
            models = [
                m
                for m in tx.list_models()
                if (risk_tier is None or m.risk_tier == risk_tier)
                and (team is None or m.team == team)
            ]
            now = self.clock.now()
            chosen = models[offset : offset + limit]
            return [_model_status(tx, m, now) for m in chosen], len(models)

    def history(self, model: str) -> list[AuditEvent]:
        with self.store.reading() as tx:
            require_model(tx, model)
            return list(tx.events(model=model))

    def requests(
        self, *, model: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]:
        rows, _ = self.requests_page(model=model, open_only=open_only)
        return rows

    def requests_page(
        self,
        *,
        model: str | None = None,
        open_only: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Requests, oldest first, and their total; only the page's rows are built."""
        with self.store.reading() as tx:
            model_id = require_model(tx, model).id if model else None
            statuses = OPEN_STATUSES if open_only else ()
            records = tx.list_requests(model_id=model_id, statuses=statuses)
            end = None if limit is None else offset + limit
            return _request_rows(tx, records[offset:end]), len(records)

    def request(self, request_id: int) -> dict[str, Any]:
        with self.store.reading() as tx:
            return _request(tx, require_request(tx, request_id))


def _model_status(tx: Tx, model: ModelRecord, now: dt.datetime) -> dict[str, Any]:
    try:
        record, _ = governing_policy(tx, model)
        policy = f"{record.name}@{record.version}"
    except ClearanceError as exc:
        policy = f"none: {exc}"
    versions = [
        {
            "version": v.version,
            "stage": v.stage,
            "since": v.stage_changed_at.isoformat(),
            "registered_by": v.registered_by,
        }
        for v in tx.list_versions(model.id)
    ]
    open_requests = _request_rows(tx, tx.list_requests(model_id=model.id, statuses=OPEN_STATUSES))
    return {
        "model": model.name,
        "risk_tier": model.risk_tier,
        "owner": model.owner,
        "team": model.team,
        "tags": model.tags,
        "policy": policy,
        "versions": versions,
        "open_requests": open_requests,
        "emergency_changes": [
            {
                "request": r.id,
                "version": tx.version_by_id(r.version_id).version,
                "executed_at": r.updated_at.isoformat(),
                "review": tx.get_review(r.id) is not None,
            }
            for r in tx.list_requests(model_id=model.id, statuses=("executed",))
            if r.change_type == "emergency"
        ],
        "non_compliant": compliance_issues(tx, model.id, now),
        "rollouts": [
            {
                "id": r.id,
                "version": tx.version_by_id(r.version_id).version,
                "status": r.status,
                "traffic": r.traffic,
            }
            for r in tx.rollouts(model_id=model.id, status="running")
        ],
    }


def _request_rows(tx: Tx, records: Sequence[RequestRecord]) -> list[dict[str, Any]]:
    """List rows: versions and latest decisions in one query each, each model once."""
    latest = tx.latest_decisions([r.id for r in records])
    versions = tx.versions_by_ids([r.version_id for r in records])
    names: dict[int, str] = {}
    rows = []
    for r in records:
        if r.model_id not in names:
            names[r.model_id] = tx.model_by_id(r.model_id).name
        rows.append(_row(r, names[r.model_id], versions[r.version_id], latest.get(r.id)))
    return rows


def _row(
    r: RequestRecord, model: str, version: VersionRecord, latest: DecisionBrief | None
) -> dict[str, Any]:
    return {
        "id": r.id,
        "model": model,
        "version": version.version,
        "from": r.from_stage,
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


def _request(tx: Tx, r: RequestRecord) -> dict[str, Any]:
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
    out = _row(r, tx.model_by_id(r.model_id).name, tx.version_by_id(r.version_id), brief)
    out["approvals"] = [a.model_dump(mode="json") for a in tx.approvals_for(r.id)]
    out["decisions"] = [
        {"id": d.id, "digest": d.digest, "outcome": d.outcome, "at": d.created_at.isoformat()}
        for d in decisions
    ]
    out["latest_decision"] = None if latest is None else latest.result
    return out
