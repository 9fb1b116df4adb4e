"""Every promotion decision is signed in its transaction, and served as it was signed.

The promotions here carry an ``Attester`` (the workspace wires one in; these tests build
their own so that they say which archive they read). What is checked against the store
itself: the subject is the registered artifact's sha256, the predicate names the decision's
own ``decision.recorded`` event (seq and hash as in the trail), and the trail and the
decisions are exactly what they are without attestations.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from clearance.core import attestation as A
from clearance.core import subjects
from clearance.core.audit import public_key_raw
from clearance.core.results import Outcome
from clearance.errors import InputError, NotFound, StoreError
from clearance.service.attestations import (
    Attestations,
    Attester,
    DirectoryArchive,
    EnvelopeOut,
    MemoryArchive,
)
from clearance.service.promotion import Promotions

if TYPE_CHECKING:
    from conftest import Env

WEIGHTS = b"credit model weights"


def attested(env: Env, archive: MemoryArchive | DirectoryArchive) -> Promotions:
    ws = env.ws
    return Promotions(ws.store, ws.evidence, ws.clock, Attester(lambda: ws.key, archive))


def recorded_event(env: Env, decision_number: int) -> tuple[int, str]:
    found = [
        (e.seq, e.hash)
        for e in env.events()
        if e.action == "decision.recorded" and e.subject == subjects.decision(decision_number)
    ]
    assert len(found) == 1, found
    return found[0]


def test_a_promotion_is_attested_with_its_artifact_and_its_audit_event(env: Env) -> None:
    archive = MemoryArchive()
    env.register("1", artifact=WEIGHTS)
    before = env.event_count()
    result = attested(env, archive).promote(env.model, "1", "staging", actor="alice")
    assert result.executed

    envelope = Attestations(env.ws.store, archive).attestation(result.request.id)
    verified = A.verify(envelope.to_bytes(), public_key_raw(env.ws.key))
    subject = verified.statement["subject"]
    assert subject == [
        {"name": f"{env.model}@1", "digest": {"sha256": hashlib.sha256(WEIGHTS).hexdigest()}}
    ]
    p = verified.predicate
    seq, event_hash = recorded_event(env, result.decision_number)
    assert p["auditEvent"] == {"action": "decision.recorded", "seq": seq, "hash": event_hash}
    assert p["decision"]["id"] == result.decision.decision_id
    assert p["decision"]["outcome"] == "allow"
    assert p["policy"]["hash"] == result.decision.policy_hash
    assert [g["id"] for g in p["gates"]] == [g.gate_id for g in result.decision.gates]
    # the trail is the one an unattested promotion writes: nothing added, nothing changed
    assert env.actions(after=before) == [
        "request.opened",
        "decision.recorded",
        "version.stage_changed",
        "request.status_changed",
    ]
    assert env.ws.auditing.verify().ok


@pytest.mark.backends("memory", "sqlite")  # finds the decision's event by its time in SQL too
def test_each_decision_of_a_request_has_its_own_attestation(env: Env) -> None:
    archive = MemoryArchive()
    promotions = attested(env, archive)
    env.register("1")
    promotions.promote(env.model, "1", "staging", actor="alice")
    env.clock.advance(minutes=1)
    opened = promotions.promote(env.model, "1", "production", actor="alice")
    assert opened.decision.outcome is Outcome.NEEDS_APPROVAL
    env.clock.advance(minutes=1)
    promotions.approve(opened.request.id, actor="carol")
    approved = promotions.approve(opened.request.id, actor="dave", reason="reviewed")
    assert approved.executed

    served = Attestations(env.ws.store, archive)
    key = public_key_raw(env.ws.key)
    latest = A.verify(served.attestation(opened.request.id).to_bytes(), key).predicate
    first = A.verify(
        served.attestation(opened.request.id, decision=opened.decision_number).to_bytes(), key
    ).predicate
    assert latest["decision"]["number"] == approved.decision_number
    assert latest["decision"]["outcome"] == "allow"
    assert [s["approver"] for s in latest["approvals"]["signoffs"]] == ["carol", "dave"]
    assert first["decision"]["outcome"] == "needs_approval"
    assert first["approvals"]["signoffs"] == []
    assert recorded_event(env, opened.decision_number)[1] == first["auditEvent"]["hash"]
    # no artifact was registered: the version record's digest is the subject
    assert latest["subjectKind"] == "version-record"
    assert len(archive.files) == 4  # staging, then production three times


def test_attestations_do_not_change_decisions(env: Env) -> None:
    """The same promotion with and without an attester decides identically."""
    env.register("1")
    env.register("2")
    plain = env.ws.promotions.promote(env.model, "1", "staging", actor="alice").decision
    signed = attested(env, MemoryArchive()).promote(env.model, "2", "staging", actor="alice")
    strip = {"decision_id", "version", "inputs"}
    assert plain.model_dump(exclude=strip) == signed.decision.model_dump(exclude=strip)


def test_what_cannot_be_served_is_said(env: Env) -> None:
    archive = MemoryArchive()
    env.register("1")
    plain = env.ws.promotions.promote(env.model, "1", "staging", actor="alice")
    served = Attestations(env.ws.store, archive)
    with pytest.raises(NotFound, match="has no attestation"):
        served.attestation(plain.request.id)
    with pytest.raises(NotFound, match="no promotion request 99"):
        served.attestation(99)
    with pytest.raises(NotFound, match=f"request {plain.request.id} has no decision 42"):
        served.attestation(plain.request.id, decision=42)
    _, event_hash = recorded_event(env, plain.decision_number)
    archive.put(event_hash, b"{}")
    with pytest.raises(StoreError, match="is damaged"):
        served.attestation(plain.request.id)


def test_an_attestation_filed_under_another_event_is_not_served(env: Env) -> None:
    archive = MemoryArchive()
    promotions = attested(env, archive)
    env.register("1")
    env.register("2")
    one = promotions.promote(env.model, "1", "staging", actor="alice")
    two = promotions.promote(env.model, "2", "staging", actor="alice")
    _, hash_one = recorded_event(env, one.decision_number)
    _, hash_two = recorded_event(env, two.decision_number)
    archive.files[hash_one] = archive.files[hash_two]
    with pytest.raises(StoreError, match="names another event"):
        Attestations(env.ws.store, archive).attestation(one.request.id)


def test_the_served_envelope_is_the_envelope_signed(env: Env) -> None:
    archive = MemoryArchive()
    env.register("1")
    result = attested(env, archive).promote(env.model, "1", "staging", actor="alice")
    _, event_hash = recorded_event(env, result.decision_number)
    served = Attestations(env.ws.store, archive).attestation(result.request.id)
    assert served.to_bytes() == archive.files[event_hash]
    assert EnvelopeOut.model_validate_json(served.model_dump_json(by_alias=True)) == served


def test_the_directory_archive_keeps_envelopes_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = DirectoryArchive(tmp_path / "home" / "attestations")
    name = "ab" * 32
    assert archive.get(name) is None
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    old = os.umask(0)  # created private, not narrowed afterwards
    try:
        archive.put(name, b"envelope")
    finally:
        os.umask(old)
    archive.put(name, b"envelope")  # filing the same envelope again is harmless
    assert archive.get(name) == b"envelope"
    path = tmp_path / "home" / "attestations" / "ab" / f"{name}.intoto.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for bad in ("../" + name[3:], "AB" * 32, "ab"):
        with pytest.raises(InputError, match="not 64 lowercase hex"):
            archive.put(bad, b"x")
