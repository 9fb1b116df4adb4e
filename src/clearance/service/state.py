"""The governed rows as the tables hold them, keyed as ``core.trail`` keys the rows the
audit events imply, so that ``audit verify`` can compare the two (read through the port)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clearance.core import subjects
from clearance.core.trail import STATE_TABLES, Rows
from clearance.errors import ClearanceError
from clearance.service.context import load_recorded
from clearance.service.ports import DecisionResult, Tx
from clearance.service.records import ModelRecord, PolicyRecord, VersionRecord


def _source_hash(policy: PolicyRecord) -> str:
    """The content hash of the stored policy text (it must equal the recorded one)."""
    try:
        return load_recorded(policy).content_hash
    except ClearanceError as exc:
        return f"unreadable: {exc}"


def read_state(tx: Tx, tables: Iterable[str] = STATE_TABLES) -> Rows:
    """The governed rows as the tables hold them, keyed as ``core.trail`` keys them: one
    query per table, whatever the number of models, versions and requests."""
    wanted = set(tables)
    rows: Rows = {t: {} for t in wanted}
    if "users" in wanted:
        for u in tx.list_users():
            rows["users"][subjects.user(u.name)] = {
                "roles": sorted(u.roles),
                "disabled": u.disabled_at is not None,
            }
    models = tx.list_models()
    if "models" in wanted:
        for m in models:
            rows["models"][subjects.model(m.name)] = {
                "risk_tier": m.risk_tier,
                "owner": m.owner,
                "team": m.team,
                "tags": m.tags,
            }
    # every version: requests name theirs, versions and evidence are keyed by model
    versions = tx.all_versions() if wanted & {"versions", "evidence", "requests"} else []
    if wanted & {"versions", "evidence"}:
        _versions(tx, models, versions, rows)
    if "policies" in wanted:
        for p in tx.list_policies():
            rows["policies"][subjects.policy(p.name, p.version)] = {
                "content_hash": p.content_hash,
                "source_hash": _source_hash(p),
            }
    if wanted & {"requests", "approvals", "decisions"}:
        _requests(tx, {v.id: v for v in versions}, rows)
    if "waivers" in wanted:
        for w in tx.list_waivers():
            rows["waivers"][subjects.waiver(w.label)] = w.model_dump(
                include={
                    "model",
                    "version",
                    "gate_id",
                    "expires_at",
                    "justification",
                    "controls",
                    "granted_by",
                    "granted_at",
                    "revoked_at",
                    "revoked_by",
                    "revoke_reason",
                }
            )
    if "tokens" in wanted:
        for t in tx.list_tokens():
            rows["tokens"][subjects.token(t.id)] = {
                "user": t.user,
                "prefix": t.prefix,
                "expires_at": t.expires_at,
                "revoked": t.revoked_at is not None,
            }
    return rows


def _versions(tx: Tx, models: list[ModelRecord], versions: list[VersionRecord], rows: Rows) -> None:
    """Model by model (name order), each model's versions in id order, each version's
    evidence in attach order: the order ``blob_users`` names a shared blob's first user by."""
    by_model: dict[int, list[VersionRecord]] = {}
    for v in versions:
        by_model.setdefault(v.model_id, []).append(v)
    shas: dict[int, dict[str, list[str | None]]] = {}
    if "evidence" in rows:
        for e in tx.all_evidence():
            shas.setdefault(e.version_id, {}).setdefault(e.item.name, []).append(e.item.sha256)
    for m in models:
        own = by_model.get(m.id, [])
        names = {v.id: v.version for v in own}  # a predecessor is one of the model's own
        for v in own:
            previous = v.previous_production_id
            if "versions" in rows:
                rows["versions"][subjects.version(m.name, v.version)] = {
                    "stage": v.stage,
                    "production_slot": v.production_slot,
                    "previous_production": None
                    if previous is None
                    else names.get(previous, previous),
                    "record": v.record,
                    "registered_by": v.registered_by,
                    "stage_changed_at": v.stage_changed_at,
                }
            for name, listed in shas.get(v.id, {}).items():
                rows["evidence"][subjects.evidence(m.name, v.version, name)] = {"sha256": listed}


def _requests(tx: Tx, versions: dict[int, VersionRecord], rows: Rows) -> None:
    requests = tx.list_requests()
    approvals = tx.all_approvals() if "approvals" in rows else {}
    decisions: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    if "decisions" in rows:  # only what is compared is kept of each streamed result
        for d in tx.all_decision_results():
            decisions.setdefault(d.request_id, []).append((subjects.decision(d.id), _decision(d)))
    for r in requests:
        if "requests" in rows:
            version = versions.get(r.version_id)
            rows["requests"][subjects.request(r.id)] = {
                "status": r.status,
                "requester": r.requester,
                "version": None if version is None else version.version,
                "from_stage": r.from_stage,
                "to_stage": r.to_stage,
                "change_type": r.change_type,
            }
        for n, a in enumerate(approvals.get(r.id, []), start=1):
            rows["approvals"][subjects.approval(r.id, n)] = {
                "approver": a.approver,
                "verdict": a.verdict,
                "roles": a.roles,
                "reason": a.reason,
                "ticket": a.ticket,
                "evidence_digest": a.evidence_digest,
                "at": a.at,
            }
        for key, row in decisions.get(r.id, []):
            rows["decisions"][key] = row


def _decision(d: DecisionResult) -> dict[str, Any]:
    result = d.result
    return {
        "request": d.request_id,
        "digest": d.digest,
        "outcome": d.outcome,
        "result.decision_id": result.get("decision_id"),
        "result.outcome": result.get("outcome"),
        "policy_hash": result.get("policy_hash"),
        "summary": result.get("summary"),
        "gates": {g.get("gate_id"): g.get("status") for g in result.get("gates", [])},
    }


def blob_users(rows: Rows) -> dict[str, str]:
    """What each blob is to the tables (for a message): a version's artifact, or evidence."""
    users: dict[str, str] = {}
    for key, row in rows.get("versions", {}).items():
        blob = (row.get("record") or {}).get("artifact_blob")
        if isinstance(blob, str):
            users[blob] = f"artifact of {key}"
    for key, row in rows.get("evidence", {}).items():
        for sha in row.get("sha256", []):
            if isinstance(sha, str):
                users.setdefault(sha, key)
    return users
