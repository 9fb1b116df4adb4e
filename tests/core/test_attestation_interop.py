"""Other tools read what clearance signs, and clearance reads what they sign.

The reference implementations: in-toto (``in_toto.models.metadata``) loads and verifies a
clearance envelope with the public key alone, and an envelope signed by securesystemslib's
DSSE code (its own serialisation of the statement, not clearance's) verifies here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from in_toto.exceptions import SignatureVerificationError
from in_toto.models.metadata import Envelope as InTotoEnvelope
from in_toto.models.metadata import Metadata
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey
from test_attestation import KEY, PUBLIC, facts

from clearance.core import attestation as A


def in_toto_key() -> dict[str, Any]:
    """The workspace key as in-toto takes a verification key: keyid, type, scheme, value."""
    key = SSlibKey.from_crypto(KEY.public_key(), keyid=A.key_id(PUBLIC))
    return {"keyid": key.keyid, **key.to_dict()}


def test_in_toto_loads_and_verifies_a_clearance_attestation(tmp_path: Path) -> None:
    statement = A.statement(facts())
    path = tmp_path / "decision.intoto.json"
    path.write_bytes(A.sign(statement, KEY))

    loaded = Metadata.load(str(path))
    assert isinstance(loaded, InTotoEnvelope)
    assert loaded.payload_type == A.PAYLOAD_TYPE
    loaded.verify_signature(in_toto_key())  # raises if it does not verify
    assert json.loads(loaded.payload) == statement
    assert json.loads(loaded.payload)["subject"][0]["digest"]["sha256"] == facts().artifact_sha256


def test_in_toto_refuses_a_tampered_clearance_attestation(tmp_path: Path) -> None:
    data = json.loads(A.sign(A.statement(facts()), KEY))
    statement = A.statement(facts())
    statement["predicate"]["decision"]["outcome"] = "deny"
    other = json.loads(A.sign(statement, KEY))
    data["payload"] = other["payload"]  # another statement under the first one's signature
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))

    with pytest.raises(SignatureVerificationError):
        Metadata.load(str(path)).verify_signature(in_toto_key())
    with pytest.raises(A.AttestationInvalid, match="does not match"):
        A.verify(path.read_bytes(), PUBLIC)


def test_an_envelope_signed_by_the_reference_dsse_code_verifies_here() -> None:
    statement = A.statement(facts())
    payload = json.dumps(statement, indent=4).encode()  # not clearance's canonical bytes
    envelope = Envelope(payload, "application/vnd.in-toto+json", {})
    signer = CryptoSigner(KEY, SSlibKey.from_crypto(KEY.public_key(), keyid=A.key_id(PUBLIC)))
    envelope.sign(signer)
    data = json.dumps(envelope.to_dict()).encode()

    verified = A.verify(data, PUBLIC)
    assert verified.statement == statement
    assert envelope.verify([signer.public_key], 1)  # and the reference agrees


def test_the_reference_dsse_code_verifies_a_clearance_envelope() -> None:
    envelope = Envelope.from_dict(json.loads(A.sign(A.statement(facts()), KEY)))
    key = SSlibKey.from_crypto(KEY.public_key(), keyid=A.key_id(PUBLIC))
    assert list(envelope.verify([key], 1)) == [A.key_id(PUBLIC)]
