"""Registry use cases on a real store: users, versions, evidence, policies, governance.

Each refusal is checked to change nothing: every table, the audit chain included.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from clearance.core.engine import evidence_digest
from clearance.errors import InputError, NotFound
from clearance.service.context import snapshot

if TYPE_CHECKING:
    from conftest import Env


def _digest(env: Env, version: str) -> str:
    with env.ws.store.reading() as tx:
        model = tx.get_model(env.model)
        assert model is not None
        row = tx.get_version(model.id, version)
        assert row is not None
        return evidence_digest(snapshot(tx, model, row, None))


def test_register_creates_a_draft_version_with_its_files_in_the_blob_store(env: Env) -> None:
    before = env.event_count()
    row = env.register("1", artifact=b"weights v1")

    assert row.stage == "draft"
    assert env.actions(after=before) == ["model.registered", "version.registered"]
    with env.ws.store.reading() as tx:
        model = tx.get_model(env.model)
        assert model is not None
        assert (model.risk_tier, model.tags) == ("high", {"domain": "credit"})
        evidence = tx.evidence_for(row.id)
    assert [e.item.name for e in evidence] == ["model_card"]
    card = evidence[0].item
    card_bytes = (env.tmp / "manifests" / "credit-default-1" / "model_card.md").read_bytes()
    assert card.sha256 == hashlib.sha256(card_bytes).hexdigest()
    assert env.ws.blobs.read(card.sha256) == card_bytes
    artifact_sha = hashlib.sha256(b"weights v1").hexdigest()
    assert row.record["artifact_blob"] == artifact_sha
    assert env.ws.blobs.read(artifact_sha) == b"weights v1"

    # a second version of the same model reuses the model row
    env.register("2")
    assert env.actions(after=before)[2:] == ["version.registered"]


def test_registering_a_version_twice_is_refused_and_changes_nothing(env: Env) -> None:
    env.register("1")
    before = env.state()
    with pytest.raises(InputError, match="already registered"):
        env.register("1", auc=0.99)
    assert env.state() == before


def test_a_risk_tier_that_contradicts_the_registered_model_is_refused(env: Env) -> None:
    env.register("1")
    before = env.state()
    with pytest.raises(InputError, match="risk tier high"):
        env.register("2", risk_tier="low")
    with pytest.raises(InputError, match="tags"):
        env.register("2", tags={"domain": "fraud"})
    assert env.state() == before


def test_an_unknown_user_cannot_register(env: Env) -> None:
    before = env.state()
    with pytest.raises(NotFound, match="unknown user 'mallory'"):
        env.ws.registry.register(env.manifest("1"), actor="mallory")
    assert env.state() == before


def test_attaching_a_new_model_card_supersedes_the_old_and_changes_the_digest(env: Env) -> None:
    env.register("1")
    old = _digest(env, "1")
    new_card = env.card("card-v2.md", "# Intended use\nx\n# Limitations\ny\n# Fairness\nz\n")
    before = env.event_count()

    item = env.ws.registry.attach(env.model, "1", "model_card", path=new_card, actor="alice")

    assert _digest(env, "1") != old
    assert env.ws.blobs.read(str(item.sha256)) == new_card.read_bytes()
    assert env.actions(after=before) == ["evidence.attached"]
    with env.ws.store.reading() as tx:
        last = tx.head_event()
        model = tx.get_model(env.model)
        assert model is not None and last is not None
        history = [e.item.sha256 for e in tx.evidence_for(tx.list_versions(model.id)[0].id)]
    assert last.payload["supersedes"] == history[0]  # append-only: both kept, in order
    assert history[1] == item.sha256


def test_attach_refusals_name_what_is_wrong_and_change_nothing(env: Env) -> None:
    env.register("1")
    card = env.card("c.md", "# Intended use\n")
    before = env.state()
    with pytest.raises(NotFound, match="no version '9'"):
        env.ws.registry.attach(env.model, "9", "model_card", path=card, actor="alice")
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        env.ws.registry.attach("nope", "1", "model_card", path=card, actor="alice")
    with pytest.raises(InputError, match="not found"):
        env.ws.registry.attach(
            env.model, "1", "model_card", path=env.tmp / "missing.md", actor="alice"
        )
    with pytest.raises(InputError, match="sha256"):
        env.ws.registry.attach(env.model, "1", "report", uri="s3://b/r.json", actor="alice")
    assert env.state() == before


def test_policy_apply_is_idempotent_and_versions_only_move_forward(env: Env) -> None:
    before = env.state()
    record, applied = env.apply(env.policy())
    assert not applied and record.version == "1.0.0"
    assert env.state() == before

    with pytest.raises(InputError, match="already applied with different content"):
        env.apply(env.policy(auc_min=0.75))
    assert env.state() == before

    _, applied = env.apply(env.policy(version="1.2.0"))
    assert applied
    after_upgrade = env.state()
    with pytest.raises(InputError, match=r"only moves forward \(got 1.1.0\)"):
        env.apply(env.policy(version="1.1.0"))
    assert env.state() == after_upgrade


def test_the_governing_policy_follows_selectors_and_ambiguity_is_an_error(env: Env) -> None:
    env.register("1")
    assert env.ws.registry.check_governed(env.model) == "credit@1.0.0"

    # the highest applied version of a policy is the one that governs
    env.apply(env.policy(version="1.1.0"))
    assert env.ws.registry.check_governed(env.model) == "credit@1.1.0"

    # no policy selects a medium-tier model
    env.ws.registry.register(env.manifest("1", model="churn", risk_tier="medium"), actor="alice")
    with pytest.raises(NotFound, match="no applied policy governs model churn"):
        env.ws.registry.check_governed("churn")
    before = env.state()
    with pytest.raises(NotFound, match="churn"):
        env.ws.promotions.promote("churn", "1", "staging", actor="alice")
    assert env.state() == before

    # applying a second policy that would also govern credit-default: refused
    before = env.state()
    with pytest.raises(InputError, match="credit already governs"):
        env.apply(env.policy(name="credit-extra", selector={"models": [env.model]}))
    assert env.state() == before

    # a policy applied before its model exists can still overlap: refused, not guessed
    env.apply(env.policy(name="credit-extra", selector={"models": ["credit-two"]}))
    env.ws.registry.register(env.manifest("1", model="credit-two"), actor="alice")
    with pytest.raises(InputError, match="several policies select model credit-two"):
        env.ws.registry.check_governed("credit-two")
    before = env.state()
    with pytest.raises(InputError, match="several policies"):
        env.ws.promotions.promote("credit-two", "1", "staging", actor="alice")
    assert env.state() == before


def test_an_applied_policy_version_reads_back_with_its_sources(env: Env) -> None:
    applied, _ = env.apply(env.policy())
    shown = env.ws.views.policy(applied.name, applied.version)
    assert shown == applied and shown.sources  # the files as applied, not re-rendered
    with pytest.raises(NotFound, match=rf"versions of policy {applied.name}: {applied.version}"):
        env.ws.views.policy(applied.name, "9.9.9")
