"""Decision attestations: signed when a decision is recorded, kept, and served as recorded.

``Attester`` signs each decision's in-toto statement (``core.attestation``) with the workspace
key inside the decision's transaction and files the DSSE envelope in an ``AttestationArchive``
under the hash of the decision's ``decision.recorded`` audit event. The audit trail therefore
stays exactly as it was (no new event, no new payload field), and no table is needed:
the event hash names exactly one statement, and Ed25519 signing is deterministic, so an
envelope left behind by a transaction that rolled back is either never named or is the very
envelope a later identical event would have produced.

``Attestations`` serves the envelope for a request's (latest or named) decision.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from clearance.core import subjects
from clearance.core.attestation import (
    AttestationInvalid,
    AttestationUnreadable,
    DecisionFacts,
    envelope_json,
    read_envelope,
    read_statement,
    sign,
    statement,
)
from clearance.errors import InputError, NotFound, StoreError
from clearance.service.context import require_request
from clearance.service.ports import Store

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_EVENT_HASH = re.compile(r"[0-9a-f]{64}")


class AttestationArchive(Protocol):
    """Envelopes by the hash of their decision's audit event."""

    def put(self, event_hash: str, envelope: bytes) -> None: ...
    def get(self, event_hash: str) -> bytes | None: ...


def _checked(event_hash: str) -> str:
    if not _EVENT_HASH.fullmatch(event_hash):
        raise InputError(f"audit event hash {event_hash!r} is not 64 lowercase hex digits")
    return event_hash


def _private_dirs(path: Path) -> None:
    """Make ``path`` and its missing parents 0700 as they are created (never widened first,
    whatever the umask)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


class DirectoryArchive:
    """One file per envelope, ``<root>/<hash[:2]>/<hash>.intoto.json``, written atomically
    and private (0600 in 0700 folders) like the blob store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, event_hash: str) -> Path:
        name = _checked(event_hash)
        return self.root / name[:2] / f"{name}.intoto.json"

    def put(self, event_hash: str, envelope: bytes) -> None:
        target = self._path(event_hash)
        _private_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(envelope)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, event_hash: str) -> bytes | None:
        try:
            return self._path(event_hash).read_bytes()
        except FileNotFoundError:
            return None


@dataclass
class MemoryArchive:
    """An archive in a dict: for tests and in-memory workspaces."""

    files: dict[str, bytes] = field(default_factory=dict)

    def put(self, event_hash: str, envelope: bytes) -> None:
        self.files[_checked(event_hash)] = envelope

    def get(self, event_hash: str) -> bytes | None:
        return self.files.get(_checked(event_hash))


@dataclass(frozen=True)
class Attester:
    """Signs decisions with the workspace key (loaded when first needed) and files them."""

    key: Callable[[], Ed25519PrivateKey]
    archive: AttestationArchive

    def attest(self, facts: DecisionFacts) -> bytes:
        envelope = sign(statement(facts), self.key())
        self.archive.put(facts.event_hash, envelope)
        return envelope


# The DSSE envelope as the API serves it and the SDK parses it back (field names as in the
# DSSE spec, so the JSON is the envelope itself).
class SignatureOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    keyid: str = Field(description="sha256 (hex) of the raw Ed25519 public key.")
    sig: str = Field(description="Base64 Ed25519 signature over the DSSE PAE.")


class EnvelopeOut(BaseModel):
    """A decision's signed in-toto statement: a DSSE envelope, verifiable offline with the
    workspace's public key (``clearance attest verify``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    payload: str = Field(description="The in-toto Statement v1, base64.")
    payload_type: str = Field(alias="payloadType", description="application/vnd.in-toto+json")
    signatures: list[SignatureOut]

    def to_bytes(self) -> bytes:
        """The envelope's JSON as ``core.attestation.envelope_json`` writes it."""
        return envelope_json(self.model_dump(mode="json", by_alias=True))


@dataclass(frozen=True)
class Attestations:
    store: Store
    archive: AttestationArchive

    def attestation(self, request_id: int, *, decision: int | None = None) -> EnvelopeOut:
        """The signed statement of a request's latest decision (or of decision number
        ``decision``, which must be one of the request's)."""
        with self.store.reading() as tx:
            request = require_request(tx, request_id)
            decisions = tx.decisions_for(request.id)
            if decision is not None:
                decisions = [d for d in decisions if d.id == decision]
                if not decisions:
                    raise NotFound(f"request {request_id} has no decision {decision}")
            if not decisions:
                raise NotFound(f"request {request_id} has no decision yet")
            chosen = max(decisions, key=lambda d: d.id)
            model = tx.model_by_id(request.model_id).name
            subject = subjects.decision(chosen.id)
            event = next(
                (
                    e
                    for e in tx.events(model=model, since=chosen.created_at)
                    if e.action == "decision.recorded" and e.subject == subject
                ),
                None,
            )
        if event is None:
            raise StoreError(f"decision {chosen.id} has no decision.recorded audit event")
        data = self.archive.get(event.hash)
        if data is None:
            raise NotFound(
                f"decision {chosen.id} of request {request_id} has no attestation (decisions "
                "recorded before attestations were enabled have none)"
            )
        try:
            envelope = read_envelope(data)
            recorded = read_statement(envelope.payload)["predicate"]["auditEvent"]
        except (AttestationUnreadable, AttestationInvalid, TypeError, KeyError) as exc:
            raise StoreError(f"the attestation of decision {chosen.id} is damaged: {exc}") from None
        if not isinstance(recorded, dict) or recorded.get("hash") != event.hash:
            raise StoreError(f"the attestation filed for decision {chosen.id} names another event")
        return EnvelopeOut.model_validate_json(data)
