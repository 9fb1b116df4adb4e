"""Signed decision attestations: an in-toto Statement in a DSSE envelope. Pure: no store,
no clock, no files; the caller passes the facts, the key, or the envelope's bytes.

The formats are the public ones, so any in-toto or DSSE tool reads what clearance signs:

- Statement v1 (in-toto attestation spec): ``_type``, ``subject`` (the artifact, by its
  sha256), ``predicateType`` and ``predicate``; the predicate type is ``PREDICATE_TYPE`` and
  its fields are documented in docs/audit.md ("Attestations") and ADR 0017.
- DSSE v1 envelope: ``payload`` (base64), ``payloadType`` ``application/vnd.in-toto+json``,
  ``signatures`` [{``keyid``, ``sig``}], each signature over
  PAE = ``DSSEv1 SP len(type) SP type SP len(body) SP body``.

Signing goes through securesystemslib's DSSE ``Envelope`` with its ``CryptoSigner``, so the
bytes signed are the reference implementation's PAE. Verifying is done here, strictly, to say
exactly what is wrong (unreadable input is exit 2; a bad signature or a mismatch is exit 1);
the signature itself is checked by securesystemslib's ``SSlibKey``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clearance.core.hashing import canonical_json
from clearance.errors import ClearanceError, InputError

# securesystemslib (and the key's library) load when a statement is signed or verified, not
# when a command merely imports the promotion use cases.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from clearance.core.approvals import Approval
    from clearance.core.audit import AuditEvent
    from clearance.core.results import Decision

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://clearance.dev/attestation/decision/v1"
MAX_ENVELOPE_BYTES = 1 << 20  # a decision's statement is a few KB; refuse far larger input
MAX_SIGNATURES = 16
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-fA-F]+")


class AttestationUnreadable(InputError):
    """The input is not a DSSE envelope holding a statement at all (exit code 2)."""


class AttestationInvalid(ClearanceError):
    """A readable envelope that does not verify: wrong payload type, no signature by the
    key, a signature that does not match, or a statement that is not a clearance decision
    (exit code 1)."""

    exit_code = 1


def key_id(public_raw: bytes) -> str:
    """The DSSE ``keyid``: sha256 of the raw 32-byte Ed25519 public key, 64 hex digits
    (the audit checkpoints' ``key_id`` is its first 16)."""
    return hashlib.sha256(public_raw).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a signature covers (lengths in bytes)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _time(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"attestation time {value.isoformat()} has no timezone")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class DecisionFacts:
    """What a statement says about one recorded decision, gathered by the caller."""

    decision: Decision
    decision_number: int
    request_id: int
    requester: str
    decided_at: dt.datetime
    artifact_sha256: str | None  # the stored artifact's bytes, else the manifest's digest
    approvals: Sequence[Approval]
    event_seq: int  # the decision's ``decision.recorded`` audit event
    event_hash: str


def statement(facts: DecisionFacts) -> dict[str, Any]:
    """The in-toto Statement for a decision. The subject is the artifact by its sha256; a
    version with no artifact digest is named by its record's digest instead, and the
    predicate says which (``subjectKind``)."""
    d = facts.decision
    artifact = facts.artifact_sha256
    if artifact is not None and not _HEX64.fullmatch(artifact):
        raise InputError(f"artifact sha256 {artifact!r} is not 64 lowercase hex digits")
    sha = artifact if artifact is not None else d.inputs.version_digest
    waivers = [
        {"id": g.waiver, "gate": g.gate_id, "waivedStatus": g.waived_status.value}
        for g in d.gates
        if g.waiver is not None and g.waived_status is not None
    ]
    predicate = {
        "decision": {
            "id": d.decision_id,
            "number": facts.decision_number,
            "outcome": d.outcome.value,
            "summary": d.summary,
            "decidedAt": _time(facts.decided_at),
        },
        "request": {
            "id": facts.request_id,
            "requester": facts.requester,
            "changeType": d.change_type,
            "fromStage": d.from_stage,
            "toStage": d.to_stage,
        },
        "model": {"name": d.model, "version": d.version, "versionDigest": d.inputs.version_digest},
        "subjectKind": "artifact" if artifact is not None else "version-record",
        "policy": {"name": d.policy, "version": d.policy_version, "hash": d.policy_hash},
        "gates": [
            {
                "id": g.gate_id,
                "type": g.type,
                "severity": g.severity,
                "status": g.status.value,
                "blocking": g.blocking,
            }
            for g in d.gates
        ],
        "approvals": {
            "satisfied": d.approvals.satisfied,
            "roles": [
                {"role": r.role, "required": r.required, "approvedBy": list(r.approved_by)}
                for r in d.approvals.roles
            ],
            "rejectedBy": list(d.approvals.rejected_by),
            "signoffs": [
                {
                    "approver": a.approver,
                    "roles": list(a.roles),
                    "verdict": a.verdict,
                    "at": _time(a.at),
                    "evidenceDigest": a.evidence_digest,
                }
                for a in facts.approvals
            ],
        },
        "waivers": waivers,
        "auditEvent": {
            "action": "decision.recorded",
            "seq": facts.event_seq,
            "hash": facts.event_hash,
        },
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{d.model}@{d.version}", "digest": {"sha256": sha}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def payload_bytes(value: Mapping[str, Any]) -> bytes:
    """The statement as signed: canonical JSON (sorted keys, no spaces), UTF-8. DSSE signs
    these exact bytes, so a reader never needs to canonicalise anything."""
    return canonical_json(dict(value)).encode("utf-8")


def sign(value: Mapping[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """The statement in a DSSE envelope signed with ``private_key``, as JSON bytes."""
    # securesystemslib.signer's documented names (re-exported without an __all__)
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]

    from clearance.core.audit import public_key_raw

    public = SSlibKey.from_crypto(
        private_key.public_key(), keyid=key_id(public_key_raw(private_key))
    )
    envelope = Envelope(payload_bytes(value), PAYLOAD_TYPE, {})
    envelope.sign(CryptoSigner(private_key, public))
    return envelope_json(envelope.to_dict())


def envelope_json(data: Mapping[str, Any]) -> bytes:
    """An envelope's JSON as stored and served: sorted keys, two-space indent, newline."""
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


# --- reading and verifying ----------------------------------------------------------------


@dataclass(frozen=True)
class ParsedEnvelope:
    payload: bytes
    payload_type: str
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature bytes)


@dataclass(frozen=True)
class Verified:
    """An attestation that verified: the key that signed it and the statement it holds."""

    keyid: str
    statement: dict[str, Any]

    @property
    def predicate(self) -> dict[str, Any]:
        found: dict[str, Any] = self.statement["predicate"]
        return found


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object without repeated names: two readers must not see different values."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"field {name!r} appears twice")
        out[name] = value
    return out


def _json(data: bytes, what: str, error: type[ClearanceError]) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{what} is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise error(f"{what}: {exc}") from None
    except RecursionError:
        raise error(f"{what} is nested too deeply") from None


def b64decode(text: str, what: str) -> bytes:
    """Standard or URL-safe base64, padded or not (DSSE allows either), nothing else."""
    cleaned = text.replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise AttestationUnreadable(f"{what} is not base64") from None


def read_envelope(data: bytes) -> ParsedEnvelope:
    """The envelope's fields, checked for shape; unrecognised fields are ignored (DSSE)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise AttestationUnreadable(
            f"the envelope is {len(data)} bytes; at most {MAX_ENVELOPE_BYTES} are read"
        )
    doc = _json(data, "the envelope", AttestationUnreadable)
    if not isinstance(doc, dict):
        raise AttestationUnreadable("the envelope is not a JSON object")
    for name in ("payload", "payloadType", "signatures"):
        if name not in doc:
            raise AttestationUnreadable(f"the envelope has no '{name}' field")
    if not isinstance(doc["payload"], str):
        raise AttestationUnreadable("payload: must be a base64 string")
    if not isinstance(doc["payloadType"], str):
        raise AttestationUnreadable("payloadType: must be a string")
    sigs = doc["signatures"]
    if not isinstance(sigs, list):
        raise AttestationUnreadable("signatures: must be a list")
    if len(sigs) > MAX_SIGNATURES:
        raise AttestationUnreadable(f"signatures: {len(sigs)} given, at most {MAX_SIGNATURES}")
    signatures = []
    for i, sig in enumerate(sigs):
        if not isinstance(sig, dict) or not isinstance(sig.get("sig"), str):
            raise AttestationUnreadable(f"signatures[{i}]: needs a base64 'sig' string")
        keyid = sig.get("keyid", "")
        if not isinstance(keyid, str):
            raise AttestationUnreadable(f"signatures[{i}].keyid: must be a string")
        signatures.append((keyid, b64decode(sig["sig"], f"signatures[{i}].sig")))
    payload = b64decode(doc["payload"], "payload")
    return ParsedEnvelope(payload, doc["payloadType"], tuple(signatures))


def read_statement(payload: bytes) -> dict[str, Any]:
    """The payload as an in-toto Statement v1 holding a clearance decision predicate."""
    doc = _json(payload, "the payload", AttestationInvalid)
    if not isinstance(doc, dict):
        raise AttestationInvalid("the payload is not a JSON object")
    if doc.get("_type") != STATEMENT_TYPE:
        raise AttestationInvalid(f"_type: {doc.get('_type')!r} is not {STATEMENT_TYPE!r}")
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise AttestationInvalid("subject: must be a non-empty list")
    for i, subject in enumerate(subjects):
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if not isinstance(digest, dict) or not digest:
            raise AttestationInvalid(f"subject[{i}].digest: must be a non-empty object")
        for algorithm, value in digest.items():
            if not isinstance(value, str) or not _HEX.fullmatch(value):
                raise AttestationInvalid(f"subject[{i}].digest.{algorithm}: must be hex")
    if doc.get("predicateType") != PREDICATE_TYPE:
        raise AttestationInvalid(
            f"predicateType: {doc.get('predicateType')!r} is not a clearance decision "
            f"({PREDICATE_TYPE})"
        )
    predicate = doc.get("predicate")
    if not isinstance(predicate, dict):
        raise AttestationInvalid("predicate: must be an object")
    for name in ("decision", "policy", "gates", "auditEvent"):
        if name not in predicate:
            raise AttestationInvalid(f"predicate.{name}: missing")
    return doc


def verify(data: bytes, public_raw: bytes) -> Verified:
    """Check an envelope against an Ed25519 public key, then read its statement.

    Per DSSE, the signature is checked over the payload's bytes before they are parsed.
    Raises ``AttestationUnreadable`` (not an envelope) or ``AttestationInvalid`` (it does
    not verify), each saying what is wrong.
    """
    from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
    from securesystemslib.signer import Signature, SSlibKey  # type: ignore[attr-defined]

    if len(public_raw) != 32:
        raise InputError(f"an Ed25519 public key is 32 bytes, not {len(public_raw)}")
    envelope = read_envelope(data)
    if envelope.payload_type != PAYLOAD_TYPE:
        raise AttestationInvalid(f"payloadType is {envelope.payload_type!r}, not {PAYLOAD_TYPE!r}")
    if not envelope.signatures:
        raise AttestationInvalid("the envelope has no signatures")
    ours = key_id(public_raw)
    key = SSlibKey("", "ed25519", "ed25519", {"public": public_raw.hex()})
    candidates = [(kid, sig) for kid, sig in envelope.signatures if kid in ("", ours)]
    if not candidates:
        named = ", ".join(sorted({kid[:16] for kid, _ in envelope.signatures}))
        raise AttestationInvalid(
            f"no signature by key {ours[:16]}…; it is signed by key(s) {named} "
            "(verify with that key's public half)"
        )
    message = pae(envelope.payload_type, envelope.payload)
    for kid, sig in candidates:
        try:
            key.verify_signature(Signature("", sig.hex()), message)
        except (UnverifiedSignatureError, VerificationError):  # mismatch, or not 64 bytes
            continue
        return Verified(keyid=kid or ours, statement=read_statement(envelope.payload))
    raise AttestationInvalid(
        f"the signature by key {ours[:16]}… does not match: the payload or the signature "
        "was changed"
    )


def check_event(verified: Verified, event: AuditEvent) -> None:
    """The trail's event agrees with the statement that names it: the same seq and hash,
    the hash right for the event's own fields, and the decision, outcome and policy hash
    the event recorded. (Whether the trail around it is intact is `audit verify`'s job.)"""
    from clearance.core.audit import recomputed_hash

    named = verified.predicate.get("auditEvent")
    decision = verified.predicate.get("decision")
    policy = verified.predicate.get("policy")
    if not isinstance(named, dict) or not isinstance(decision, dict):
        raise AttestationInvalid("predicate.auditEvent and predicate.decision must be objects")
    if event.seq != named.get("seq"):
        raise AttestationInvalid(f"the trail's event is seq {event.seq}, not {named.get('seq')}")
    if recomputed_hash(event) != event.hash:
        raise AttestationInvalid(f"the trail's event {event.seq} does not match its own hash")
    if event.hash != named.get("hash"):
        raise AttestationInvalid(
            f"the trail's event {event.seq} has hash {event.hash[:16]}…, the statement names "
            f"{str(named.get('hash'))[:16]}…"
        )
    recorded = {
        "action": (event.action, "decision.recorded"),
        "decision_id": (event.payload.get("decision_id"), decision.get("id")),
        "outcome": (event.payload.get("outcome"), decision.get("outcome")),
        "policy_hash": (
            event.payload.get("policy_hash"),
            policy.get("hash") if isinstance(policy, dict) else None,
        ),
    }
    for name, (found, stated) in recorded.items():
        if found != stated:
            raise AttestationInvalid(
                f"the trail's event {event.seq} says {name} {found!r}, the statement {stated!r}"
            )
