"""``read_state`` reads each governed table in one query and gives what the per-row reads
it replaced gave (``_per_row`` below is that code, kept as the reference), on every store."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event

from clearance.adapters.store import migrate
from clearance.adapters.store.database import make_engine
from clearance.adapters.store.sql import SqlStore
from clearance.core import subjects
from clearance.core.approvals import Approval
from clearance.core.trail import STATE_TABLES, Rows
from clearance.core.version import EvidenceItem
from clearance.service.ports import Store, Tx
from clearance.service.state import _source_hash, blob_users, read_state

from .test_store_contract import SHA, T0, add_model, add_policy, add_request, add_version, at


def _per_row(tx: Tx) -> Rows:
    """The governed rows read model by model, version by version, request by request."""
    rows: Rows = {t: {} for t in STATE_TABLES}
    for u in tx.list_users():
        rows["users"][subjects.user(u.name)] = {
            "roles": sorted(u.roles),
            "disabled": u.disabled_at is not None,
        }
    for m in tx.list_models():
        rows["models"][subjects.model(m.name)] = {
            "risk_tier": m.risk_tier,
            "owner": m.owner,
            "team": m.team,
            "tags": m.tags,
        }
        versions = tx.list_versions(m.id)
        names = {v.id: v.version for v in versions}
        for v in versions:
            previous = v.previous_production_id
            rows["versions"][subjects.version(m.name, v.version)] = {
                "stage": v.stage,
                "production_slot": v.production_slot,
                "previous_production": None if previous is None else names.get(previous, previous),
                "record": v.record,
                "registered_by": v.registered_by,
                "stage_changed_at": v.stage_changed_at,
            }
            shas: dict[str, list[str | None]] = {}
            for e in tx.evidence_for(v.id):
                shas.setdefault(e.item.name, []).append(e.item.sha256)
            for name, listed in shas.items():
                rows["evidence"][subjects.evidence(m.name, v.version, name)] = {"sha256": listed}
    for p in tx.list_policies():
        rows["policies"][subjects.policy(p.name, p.version)] = {
            "content_hash": p.content_hash,
            "source_hash": _source_hash(p),
        }
    requests = tx.list_requests()
    versions_by_id = tx.versions_by_ids([r.version_id for r in requests])
    for r in requests:
        version = versions_by_id.get(r.version_id)
        rows["requests"][subjects.request(r.id)] = {
            "status": r.status,
            "requester": r.requester,
            "version": None if version is None else version.version,
            "from_stage": r.from_stage,
            "to_stage": r.to_stage,
            "change_type": r.change_type,
        }
        for n, a in enumerate(tx.approvals_for(r.id), start=1):
            rows["approvals"][subjects.approval(r.id, n)] = {
                "approver": a.approver,
                "verdict": a.verdict,
                "roles": a.roles,
                "reason": a.reason,
                "ticket": a.ticket,
                "evidence_digest": a.evidence_digest,
                "at": a.at,
            }
        for d in tx.decisions_for(r.id):
            result = d.result
            rows["decisions"][subjects.decision(d.id)] = {
                "request": d.request_id,
                "digest": d.digest,
                "outcome": d.outcome,
                "result.decision_id": result.get("decision_id"),
                "result.outcome": result.get("outcome"),
                "policy_hash": result.get("policy_hash"),
                "summary": result.get("summary"),
                "gates": {g.get("gate_id"): g.get("status") for g in result.get("gates", [])},
            }
    keep = {
        "model", "version", "gate_id", "expires_at", "justification", "controls",
        "granted_by", "granted_at", "revoked_at", "revoked_by", "revoke_reason",
    }  # fmt: skip
    for w in tx.list_waivers():
        rows["waivers"][subjects.waiver(w.label)] = w.model_dump(include=keep)
    for t in tx.list_tokens():
        rows["tokens"][subjects.token(t.id)] = {
            "user": t.user,
            "prefix": t.prefix,
            "expires_at": t.expires_at,
            "revoked": t.revoked_at is not None,
        }
    return rows


def _populate(store: Store, models: int = 3, per_model: int = 4) -> None:
    """Models added out of name order, versions interleaved across them, evidence with a
    name attached twice and a blob two versions share, a promotion chain (and a predecessor
    of another model's), requests with approvals and decisions, a waiver and a token."""
    with store.transaction() as tx:
        tx.add_user("alice", ["ml_engineer"], T0)
        tx.add_user("bob", ["model_owner", "admin"], T0)
        tx.set_disabled("bob", at(1))
        policy = add_policy(tx)
        owners = [add_model(tx, f"m{(7 * i) % models}-{i}") for i in range(models)]
        versions = []
        for n in range(per_model):
            for m in owners:
                versions.append(add_version(tx, m.id, str(n), artifact_blob=f"{n:x}" * 64))
        for i, v in enumerate(versions):
            for name, sha in (("card", SHA), ("eval", f"{i % 5:02x}" * 32), ("card", "cd" * 32)):
                item = EvidenceItem(name=name, kind="document", uri=f"{name}.md", sha256=sha)
                tx.add_evidence(v.id, item, stored=i % 2 == 0, actor="alice", at=at(i))
        first, second = versions[0], versions[len(owners)]  # versions 0 and 1 of one model
        tx.set_stage(first.id, "production", slot=0, at=at(2))
        tx.set_stage(first.id, "deprecated", slot=None, at=at(3))
        tx.set_stage(second.id, "production", slot=0, at=at(3), previous_production_id=first.id)
        tx.set_stage(
            versions[1].id, "production", slot=0, at=at(4), previous_production_id=first.id
        )
        for i, v in enumerate(versions[::2]):
            request = add_request(
                tx, model_id=v.model_id, version_id=v.id, policy_id=policy.id, status="approved"
            )
            for k in range(i % 3):
                verdict = "approve" if k else "reject"
                sign = Approval(approver=f"a{k}", roles=["model_owner"], verdict=verdict, at=at(k))
                tx.add_approval(request.id, sign)
            for k in range(i % 2 + 1):
                gates = [{"gate_id": f"g{g}", "status": "pass", "value": g} for g in range(k + 1)]
                tx.add_decision(
                    request_id=request.id,
                    policy_id=policy.id,
                    digest=f"{k:02x}" * 32,
                    outcome="allow",
                    inputs={"big": list(range(10))},
                    result={"decision_id": "d", "outcome": "allow", "summary": "ok"}
                    | ({"gates": gates} if k else {"policy_hash": SHA}),
                    at=at(k),
                )
        waiver = tx.add_waiver(
            model=owners[0].name,
            version=None,
            gate_id="g1",
            expires_at=at(600),
            justification="known gap",
            controls=["manual review"],
            granted_by="bob",
            at=T0,
        )
        tx.revoke_waiver(waiver.id, by="bob", reason="fixed", at=at(5))
        tx.add_token(
            user="alice",
            name="ci",
            prefix="clr_abc",
            secret_sha256=SHA,
            created_by="alice",
            at=T0,
            expires_at=None,
        )


def test_read_state_gives_what_the_per_row_reads_gave(store: Store) -> None:
    _populate(store)
    with store.reading() as tx:
        found, reference = read_state(tx), _per_row(tx)
        subset = read_state(tx, tables=("versions", "evidence"))
    assert found == reference
    assert sum(map(len, found.values())) > 60  # every table has rows to compare
    assert all(found[t] for t in STATE_TABLES)
    assert subset == {t: reference[t] for t in ("versions", "evidence")}
    # the same insertion order too: ``blob_users`` names a shared blob's first user by it
    assert list(found["evidence"]) == list(reference["evidence"])
    assert blob_users(subset) == blob_users(reference)
    for table in STATE_TABLES:  # one table alone, as asked
        with store.reading() as tx:
            assert read_state(tx, tables=(table,)) == {table: reference[table]}


def _count(statements: list[object], *_: Any) -> None:
    statements.append(None)


def test_the_tables_are_read_in_a_constant_number_of_queries(tmp_path: Path) -> None:
    """Statements on SQLite: the same for a few models and requests as for many (decisions
    stream in pages of 1,000: one more statement per thousand)."""
    counts = []
    for models, per_model in ((2, 2), (6, 5)):
        engine = make_engine(f"sqlite:///{tmp_path / f'{models}.db'}")
        migrate.upgrade(engine)
        store = SqlStore(engine)
        _populate(store, models, per_model)
        statements: list[object] = []
        count = functools.partial(_count, statements)
        sa_event.listen(engine, "before_cursor_execute", count)
        with store.reading() as tx:
            read_state(tx)
        sa_event.remove(engine, "before_cursor_execute", count)
        counts.append(len(statements))
        engine.dispose()
    assert counts[0] == counts[1] <= len(STATE_TABLES) + 1, counts  # and the BEGIN
