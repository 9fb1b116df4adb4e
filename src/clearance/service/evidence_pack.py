"""Evidence packs: a version's decisions with everything needed to check and re-run them
offline, in one zip (``core.evidence_pack`` lays it out and verifies it).

The pack is read in one snapshot of the store: the version and its evidence, every request
for it with its approvals and decisions (each with its recorded inputs and the policy's
stored text), the waivers that apply, the evidence blobs those decisions read, and the audit
events from the version's first event up to the first signed checkpoint covering its last.
Without such a checkpoint the proof could not be anchored, so building refuses and says how
to sign one. The whole pack is bounded (``max_bytes``, uncompressed): a version whose
evidence or audit range is larger is refused with the size, never truncated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clearance.core import evidence_pack as fmt
from clearance.core import subjects
from clearance.core.audit import stored
from clearance.core.hashing import sha256_bytes
from clearance.errors import InputError, NotFound
from clearance.service.context import require_model, require_version
from clearance.service.ports import BlobStore, Clock, Store, Tx
from clearance.service.records import CheckpointRecord, DecisionRecord, PolicyRecord

AttestationReader = Callable[[int, int], bytes | None]
"""(request id, decision number) → the decision's DSSE envelope, or None when it has none."""


@dataclass(frozen=True)
class BuiltPack:
    """A pack's bytes and what went into it."""

    data: bytes
    model: str
    version: str
    decisions: list[int]
    events: int
    checkpoint_seq: int
    files: int
    notes: list[str] = field(default_factory=list)


class _Budget:
    """The pack's size so far; over ``limit`` bytes it refuses, naming what tipped it."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def add(self, name: str, size: int) -> None:
        self.check(name, size)
        self.used += size

    def check(self, name: str, extra: int) -> None:
        if self.used + extra > self.limit:
            raise InputError(
                f"the evidence pack would hold more than {self.limit} bytes (at {name}); "
                "pass a larger --max-bytes to build it anyway"
            )


@dataclass(frozen=True)
class EvidencePacks:
    store: Store
    blobs: BlobStore
    clock: Clock
    public_key: Callable[[], bytes]
    attestation: AttestationReader | None = None

    def build(
        self, model: str, version: str, *, max_bytes: int = fmt.DEFAULT_MAX_BYTES
    ) -> BuiltPack:
        """The pack of ``model`` ``version``; ``InputError`` when no signed checkpoint covers
        the version's last audit event, or when it would exceed ``max_bytes``."""
        budget = _Budget(max_bytes)
        files: dict[str, bytes] = {}
        notes: list[str] = []

        def put(name: str, data: bytes) -> None:
            budget.add(name, len(data))
            files[name] = data

        with self.store.reading() as tx:
            m = require_model(tx, model)
            v = require_version(tx, m, version)
            evidence = tx.evidence_for(v.id)
            requests = tx.list_requests(version_id=v.id)
            decisions = [d for r in requests for d in tx.decisions_for(r.id)]
            policies = {d.policy_id: tx.policy_by_id(d.policy_id) for d in decisions}
            waivers = [w for w in tx.list_waivers(model=m.name) if w.version in (None, v.version)]
            put(
                fmt.VERSION,
                fmt.dumps(
                    {
                        "model": m.model_dump(mode="json"),
                        "version": v.model_dump(mode="json"),
                        "evidence": [e.model_dump(mode="json") for e in evidence],
                    }
                ),
            )
            for r in requests:
                put(
                    f"requests/{r.id}.json",
                    fmt.dumps(
                        {
                            "request": r.model_dump(mode="json"),
                            "approvals": [
                                a.model_dump(mode="json") for a in tx.approvals_for(r.id)
                            ],
                        }
                    ),
                )
            put(fmt.WAIVERS, fmt.dumps([w.model_dump(mode="json") for w in waivers]))
            for d in decisions:
                put(fmt.decision_member(d.id), fmt.dumps(_decision(d, policies[d.policy_id])))
            for p in policies.values():
                for name, data in _policy_files(p).items():
                    put(name, data)
            wanted = {**_decision_blobs(decisions), **_stored_evidence(evidence)}
            unstored = self._evidence(wanted, put)
            card = next((e for e in evidence if e.item.name == "model_card" and e.stored), None)
            if card is not None and card.item.sha256 and self.blobs.has(card.item.sha256):
                put(fmt.MODEL_CARD, self.blobs.read(card.item.sha256))
            related = _related(m.name, v.version, requests, decisions, waivers)
            rows, cp = _proof(tx, m.name, related, budget)
        put(fmt.EVENTS, b"".join(fmt.event_line(r) for r in rows))
        put(fmt.CHECKPOINT, fmt.dumps(cp.model_dump(mode="json")))
        put(fmt.PUBLIC_KEY, (self.public_key().hex() + "\n").encode())
        for d in decisions:
            envelope = None if self.attestation is None else self.attestation(d.request_id, d.id)
            if envelope is not None:
                put(fmt.attestation_member(d.id), envelope)
        if self.attestation is None:
            notes.append("attestations: not included (this workspace does not sign decisions)")
        elif decisions and not any(fmt.attestation_member(d.id) in files for d in decisions):
            notes.append("attestations: none of these decisions was attested")
        if unstored:
            notes.append(
                f"{len(unstored)} evidence item(s) are referenced by URI only; the gates read "
                "them as absent, on the server as in the pack"
            )
        meta = {
            "model": m.name,
            "version": v.version,
            "built_at": self.clock.now().astimezone(dt.UTC).isoformat(),
            "decisions": [d.id for d in decisions],
            "version_events": [r.seq for r in rows if r.seq in related.seqs],
            "unstored": sorted(unstored),
            "notes": notes,
        }
        data = fmt.write_pack(files, meta)
        return BuiltPack(
            data=data,
            model=m.name,
            version=v.version,
            decisions=[d.id for d in decisions],
            events=len(rows),
            checkpoint_seq=cp.seq,
            files=len(files) + 1,
            notes=notes,
        )

    def _evidence(self, wanted: dict[str, str], put: Callable[[str, bytes], None]) -> set[str]:
        """Each blob the decisions read (or the version holds), by sha256; those the store
        does not hold are returned (referenced by URI only). A stored blob whose bytes no
        longer match its name is refused: the pack must not carry what the gates did not
        read."""
        unstored: set[str] = set()
        for sha, what in sorted(wanted.items()):
            if not self.blobs.has(sha):
                unstored.add(sha)
                continue
            data = self.blobs.read(sha)
            if sha256_bytes(data) != sha:
                raise InputError(
                    f"blob {sha[:12]}… ({what}) no longer matches its sha256; "
                    "`clearance audit verify --blobs` reports it"
                )
            put(fmt.evidence_member(sha), data)
        return unstored


def _decision(d: DecisionRecord, p: PolicyRecord) -> dict[str, Any]:
    return {
        "id": d.id,
        "request_id": d.request_id,
        "digest": d.digest,
        "outcome": d.outcome,
        "created_at": d.created_at.isoformat(),
        "policy": {"name": p.name, "version": p.version, "content_hash": p.content_hash},
        "inputs": d.inputs,
        "result": d.result,
    }


def _policy_files(p: PolicyRecord) -> dict[str, bytes]:
    """The policy's stored source texts, byte for byte, and an index of their file names
    (kept apart: a stored name may hold characters a pack member may not)."""
    folder = fmt.policy_dir(p.name, p.version)
    out: dict[str, bytes] = {}
    index = []
    for i, (name, text) in enumerate(p.sources, 1):
        member = f"{folder}/{i:02d}.yaml"
        out[member] = text.encode("utf-8")
        index.append([name, member])
    out[f"{folder}/policy.json"] = fmt.dumps(
        {"name": p.name, "version": p.version, "content_hash": p.content_hash, "sources": index}
    )
    return out


def _decision_blobs(decisions: list[DecisionRecord]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for d in decisions:
        items = d.inputs.get("version", {}).get("evidence", {})
        for name, item in items.items():
            if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                wanted.setdefault(item["sha256"], f"evidence {name}")
        artifact = d.inputs.get("artifact_blob")
        if isinstance(artifact, str):
            wanted.setdefault(artifact, "artifact")
    return wanted


def _stored_evidence(evidence: list[Any]) -> dict[str, str]:
    return {
        e.item.sha256: f"evidence {e.item.name}" for e in evidence if e.stored and e.item.sha256
    }


@dataclass(frozen=True)
class _Related:
    """What the version's own events are about: its subject (and those under it), its
    requests with their approvals, its decisions and the waivers that apply to it."""

    version_subject: str
    exact: frozenset[str]
    seqs: set[int] = field(default_factory=set)

    def __contains__(self, subject: str) -> bool:
        return (
            subject == self.version_subject
            or subject.startswith(self.version_subject + "/")
            or subject in self.exact
            or subject.split("/")[0] in self.exact
        )


def _related(
    model: str,
    version: str,
    requests: list[Any],
    decisions: list[DecisionRecord],
    waivers: list[Any],
) -> _Related:
    exact = {subjects.request(r.id) for r in requests}
    exact |= {subjects.decision(d.id) for d in decisions}
    exact |= {subjects.waiver(w.label) for w in waivers}
    return _Related(subjects.version(model, version), frozenset(exact))


def _proof(
    tx: Tx, model: str, related: _Related, budget: _Budget
) -> tuple[list[Any], CheckpointRecord]:
    """The stored events from the version's first event to the first signed checkpoint at
    or after its last, every event of the range included (the chain needs them all)."""
    own = [e.seq for e in tx.events(model=model) if e.subject in related]
    if not own:
        raise NotFound("the version has no audit events")  # registration writes one
    first, last = own[0], own[-1]
    related.seqs.update(own)
    covering = sorted((c for c in tx.checkpoints() if c.seq >= last), key=lambda c: c.seq)
    if not covering:
        raise InputError(
            f"no signed checkpoint covers this version's last audit event (seq {last}), so "
            "the pack's chain proof could not be anchored: sign one first (`clearance "
            "report create --checkpoint`, or `clearance audit checkpoint`)"
        )
    cp = covering[0]
    rows = []
    size = 0
    for event in tx.events(after=first - 1):
        if event.seq > cp.seq:
            break
        row = stored(event)
        size += len(fmt.event_line(row))
        budget.check(fmt.EVENTS, size)
        rows.append(row)
    return rows, cp
