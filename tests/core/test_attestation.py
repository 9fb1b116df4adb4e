"""Decision attestations (core.attestation): the statement, the DSSE encoding, verification.

Every way an envelope can be wrong has its own error and exit code: unreadable input is
``AttestationUnreadable`` (2); a readable one that does not verify is ``AttestationInvalid``
(1). Property tests: no change to the payload or the signature ever verifies, and no input
raises anything but those two.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core import attestation as A
from clearance.core.approvals import Approval
from clearance.core.audit import AuditEvent, event_hash, public_key_raw
from clearance.core.audit import key_id as checkpoint_key_id
from clearance.core.results import (
    ApprovalStatus,
    Decision,
    DecisionInputs,
    GateResult,
    GateStatus,
    Outcome,
    RoleStatus,
)
from clearance.errors import InputError

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SEED = bytes(range(32))
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = public_key_raw(KEY)
OTHER = public_key_raw(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
ARTIFACT = hashlib.sha256(b"weights").hexdigest()
EVENT = hashlib.sha256(b"event").hexdigest()


def decision(*, waived: bool = True) -> Decision:
    gates = [
        GateResult(gate_id="auc_floor", type="metric_threshold", severity="block", status="pass"),
        GateResult(
            gate_id="auc_vs_champion",
            type="champion_comparison",
            severity="block",
            status=GateStatus.WAIVED if waived else GateStatus.FAIL,
            waiver="W-1" if waived else None,
            waived_status=GateStatus.FAIL if waived else None,
        ),
    ]
    return Decision(
        decision_id="d" * 64,
        outcome=Outcome.ALLOW if waived else Outcome.DENY,
        policy="credit",
        policy_version="1.2.0",
        policy_hash="p" * 64,
        model="credit-default",
        version="7",
        from_stage="staging",
        to_stage="production",
        gates=gates,
        approvals=ApprovalStatus(
            roles=[RoleStatus(role="model_owner", required=1, approved_by=["carol"])]
        ),
        inputs=DecisionInputs(
            policy_hash="p" * 64,
            version_digest="v" * 64,
            approvals_digest="a" * 64,
            waivers_digest="w" * 64,
            now=NOW,
        ),
        summary="all gates pass",
    )


def facts(*, artifact: str | None = ARTIFACT, waived: bool = True) -> A.DecisionFacts:
    signoff = Approval(
        approver="carol", roles=["model_owner"], at=NOW, evidence_digest="e" * 64, reason="ok"
    )
    return A.DecisionFacts(
        decision=decision(waived=waived),
        decision_number=4,
        request_id=2,
        requester="alice",
        decided_at=NOW,
        artifact_sha256=artifact,
        approvals=[signoff],
        event_seq=21,
        event_hash=EVENT,
    )


def signed(statement: dict[str, Any] | None = None) -> bytes:
    return A.sign(statement or A.statement(facts()), KEY)


def doc(envelope: bytes) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(envelope)
    return found


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


# --- the statement ------------------------------------------------------------------------


def test_the_statement_binds_the_artifact_digest_and_names_the_decision() -> None:
    s = A.statement(facts())
    assert s["_type"] == "https://in-toto.io/Statement/v1"
    assert s["subject"] == [{"name": "credit-default@7", "digest": {"sha256": ARTIFACT}}]
    assert s["predicateType"] == A.PREDICATE_TYPE
    p = s["predicate"]
    assert p["subjectKind"] == "artifact"
    assert p["policy"] == {"name": "credit", "version": "1.2.0", "hash": "p" * 64}
    assert p["decision"] == {
        "id": "d" * 64,
        "number": 4,
        "outcome": "allow",
        "summary": "all gates pass",
        "decidedAt": "2026-03-01T12:00:00.000000+00:00",
    }
    assert p["auditEvent"] == {"action": "decision.recorded", "seq": 21, "hash": EVENT}
    assert [(g["id"], g["status"], g["blocking"]) for g in p["gates"]] == [
        ("auc_floor", "pass", False),
        ("auc_vs_champion", "waived", False),
    ]
    assert p["waivers"] == [{"id": "W-1", "gate": "auc_vs_champion", "waivedStatus": "fail"}]
    assert p["approvals"]["roles"] == [
        {"role": "model_owner", "required": 1, "approvedBy": ["carol"]}
    ]
    assert p["approvals"]["signoffs"][0]["approver"] == "carol"
    assert p["request"]["requester"] == "alice"


def test_a_version_without_an_artifact_digest_is_named_by_its_record() -> None:
    s = A.statement(facts(artifact=None))
    assert s["subject"][0]["digest"] == {"sha256": "v" * 64}
    assert s["predicate"]["subjectKind"] == "version-record"


def test_a_failing_gate_is_blocking_and_no_waiver_is_listed() -> None:
    p = A.statement(facts(waived=False))["predicate"]
    assert p["gates"][1]["blocking"] is True and p["waivers"] == []


def test_the_payload_is_canonical_json() -> None:
    s = A.statement(facts())
    assert A.payload_bytes(s) == json.dumps(
        s, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_a_malformed_artifact_digest_is_refused() -> None:
    with pytest.raises(InputError, match="artifact sha256"):
        A.statement(facts(artifact="ABC"))


# --- DSSE -----------------------------------------------------------------------------------


def test_pae_is_the_dsse_specification_s() -> None:
    """The test vector of the DSSE protocol (v1.0.2), and securesystemslib's own PAE."""
    from securesystemslib.dsse import Envelope

    assert A.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    payload = "héllo".encode()
    assert A.pae("tÿpe", payload) == Envelope(payload, "tÿpe", {}).pae()


def test_sign_then_verify_gives_back_the_statement() -> None:
    s = A.statement(facts())
    envelope = doc(signed(s))
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(envelope["payload"]) == A.payload_bytes(s)
    assert [sig["keyid"] for sig in envelope["signatures"]] == [A.key_id(PUBLIC)]
    verified = A.verify(signed(s), PUBLIC)
    assert verified.statement == s and verified.keyid == A.key_id(PUBLIC)


def test_the_key_id_is_the_sha256_of_the_raw_public_key() -> None:
    assert A.key_id(PUBLIC) == hashlib.sha256(PUBLIC).hexdigest()
    assert A.key_id(PUBLIC).startswith(checkpoint_key_id(PUBLIC))  # the checkpoints' short id


def test_signing_is_deterministic() -> None:
    assert signed() == signed()


def test_another_key_does_not_verify_and_says_which_key_signed() -> None:
    with pytest.raises(A.AttestationInvalid, match=f"signed by key.*{A.key_id(PUBLIC)[:16]}"):
        A.verify(signed(), OTHER)


def test_a_signature_under_the_right_key_id_that_does_not_match_is_invalid() -> None:
    envelope = doc(signed())
    envelope["signatures"][0]["keyid"] = A.key_id(OTHER)
    with pytest.raises(A.AttestationInvalid, match="does not match"):
        A.verify(encode(envelope), OTHER)


def test_an_unset_key_id_is_tried_with_the_key() -> None:
    envelope = doc(signed())
    del envelope["signatures"][0]["keyid"]
    assert A.verify(encode(envelope), PUBLIC).keyid == A.key_id(PUBLIC)


def test_a_changed_payload_type_does_not_verify() -> None:
    envelope = doc(signed())
    envelope["payloadType"] = "application/json"
    with pytest.raises(A.AttestationInvalid, match="payloadType is 'application/json'"):
        A.verify(encode(envelope), PUBLIC)


def test_an_envelope_without_signatures_is_invalid() -> None:
    envelope = doc(signed())
    envelope["signatures"] = []
    with pytest.raises(A.AttestationInvalid, match="no signatures"):
        A.verify(encode(envelope), PUBLIC)


def test_url_safe_and_unpadded_base64_are_read_and_unknown_fields_ignored() -> None:
    envelope = doc(signed())
    for name in ("payload",):
        envelope[name] = envelope[name].replace("+", "-").replace("/", "_").rstrip("=")
    sig = envelope["signatures"][0]
    sig["sig"] = sig["sig"].replace("+", "-").replace("/", "_").rstrip("=")
    sig["extra"] = "ignored"
    envelope["note"] = "ignored too"
    assert A.verify(encode(envelope), PUBLIC).statement == A.statement(facts())


def test_a_second_signature_by_another_key_does_not_get_in_the_way() -> None:
    envelope = doc(signed())
    envelope["signatures"].insert(0, {"keyid": "someone-else", "sig": "AAAA"})
    assert A.verify(encode(envelope), PUBLIC).keyid == A.key_id(PUBLIC)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: b"not json", "the envelope is not JSON: line 1, column 1"),
        (lambda d: b"\xff\xfe", "not UTF-8"),
        (lambda d: b"[]", "not a JSON object"),
        (lambda d: encode({k: v for k, v in d.items() if k != "payload"}), "no 'payload'"),
        (lambda d: encode({**d, "payload": 5}), "payload: must be a base64 string"),
        (lambda d: encode({**d, "payload": "!!!"}), "payload is not base64"),
        (lambda d: encode({**d, "signatures": {}}), "signatures: must be a list"),
        (lambda d: encode({**d, "signatures": [{"keyid": "x"}]}), r"signatures\[0\]: needs"),
        (lambda d: encode({**d, "signatures": [{"sig": "%%"}]}), r"signatures\[0\]\.sig is not"),
        (lambda d: encode({**d, "signatures": [{"sig": "", "keyid": 1}]}), "keyid: must be"),
        (lambda d: b'{"payload": "", "payload": ""}', "field 'payload' appears twice"),
        (lambda d: b"[" * 100_000, "nested too deeply|not JSON"),
        (lambda d: b" " * (A.MAX_ENVELOPE_BYTES + 1), "at most"),
    ],
)
def test_unreadable_envelopes_say_what_is_wrong(change: Any, message: str) -> None:
    with pytest.raises(A.AttestationUnreadable, match=message) as caught:
        A.verify(change(doc(signed())), PUBLIC)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: {**s, "_type": "https://in-toto.io/Statement/v0.1"}, "_type: "),
        (lambda s: {**s, "subject": []}, "subject: must be a non-empty list"),
        (lambda s: {**s, "subject": [{"name": "x"}]}, r"subject\[0\]\.digest"),
        (lambda s: {**s, "subject": [{"digest": {"sha256": "xyz"}}]}, "must be hex"),
        (lambda s: {**s, "predicateType": "https://slsa.dev/provenance/v1"}, "predicateType"),
        (lambda s: {**s, "predicate": []}, "predicate: must be an object"),
        (lambda s: {**s, "predicate": {"decision": {}}}, r"predicate\.policy: missing"),
    ],
)
def test_a_signed_statement_that_is_not_a_clearance_decision_is_invalid(
    change: Any, message: str
) -> None:
    with pytest.raises(A.AttestationInvalid, match=message) as caught:
        A.verify(signed(change(A.statement(facts()))), PUBLIC)
    assert caught.value.exit_code == 1


def test_a_public_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(InputError, match="32 bytes, not 31"):
        A.verify(signed(), PUBLIC[:31])


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_no_change_to_the_payload_or_the_signature_verifies(data: st.DataObject) -> None:
    envelope = doc(signed())
    field = data.draw(st.sampled_from(["payload", "sig"]))
    if field == "payload":
        raw = bytearray(base64.b64decode(envelope["payload"]))
    else:
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= data.draw(st.integers(1, 255))
    text = base64.b64encode(bytes(raw)).decode()
    if field == "payload":
        envelope["payload"] = text
    else:
        envelope["signatures"][0]["sig"] = text
    with pytest.raises(A.AttestationInvalid, match="does not match"):
        A.verify(encode(envelope), PUBLIC)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["payload", "payloadType", "signatures", "sig", "keyid"]),
            inner,
            max_size=4,
        )
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | _JSONISH.map(lambda v: json.dumps(v).encode()))
def test_any_input_is_refused_with_one_of_the_two_errors(data: bytes) -> None:
    with pytest.raises((A.AttestationUnreadable, A.AttestationInvalid)):
        A.verify(data, PUBLIC)


# --- against the trail ---------------------------------------------------------------------


def recorded(**payload: Any) -> AuditEvent:
    """A ``decision.recorded`` event as the trail holds it (its hash over its fields)."""
    fields: dict[str, Any] = {
        "seq": 21,
        "time": NOW,
        "actor": "carol",
        "action": "decision.recorded",
        "subject": "decision:4",
        "payload": {
            "request": 2,
            "decision_id": "d" * 64,
            "outcome": "allow",
            "policy_hash": "p" * 64,
            **payload,
        },
        "prev_hash": "0" * 64,
    }
    return AuditEvent(**fields, hash=event_hash(**fields))


def naming(event: AuditEvent) -> A.Verified:
    f = dataclasses.replace(facts(), event_seq=event.seq, event_hash=event.hash)
    return A.verify(A.sign(A.statement(f), KEY), PUBLIC)


def test_the_statement_agrees_with_the_event_it_names() -> None:
    event = recorded()
    A.check_event(naming(event), event)


def test_an_event_that_is_not_the_one_named_is_refused() -> None:
    event = recorded()
    with pytest.raises(A.AttestationInvalid, match="is seq 22, not 21"):
        A.check_event(naming(event), event.model_copy(update={"seq": 22}))
    other = recorded(summary="another event")
    with pytest.raises(A.AttestationInvalid, match=r"has hash .*, the statement names"):
        A.check_event(naming(event), other)
    edited = event.model_copy(update={"payload": {**event.payload, "outcome": "deny"}})
    with pytest.raises(A.AttestationInvalid, match="does not match its own hash"):
        A.check_event(naming(event), edited)


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"decision_id": "e" * 64}, "decision_id"), ({"outcome": "deny"}, "outcome")],
)
def test_an_event_that_recorded_another_decision_is_refused(
    payload: dict[str, str], field: str
) -> None:
    event = recorded(**payload)  # the statement names it, but says something else
    with pytest.raises(A.AttestationInvalid, match=f"says {field} "):
        A.check_event(naming(event), event)
