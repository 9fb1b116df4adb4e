"""Write-back and reconcile: MLflow follows clearance's stages, and hand changes are caught."""

from __future__ import annotations

import pytest
from mlflow_env import MODEL, MlflowEnv

from clearance.errors import InputError, NotPermitted, StoreConflict
from clearance.service import mlflow_sync
from clearance.testing.mlflow import InMemoryMlflow


def _tags(fake: InMemoryMlflow, version: str) -> dict[str, str]:
    tags = fake.version_tags(MODEL, version)
    return {k: v for k, v in tags.items() if k.startswith("clearance.")}


def _seq(menv: MlflowEnv, action: str, subject: str) -> int:
    return [e.seq for e in menv.events(action) if e.subject == subject][-1]


def test_registering_tags_the_version_in_mlflow(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    out = menv.register("models:/credit/1")

    assert out.sync is not None and out.sync.ungoverned == []
    registered = _seq(menv, "version.registered", "model:credit/version:1")
    assert _tags(fake, "1") == {"clearance.stage": "draft", "clearance.audit_seq": str(registered)}
    assert fake.aliases(MODEL) == {}  # nothing is in production yet
    assert [e.payload["mlflow_model"] for e in menv.events("mlflow.synced")] == ["credit"]


def test_a_promotion_moves_the_alias_and_tags_the_decision(
    menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    menv.register("models:/credit/1")
    menv.promote("1", "staging")
    result = menv.promote("1", "production")
    sync = menv.gov.after_request(result.request.id)  # the hook after `clearance approve`

    assert sync is not None and sync.ungoverned == [] and sync.error is None
    assert "@champion = 1" in sync.written
    assert fake.aliases(MODEL) == {"champion": "1"}
    moved = _seq(menv, "version.stage_changed", "model:credit/version:1")
    assert _tags(fake, "1") == {
        "clearance.stage": "production",
        "clearance.decision": result.decision.decision_id,
        "clearance.request": str(result.request.id),
        "clearance.policy": "credit-mlflow@1.0.0",
        "clearance.audit_seq": str(moved),
    }
    assert menv.gov.sync(MODEL).written == []  # in step: a second sync writes nothing


def test_a_replacement_and_a_rollback_move_the_alias_back_and_forth(
    menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    for v in ("1", "2"):
        menv.register(f"models:/credit/{v}")
        menv.promote(v, "staging")
        menv.promote(v, "production")
        menv.gov.after_move(MODEL)
    assert fake.aliases(MODEL) == {"champion": "2"}
    assert _tags(fake, "1")["clearance.stage"] == "deprecated"

    menv.ws.promotions.rollback(MODEL, actor="frank", reason="INC-1: approval rate fell")
    sync = menv.gov.after_move(MODEL)

    assert sync is not None and sync.ungoverned == []
    assert fake.aliases(MODEL) == {"champion": "1"}
    rolled = _seq(menv, "version.stage_changed", "model:credit/version:1")
    # a rollback has no decision: the tags say where it is and which event put it there
    assert _tags(fake, "1") == {"clearance.stage": "production", "clearance.audit_seq": str(rolled)}
    assert _tags(fake, "2")["clearance.stage"] == "deprecated"


def _in_production(menv: MlflowEnv) -> None:
    for v in ("1", "2"):
        menv.register(f"models:/credit/{v}")
    menv.promote("1", "staging")
    menv.promote("1", "production")
    menv.gov.after_move(MODEL)


@pytest.mark.backends("memory", "sqlite")
def test_an_alias_moved_by_hand_is_recorded_and_alerted_once(
    menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    _in_production(menv)
    fake.set_alias(MODEL, "champion", "2")  # someone, in MLflow's UI

    sync = menv.gov.sync(MODEL)

    (change,) = sync.ungoverned
    assert (change.target, change.found, change.expected, change.reverted) == (
        "@champion",
        "2",
        "1",
        False,
    )
    assert fake.aliases(MODEL) == {"champion": "2"}  # left as found: revert is off
    (event,) = menv.events("mlflow.ungoverned_change")
    assert (event.subject, event.actor) == ("model:credit/version:2", "clearance-mlflow")
    assert event.payload["last_written"] == "1"
    (alert,) = menv.alerts()
    assert alert["severity"] == "critical" and alert["policy"] == "credit-mlflow@1.0.0"
    assert (
        "@champion of MLflow model credit changed without a clearance decision"
        in (alert["summary"])
    )
    assert "promote credit 2 through clearance" in alert["remediation"]

    before = menv.head()
    again = menv.gov.sync(MODEL)  # the next tick sees the same change
    assert len(again.ungoverned) == 1 and menv.head() == before and len(menv.alerts()) == 1


def test_revert_moves_a_hand_moved_alias_back(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    _in_production(menv)
    fake.set_alias(MODEL, "champion", "2")
    menv.settings = menv.settings.model_copy(update={"revert": True})

    sync = menv.gov.sync(MODEL)

    assert [c.reverted for c in sync.ungoverned] == [True]
    assert fake.aliases(MODEL) == {"champion": "1"}
    assert "moved back" in menv.alerts()[0]["summary"]
    fake.set_alias(MODEL, "champion", "2")  # the same hand change again is a new fact
    menv.gov.sync(MODEL)
    assert len(menv.alerts()) == 2 and fake.aliases(MODEL) == {"champion": "1"}


def test_a_governed_tag_changed_by_hand_is_caught(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    _in_production(menv)
    fake.set_tag(MODEL, "2", "clearance.stage", "production")
    fake.delete_tag(MODEL, "1", "clearance.decision")
    fake.set_tag(MODEL, "1", "owner-note", "free tags are not governed")

    sync = menv.gov.sync(MODEL, revert=True)

    assert sorted((c.target, c.found) for c in sync.ungoverned) == [
        ("version 1 clearance.decision", None),
        ("version 2 clearance.stage", "production"),
    ]
    assert _tags(fake, "2")["clearance.stage"] == "draft"
    assert "clearance.decision" in _tags(fake, "1")
    assert fake.version_tags(MODEL, "1")["owner-note"] == "free tags are not governed"


def test_a_hand_change_then_a_promotion_both_count(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    _in_production(menv)
    fake.add_version(MODEL, "r1", {"model.pkl": b"weights-v3"})
    fake.set_alias(MODEL, "champion", "3")  # by hand, and no sync ran since
    menv.promote("2", "staging")
    menv.promote("2", "production")

    sync = menv.gov.after_move(MODEL)

    assert sync is not None and [(c.found, c.expected) for c in sync.ungoverned] == [("3", "2")]
    assert fake.aliases(MODEL) == {"champion": "2"}  # the governed move is written anyway


def test_an_unreachable_mlflow_delays_the_write_back(menv: MlflowEnv, fake: InMemoryMlflow) -> None:
    menv.register("models:/credit/1")
    menv.promote("1", "staging")
    fake.down = True
    menv.promote("1", "production")

    sync = menv.gov.after_move(MODEL)  # the promotion has committed; the hook says why not
    assert sync is not None and sync.error is not None and "connection refused" in sync.error

    fake.down = False
    (later,) = menv.gov.reconcile()
    assert later.ungoverned == [] and "@champion = 1" in later.written
    assert fake.aliases(MODEL) == {"champion": "1"}


def test_an_alias_set_before_clearance_governed_must_not_change(
    menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    fake.set_alias(MODEL, "champion", "2")  # serving before the model came under clearance
    menv.register("models:/credit/1")
    assert fake.aliases(MODEL) == {"champion": "2"}  # taken as found, not removed

    fake.set_alias(MODEL, "champion", "1")
    (change,) = menv.gov.sync(MODEL).ungoverned
    assert (change.found, change.expected) == ("1", "2")

    menv.promote("1", "staging")
    menv.promote("1", "production")
    menv.gov.after_move(MODEL)
    assert menv.gov.sync(MODEL).ungoverned == []  # now clearance's, and in step


def test_a_version_deleted_in_mlflow_is_an_ungoverned_change(
    menv: MlflowEnv, fake: InMemoryMlflow
) -> None:
    _in_production(menv)
    fake.delete_version(MODEL, "1")

    sync = menv.gov.sync(MODEL)

    # MLflow removed @champion with the version: the deletion is the change to report
    assert [(c.target, c.found) for c in sync.ungoverned] == [("version 1", "deleted")]
    assert fake.aliases(MODEL) == {}
    (alert,) = menv.alerts()
    assert "cannot serve" in alert["remediation"]
    menv.gov.sync(MODEL)
    assert len(menv.alerts()) == 1


def test_reconcile_runs_every_model_and_checks_the_callers_role(menv: MlflowEnv) -> None:
    menv.register("models:/credit/1")
    assert [r.model for r in menv.gov.reconcile()] == ["credit"]
    assert [r.model for r in menv.gov.reconcile(actor="frank", operator=False)] == ["credit"]
    with pytest.raises(NotPermitted, match="alice holds ml_engineer"):
        menv.gov.reconcile(actor="alice", operator=False)
    assert len(menv.gov.reconcile(actor="alice", operator=True)) == 1  # the local operator


def test_a_model_not_from_mlflow_is_not_synced(menv: MlflowEnv) -> None:
    menv.register("runs:/r1/model", model="credit", version="r1")
    assert menv.gov.after_move(MODEL) is None
    assert menv.gov.reconcile() == []
    with pytest.raises(InputError, match="not registered from MLflow"):
        menv.gov.sync(MODEL)


@pytest.mark.backends("memory", "sqlite")
def test_syncs_of_a_model_take_turns(menv: MlflowEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync waits for another one's lease, and takes it over once it lapses (a crash)."""
    menv.register("models:/credit/1")
    monkeypatch.setattr(mlflow_sync, "LEASE_TRIES", 2)
    monkeypatch.setattr(mlflow_sync, "LEASE_WAIT_S", 0.01)
    held = menv.ws.idempotency.claim(
        "clearance-mlflow", "mlflow-sync:credit", "sync", menv.clock.now(), mlflow_sync.LEASE
    )
    assert held is None  # this test now holds the lease, as a running sync would

    with pytest.raises(StoreConflict, match="another sync of credit"):
        menv.gov.sync(MODEL)
    menv.clock.advance(seconds=mlflow_sync.LEASE.total_seconds() + 1)
    assert menv.gov.sync(MODEL).error is None
    # released: a claim as long as a sync's finds no holder (a held one would be returned)
    again = menv.ws.idempotency.claim(
        "clearance-mlflow", "mlflow-sync:credit", "sync", menv.clock.now(), mlflow_sync.LEASE
    )
    assert again is None
