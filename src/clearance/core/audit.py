"""The audit trail as a hash chain, with signed checkpoints: pure functions, no store, no clock.

Each event's ``hash`` is the sha256 of its own fields plus the previous event's hash, so
editing, deleting, inserting or reordering any event breaks the chain at (or right after)
that event. A chain alone cannot show that its *tail* was cut off, nor that a well-formed
event was appended: a checkpoint, the head's seq and hash signed with Ed25519 at a known
time, makes a later truncation visible to anyone holding the public key.

Times are always passed in (the caller owns the clock) and hashed as UTC, so the same
instant hashes the same whatever timezone it was given in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Annotated, Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clearance.core.audit_batch import batch_check
from clearance.core.collector import collector_paused
from clearance.core.hashing import canonical_json, digest, sha256_bytes
from clearance.errors import AuditChainBroken, InputError

GENESIS = "0" * 64
CHECKPOINT_PURPOSE = "clearance.audit.checkpoint/v1"


def _utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC; a naive time has no instant, so it is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"audit time {value.isoformat()} has no timezone; pass a UTC time")
    return value.astimezone(dt.UTC)


def _render_time(value: dt.datetime) -> str:
    """One text per instant: UTC with microseconds, e.g. ``2026-03-01T12:00:00.000000+00:00``."""
    return _utc(value).isoformat(timespec="microseconds")


class _UtcModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("time", check_fields=False)
    @classmethod
    def _time_is_utc(cls, value: dt.datetime) -> dt.datetime:
        """Stored times are UTC so that equal instants compare and render equal."""
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("time must be timezone-aware (UTC)")
        return value.astimezone(dt.UTC)


class AuditEvent(_UtcModel):
    """One link of the chain; ``hash`` covers every other field and ``prev_hash``."""

    seq: int
    time: dt.datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


def event_hash(
    *,
    seq: int,
    time: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    payload: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """sha256 of the canonical JSON of the event's fields: equal events, equal hashes."""
    return digest(
        {
            "seq": seq,
            "time": _render_time(time),
            "actor": actor,
            "action": action,
            "subject": subject,
            "payload": dict(payload),
            "prev_hash": prev_hash,
        }
    )


class StoredEvent(NamedTuple):
    """An event as the store keeps it: ``time`` as its stored UTC ISO text and ``payload``
    as the canonical JSON text the hash covers, so verifying need not parse either."""

    seq: int
    time: str
    actor: str
    action: str
    subject: str
    payload: str
    prev_hash: str
    hash: str


# What ``_render_time`` gives, or what ``isoformat()`` gave for a whole second: anything
# else is parsed and rendered again (``hashed_time``).
_UTC_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?\+00:00"
)
_quote = encode_basestring  # a str exactly as canonical_json (ensure_ascii=False) has it


def hashed_time(text: str) -> str:
    """The stored time as the hash renders it (UTC, microseconds), without parsing it
    when it is already in that form; ``ValueError`` for anything else, text or not (a
    dynamically typed column holds what a hand edit put there)."""
    if not isinstance(text, str):
        raise ValueError(f"not a time: {type(text).__name__}")
    if _UTC_TEXT.fullmatch(text) is None:
        return _render_time(dt.datetime.fromisoformat(text))
    return text if len(text) == 32 else text[:19] + ".000000+00:00"


def hashed_bytes(row: StoredEvent, time: str) -> bytes:
    """The bytes ``event_hash`` covers, laid out from the stored payload text instead of
    re-serialising the payload: sorted keys and no spaces, as ``canonical_json`` has them,
    so for a payload stored as its canonical JSON they are the same bytes. Every field but
    the payload delimits itself, so equal bytes mean equal fields."""
    return (
        f'{{"action":{_quote(row.action)},"actor":{_quote(row.actor)},'
        f'"payload":{row.payload},"prev_hash":{_quote(row.prev_hash)},"seq":{int(row.seq)},'
        f'"subject":{_quote(row.subject)},"time":"{time}"}}'
    ).encode()


def stored_hash(row: StoredEvent, time: str) -> str:
    """sha256 of ``hashed_bytes``: the stored event's hash when its row is intact."""
    return hashlib.sha256(hashed_bytes(row, time)).hexdigest()


def stored(event: AuditEvent) -> StoredEvent:
    """An event in the form the store keeps it (its payload as canonical JSON)."""
    return StoredEvent(
        event.seq,
        _render_time(event.time),
        event.actor,
        event.action,
        event.subject,
        canonical_json(event.payload),
        event.prev_hash,
        event.hash,
    )


def parsed(row: StoredEvent) -> AuditEvent:
    """A stored event with its time and payload parsed: what the fault tracing reads."""
    return AuditEvent(
        seq=row.seq,
        time=dt.datetime.fromisoformat(row.time),
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        payload=json.loads(row.payload),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def recomputed_hash(event: AuditEvent) -> str:
    """The hash an event's contents give, to compare with the hash it stores."""
    return event_hash(
        seq=event.seq,
        time=event.time,
        actor=event.actor,
        action=event.action,
        subject=event.subject,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )


class Link(Protocol):
    """What the next event needs of the one before: a stored event, or the chain's head."""

    @property
    def seq(self) -> int: ...

    @property
    def hash(self) -> str: ...


def next_event(
    prev: Link | None,
    *,
    time: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    payload: Mapping[str, Any],
) -> AuditEvent:
    """The event that follows ``prev`` (or starts the chain): the only way to extend it.

    ``prev`` may be the last event or the store's head record (seq 0 and GENESIS when empty).
    """
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS if prev is None else prev.hash
    fields: dict[str, Any] = {
        "seq": seq,
        "time": _utc(time),
        "actor": actor,
        "action": action,
        "subject": subject,
        "payload": dict(payload),
        "prev_hash": prev_hash,
    }
    return AuditEvent(**fields, hash=event_hash(**fields))


# --- checkpoints and keys ---------------------------------------------------------------


class Checkpoint(_UtcModel):
    """The head of the chain (seq, hash) at ``time``, signed so that truncation shows."""

    seq: int
    hash: str
    time: dt.datetime
    signature: str
    key_id: str


def checkpoint_message(seq: int, hash: str, time: dt.datetime) -> bytes:
    """The exact bytes signed; the purpose tag keeps them from meaning anything else."""
    text = canonical_json(
        {"purpose": CHECKPOINT_PURPOSE, "seq": seq, "hash": hash, "time": _render_time(time)}
    )
    return text.encode("utf-8")


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: protect the file, not the bytes (as ssh keys are kept)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key_pem(data: bytes) -> Ed25519PrivateKey:
    """The signing key from PEM; anything else is bad input with a message saying so."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"the audit signing key must be Ed25519, not {type(key).__name__}")
    return key


def public_key_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw public-key bytes: what an auditor needs to verify checkpoints offline."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    """A short, stable name for a public key, so a checkpoint says which key signed it."""
    return sha256_bytes(public_raw)[:16]


def sign_checkpoint(
    private_key: Ed25519PrivateKey, head: AuditEvent, time: dt.datetime
) -> Checkpoint:
    """Sign the current head; store the result outside the chain's own table."""
    signature = private_key.sign(checkpoint_message(head.seq, head.hash, time))
    return Checkpoint(
        seq=head.seq,
        hash=head.hash,
        time=_utc(time),
        signature=signature.hex(),
        key_id=key_id(public_key_raw(private_key)),
    )


def verify_checkpoint(cp: Checkpoint, public_key_raw: bytes) -> bool:
    """True only if ``public_key_raw`` is the named key and it signed exactly these fields."""
    if cp.key_id != key_id(public_key_raw):
        return False
    try:
        signature = bytes.fromhex(cp.signature)
        public = Ed25519PublicKey.from_public_bytes(public_key_raw)
        public.verify(signature, checkpoint_message(cp.seq, cp.hash, cp.time))
    except (ValueError, InvalidSignature):
        return False
    return True


# --- verification -----------------------------------------------------------------------


# The records of a verification, one definition for every transport: the service returns
# them, the API serves them under these names (its schema's) and the SDK parses them back.
# The code calls them by the names given below the classes. Dataclasses: faults are built
# positionally.


@dataclass(frozen=True)
class ChainFaultOut:
    """The first thing wrong with the trail.

    ``seq`` is the chain position where it was found (the seq that belongs there), which
    may differ from a tampered row's stored seq; ``kind`` is one of ``modified``,
    ``deleted``, ``inserted`` (a well-formed forgery, named at its own seq),
    ``inserted_or_reordered``, ``bad_start``, ``truncated``, ``bad_checkpoint``.
    """

    seq: int | None
    kind: str
    message: str


@dataclass(frozen=True)
class StateDifferenceOut:
    """A table row or field the audit trail does not account for."""

    table: str
    key: str
    field: str
    expected: Annotated[
        Any, Field(description="What the events imply (null: no event made the row).")
    ]
    found: Annotated[Any, Field(description="What the table holds (null: the row is missing).")]
    seq: Annotated[int | None, Field(description="The event that set the expected value.")]
    message: str


@dataclass(frozen=True)
class BlobFaultOut:
    """A stored blob whose bytes no longer match its sha256 name, or that is missing."""

    sha256: str
    kind: Annotated[str, Field(description="corrupted or missing")]
    used_by: str
    message: str


@dataclass(frozen=True)
class VerifyOut:
    """The chain recomputed, the checkpoints checked, the state the events imply compared
    with the tables, and (``blobs=true``) every blob re-hashed (``clearance audit verify
    --json``)."""

    ok: Annotated[
        bool,
        Field(
            description="Everything checked passed: the chain, the checkpoints and (when "
            "compared) the tables' state and the blobs."
        ),
    ]
    events: Annotated[int, Field(description="Events verified (on a fault: the good prefix).")]
    head_seq: int
    head_hash: str
    checkpoints: int
    fault: ChainFaultOut | None
    warnings: Annotated[
        tuple[str, ...], Field(description="Never pass silently, but do not fail on their own.")
    ] = ()
    key_id: str | None = None
    state_checked: bool = False
    differences: tuple[StateDifferenceOut, ...] = ()
    blobs_checked: int | None = None
    blob_faults: tuple[BlobFaultOut, ...] = field(default_factory=tuple)

    def raise_if_broken(self) -> None:
        """For callers that must stop on a broken trail (exit code 1)."""
        if self.fault is not None:
            raise AuditChainBroken(self.fault.message)
        if not self.ok:
            first = (self.differences[0].message if self.differences else None) or (
                self.blob_faults[0].message if self.blob_faults else "verification failed"
            )
            raise AuditChainBroken(first)


ChainFault = ChainFaultOut
StateDifference = StateDifferenceOut
BlobFault = BlobFaultOut
VerifyReport = VerifyOut


def _short(h: str) -> str:
    return h[:12]


def _at(position: int, event: AuditEvent) -> str:
    """Name an event by its chain position, and by its stored seq when that differs."""
    if event.seq == position:
        return f"event seq {position}"
    return f"the event at seq {position} (stored seq {event.seq})"


def _label(event: AuditEvent | StoredEvent) -> str:
    text = f"{event.action} on {event.subject}"
    return text if len(text) <= 80 else text[:77] + "..."


RECENT = 10_000  # how far back an inserted block can be traced to the first forged event


class _Recent:
    """The last ``RECENT`` good events' hashes (and what they were), to trace an insertion
    back to its first forged event: the row after a forged block still names, in its
    prev_hash, the last genuine event before the block. Built only when a fault is found."""

    def __init__(self, window: Iterable[StoredEvent] = ()) -> None:
        self.seq_of: dict[str, int] = {}
        self.label_of: dict[int, str] = {}
        for row in window:
            self.seq_of[row.hash] = row.seq
            self.label_of[row.seq] = _label(row)


def _inserted(event: AuditEvent, position: int, recent: _Recent) -> ChainFault | None:
    """The fault for a genuine event pushed down by forged ones, named at the first forgery.

    The event is genuine at seq ``s`` when it hashes correctly as seq ``s`` (its stored seq,
    or the one it had before the later rows were renumbered) right after the event its
    prev_hash names; the events between that one and this position were inserted.
    """
    if event.hash in recent.seq_of:  # a copy of an earlier event, not a pushed-down one
        return None
    before = recent.seq_of.get(event.prev_hash)
    if before is None or before >= position - 1:
        return None
    first = before + 1
    original = {**event.model_dump(exclude={"hash"}), "seq": first}
    if event_hash(**original) != event.hash:
        return None
    forged = recent.label_of.get(first, "")
    span = f"seq {first}" if position - 1 == first else f"seq {first}..{position - 1}"
    renumbered = (
        f"; the later rows were renumbered (it is stored as seq {event.seq})"
        if event.seq != first
        else ""
    )
    return ChainFault(
        first,
        "inserted",
        f"event seq {first} ({forged}) was inserted: the genuine seq {first} "
        f"({_label(event)}) links to seq {before}, so {span} was put in between{renumbered}",
    )


def _renumbered_down(event: AuditEvent, position: int) -> ChainFault | None:
    """Events deleted in the middle with the later rows renumbered down to close the gap."""
    fields = event.model_dump(exclude={"hash"})
    for original in range(position + 1, position + 65):
        if event_hash(**{**fields, "seq": original}) == event.hash:
            return ChainFault(
                position,
                "deleted",
                f"the event now at seq {position} ({_label(event)}) hashes correctly only "
                f"as seq {original}: seq {position}..{original - 1} of the original chain "
                "were deleted or moved and the later rows renumbered",
            )
    return None


def _link_fault(prev: AuditEvent | None, event: AuditEvent, recent: _Recent) -> ChainFault | None:
    """Check ``event`` against its predecessor; the first problem, or None."""
    position = 1 if prev is None else prev.seq + 1
    if recomputed_hash(event) != event.hash:
        traced = _inserted(event, position, recent) or _renumbered_down(event, position)
        return traced or ChainFault(
            position,
            "modified",
            f"{_at(position, event)} ({event.action} on {event.subject}) was modified: its "
            f"stored hash {_short(event.hash)} does not match its contents",
        )
    if prev is None:
        if event.seq == 1 and event.prev_hash == GENESIS:
            return None
        return ChainFault(
            1,
            "bad_start",
            f"the chain starts at seq {event.seq} with prev_hash {_short(event.prev_hash)}, "
            "not at seq 1 after GENESIS: events at the start were deleted or replaced",
        )
    return _order_fault(prev, event, position, recent)


def _order_fault(
    prev: AuditEvent, event: AuditEvent, position: int, recent: _Recent
) -> ChainFault | None:
    linked = event.prev_hash == prev.hash
    if event.seq == position and linked:
        return None
    if event.seq > position and not linked:
        missing = str(position) if event.seq == position + 1 else f"{position}..{event.seq - 1}"
        return ChainFault(
            position,
            "deleted",
            f"seq {missing} is missing: seq {prev.seq} is followed by seq {event.seq} "
            "(events deleted or moved)",
        )
    if not linked and (traced := _inserted(event, position, recent)) is not None:
        return traced
    if event.seq <= prev.seq:
        detail = f"seq {event.seq} comes after seq {prev.seq}"
    elif not linked:
        detail = (
            f"its prev_hash {_short(event.prev_hash)} is not the hash of seq {prev.seq}; "
            f"seq {prev.seq} was rewritten, or an event was inserted or reordered"
        )
    else:
        detail = f"it links to seq {prev.seq} but claims seq {event.seq}"
    return ChainFault(
        position,
        "inserted_or_reordered",
        f"{_at(position, event)} does not follow seq {prev.seq}: {detail}",
    )


def _key_fault(cp: Checkpoint, given: str) -> ChainFault:
    return ChainFault(
        cp.seq,
        "bad_checkpoint",
        f"the checkpoint for seq {cp.seq}: CHECKPOINT KEY CHANGED: it was signed by key "
        f"{cp.key_id}, not the given key {given}; verify with --public-key and the "
        "copy of the public key you keep outside the workspace",
    )


def _checkpoint_fault(
    cp: Checkpoint, head_seq: int, hashes: Mapping[int, str], public_key: bytes
) -> ChainFault | None:
    if not verify_checkpoint(cp, public_key):
        if cp.key_id != key_id(public_key):
            return _key_fault(cp, key_id(public_key))
        why = "its signature does not verify (the checkpoint was altered)"
        return ChainFault(cp.seq, "bad_checkpoint", f"the checkpoint for seq {cp.seq}: {why}")
    if cp.seq > head_seq:
        return ChainFault(
            head_seq + 1,
            "truncated",
            f"the chain ends at seq {head_seq} but a signed checkpoint covers seq {cp.seq} "
            f"(signed {_render_time(cp.time)}): events were deleted from the end",
        )
    if hashes.get(cp.seq) != cp.hash:
        return ChainFault(
            cp.seq,
            "modified",
            f"event seq {cp.seq} does not match the checkpoint signed "
            f"{_render_time(cp.time)}: the chain up to seq {cp.seq} was rewritten",
        )
    return None


def key_warnings(checkpoints: Sequence[Checkpoint], public_key: bytes) -> tuple[str, ...]:
    """A loud warning when checkpoints were signed by more than one key, or not by this one.

    A key can be rotated on purpose; it is also what someone who rewrote the trail and
    re-signed it would have done. Only a public key kept outside the workspace tells.
    """
    current = key_id(public_key)
    by_key: dict[str, list[int]] = {}
    for cp in checkpoints:
        by_key.setdefault(cp.key_id, []).append(cp.seq)
    others = {k: seqs for k, seqs in by_key.items() if k != current}
    if not others:
        return ()
    described = "; ".join(
        f"{len(seqs)} checkpoint(s) up to seq {max(seqs)} by key {k}" for k, seqs in others.items()
    )
    return (
        f"CHECKPOINT KEY CHANGED: {described}, not by key {current} used now. If nobody "
        "rotated the signing key on purpose, the workspace key may have been replaced to "
        "re-sign a rewritten trail: run `clearance audit verify --public-key FILE` with the "
        "copy of the public key you keep outside the workspace",
    )


def verify_chain(
    events: Iterable[AuditEvent],
    checkpoints: Sequence[Checkpoint] = (),
    public_key: bytes | None = None,
) -> VerifyReport:
    """Walk the events in the order given (the store's seq order) and name the first fault."""
    return verify_stored(map(stored, events), checkpoints, public_key)


def _slow_fault(
    row: StoredEvent, head: StoredEvent | None, window: Callable[[], Iterable[StoredEvent]]
) -> ChainFault | None:
    """The hash definition applied to the parsed row (a payload stored as other JSON than
    the canonical still verifies), and on a fault the tracing of what happened (over the
    rows before it, ``window()``)."""
    position = 1 if head is None else head.seq + 1
    try:
        event = parsed(row)
    except (ValueError, TypeError, ValidationError) as exc:  # a stored row edited by hand
        return ChainFault(
            position,
            "modified",
            f"the event stored at seq {row.seq} was modified: its stored fields do not "
            f"parse ({type(exc).__name__}), so it cannot be the event that was hashed",
        )
    prev = None if head is None else parsed(head)
    expected_prev = GENESIS if head is None else head.hash
    linked = event.seq == position and event.prev_hash == expected_prev
    if linked and recomputed_hash(event) == event.hash:
        return None
    return _link_fault(prev, event, _Recent(window()))


BATCH = 4096  # rows checked together: long enough to leave the per-row work to C


Fold = Callable[[Sequence[StoredEvent], Sequence[str]], None]
"""Takes verified rows, in seq order, with their times as hashed."""


def verify_stored(
    rows: Iterable[StoredEvent],
    checkpoints: Sequence[Checkpoint] = (),
    public_key: bytes | None = None,
    *,
    fold: Fold | None = None,
    upto: int | None = None,
) -> VerifyReport:
    """Walk the stored rows in seq order and name the first fault; ``fold`` sees the good
    rows, batch by batch, with their times as hashed. With ``upto`` (the head seq the caller
    read), the first row past it ends the walk: rows appended since are left to the next.

    Streams: memory holds a batch, the hashes at checkpointed seqs and the last ``RECENT``
    good rows (to name the first of a block of inserted events). A batch is checked as
    columns (``audit_batch.batch_check``); a batch it does not vouch for is checked row by
    row on its stored bytes, and a row failing that is parsed and checked by the definition
    (``event_hash``), which also names the fault: the same report either way. The chain is
    checked first, then each checkpoint in seq order: signature, then coverage.
    """
    pending = sorted({cp.seq for cp in checkpoints}, reverse=True)
    hashes: dict[int, str] = {}
    recent: deque[Sequence[StoredEvent]] = deque()
    kept = 0  # rows in ``recent``
    head_seq, head_hash = 0, GENESIS
    warnings = () if public_key is None else key_warnings(checkpoints, public_key)
    used_key = None if public_key is None else key_id(public_key)
    fault: ChainFault | None = None

    def window() -> list[StoredEvent]:
        return [_as_stored(r) for b in recent for r in b][-RECENT:]

    def report(fault: ChainFault | None, verified_checkpoints: int = 0) -> VerifyReport:
        events, seq, last = head_seq, head_seq, head_hash
        if fault is not None and fault.kind == "inserted" and fault.seq is not None:
            # the good prefix ends right before the first forged event
            events = seq = fault.seq - 1
            last = next((r.hash for r in window() if r.seq == seq), last)
        return VerifyReport(
            ok=fault is None,
            events=events,
            head_seq=seq,
            head_hash=last,
            checkpoints=verified_checkpoints,
            fault=fault,
            warnings=warnings,
            key_id=used_key,
        )

    source = iter(rows)
    with collector_paused():
        while batch := list(itertools.islice(source, BATCH)):
            if upto is not None and _past(batch[-1], upto):  # appended rows come last
                batch = list(itertools.takewhile(lambda row: not _past(row, upto), batch))
                source = iter(())
                if not batch:
                    break
            times: Sequence[str] | None = batch_check(batch, head_seq, head_hash)
            if times is None:
                batch, times, fault = _row_by_row(batch, recent, head_seq, head_hash)
            if batch:
                first, head_seq, head_hash = head_seq + 1, head_seq + len(batch), batch[-1][7]
                while pending and pending[-1] <= head_seq:
                    seq = pending.pop()
                    if seq >= first:
                        hashes[seq] = batch[seq - first][7]
                recent.append(batch)
                kept += len(batch)
                while kept - len(recent[0]) >= RECENT:
                    kept -= len(recent.popleft())
                if fold is not None:
                    fold(batch, times)
            if fault is not None:
                return report(fault)
    if not checkpoints:
        return report(None)
    if public_key is None:
        missing_key = "checkpoints were given without the public key to verify them"
        return report(ChainFault(None, "bad_checkpoint", missing_key))
    for done, cp in enumerate(sorted(checkpoints, key=lambda c: (c.seq, c.time))):
        fault = _checkpoint_fault(cp, head_seq, hashes, public_key)
        if fault is not None:
            return report(fault, done)
    return report(None, len(checkpoints))


def _past(row: Sequence[Any], upto: int) -> bool:
    seq = row[0]
    return isinstance(seq, int) and seq > upto


def _as_stored(row: Sequence[Any]) -> StoredEvent:
    return row if isinstance(row, StoredEvent) else StoredEvent._make(row)


def _row_by_row(
    batch: Sequence[StoredEvent],
    recent: Sequence[Sequence[StoredEvent]],
    head_seq: int,
    head_hash: str,
) -> tuple[list[StoredEvent], list[str], ChainFault | None]:
    """Each row on its stored bytes, then (if that fails) by the definition: the good
    prefix of the batch, its times as hashed, and the first fault."""
    good: list[StoredEvent] = []
    times: list[str] = []
    head = _as_stored(recent[-1][-1]) if recent else None

    def window() -> list[StoredEvent]:
        return [*(_as_stored(r) for b in recent for r in b), *good][-RECENT:]

    for row in map(_as_stored, batch):
        try:
            time = hashed_time(row.time)
        except ValueError:  # not a time at all: edited by hand; _slow_fault names it
            time = ""
        intact = bool(time) and (  # it follows the head and its stored bytes hash right
            row.seq == head_seq + 1
            and row.prev_hash == head_hash
            and hashlib.sha256(hashed_bytes(row, time)).hexdigest() == row.hash
        )
        if not intact and (fault := _slow_fault(row, head, window)) is not None:
            return good, times, fault
        head, head_seq, head_hash = row, head_seq + 1, row.hash
        good.append(row)
        times.append(time)
    return good, times, None
