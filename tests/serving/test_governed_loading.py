"""A serving process loads only what clearance says serves, with the approved bytes.

Each case builds a real workspace (SQLite, the workspace key signing every decision), puts
a version in production through the use cases, then breaks one thing the way it breaks in
the field: a rejected or never-approved version, one byte of the artifact, an attestation
signed by another key, a waiver or an emergency bypass that ran out. ``load`` must refuse
with the precise reason, and load nothing.
"""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

import clearance.serving as serving
from clearance.core.attestation import read_envelope, read_statement, sign
from clearance.core.audit import generate_key, public_key_raw
from clearance.errors import InputError
from clearance.local import LocalClearance
from clearance.serving import ServingRefused
from serving_setup import MODEL, Story, story


@pytest.fixture
def s(tmp_path: Path) -> Story:
    return story(tmp_path)


def load(s: Story, **options: object) -> serving.ServedModel:
    options.setdefault("now", s.clock.now())
    return serving.load(MODEL, client=LocalClearance(s.ws), **options)  # type: ignore[arg-type]


def refused(s: Story, **options: object) -> ServingRefused:
    calls: list[object] = []

    def loader(data: object) -> object:
        calls.append(data)
        return data

    with pytest.raises(ServingRefused) as raised:
        load(s, loader=loader, **options)
    assert calls == [], "a refused model must never be loaded"
    return raised.value


def test_an_approved_model_loads_and_says_what_was_checked(s: Story) -> None:
    s.register("1", weight=2.0)
    request = s.to_production("1")
    served = load(s)
    assert served.model.predict([{"income": 3}]) == [6.0]
    v = served.verified
    assert (v.model, v.version, v.stage, v.role, v.request) == (
        MODEL,
        "1",
        "production",
        "champion",
        request,
    )
    assert v.key_source == "listed" and v.keyid is not None
    assert served.inference is not None and served.inference.forbidden == ["ssn", "email"]
    # pinning the workspace's public key verifies the same attestation offline
    pinned = load(s, public_key=public_key_raw(s.ws.key))
    assert pinned.verified.key_source == "pinned"
    # verify() alone: the same checks, nothing loaded
    assert serving.verify(MODEL, client=LocalClearance(s.ws), now=s.clock.now()).version == "1"


def test_a_version_never_approved_for_production_is_refused(s: Story) -> None:
    s.register("1")
    s.ws.promotions.promote(MODEL, "1", "staging", actor="alice")
    assert refused(s).reason == "not_serving"  # nothing in production
    # someone moves it into production behind clearance's back, straight in the database
    with s.ws.store.transaction() as tx:
        row = tx.get_version(tx.get_model(MODEL).id, "1")  # type: ignore[union-attr]
        assert row is not None
        tx.set_stage(row.id, "production", slot=0, at=s.clock.now())
    exc = refused(s)
    assert exc.reason == "not_approved"
    assert "no executed promotion to production" in str(exc)


def test_a_rejected_promotion_does_not_serve(s: Story) -> None:
    s.register("1")
    s.to_production("1")
    s.register("2")
    p = s.ws.promotions
    p.promote(MODEL, "2", "staging", actor="alice")
    opened = p.promote(MODEL, "2", "production", actor="alice")
    p.reject(opened.request.id, actor="carol", reason="calibration is off")
    exc = refused(s, version="2")
    assert exc.reason == "not_serving"
    assert "scorer 2 is not serving in production; 1 (champion) is" in str(exc)
    assert load(s).verified.version == "1"


def test_one_changed_byte_in_the_artifact_is_refused(s: Story, tmp_path: Path) -> None:
    artifact = s.register("1")
    s.to_production("1")
    # a copy handed to the loader, one byte changed
    changed = bytearray(artifact.read_bytes())
    changed[len(changed) // 2] ^= 0x01
    (tmp_path / "deploy.pkl").write_bytes(bytes(changed))
    exc = refused(s, artifact=tmp_path / "deploy.pkl")
    assert exc.reason == "digest_mismatch"
    # the workspace's own stored copy, changed in place
    check = s.ws.serving.check(MODEL)
    assert check.artifact is not None and check.artifact.blob is not None
    blob = s.ws.blobs.path(check.artifact.blob)
    blob.chmod(0o600)
    blob.write_bytes(bytes(changed))
    assert refused(s).reason == "digest_mismatch"
    # the untouched original still loads
    assert load(s, artifact=artifact).verified.version == "1"


def _resign(s: Story, key: object) -> None:
    """Replace the production decision's filed attestation with the same statement signed
    by ``key``."""
    check = s.ws.serving.check(MODEL)
    assert check.attestation is not None
    statement = read_statement(read_envelope(check.attestation.to_bytes()).payload)
    event_hash = statement["predicate"]["auditEvent"]["hash"]
    s.ws.attestation_archive.put(event_hash, sign(statement, key))  # type: ignore[arg-type]


def test_an_attestation_signed_by_another_key_is_refused(s: Story) -> None:
    s.register("1")
    s.to_production("1")
    other = generate_key()
    # the good attestation, checked against someone else's pinned key
    exc = refused(s, public_key=public_key_raw(other))
    assert exc.reason == "attestation_invalid"
    # a forged attestation, signed by a key the workspace never had
    _resign(s, other)
    exc = refused(s)
    assert exc.reason == "attestation_invalid"
    assert "none of which the workspace lists" in str(exc)
    assert refused(s, public_key=public_key_raw(s.ws.key)).reason == "attestation_invalid"


def test_a_missing_attestation_is_refused_unless_allowed(s: Story) -> None:
    s.register("1")
    s.to_production("1")
    check = s.ws.serving.check(MODEL)
    assert check.attestation is not None
    statement = read_statement(read_envelope(check.attestation.to_bytes()).payload)
    event_hash = statement["predicate"]["auditEvent"]["hash"]
    path = s.ws.attestation_archive._path(event_hash)
    path.unlink()
    assert refused(s).reason == "attestation_missing"
    served = load(s, require_attestation=False)
    assert served.verified.keyid is None and served.verified.key_source == "none"


def test_a_waiver_the_decision_relied_on_must_still_cover_its_gate(s: Story) -> None:
    s.register("1", auc=0.6)  # fails auc_floor: promoted under a waiver
    grant = {"justification": "recalibrating", "controls": ["daily review"], "actor": "rita"}
    s.ws.waivers.grant(MODEL, "auc_floor", expires_in="7d", **grant)  # type: ignore[arg-type]
    s.to_production("1")
    served = load(s)
    assert [w.id for w in served.verified.waivers] == ["W-1"]
    exc = refused(s, now=s.clock.now() + dt.timedelta(days=8))
    assert exc.reason == "waiver_expired"
    assert "waiver W-1 on gate auc_floor" in str(exc)
    s.ws.waivers.revoke("W-1", reason="recalibration failed", actor="rita")
    assert refused(s).reason == "waiver_revoked"
    # a fresh waiver for the gate covers it again, until it lapses in turn
    s.ws.waivers.grant(MODEL, "auc_floor", expires_in="3d", **grant)  # type: ignore[arg-type]
    assert load(s).verified.waivers[0].covered_by == "W-2"
    assert refused(s, now=s.clock.now() + dt.timedelta(days=4)).reason == "waiver_revoked"


def test_an_expired_emergency_bypass_is_refused(s: Story) -> None:
    s.register("1", auc=0.6)  # auc_floor would block: the emergency skips it for 72h
    s.to_production("1", change_type="emergency")
    served = load(s)
    bypass = served.verified.bypass
    assert bypass is not None and [g.gate for g in bypass.gates] == ["auc_floor"]
    assert bypass.expires_at is not None
    assert load(s, now=bypass.expires_at - dt.timedelta(seconds=1)).verified.version == "1"
    exc = refused(s, now=bypass.expires_at)
    assert exc.reason == "bypass_expired"
    assert "auc_floor must pass" in str(exc)
    # the server, at its own clock, says the same
    s.clock.advance(hours=73)
    assert [p.code for p in s.ws.serving.check(MODEL).problems] == ["bypass_expired"]


def test_formats_and_loaders_get_the_verified_bytes(s: Story) -> None:
    artifact = s.register("1", weight=3.0)
    s.to_production("1")
    seen: list[object] = []
    load(s, loader=seen.append)
    assert seen == [artifact.read_bytes()]
    assert load(s, format="pickle").model.weight == 3.0
    assert pickle.loads(artifact.read_bytes()).weight == 3.0


def test_a_running_canary_serves_beside_the_champion(tmp_path: Path) -> None:
    s = story(tmp_path, canary=True)
    s.register("1")
    s.to_production("1")
    s.ws.rollouts.start(MODEL, "1", actor="alice")
    s.clock.advance(hours=2)
    s.ws.rollouts.observe(MODEL, {"error_rate": (0.01, None)}, actor="alice")
    s.clock.advance(hours=1)
    s.ws.rollouts.observe(MODEL, {"error_rate": (0.01, None)}, actor="alice")
    assert load(s).verified.role == "champion"
    s.register("2", weight=5.0)
    s.to_production("2")  # approved: waits for its canary
    assert refused(s, version="2").reason == "not_serving"
    s.ws.rollouts.start(MODEL, "2", actor="alice")
    canary = load(s, version="2")
    assert (canary.verified.role, canary.model.weight) == ("canary", 5.0)
    champion = load(s)
    assert (champion.verified.version, champion.verified.role) == ("1", "champion")


def test_a_decision_signed_before_a_key_rotation_still_verifies(s: Story) -> None:
    s.register("1")
    s.to_production("1")
    before = load(s).verified.keyid
    s.clock.advance(hours=1)
    s.ws.keys.rotate("operator", reason="yearly")
    after = load(s).verified
    assert after.keyid == before and after.key_source == "listed"


def test_a_decision_signed_by_a_compromised_key_is_refused_unless_pinned(s: Story) -> None:
    """A stolen key can sign any decision and date it before the rotation: nothing it
    signed serves, unless the operator checked it outside and pins that key."""
    s.register("1")
    s.to_production("1")
    old = bytes.fromhex(s.ws.serving.check(MODEL).keys[0].public_key_hex)
    s.clock.advance(hours=1)
    s.ws.keys.rotate("operator", reason="laptop lost", compromised=True)
    r = refused(s)
    assert r.reason == "attestation_invalid" and "rotated out as compromised" in str(r)
    assert load(s, public_key=old).verified.key_source == "pinned"


def test_a_workspace_by_path(s: Story) -> None:
    s.register("1")
    s.to_production("1")
    found = serving.verify(MODEL, workspace=s.ws.root, now=s.clock.now())
    assert found.version == "1"
    with pytest.raises(InputError, match="not a clearance workspace"):
        serving.verify(MODEL, workspace=s.root / "policy", now=s.clock.now())
