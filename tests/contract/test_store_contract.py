"""The store contract: every ``Tx`` method behaves the same in memory, on SQLite and PostgreSQL.

Each test runs once per backend (``conftest.store``). Together they pin what the service
relies on: round-trips (times come back in UTC, JSON as JSON), ids counting up from 1,
the order of every list, conflicts on unique and foreign keys, all-or-nothing transactions,
and an audit chain that verifies.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clearance.core.approvals import Approval
from clearance.core.audit import (
    Checkpoint,
    generate_key,
    public_key_raw,
    sign_checkpoint,
    stored,
    verify_stored,
)
from clearance.core.audit import verify_chain as verify
from clearance.core.version import EvidenceItem
from clearance.errors import InputError, NotFound, StoreConflict, StoreError
from clearance.notify.events import Notification
from clearance.notify.outbox import Delivery
from clearance.service.ports import ModelTally, Store, Tx
from clearance.service.records import (
    CheckpointRecord,
    DecisionBrief,
    KpiRecord,
    ModelRecord,
    PolicyRecord,
    RequestRecord,
    ReviewRecord,
    VersionRecord,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
PLUS2 = dt.timezone(dt.timedelta(hours=2))
SHA = "ab" * 32
# A *_by_id of an unknown id is a caller's mistake: every store says NotFound.
MISSING = NotFound


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@dataclass
class Seeded:
    model: ModelRecord
    version: VersionRecord
    policy: PolicyRecord
    request: RequestRecord


def add_model(tx: Tx, name: str = "credit", **tags: str) -> ModelRecord:
    return tx.add_model(
        name=name, risk_tier="high", owner="o@x", team="risk", tags=tags or {"d": "x"}, at=T0
    )


def add_version(tx: Tx, model_id: int, version: str, **record: Any) -> VersionRecord:
    return tx.add_version(
        model_id=model_id,
        version=version,
        stage="draft",
        record={"version": version, **record},
        actor="alice",
        at=T0,
    )


def add_policy(tx: Tx, version: str = "1.0.0") -> PolicyRecord:
    return tx.add_policy(
        name="credit",
        version=version,
        content_hash="c" * 64,
        sources=[("credit.yaml", "kind: Policy\n")],
        actor="dave",
        at=T0,
    )


def add_request(tx: Tx, s: Seeded | None = None, **fields: Any) -> RequestRecord:
    assert s is not None or {"model_id", "version_id", "policy_id"} <= set(fields)
    values: dict[str, Any] = {
        "from_stage": "draft",
        "to_stage": "staging",
        "change_type": "standard",
        "requester": "alice",
        "reason": "",
        "ticket": "",
        "status": "pending",
        "created_at": T0,
    }
    if s is not None:
        values.update(model_id=s.model.id, version_id=s.version.id, policy_id=s.policy.id)
    return tx.add_request(**{**values, **fields})


def seed(tx: Tx) -> Seeded:
    tx.add_user("alice", ["ml_engineer"], T0)
    model = add_model(tx)
    version = add_version(tx, model.id, "1")
    policy = add_policy(tx)
    request = add_request(tx, model_id=model.id, version_id=version.id, policy_id=policy.id)
    return Seeded(model, version, policy, request)


def seeded(store: Store) -> Seeded:
    with store.transaction() as tx:
        return seed(tx)


def event(tx: Tx, n: int, model: str | None = "credit", minutes: float = 0) -> None:
    tx.append_event(
        time=at(minutes),
        actor="alice",
        action=f"thing.done{n}",
        subject=f"thing:{n}",
        model=model,
        payload={"n": n, "tuple": (1, 2), "when": at(minutes)},
    )


def notification(key: str, model: str = "credit") -> Notification:
    return Notification(
        id=key,
        event="gate_failed",
        model=model,
        version="1",
        summary="a gate failed",
        policy="credit@1.0.0",
        occurred_at=T0,
    )


def delivery(key: str, channel: str, next_at: dt.datetime | None) -> Delivery:
    return Delivery(
        notification=notification(key), channel=channel, created_at=T0, next_attempt_at=next_at
    )


# --- transactions -----------------------------------------------------------------------


def test_a_transaction_commits_on_success_and_rolls_all_back_on_an_exception(
    store: Store,
) -> None:
    with store.transaction() as tx:
        tx.add_user("alice", ["a"], T0)
        event(tx, 1)
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as tx:
        tx.add_user("bob", ["b"], T0)
        add_model(tx)
        event(tx, 2)
        assert tx.get_user("bob") is not None and tx.event_count() == 2  # seen inside
        raise RuntimeError("boom")
    with store.reading() as tx:
        assert [u.name for u in tx.list_users()] == ["alice"]
        assert tx.list_models() == [] and tx.event_count() == 1
        head = tx.head_event()
        assert head is not None and head.seq == 1
    with store.transaction() as tx:  # the chain goes on from the committed head
        event(tx, 3)
    with store.reading() as tx:
        assert [e.seq for e in tx.events()] == [1, 2]
        assert verify(tx.events()).ok


def test_a_conflict_rolls_back_the_whole_transaction(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_user("alice", ["a"], T0)
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.add_user("bob", ["b"], T0)
        event(tx, 1)
        tx.add_user("alice", ["again"], T0)
    with store.reading() as tx:
        assert [u.name for u in tx.list_users()] == ["alice"] and tx.event_count() == 0


def test_what_is_written_while_reading_is_not_kept(store: Store) -> None:
    with store.reading() as tx:
        tx.add_user("alice", ["a"], T0)
        with pytest.raises(StoreError, match="only inside a transaction"):
            event(tx, 1)
    with store.reading() as tx:
        assert tx.get_user("alice") is None and tx.event_count() == 0


def test_writers_take_turns_and_never_fork_the_chain(store: Store) -> None:
    def write(n: int) -> None:
        for i in range(3):
            with store.transaction() as tx:
                event(tx, 10 * n + i)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    with store.reading() as tx:
        assert tx.event_count() == 12 and verify(tx.events()).ok


def test_ids_count_up_from_one_per_table(store: Store) -> None:
    with store.transaction() as tx:
        first, second = add_model(tx, "a"), add_model(tx, "b")
        version = add_version(tx, first.id, "1")
    assert (first.id, second.id, version.id) == (1, 2, 1)


def test_a_naive_time_is_refused(store: Store) -> None:
    naive = dt.datetime(2026, 3, 1, 12)
    with pytest.raises(Exception, match="naive datetime given to the store"):  # noqa: SIM117
        with store.transaction() as tx:  # SQL: a ValueError inside SQLAlchemy's StatementError
            tx.add_user("alice", ["a"], naive)
    with store.reading() as tx:
        assert tx.list_users() == []


# --- users and tokens -------------------------------------------------------------------


def test_users_round_trip_in_name_order(store: Store) -> None:
    with store.transaction() as tx:
        added = tx.add_user("carol", ["b", "a", "b"], T0.astimezone(PLUS2))
        tx.add_user("alice", [], T0)
        tx.add_user("bob", ["x"], T0)
    assert added.roles == ["a", "b"] and added.created_at == T0
    with store.transaction() as tx:
        assert tx.set_roles("alice", ["z", "y", "z"]).roles == ["y", "z"]
        tx.set_disabled("bob", at(5).astimezone(PLUS2))
    with store.reading() as tx:
        assert [u.name for u in tx.list_users()] == ["alice", "bob", "carol"]
        assert tx.get_user("nobody") is None
        bob = tx.get_user("bob")
        assert bob is not None and bob.disabled_at == at(5)
        assert bob.disabled_at.utcoffset() == dt.timedelta(0)
        assert tx.get_user("carol") == added
        assert added.created_at.utcoffset() is not None  # returned as given; read as UTC
        assert tx.list_users()[2].created_at.utcoffset() == dt.timedelta(0)
    with store.transaction() as tx:
        tx.set_disabled("bob", None)
    with store.reading() as tx:
        assert tx.get_user("bob").disabled_at is None  # type: ignore[union-attr]


def test_user_conflicts_and_unknown_users(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_user("alice", ["a"], T0)
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.add_user("alice", ["b"], T0)
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.set_roles("nobody", ["a"])
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.set_disabled("nobody", T0)


def _token(tx: Tx, user: str, secret: str, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "name": f"token {secret}",
        "prefix": f"clr_{secret}",
        "created_by": "admin",
        "at": T0,
        "expires_at": None,
    }
    return tx.add_token(user=user, secret_sha256=secret * 64, **{**fields, **kw})


def test_tokens_round_trip_filter_and_revoke(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_user("alice", ["a"], T0)
        tx.add_user("bob", ["b"], T0)
        first = _token(tx, "alice", "1", expires_at=at(60).astimezone(PLUS2))
        second = _token(tx, "bob", "2")
        third = _token(tx, "alice", "3", parent_id=first.id)
    assert (first.id, second.id, third.id) == (1, 2, 3)
    assert first.expires_at == at(60)
    assert (third.parent_id, first.parent_id, first.revoked_at) == (1, None, None)
    with store.reading() as tx:
        assert tx.token_by_secret("3" * 64) == third and tx.token_by_secret("9" * 64) is None
        assert tx.get_token(2) == second and tx.get_token(99) is None
        assert tx.get_token(1).expires_at.utcoffset() == dt.timedelta(0)  # type: ignore[union-attr]
        assert [t.id for t in tx.list_tokens()] == [1, 2, 3]
        assert [t.id for t in tx.list_tokens(user="alice")] == [1, 3]
    with store.transaction() as tx:
        revoked = tx.revoke_token(third.id, by="admin", at=at(1))
        assert (revoked.revoked_at, revoked.revoked_by) == (at(1), "admin")
        assert tx.revoke_tokens_of("alice", by="ops", at=at(2)) == [1]  # 3 was revoked
        assert tx.revoke_tokens_of("alice", by="ops", at=at(3)) == []
    with store.reading() as tx:
        states = {t.id: (t.revoked_by, t.revoked_at) for t in tx.list_tokens()}
    assert states == {1: ("ops", at(2)), 2: (None, None), 3: ("admin", at(1))}
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.revoke_token(99, by="admin", at=T0)


def test_token_conflicts(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_user("alice", ["a"], T0)
        _token(tx, "alice", "1")
    with pytest.raises(StoreConflict), store.transaction() as tx:
        _token(tx, "alice", "1")  # the same secret
    with pytest.raises(StoreConflict), store.transaction() as tx:
        _token(tx, "nobody", "2")  # no such user


# --- models, versions, evidence ---------------------------------------------------------


def test_models_round_trip_in_name_order(store: Store) -> None:
    with store.transaction() as tx:
        zeta = add_model(tx, "zeta", domain="fraud", region="eu")
        alpha = add_model(tx, "alpha")
    with store.reading() as tx:
        assert [m.name for m in tx.list_models()] == ["alpha", "zeta"]
        assert tx.get_model("zeta") == zeta and tx.model_by_id(alpha.id) == alpha
        assert zeta.tags == {"domain": "fraud", "region": "eu"} and zeta.created_at == T0
        assert tx.get_model("nope") is None
        with pytest.raises(MISSING):
            tx.model_by_id(99)
    with pytest.raises(StoreConflict), store.transaction() as tx:
        add_model(tx, "zeta")


def test_versions_round_trip_and_conflict(store: Store) -> None:
    with store.transaction() as tx:
        credit, other = add_model(tx, "credit"), add_model(tx, "other")
        v1 = add_version(tx, credit.id, "1", pair=(1, 2), nested={"b": 1, "a": [1.5]})
        w1 = add_version(tx, other.id, "1")
        v2 = add_version(tx, credit.id, "2")
    assert v1.record == {"version": "1", "pair": [1, 2], "nested": {"a": [1.5], "b": 1}}
    assert (v1.stage, v1.production_slot, v1.previous_production_id) == ("draft", None, None)
    assert v1.stage_changed_at == v1.created_at == T0 and v1.registered_by == "alice"
    with store.reading() as tx:
        assert tx.get_version(credit.id, "1") == v1 and tx.get_version(other.id, "1") == w1
        assert tx.get_version(credit.id, "3") is None
        assert tx.version_by_id(v2.id) == v2
        assert [v.version for v in tx.list_versions(credit.id)] == ["1", "2"]
        assert tx.versions_by_ids([v2.id, v1.id, v2.id, 99]) == {v1.id: v1, v2.id: v2}
        assert tx.versions_by_ids([]) == {}
        with pytest.raises(MISSING):
            tx.version_by_id(99)
    with pytest.raises(StoreConflict, match="already registered"), store.transaction() as tx:
        add_version(tx, credit.id, "1")
    with pytest.raises(StoreConflict), store.transaction() as tx:
        add_version(tx, 99, "1")  # no such model


def test_stages_slots_and_arrival_order(store: Store) -> None:
    with store.transaction() as tx:
        model = add_model(tx)
        v1, v2, v3 = (add_version(tx, model.id, v) for v in ("1", "2", "3"))
        tx.set_stage(v3.id, "staging", slot=None, at=at(1))
        tx.set_stage(v1.id, "staging", slot=None, at=at(2))
        tx.set_stage(v2.id, "staging", slot=None, at=at(1))  # same time as 3: by id
        moved = tx.set_stage(v1.id, "production", slot=0, at=at(3), previous_production_id=7)
    assert (moved.stage, moved.production_slot, moved.previous_production_id) == (
        "production",
        0,
        7,
    )
    assert moved.stage_changed_at == at(3)
    with store.reading() as tx:
        assert [v.version for v in tx.versions_in_stage(model.id, "staging")] == ["2", "3"]
        assert tx.versions_in_stage(model.id, "archived") == []
    with pytest.raises(StoreConflict, match="production slot"), store.transaction() as tx:
        tx.set_stage(v2.id, "production", slot=0, at=at(4))
    with store.transaction() as tx:
        tx.set_stage(v2.id, "production", slot=1, at=at(4))  # another slot is free
        kept = tx.set_stage(v1.id, "deprecated", slot=None, at=at(5))
        assert kept.previous_production_id == 7  # None leaves it as it was
        tx.set_stage(v3.id, "production", slot=0, at=at(5))  # slot 0 is free again
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.set_stage(99, "staging", slot=None, at=T0)


def test_evidence_round_trips_and_names_the_blobs_in_use(store: Store) -> None:
    columns = {"label": "y", "score": "p"}
    with store.transaction() as tx:
        model = add_model(tx)
        v1 = add_version(tx, model.id, "1", artifact_blob="f" * 64)
        v2 = add_version(tx, model.id, "2", artifact_blob=None)
        card = EvidenceItem(name="card", kind="document", uri="card.md", sha256=SHA, size=5)
        first = tx.add_evidence(v1.id, card, stored=True, actor="alice", at=T0)
        tx.add_evidence(
            v1.id,
            EvidenceItem.model_validate(
                {"name": "eval", "kind": "dataset", "uri": "e.csv", "sha256": "cd" * 32}
                | {"columns": columns}
            ),
            stored=True,
            actor="alice",
            at=at(1),
        )
        tx.add_evidence(
            v1.id,
            EvidenceItem(name="link", kind="document", uri="https://x", sha256="ee" * 32),
            stored=False,
            actor="bob",
            at=at(2),
        )
        tx.add_evidence(
            v2.id,
            EvidenceItem(name="card", kind="document", uri="u"),
            stored=False,
            actor="a",
            at=T0,
        )
    assert (first.id, first.version_id, first.stored, first.item) == (1, v1.id, True, card)
    with store.reading() as tx:
        items = tx.evidence_for(v1.id)
        assert [(e.item.name, e.stored, e.attached_by) for e in items] == [
            ("card", True, "alice"),
            ("eval", True, "alice"),
            ("link", False, "bob"),
        ]
        assert items[1].item.columns is not None
        assert items[1].item.columns.model_dump(exclude_none=True) == columns
        assert items[0].item.columns is None and items[2].attached_at == at(2)
        [bare] = tx.evidence_for(v2.id)
        assert (bare.item.sha256, bare.item.size) == (None, None)
        assert tx.referenced_blobs() == {SHA, "cd" * 32, "f" * 64}
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.add_evidence(99, card, stored=True, actor="alice", at=T0)


# --- policies ---------------------------------------------------------------------------


def test_policies_round_trip_in_applied_order(store: Store) -> None:
    with store.transaction() as tx:
        later = add_policy(tx, "2.0.0")
        earlier = add_policy(tx, "1.0.0")
    assert later.sources == [("credit.yaml", "kind: Policy\n")]
    assert (later.applied_by, later.applied_at, later.content_hash) == ("dave", T0, "c" * 64)
    with store.reading() as tx:
        assert [p.version for p in tx.list_policies()] == ["2.0.0", "1.0.0"]
        assert tx.get_policy("credit", "1.0.0") == earlier and tx.policy_by_id(1) == later
        assert tx.get_policy("credit", "3.0.0") is None
        with pytest.raises(MISSING):
            tx.policy_by_id(99)
    with pytest.raises(StoreConflict), store.transaction() as tx:
        add_policy(tx, "1.0.0")


# --- requests, approvals, decisions, reviews --------------------------------------------


def test_requests_round_trip_and_filter(store: Store) -> None:
    s = seeded(store)
    assert (s.request.id, s.request.status, s.request.updated_at) == (1, "pending", T0)
    with store.transaction() as tx:
        v2 = add_version(tx, s.model.id, "2")
        other = add_model(tx, "other")
        w1 = add_version(tx, other.id, "1")
        second = add_request(tx, s, version_id=v2.id, status="blocked")
        third = add_request(tx, model_id=other.id, version_id=w1.id, policy_id=s.policy.id)
        changed = tx.set_request_status(s.request.id, "approved", at(5).astimezone(PLUS2))
    assert (changed.status, changed.updated_at, changed.created_at) == ("approved", at(5), T0)
    with store.reading() as tx:
        assert tx.get_request(second.id) == second and tx.get_request(99) is None
        ids = [r.id for r in tx.list_requests()]
        by_model = [r.id for r in tx.list_requests(model_id=s.model.id)]
        by_version = [r.id for r in tx.list_requests(version_id=v2.id)]
        open_ = [r.id for r in tx.list_requests(statuses=["pending", "blocked"])]
        both = [r.id for r in tx.list_requests(model_id=s.model.id, statuses=["approved"])]
    assert (ids, by_model, by_version) == ([1, 2, 3], [1, 2], [2])
    assert (open_, both) == ([second.id, third.id], [1])
    with pytest.raises(StoreConflict), store.transaction() as tx:
        add_request(tx, s, version_id=99)
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.set_request_status(99, "approved", T0)


def test_approvals_round_trip_in_order(store: Store) -> None:
    s = seeded(store)
    signed = Approval(approver="carol", roles=["model_owner"], at=at(1), evidence_digest=SHA)
    refused = Approval(
        approver="dave",
        roles=["risk_officer", "admin"],
        verdict="reject",
        reason="too risky",
        ticket="RISK-1",
        at=at(2).astimezone(PLUS2),
    )
    with store.transaction() as tx:
        tx.add_approval(s.request.id, signed)
        tx.add_approval(s.request.id, refused)
    with store.reading() as tx:
        got = tx.approvals_for(s.request.id)
        assert got == [signed, refused.model_copy(update={"at": at(2)})]
        assert got[1].evidence_digest is None and got[1].at.utcoffset() == dt.timedelta(0)
        assert tx.approvals_for(99) == []
        assert tx.approvals_of([s.request.id, 99]) == {s.request.id: got}
        assert tx.approvals_of([]) == {}
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.add_approval(99, signed)


def _decide(tx: Tx, s: Seeded, digest: str, outcome: str, request_id: int | None = None) -> Any:
    return tx.add_decision(
        request_id=s.request.id if request_id is None else request_id,
        policy_id=s.policy.id,
        digest=digest,
        outcome=outcome,
        inputs={"request": {"requester": "alice"}, "pair": (1, 2)},
        result={"summary": f"{outcome} by policy", "gates": []},
        at=T0,
    )


def test_decisions_by_request_number_and_digest_prefix(store: Store) -> None:
    s = seeded(store)
    with store.transaction() as tx:
        other = add_request(tx, s)
        first = _decide(tx, s, "1234567890" + "a" * 54, "deny")
        second = _decide(tx, s, "abcdef" + "0" * 58, "allow")
        third = _decide(tx, s, "abcde0" + "1" * 58, "needs_approval", other.id)
    assert first.inputs == {"request": {"requester": "alice"}, "pair": [1, 2]}
    assert (first.id, first.created_at, first.result["summary"]) == (1, T0, "deny by policy")
    with store.reading() as tx:
        assert tx.decisions_for(s.request.id) == [first, second]
        assert tx.decisions_for(other.id) == [third]
        assert tx.get_decision("2") == [second]  # by number
        assert tx.get_decision("99") == []  # a short number is only a number
        assert tx.get_decision("123456") == [first]  # no decision 123456: a digest prefix
        assert tx.get_decision("ABCDE") == [second, third]  # case does not matter
        assert tx.get_decision("abcdef") == [second]
        assert tx.get_decision("ffffff") == []
        assert tx.get_decision("9" * 30) == []  # too long for a number
        assert tx.latest_decisions([s.request.id, other.id, 99]) == {
            s.request.id: DecisionBrief(id=2, outcome="allow", summary="allow by policy"),
            other.id: DecisionBrief(
                id=3, outcome="needs_approval", summary="needs_approval by policy"
            ),
        }
        assert tx.latest_decisions([]) == {}
    with pytest.raises(StoreConflict), store.transaction() as tx:
        _decide(tx, s, SHA, "allow", request_id=99)


def test_a_digest_prefix_is_text_not_a_pattern(store: Store) -> None:
    s = seeded(store)
    with store.transaction() as tx:
        first = _decide(tx, s, SHA, "allow")
        _decide(tx, s, "cd" * 32, "deny")
    with store.reading() as tx:
        assert tx.get_decision("ab") == [first]
        assert (tx.get_decision("%"), tx.get_decision("a_")) == ([], [])
        # an all-digit key beyond any row id is a digest prefix, never a database error
        assert tx.get_decision("9876543210") == []


def test_reviews_one_per_request(store: Store) -> None:
    s = seeded(store)
    review = ReviewRecord(
        request_id=s.request.id,
        summary="root cause found",
        actions=["add a canary", "page the owner"],
        recorded_by="frank",
        recorded_at=at(10).astimezone(PLUS2),
    )
    with store.transaction() as tx:
        tx.add_review(review)
    with store.reading() as tx:
        assert tx.get_review(s.request.id) == review.model_copy(update={"recorded_at": at(10)})
        assert tx.get_review(99) is None
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.add_review(review)
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.add_review(review.model_copy(update={"request_id": 99}))


# --- governance: waivers, rollouts, readings --------------------------------------------


def _waiver(tx: Tx, model: str, version: str | None = None, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "gate_id": "auc_floor",
        "expires_at": at(60 * 24),
        "justification": "known dip",
        "controls": ["daily check", "owner on call"],
        "granted_by": "dave",
        "at": T0,
    }
    return tx.add_waiver(model=model, version=version, **{**fields, **kw})


def test_waivers_round_trip_filter_and_revoke(store: Store) -> None:
    with store.transaction() as tx:
        first = _waiver(tx, "credit", "1", expires_at=at(60).astimezone(PLUS2))
        second = _waiver(tx, "fraud")
        third = _waiver(tx, "credit")
    assert (first.id, first.label, first.version, third.version) == (1, "W-1", "1", None)
    assert first.expires_at == at(60) and first.controls == ["daily check", "owner on call"]
    assert (first.revoked_at, first.revoked_by, first.revoke_reason) == (None, None, None)
    with store.transaction() as tx:
        revoked = tx.revoke_waiver(first.id, by="erin", reason="fixed", at=at(5))
    assert (revoked.revoked_at, revoked.revoked_by, revoked.revoke_reason) == (
        at(5),
        "erin",
        "fixed",
    )
    with store.reading() as tx:
        assert tx.get_waiver(first.id) == revoked and tx.get_waiver(99) is None
        assert tx.list_waivers() == [revoked, second, third]
        assert tx.list_waivers(model="credit") == [revoked, third]
        assert tx.list_waivers(model="other") == []
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.revoke_waiver(99, by="erin", reason="", at=T0)


def _rollout(tx: Tx, s: Seeded, request_id: int, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "model_id": s.model.id,
        "request_id": request_id,
        "version_id": s.version.id,
        "control_version_id": None,
        "step": 0,
        "traffic": 0.1,
        "status": "running",
        "reason": "started",
        "started_at": T0,
        "step_started_at": T0,
    }
    return tx.add_rollout(**{**fields, **kw})


def test_rollouts_round_trip_filter_and_update(store: Store) -> None:
    s = seeded(store)
    with store.transaction() as tx:
        other = add_request(tx, s)
        first = _rollout(tx, s, s.request.id, started_at=T0.astimezone(PLUS2))
        second = _rollout(tx, s, other.id, control_version_id=s.version.id)
    assert (first.id, first.step, first.traffic, first.ended_at) == (1, 0, 0.1, None)
    assert first.started_at == T0
    with store.transaction() as tx:
        stepped = tx.update_rollout(first.id, step=1, traffic=1.0, step_started_at=at(5))
        ended = tx.update_rollout(second.id, status="rolled_back", traffic=0.0, ended_at=at(6))
    assert (stepped.step, stepped.traffic, stepped.step_started_at) == (1, 1.0, at(5))
    assert (stepped.status, stepped.reason, stepped.started_at) == ("running", "started", T0)
    assert (ended.status, ended.ended_at, ended.control_version_id) == (
        "rolled_back",
        at(6),
        s.version.id,
    )
    with store.reading() as tx:
        assert tx.rollouts() == [stepped, ended]
        assert tx.rollouts()[0].started_at.utcoffset() == dt.timedelta(0)
        assert tx.rollouts(status="running") == [stepped]
        assert tx.rollouts(model_id=s.model.id, status="rolled_back") == [ended]
        assert tx.rollouts(model_id=99) == []
    with pytest.raises(StoreConflict), store.transaction() as tx:
        _rollout(tx, s, s.request.id)  # one rollout per request
    with pytest.raises(StoreConflict), store.transaction() as tx:
        _rollout(tx, s, 99)
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.update_rollout(99, step=1)


def test_latest_reading_per_kpi_by_time_then_arrival(store: Store) -> None:
    s = seeded(store)
    with store.transaction() as tx:
        other = add_request(tx, s)
        one, two = _rollout(tx, s, s.request.id), _rollout(tx, s, other.id)

        def read(rollout: int, name: str, canary: float, minutes: float) -> None:
            kpi = KpiRecord(
                name=name, canary=canary, control=None, at=at(minutes), recorded_by="frank"
            )
            tx.add_reading(rollout, kpi)

        read(one.id, "ctr", 0.05, 2)
        read(one.id, "ctr", 0.04, 1)  # older, though it arrived later
        read(one.id, "errors", 0.01, 1)
        read(one.id, "errors", 0.02, 1)  # same time: the later arrival wins
        read(two.id, "ctr", 0.09, 9)
    with store.reading() as tx:
        latest = tx.latest_readings(one.id)
        assert {k: (r.canary, r.at) for k, r in latest.items()} == {
            "ctr": (0.05, at(2)),
            "errors": (0.02, at(1)),
        }
        assert latest["ctr"] == KpiRecord(
            name="ctr", canary=0.05, control=None, at=at(2), recorded_by="frank"
        )
        assert tx.latest_readings(99) == {}
    with pytest.raises(StoreConflict), store.transaction() as tx:
        tx.add_reading(99, latest["ctr"])


def test_readings_since_start_with_the_one_standing_then_every_later_one(store: Store) -> None:
    s = seeded(store)
    with store.transaction() as tx:
        other = add_request(tx, s)
        one, two = _rollout(tx, s, s.request.id), _rollout(tx, s, other.id)
        for rollout, name, canary, minutes in [
            (one.id, "p95", 210.0, 3),
            (one.id, "p95", 190.0, 1),  # older, arrived later
            (one.id, "p95", 205.0, 5),
            (one.id, "p95", 220.0, 5),  # same time as the one before: recorded after it
            (one.id, "p95", 230.0, 9),
            (one.id, "errors", 0.01, 6),  # nothing standing at minute 4: from minute 6 on
            (one.id, "errors", 0.02, 7),
            (one.id, "ctr", 0.05, 2),
            (two.id, "p95", 999.0, 8),
        ]:
            tx.add_reading(
                rollout,
                KpiRecord(name=name, canary=canary, control=None, at=at(minutes), recorded_by="f"),
            )
    with store.reading() as tx:
        since = tx.readings_since(one.id, at(4))
        assert {k: [(r.canary, r.at) for r in v] for k, v in since.items()} == {
            "p95": [(210.0, at(3)), (205.0, at(5)), (220.0, at(5)), (230.0, at(9))],
            "errors": [(0.01, at(6)), (0.02, at(7))],
            "ctr": [(0.05, at(2))],
        }
        assert since["p95"][0].at.utcoffset() == dt.timedelta(0)
        # at a reading's own time, that reading stands (the last recorded of equal times)
        at5 = tx.readings_since(one.id, at(5).astimezone(PLUS2))["p95"]
        assert [r.canary for r in at5] == [220.0, 230.0]
        assert [r.canary for r in tx.readings_since(one.id, at(0))["p95"]] == [
            190.0, 210.0, 205.0, 220.0, 230.0
        ]  # fmt: skip
        assert tx.readings_since(one.id, at(60)) == {
            "p95": [KpiRecord(name="p95", canary=230.0, control=None, at=at(9), recorded_by="f")],
            "errors": [
                KpiRecord(name="errors", canary=0.02, control=None, at=at(7), recorded_by="f")
            ],
            "ctr": [KpiRecord(name="ctr", canary=0.05, control=None, at=at(2), recorded_by="f")],
        }
        assert tx.readings_since(99, at(4)) == {}


# --- the audit chain --------------------------------------------------------------------


def test_events_chain_page_and_filter(store: Store) -> None:
    with store.reading() as tx:
        assert (tx.event_count(), tx.head_event(), list(tx.events())) == (0, None, [])
        assert tx.head_mark() is None
    with store.transaction() as tx:
        for n in range(1, 8):
            event(tx, n, model="credit" if n % 2 else None, minutes=n)
    with store.transaction() as tx:
        appended = tx.append_event(
            time=at(9).astimezone(PLUS2),
            actor="bob",
            action="model.registered",
            subject="model:fraud",
            model="fraud",
            payload={"nested": {"b": [1, 2], "a": None}},
        )
    assert (appended.seq, appended.time, appended.time.utcoffset()) == (8, at(9), dt.timedelta(0))
    with store.reading() as tx:
        everything = list(tx.events())
        assert [e.seq for e in everything] == list(range(1, 9))
        assert everything[-1] == appended and tx.head_event() == appended
        assert tx.head_mark() == (appended.seq, appended.hash)
        assert everything[0].payload == {"n": 1, "tuple": [1, 2], "when": at(1).isoformat()}
        assert tx.event_count() == 8
        assert list(tx.events(batch=2)) == everything  # paged the same
        assert [e.seq for e in tx.events(after=5, batch=2)] == [6, 7, 8]
        assert [e.seq for e in tx.events(model="credit", batch=1)] == [1, 3, 5, 7]
        assert [e.seq for e in tx.events(since=at(6))] == [6, 7, 8]
        assert [e.seq for e in tx.events(model="credit", since=at(4), after=5)] == [7]
        assert [e.seq for e in tx.events(action="model.registered")] == [8]
        assert [e.seq for e in tx.events(model="credit", action="model.registered")] == []
        report = verify(tx.events())
    assert report.ok and (report.events, report.head_seq) == (8, 8)
    assert report.head_hash == appended.hash
    with store.reading() as tx:
        rows = list(tx.stored_events(batch=3))  # what verifying hashes: the same chain
        # the same events; the time as each store writes it (a SQL row keeps its own text)
        assert [r._replace(time="") for r in rows] == [
            stored(e)._replace(time="") for e in everything
        ]
        assert [dt.datetime.fromisoformat(r.time) for r in rows] == [e.time for e in everything]
        fast = verify_stored(iter(rows), [], None)
    assert fast.ok and (fast.events, fast.head_hash) == (8, appended.hash)


def test_checkpoints_round_trip_and_verify_with_the_chain(store: Store) -> None:
    key = generate_key()
    with store.transaction() as tx:
        for n in range(3):
            event(tx, n)
        head = tx.head_event()
        assert head is not None
        signed = sign_checkpoint(key, head, at(10).astimezone(PLUS2))
        tx.add_checkpoint(CheckpointRecord(**signed.model_dump()))
        event(tx, 4)
        later = sign_checkpoint(key, tx.head_event(), at(11))  # type: ignore[arg-type]
        tx.add_checkpoint(CheckpointRecord(**later.model_dump()))
    with store.reading() as tx:
        stored = tx.checkpoints()
        assert [(c.seq, c.time) for c in stored] == [(3, at(10)), (4, at(11))]
        checkpoints = [Checkpoint(**c.model_dump()) for c in stored]
        assert checkpoints == [signed, later]
        assert verify(tx.events(), checkpoints, public_key_raw(key)).ok
        assert not verify(list(tx.events())[:3], checkpoints, public_key_raw(key)).ok


# --- the outbox -------------------------------------------------------------------------


def test_notifications_are_recorded_once_and_routed_once(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.add_notification("b", event="e", model="credit", body={"id": "b"}, at=at(1))
        assert tx.add_notification("a", event="e", model="fraud", body={"id": "a"}, at=at(1))
        assert tx.add_notification("c", event="e", model=None, body={"id": "c", "t": (1,)}, at=T0)
        assert not tx.add_notification("a", event="x", model=None, body={"id": "z"}, at=T0)
    with store.reading() as tx:
        assert tx.has_notification("a") and not tx.has_notification("z")
        keys = [k for k, _ in tx.unrouted_notifications()]  # by time; a tie in any order
        assert keys[0] == "c" and sorted(keys[1:]) == ["a", "b"]
        assert tx.notifications() == [{"id": "c", "t": [1]}, {"id": "a"}, {"id": "b"}]
        assert tx.notifications(model="credit") == [{"id": "b"}]
    with store.transaction() as tx:
        tx.mark_routed("c")
        tx.mark_routed("a")
    with store.reading() as tx:
        assert tx.unrouted_notifications() == [("b", {"id": "b"})]
        assert len(tx.notifications()) == 3
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.mark_routed("nope")


def test_deliveries_queue_once_and_come_due_in_order(store: Store) -> None:
    first = delivery("n1", "slack", at(5))
    with store.transaction() as tx:
        assert tx.add_delivery(first)
        assert tx.add_delivery(delivery("n1", "mail", at(1).astimezone(PLUS2)))
        assert tx.add_delivery(delivery("n2", "slack", at(1)))
        assert tx.add_delivery(delivery("n3", "slack", at(30)))
        assert not tx.add_delivery(delivery("n1", "slack", T0))  # already queued
    with store.reading() as tx:
        assert tx.due_deliveries(T0) == []
        due = tx.due_deliveries(at(5))
        assert [d.key for d in due] == [("n1", "mail"), ("n2", "slack"), ("n1", "slack")]
        assert due[2] == first
        assert len(tx.all_deliveries()) == 4
    sent = first.model_copy(update={"status": "sent", "attempts": 1, "next_attempt_at": None})
    retry = delivery("n2", "slack", at(40)).model_copy(update={"attempts": 1, "last_error": "x"})
    with store.transaction() as tx:
        tx.update_delivery(sent)
        tx.update_delivery(retry)
    with store.reading() as tx:
        later = [("n1", "mail"), ("n3", "slack"), ("n2", "slack")]
        assert [d.key for d in tx.due_deliveries(at(60))] == later
        assert tx.all_deliveries() == [
            sent,
            delivery("n1", "mail", at(1).astimezone(PLUS2)),
            retry,
            delivery("n3", "slack", at(30)),
        ]
    with pytest.raises(MISSING), store.transaction() as tx:
        tx.update_delivery(delivery("nope", "slack", T0))


def test_a_due_delivery_is_claimed_by_one_dispatcher(store: Store) -> None:
    """Two dispatchers (a request pushing alerts, the leader's tick) read the same due row:
    the one whose claim changes it sends; a claim that runs out leaves it due again."""
    with store.transaction() as tx:
        assert tx.add_delivery(delivery("n1", "slack", at(5)))
        assert tx.add_delivery(delivery("n2", "slack", at(30)))
    with store.transaction() as tx:
        assert not tx.claim_delivery(("n2", "slack"), at(10), at(20))  # not due yet
        assert not tx.claim_delivery(("nope", "slack"), at(10), at(20))
    wins = []

    def claim() -> None:
        with store.transaction() as tx:
            wins.append(tx.claim_delivery(("n1", "slack"), at(10), at(20)))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]
    with store.reading() as tx:
        assert [d.key for d in tx.due_deliveries(at(19))] == []  # claimed until at(20)
        assert [d.key for d in tx.due_deliveries(at(20))] == [("n1", "slack")]
    with store.transaction() as tx:  # the claimant died: the next dispatcher takes it over
        assert tx.claim_delivery(("n1", "slack"), at(21), at(31))
        sent = delivery("n1", "slack", at(5)).model_copy(
            update={"status": "sent", "attempts": 1, "next_attempt_at": None}
        )
        tx.update_delivery(sent)
    with store.transaction() as tx:
        assert not tx.claim_delivery(("n1", "slack"), at(40), at(50))  # sent: nothing to claim


def test_the_contract_calls_every_port_method() -> None:
    """A method added to a port needs a contract test here (and an in-memory twin)."""
    source = Path(__file__).read_text()
    methods = {name for name in dir(Tx) if not name.startswith("_")}
    assert methods and not {m for m in methods if f"tx.{m}(" not in source}


# --- pages: the set-based reads behind the registry's lists -----------------------------
def _registry(tx: Tx) -> tuple[list[ModelRecord], list[VersionRecord], list[RequestRecord]]:
    """Three models (one on another team), versions spread over two, requests of each kind."""
    policy = add_policy(tx)
    models = [add_model(tx, "zeta"), add_model(tx, "alpha")]
    models.append(
        tx.add_model(name="zz-other", risk_tier="low", owner="o", team="growth", tags={}, at=T0)
    )
    versions = [
        add_version(tx, models[0].id, "1"),
        add_version(tx, models[1].id, "1"),
        add_version(tx, models[0].id, "2"),
    ]
    fields = {"policy_id": policy.id}
    requests = [
        add_request(tx, model_id=models[0].id, version_id=versions[0].id, **fields),
        add_request(
            tx, model_id=models[1].id, version_id=versions[1].id, status="executed", **fields
        ),
        add_request(
            tx, model_id=models[0].id, version_id=versions[2].id, status="blocked", **fields
        ),
        add_request(
            tx, model_id=models[0].id, version_id=versions[0].id, status="rejected", **fields
        ),
    ]
    return models, versions, requests


def test_a_page_of_models_is_chosen_in_name_order_with_the_total(store: Store) -> None:
    with store.transaction() as tx:
        (zeta, alpha, other), _, _ = _registry(tx)
    with store.reading() as tx:
        assert tx.model_page() == ([alpha, zeta, other], 3)
        assert tx.model_page(limit=1, offset=1) == ([zeta], 3)
        assert tx.model_page(limit=2, offset=5) == ([], 3)
        assert tx.model_page(team="risk") == ([alpha, zeta], 2)
        assert tx.model_page(risk_tier="low", team="growth") == ([other], 1)
        assert tx.model_page(risk_tier="none") == ([], 0)
        # keyset: the rows after a name (one there or not), then the offset; the same total
        assert tx.model_page(after="alpha") == ([zeta, other], 3)
        assert tx.model_page(after="b", limit=1) == ([zeta], 3)
        assert tx.model_page(after="zeta", offset=1) == ([], 3)
        assert tx.model_page(team="risk", after="alpha") == ([zeta], 2)
        assert tx.model_page(after="zz-other") == ([], 3)
        assert tx.model_page(after="alpha", limit=1, count=False) == ([zeta], None)


def test_versions_of_several_models_oldest_first(store: Store) -> None:
    with store.transaction() as tx:
        (zeta, alpha, other), (z1, a1, z2), _ = _registry(tx)
    with store.reading() as tx:
        assert tx.versions_of([zeta.id, alpha.id, other.id, 99]) == {
            zeta.id: [z1, z2],
            alpha.id: [a1],
            other.id: [],
            99: [],
        }
        assert tx.versions_of([]) == {}
        assert tx.versions_of([zeta.id])[zeta.id] == tx.list_versions(zeta.id)


def test_a_page_of_a_models_versions_by_id_and_their_tallies(store: Store) -> None:
    with store.transaction() as tx:
        (zeta, alpha, other), (z1, a1, z2), _ = _registry(tx)
        z3 = add_version(tx, zeta.id, "3")
        z2 = tx.set_stage(z2.id, "production", slot=0, at=T0)
        z3 = tx.set_stage(z3.id, "live", slot=1, at=T0)  # a slot, whatever the stage's name
    with store.reading() as tx:
        assert tx.version_page(zeta.id) == ([z1, z2, z3], 3)
        assert tx.version_page(zeta.id, after=z1.id, limit=1) == ([z2], 3)
        assert tx.version_page(zeta.id, after=z1.id, offset=1) == ([z3], 3)
        assert tx.version_page(zeta.id, stage="draft") == ([z1], 1)
        assert tx.version_page(zeta.id, stage="draft", after=z1.id) == ([], 1)
        assert tx.version_page(other.id) == ([], 0)
        assert tx.version_page(zeta.id, after=z2.id, count=False) == ([z3], None)
        assert tx.model_tallies([zeta.id, alpha.id, other.id, 99], statuses=["draft"]) == {
            zeta.id: ModelTally(versions=3, latest="3", production=("2", "3"), requests=0),
            alpha.id: ModelTally(versions=1, latest="1", production=(), requests=0),
            other.id: ModelTally(versions=0, latest=None, production=(), requests=0),
        }
        assert tx.model_tallies([], statuses=["pending"]) == {}
        assert tx.version_names([z3.id, a1.id, 99]) == {z3.id: ("zeta", "3"), a1.id: ("alpha", "1")}
        assert tx.version_names([]) == {}


def test_a_page_of_requests_is_chosen_in_id_order_with_the_total(store: Store) -> None:
    with store.transaction() as tx:
        (zeta, alpha, _), _, (pending, executed, blocked, rejected) = _registry(tx)
    with store.reading() as tx:
        assert tx.request_page() == ([pending, executed, blocked, rejected], 4)
        assert tx.request_page(limit=2, offset=1) == ([executed, blocked], 4)
        assert tx.request_page(statuses=("pending", "blocked")) == ([pending, blocked], 2)
        assert tx.request_page(model_id=zeta.id, limit=1) == ([pending], 3)
        assert tx.request_page(model_id=alpha.id, statuses=("pending",)) == ([], 0)
        # keyset, with one status or several (SQL reads each status's index range)
        open_ = ("pending", "blocked")
        assert tx.request_page(after=pending.id) == ([executed, blocked, rejected], 4)
        assert tx.request_page(statuses=open_, after=pending.id) == ([blocked], 2)
        assert tx.request_page(statuses=open_, limit=1, offset=1) == ([blocked], 2)
        assert tx.request_page(statuses=("blocked", "rejected", "pending"), limit=2) == (
            [pending, blocked],
            3,
        )
        assert tx.request_page(
            model_id=zeta.id, statuses=("rejected", "pending"), after=pending.id, limit=5
        ) == ([rejected], 2)
        assert tx.request_page(statuses=open_, limit=1, offset=2**63 - 1) == ([], 2)
        assert tx.request_page(statuses=open_, limit=1, count=False) == ([pending], None)
        assert tx.request_page(model_id=zeta.id, after=blocked.id, count=False) == (
            [rejected],
            None,
        )
        counted = tx.model_tallies([zeta.id, alpha.id, 99], statuses=open_)
        assert {m: t.requests for m, t in counted.items()} == {zeta.id: 2, alpha.id: 0}
        done = tx.model_tallies([zeta.id, alpha.id], statuses=("executed", "rejected"))
        assert {m: t.requests for m, t in done.items()} == {zeta.id: 1, alpha.id: 1}
        assert tx.model_tallies([zeta.id], statuses=())[zeta.id].requests == 0
        assert tx.requests_of([zeta.id, alpha.id], statuses=("pending", "executed")) == [
            pending,
            executed,
        ]
        assert tx.requests_of([zeta.id], statuses=("blocked", "rejected")) == [blocked, rejected]
        assert tx.requests_of([alpha.id], statuses=("executed",), change_type="standard") == [
            executed
        ]
        assert tx.requests_of([alpha.id], statuses=("executed",), change_type="emergency") == []
        assert tx.requests_of([], statuses=("pending",)) == []
        assert tx.requests_of([zeta.id], statuses=()) == []


def test_reviews_and_running_rollouts_of_several(store: Store) -> None:
    s = seeded(store)
    review = ReviewRecord(
        request_id=s.request.id,
        summary="s",
        actions=["a"],
        recorded_by="frank",
        recorded_at=at(1).astimezone(PLUS2),
    )
    with store.transaction() as tx:
        other = add_request(tx, s)
        tx.add_review(review)
        first = _rollout(tx, s, s.request.id)
        second = _rollout(tx, s, other.id, status="rolled_back")
        elsewhere = add_model(tx, "elsewhere")
    with store.reading() as tx:
        assert tx.reviews_for([s.request.id, other.id, 99]) == {
            s.request.id: review.model_copy(update={"recorded_at": at(1)})
        }
        assert tx.reviews_for([]) == {}
        assert tx.rollouts_of([s.model.id, elsewhere.id], status="running") == [first]
        assert tx.rollouts_of([s.model.id], status="rolled_back") == [second]
        assert tx.rollouts_of([elsewhere.id], status="running") == []
        assert tx.rollouts_of([], status="running") == []


def test_decisions_under_pages_newest_first_and_picks_from_results(store: Store) -> None:
    s = seeded(store)
    result = {
        "outcome": "deny",
        "gates": [
            {"gate_id": "auc", "status": "fail", "observed": 0.61, "details": {"n": [1, 2]}},
            {"gate_id": "card", "status": "pass", "observed": None},
        ],
        "inputs": {"methods": "2"},
    }
    with store.transaction() as tx:
        other_policy = add_policy(tx, "2.0.0")
        other = add_request(tx, s, policy_id=other_policy.id)
        made = [
            tx.add_decision(
                request_id=s.request.id if i != 2 else other.id,
                policy_id=s.policy.id if i != 2 else other_policy.id,
                digest=f"{i:02d}" * 32,
                outcome="deny",
                inputs={"n": i, "pair": (1, 2)},
                result=result,
                at=at(i).astimezone(PLUS2),
            )
            for i in range(5)
        ]
    picks = [
        ("outcome",),
        ("gates", 0, "status"),
        ("gates", 1, "gate_id"),
        ("gates", 0, "details"),
        ("gates", 1, "observed"),  # JSON null
        ("gates", 2, "status"),  # beyond the list
        ("inputs", "methods"),
        ("outcome", "deeper"),  # a step into text
        ("gates", "status"),  # a key of a list
    ]
    with store.reading() as tx:
        mine = [s.policy.id]
        page = tx.decisions_under(mine, since=None, before=None, limit=2, picks=picks)
        assert [d.id for d in page] == [made[4].id, made[3].id]
        first = page[0]
        assert (first.request_id, first.policy_id, first.outcome) == (s.request.id, 1, "deny")
        assert first.created_at == at(4) and first.created_at.utcoffset() == dt.timedelta(0)
        assert first.inputs == {"n": 4, "pair": [1, 2]}
        assert first.picked == ("deny", "fail", "card", {"n": [1, 2]}, None, None, "2", None, None)
        rest = tx.decisions_under(mine, since=None, before=page[-1].id, limit=10)
        assert [(d.id, d.picked) for d in rest] == [(made[1].id, ()), (made[0].id, ())]
        one = tx.decisions_under(mine, since=None, before=None, limit=1, picks=[("outcome",)])
        assert [d.picked for d in one] == [("deny",)]
        since = tx.decisions_under(mine, since=at(3), before=None, limit=10)
        assert [d.id for d in since] == [made[4].id, made[3].id]
        both = tx.decisions_under([other_policy.id, *mine], since=None, before=4, limit=10)
        assert [d.id for d in both] == [3, 2, 1]
        ranged = tx.decisions_under(
            [other_policy.id, *mine], since=None, before=5, after=1, limit=10
        )
        assert [d.id for d in ranged] == [4, 3, 2]
        above = tx.decisions_under(mine, since=None, before=None, after=made[2].id, limit=10)
        assert [d.id for d in above] == [made[4].id, made[3].id]
        assert tx.decisions_under(mine, since=None, before=3, after=2, limit=10) == []
        assert tx.decisions_under([], since=None, before=None, limit=10) == []
        assert tx.decisions_under([99], since=None, before=None, limit=10) == []
        many = [("gates", i % 3, "status") for i in range(120)]  # more than one call's worth
        got = tx.decisions_under(mine, since=None, before=None, limit=1, picks=many)
        assert got[0].picked == tuple(["fail", "pass", None][i % 3] for i in range(120))
        for bad in ([("gates", "a b")], [("0",)], [()], [("gates", -1)], [["gates"]]):
            with pytest.raises(InputError, match="picks"):
                tx.decisions_under(mine, since=None, before=None, limit=1, picks=bad)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="limit"):
            tx.decisions_under(mine, since=None, before=None, limit=0)


# --- audit verify: every row of a governed table at once --------------------------------
def test_every_version_evidence_approval_and_decision_result_in_id_order(store: Store) -> None:
    s = seeded(store)
    signed = Approval(approver="carol", roles=["model_owner"], at=at(1), evidence_digest=SHA)
    with store.transaction() as tx:
        other = add_model(tx, "aaa")  # before "credit" by name, after it by id
        w1 = add_version(tx, other.id, "1")
        v2 = add_version(tx, s.model.id, "2")
        later = add_request(tx, model_id=other.id, version_id=w1.id, policy_id=s.policy.id)
        tx.add_approval(later.id, signed)
        tx.add_approval(s.request.id, signed.model_copy(update={"approver": "dave"}))
        tx.add_approval(later.id, signed.model_copy(update={"verdict": "reject"}))
        for version_id, name in ((v2.id, "card"), (s.version.id, "eval"), (v2.id, "card")):
            item = EvidenceItem(name=name, kind="document", uri="u", sha256=SHA)
            tx.add_evidence(version_id, item, stored=False, actor="alice", at=T0)
        first = _decide(tx, s, "ab" * 32, "deny", request_id=later.id)
        second = _decide(tx, s, "cd" * 32, "allow")
    with store.reading() as tx:
        assert tx.all_versions() == [s.version, w1, v2]
        assert [(e.id, e.version_id, e.item.name) for e in tx.all_evidence()] == [
            (1, v2.id, "card"),
            (2, s.version.id, "eval"),
            (3, v2.id, "card"),
        ]
        approvals = tx.all_approvals()
        assert approvals == tx.approvals_of([s.request.id, later.id])
        assert [a.verdict for a in approvals[later.id]] == ["approve", "reject"]
        results = list(tx.all_decision_results(batch=1))  # pages of one: the keyset carries on
    assert [(d.id, d.request_id, d.digest, d.outcome) for d in results] == [
        (first.id, later.id, "ab" * 32, "deny"),
        (second.id, s.request.id, "cd" * 32, "allow"),
    ]
    assert [d.result for d in results] == [first.result, second.result]
    with store.transaction() as tx:  # a copy each time: changing one changes no store row
        next(tx.all_decision_results()).result["summary"] = "changed"
    with store.reading() as tx:
        assert next(tx.all_decision_results()).result == first.result
