"""The audit signing key's life: rotation, the keys kept to verify, and verifying across them.

One Ed25519 key signs checkpoints and attestations at a time. ``Keys.rotate`` replaces it in
one transaction that appends a ``key.rotated`` event (naming both public keys) and signs a
checkpoint at that event with the old key *and* with the new one, so the hand-over is sealed
by both (ADR 18). The old public key is always kept (``keys/public/<key id>.pub``); the old
private key is deleted unless asked to keep it (``keys/retired/<key id>.pem``).

``verify_rotating`` is the chain walk of ``core.audit.verify_stored`` with checkpoints
checked against a key schedule read from the trail: a key trusted by the auditor vouches for
its successor through its checkpoint at the rotation event, and a trusted successor vouches
for its predecessor through any checkpoint covering that event (the event names both public
keys). Each key verifies only the checkpoints within its own span of the chain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict

from clearance.core.audit import (
    ChainFault,
    Checkpoint,
    Fold,
    StoredEvent,
    VerifyReport,
    generate_key,
    key_id,
    key_warnings,
    public_key_raw,
    sign_checkpoint,
    verify_checkpoint,
    verify_stored,
)
from clearance.core.hashing import sha256_bytes
from clearance.errors import InputError, StoreConflict, StoreError
from clearance.service.ports import Clock, Store, Tx
from clearance.service.records import CheckpointRecord

ROTATED = "key.rotated"
SUBJECT = "key:audit"  # the role, not one key: every rotation of the audit key has it
CURRENT_FILE = "audit-ed25519.pem"  # workspace.KEY_FILE's name inside keys/
PENDING_FILE = "next-ed25519.pem"
MAX_REASON = 500
PUBLIC_KEY_HEX = re.compile(r"[0-9a-f]{64}")
KEY_ID_HEX = re.compile(r"[0-9a-f]{16}")


# --- the rotation event ------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """A ``key.rotated`` event, read back from the trail."""

    seq: int
    time: str
    actor: str
    old_key_id: str
    new_key_id: str
    old_public: bytes
    new_public: bytes
    reason: str
    compromised: bool


def rotation_payload(old: bytes, new: bytes, *, reason: str, compromised: bool) -> dict[str, Any]:
    """What a ``key.rotated`` event records: both keys in full, so the trail alone says
    which key verifies what (an auditor holding either one can take the other from it)."""
    return {
        "old_key_id": key_id(old),
        "new_key_id": key_id(new),
        "old_public_key": old.hex(),
        "new_public_key": new.hex(),
        "reason": reason,
        "compromised": compromised,
    }


def read_rotation(seq: int, time: str, actor: str, payload: Any) -> Rotation:
    """The rotation an event records; a payload that does not hold together is a fault
    (``ValueError`` with the field at fault), since the chain sealed it as it is."""
    where = f"the {ROTATED} event at seq {seq}"
    if not isinstance(payload, dict):
        raise ValueError(f"{where}: its payload is not an object")
    keys: dict[str, bytes] = {}
    for side in ("old", "new"):
        text = payload.get(f"{side}_public_key")
        if not isinstance(text, str) or not PUBLIC_KEY_HEX.fullmatch(text):
            raise ValueError(f"{where}: {side}_public_key is not 64 lowercase hex digits")
        keys[side] = bytes.fromhex(text)
        named = payload.get(f"{side}_key_id")
        if named != key_id(keys[side]):
            raise ValueError(
                f"{where}: {side}_key_id {str(named)[:16]!r} is not the id of its "
                f"{side}_public_key ({key_id(keys[side])})"
            )
    if keys["old"] == keys["new"]:
        raise ValueError(f"{where}: the old and the new key are the same key")
    reason = payload.get("reason", "")
    compromised = payload.get("compromised", False)
    if not isinstance(reason, str) or not isinstance(compromised, bool):
        raise ValueError(f"{where}: reason must be text and compromised true or false")
    return Rotation(
        seq,
        time,
        actor,
        key_id(keys["old"]),
        key_id(keys["new"]),
        keys["old"],
        keys["new"],
        reason,
        compromised,
    )


# --- verifying across rotations ----------------------------------------------------------


@dataclass
class _Span:
    """One key of the schedule and the seqs its checkpoints may cover: after ``start``
    (the rotation that brought it in; 0 for the first key) up to ``end`` (the rotation that
    retired it; None while current)."""

    key_id: str
    public: bytes
    start: int
    end: int | None
    trusted: bool = False

    def covers(self, seq: int) -> bool:
        return seq >= self.start and (self.end is None or seq <= self.end)


def _schedule(rotations: Sequence[Rotation]) -> tuple[list[_Span], ChainFault | None]:
    """The keys in order of use, or the first rotation that does not continue the last."""
    spans = [_Span(rotations[0].old_key_id, rotations[0].old_public, 0, None)]
    for r in rotations:
        last = spans[-1]
        if r.old_key_id != last.key_id or r.old_public != last.public:
            return spans, ChainFault(
                r.seq,
                "bad_checkpoint",
                f"the {ROTATED} event at seq {r.seq} retires key {r.old_key_id}, but the key "
                f"in use then was {last.key_id}"
                + (f" (since the rotation at seq {last.start})" if last.start else ""),
            )
        if any(s.key_id == r.new_key_id for s in spans):
            return spans, ChainFault(
                r.seq,
                "bad_checkpoint",
                f"the {ROTATED} event at seq {r.seq} brings back key {r.new_key_id}, "
                "which was used before; a rotation must bring in a new key",
            )
        last.end = r.seq
        spans.append(_Span(r.new_key_id, r.new_public, r.seq, None))
    return spans, None


def _sound(cp: Checkpoint, span: _Span, hashes: Mapping[int, str]) -> bool:
    """A checkpoint of this key, in its span, whose signature and hash hold."""
    return (
        cp.key_id == span.key_id
        and span.covers(cp.seq)
        and hashes.get(cp.seq) == cp.hash
        and verify_checkpoint(cp, span.public)
    )


def _trust(spans: list[_Span], cps: Sequence[Checkpoint], hashes: Mapping[int, str]) -> None:
    """Spread trust along the schedule: forwards, a trusted key's checkpoint at the rotation
    event vouches for the key the event brings in; backwards, a trusted key's checkpoint
    covering the event that brought it in vouches for the key that event retired."""
    changed = True
    while changed:
        changed = False
        for before, after in itertools.pairwise(spans):
            if before.trusted == after.trusted:
                continue
            voucher, other = (before, after) if before.trusted else (after, before)
            if any(_sound(cp, voucher, hashes) and cp.seq >= after.start for cp in cps):
                other.trusted = changed = True


def _checkpoint_fault(
    cp: Checkpoint, head_seq: int, hashes: Mapping[int, str], public: bytes
) -> ChainFault | None:
    """Signature, then coverage: ``core.audit``'s checks, in its words, for one key."""
    if not verify_checkpoint(cp, public):
        why = "its signature does not verify (the checkpoint was altered)"
        return ChainFault(cp.seq, "bad_checkpoint", f"the checkpoint for seq {cp.seq}: {why}")
    when = cp.time.isoformat(timespec="microseconds")
    if cp.seq > head_seq:
        return ChainFault(
            head_seq + 1,
            "truncated",
            f"the chain ends at seq {head_seq} but a signed checkpoint covers seq {cp.seq} "
            f"(signed {when}): events were deleted from the end",
        )
    if hashes.get(cp.seq) != cp.hash:
        return ChainFault(
            cp.seq,
            "modified",
            f"event seq {cp.seq} does not match the checkpoint signed {when}: the chain "
            f"up to seq {cp.seq} was rewritten",
        )
    return None


def _untrusted(
    cp: Checkpoint, spans: list[_Span], head_seq: int, roots: str, single: str | None = None
) -> ChainFault:
    span = next((s for s in spans if s.key_id == cp.key_id), None)
    where = f"the checkpoint for seq {cp.seq}: CHECKPOINT KEY CHANGED: it was signed by key"
    if span is None:
        tail = (
            f"; the chain ends at seq {head_seq} before it, so events (perhaps the key "
            "rotation that brought that key in) were deleted from the end"
            if cp.seq > head_seq
            else ""
        )
        if not spans and single is not None:  # no rotation at all: the single-key words
            return ChainFault(
                cp.seq,
                "bad_checkpoint",
                f"{where} {cp.key_id}, not the given key {single}; verify with --public-key "
                "and the copy of the public key you keep outside the workspace",
            )
        why = f"{cp.key_id}, which is not {roots} and which no key rotation in the trail names"
        return ChainFault(cp.seq, "bad_checkpoint", f"{where} {why}{tail}")
    if not span.covers(cp.seq):
        if span.end is not None and cp.seq > span.end:
            why = f"it was retired by the key rotation at seq {span.end}"
        else:
            why = f"it was brought in by the key rotation at seq {span.start}"
        return ChainFault(
            cp.seq, "bad_checkpoint", f"{where} {cp.key_id} outside its span of the chain: {why}"
        )
    return ChainFault(
        cp.seq,
        "bad_checkpoint",
        f"{where} {cp.key_id}, which no verified key rotation vouches for: the rotation at "
        f"seq {span.start or span.end} is not covered by a sound checkpoint of a key trusted "
        f"from {roots}",
    )


def check_checkpoints(
    checkpoints: Sequence[Checkpoint],
    rotations: Sequence[Rotation],
    hashes: Mapping[int, str],
    head_seq: int,
    trusted: Sequence[bytes],
) -> tuple[ChainFault | None, int, tuple[str, ...]]:
    """Each checkpoint by a key the ``trusted`` ones reach through the rotations, within
    that key's span: the first fault, how many verified before it, and warnings."""
    roots = " or ".join(f"the given key {key_id(k)}" for k in trusted) or "a given key"
    ordered = sorted(checkpoints, key=lambda c: (c.seq, c.time))
    if not rotations:  # one key for the whole chain: exactly the single-key check
        by_id = {key_id(k): k for k in trusted}
        for done, cp in enumerate(ordered):
            public = by_id.get(cp.key_id)
            if public is None:
                single = key_id(trusted[0]) if len(trusted) == 1 else None
                return _untrusted(cp, [], head_seq, roots, single), done, ()
            if fault := _checkpoint_fault(cp, head_seq, hashes, public):
                return fault, done, ()
        return None, len(ordered), ()
    spans, fault = _schedule(rotations)
    if fault is not None:
        return fault, 0, ()
    for each in spans:
        each.trusted = any(k == each.public for k in trusted)
    _trust(spans, ordered, hashes)
    warnings = tuple(
        f"key {r.old_key_id} was rotated out as COMPROMISED at seq {r.seq} ({r.time}): the "
        "checkpoints and attestations it signed are only as good as the head hashes copied "
        "outside the workspace before the compromise"
        for r in rotations
        if r.compromised
    )
    for done, cp in enumerate(ordered):
        span = next((s for s in spans if s.key_id == cp.key_id and s.covers(cp.seq)), None)
        if span is None or not span.trusted:
            return _untrusted(cp, spans, head_seq, roots), done, warnings
        if fault := _checkpoint_fault(cp, head_seq, hashes, span.public):
            return fault, done, warnings
    return None, len(ordered), warnings


def verify_rotating(
    rows: Iterable[StoredEvent],
    checkpoints: Sequence[Checkpoint],
    trusted: Sequence[bytes],
    *,
    fold: Fold | None = None,
    upto: int | None = None,
) -> VerifyReport:
    """``verify_stored``, with the checkpoints checked against the keys ``trusted`` reaches
    through the ``key.rotated`` events of the verified chain (see ``check_checkpoints``)."""
    if not trusted:
        raise InputError("verifying checkpoints needs at least one public key")
    for k in trusted:
        if len(k) != 32:
            raise InputError(f"an Ed25519 public key is 32 bytes, not {len(k)}")
    wanted = sorted({cp.seq for cp in checkpoints})
    hashes: dict[int, str] = {}
    found: list[Sequence[Any]] = []

    def watch(batch: Sequence[StoredEvent], times: Sequence[str]) -> None:
        first, last = batch[0][0], batch[-1][0]
        for seq in wanted:
            if first <= seq <= last:
                hashes[seq] = batch[seq - first][7]
        found.extend(row for row in batch if row[3] == ROTATED)
        if fold is not None:
            fold(batch, times)

    chain = verify_stored(rows, (), None, fold=watch, upto=upto)
    used = key_id(trusted[0])
    rotations: list[Rotation] = []
    fault = chain.fault
    for row in found:
        try:
            rotations.append(read_rotation(row[0], row[1], row[2], json.loads(row[5])))
        except ValueError as exc:
            fault = fault or ChainFault(row[0], "bad_checkpoint", str(exc))
            break
    if fault is not None:
        warnings = key_warnings(checkpoints, trusted[0]) if not rotations else ()
        return dataclasses.replace(chain, ok=False, fault=fault, key_id=used, warnings=warnings)
    if not checkpoints:
        return dataclasses.replace(chain, key_id=used)
    fault, verified, warnings = check_checkpoints(
        checkpoints, rotations, hashes, chain.head_seq, trusted
    )
    if not rotations:
        warnings = key_warnings(checkpoints, trusted[0]) if len(trusted) == 1 else ()
    return dataclasses.replace(
        chain,
        ok=fault is None,
        fault=fault,
        checkpoints=verified,
        warnings=warnings,
        key_id=used,
    )


# --- the key files -----------------------------------------------------------------------


class KeyRing(Protocol):
    """Where the signing keys live: the current one, the next one during a rotation, the
    retired ones kept, and the public half of every key ever used."""

    def current(self) -> Ed25519PrivateKey: ...
    def pending(self) -> Ed25519PrivateKey | None: ...
    def stage(self, new: Ed25519PrivateKey) -> None: ...
    def discard_pending(self) -> None: ...
    def promote(self, *, keep_old: bool) -> None: ...
    def public_keys(self) -> dict[str, bytes]: ...
    def has_retired(self, key: str) -> bool: ...


# --- the use cases -----------------------------------------------------------------------


class KeyOut(BaseModel):
    """One signing key of the workspace, as the trail and the key folder say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    keyid: str  # the DSSE keyid: sha256 of the raw public key, in full
    public_key_hex: str
    current: bool
    since_seq: int | None  # the rotation that brought it in (None: the workspace's first)
    since: dt.datetime | None
    retired_seq: int | None
    retired: dt.datetime | None
    reason: str | None  # why it was retired
    compromised: bool
    private_key: str  # current, kept (keys/retired/), destroyed


class RotationOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    old_key_id: str
    new_key_id: str
    new_public_key_hex: str
    old_private_key: str  # kept or destroyed
    checkpoints: list[CheckpointRecord]


def _rotations(tx: Tx) -> list[Rotation]:
    """The rotations recorded, found through their checkpoints (each rotation signs two at
    its event) without reading the whole trail; ``audit verify`` reads every event."""
    out = []
    for seq in sorted({cp.seq for cp in tx.checkpoints()}):
        event = next(tx.events(after=seq - 1, batch=1), None)
        if event is not None and event.seq == seq and event.action == ROTATED:
            time = event.time.isoformat(timespec="microseconds")
            out.append(read_rotation(event.seq, time, event.actor, event.payload))
    return out


@dataclass(frozen=True)
class Keys:
    store: Store
    clock: Clock
    ring: KeyRing

    def recover(self) -> str | None:
        """Finish a rotation cut short between its commit and its key-file swap (the trail
        names the next key the folder still holds as pending). Says what it did; a pending
        key the trail does not name is left alone: its rotation may still be running."""
        try:
            pending = self.ring.pending()
        except StoreError:  # being written by a rotation now, or left half-written
            return None
        if pending is None:
            return None
        pending_id = key_id(public_key_raw(pending))
        with self.store.reading() as tx:
            rotations = _rotations(tx)
        if not rotations or rotations[-1].new_key_id != pending_id:
            return None
        self.ring.promote(keep_old=True)
        return (
            f"finished the rotation at seq {rotations[-1].seq}: key {pending_id} is now the "
            "signing key; the old private key was kept in keys/retired/ (delete it if it "
            "was to be destroyed)"
        )

    def rotate(
        self,
        actor: str,
        *,
        reason: str = "",
        keep_old: bool = False,
        compromised: bool = False,
    ) -> RotationOut:
        """Replace the signing key: a ``key.rotated`` event and, at it, a checkpoint by the
        old key (which seals everything up to the hand-over and vouches for the new key)
        and one by the new key (which proves it is held), in one transaction; then the key
        files are swapped. The local operator only: they hold the key folder."""
        if len(reason) > MAX_REASON or any(ord(c) < 32 for c in reason):
            raise InputError(f"--reason: at most {MAX_REASON} characters on one line")
        self.recover()
        try:
            running = self.ring.pending() is not None
        except StoreError:
            running = True
        if running:
            raise StoreConflict(
                f"keys/{PENDING_FILE} exists: another rotation is running, or one stopped "
                "before it was recorded; if none is running, delete that file and rotate again"
            )
        old = self.ring.current()
        new = generate_key()
        self.ring.stage(new)
        old_raw, new_raw = public_key_raw(old), public_key_raw(new)
        try:
            with self.store.transaction() as tx:
                rotations = _rotations(tx)
                if rotations and rotations[-1].new_key_id != key_id(old_raw):
                    last = rotations[-1]
                    raise StoreError(
                        f"the key file holds key {key_id(old_raw)}, but the last key "
                        f"rotation (seq {last.seq}) brought in key {last.new_key_id}: "
                        "restore that key before rotating"
                    )
                now = self.clock.now()
                event = tx.append_event(
                    time=now,
                    actor=actor,
                    action=ROTATED,
                    subject=SUBJECT,
                    model=None,
                    payload=rotation_payload(
                        old_raw, new_raw, reason=reason, compromised=compromised
                    ),
                )
                records = []
                for key in (old, new):
                    cp = CheckpointRecord(**sign_checkpoint(key, event, now).model_dump())
                    tx.add_checkpoint(cp)
                    records.append(cp)
        except BaseException:
            self.ring.discard_pending()
            raise
        self.ring.promote(keep_old=keep_old)
        return RotationOut(
            seq=event.seq,
            old_key_id=key_id(old_raw),
            new_key_id=key_id(new_raw),
            new_public_key_hex=new_raw.hex(),
            old_private_key="kept" if keep_old else "destroyed",
            checkpoints=records,
        )

    def known(self) -> list[KeyOut]:
        """Every key the trail and the key folder know, oldest first."""
        with self.store.reading() as tx:
            rotations = _rotations(tx)
        current = key_id(public_key_raw(self.ring.current()))
        kept = self.ring.public_keys()
        spans: list[tuple[str, bytes, Rotation | None, Rotation | None]] = []
        if rotations:
            spans.append((rotations[0].old_key_id, rotations[0].old_public, None, rotations[0]))
            for before, after in zip(rotations, [*rotations[1:], None], strict=True):
                spans.append((before.new_key_id, before.new_public, before, after))
        known = {s[0] for s in spans}
        if current not in known:  # no rotation yet, or a key file the trail does not name
            spans.append((current, kept[current], None, None))
        out = []
        for kid, raw, came, went in spans:
            private = (
                "current"
                if kid == current
                else "kept"
                if self.ring.has_retired(kid)
                else "destroyed"
            )
            out.append(
                KeyOut(
                    key_id=kid,
                    keyid=sha256_bytes(raw),
                    public_key_hex=raw.hex(),
                    current=kid == current,
                    since_seq=came.seq if came else None,
                    since=dt.datetime.fromisoformat(came.time) if came else None,
                    retired_seq=went.seq if went else None,
                    retired=dt.datetime.fromisoformat(went.time) if went else None,
                    reason=went.reason if went else None,
                    compromised=went.compromised if went else False,
                    private_key=private,
                )
            )
        return out

    def public_keys(self) -> dict[str, bytes]:
        """Every public key kept in the workspace (the current one included), by key id."""
        return self.ring.public_keys()
