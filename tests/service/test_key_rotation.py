"""Rotating the audit signing key: the hand-over event and its two checkpoints, the key
files, and verifying across rotations with only the first (or the last) public key.

Forgeries are made the way someone with write access to the database would make them:
events appended through the store (correctly chained) and checkpoints signed with keys
they hold, never with the workspace's own.
"""

from __future__ import annotations

import dataclasses
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from clearance.adapters.keyring import DirectoryKeyRing
from clearance.core.audit import (
    Checkpoint,
    StoredEvent,
    event_hash,
    generate_key,
    key_id,
    parsed,
    private_key_pem,
    public_key_raw,
    sign_checkpoint,
    stored,
)
from clearance.core.hashing import canonical_json
from clearance.errors import InputError, StoreError
from clearance.service.auditing import Auditing
from clearance.service.keys import (
    PENDING_FILE,
    ROTATED,
    SUBJECT,
    Keys,
    check_checkpoints,
    read_rotation,
    rotation_payload,
    verify_rotating,
)
from clearance.service.records import CheckpointRecord

if TYPE_CHECKING:
    from clearance.adapters.clock import FixedClock
    from conftest import Env


@dataclasses.dataclass
class Ring:
    """The workspace's key folder, its key use cases and its audit use cases bound to it."""

    env: Env
    ring: DirectoryKeyRing

    @property
    def keys(self) -> Keys:
        return Keys(self.env.ws.store, self.env.ws.clock, self.ring)

    @property
    def auditing(self) -> Auditing:
        ws = self.env.ws
        return Auditing(ws.store, ws.clock, self.ring.current, ws.blobs, self.ring.public_keys)

    def public(self) -> bytes:
        return public_key_raw(self.ring.current())

    def rotate(self, **kw: object) -> str:
        """Rotate after one more event, so each rotation has a trail before it."""
        self.env.clock.advance(minutes=5)
        self.env.ws.registry.add_user(
            f"u{len(self.env.events())}", ["auditor"], actor="admin", operator=True
        )
        done = self.keys.rotate("ops", **kw)  # type: ignore[arg-type]
        return done.new_key_id


@pytest.fixture
def ring(env: Env) -> Ring:
    """The key folder of a SQL workspace as ``init`` made it; a memory workspace's key is
    written to one first."""
    folder = env.ws.home / "keys"
    current = folder / "audit-ed25519.pem"
    if not current.exists():
        folder.mkdir(mode=0o700, exist_ok=True)
        current.write_bytes(private_key_pem(env.ws.key))
        current.chmod(0o600)
    return Ring(env, DirectoryKeyRing(folder))


@pytest.mark.backends("memory", "sqlite")  # the SQL store keeps rotations too
def test_rotation_records_the_hand_over_sealed_by_both_keys(env: Env, ring: Ring) -> None:
    env.to_staging("1")
    old = ring.public()
    ring.auditing.checkpoint()
    head = env.event_count()
    done = ring.keys.rotate("ops", reason="yearly")
    new = ring.public()

    assert done.seq == head + 1 and done.old_key_id == key_id(old) != done.new_key_id
    assert done.new_public_key_hex == new.hex() and done.new_key_id == key_id(new)
    event = env.events()[-1]
    assert (event.action, event.subject, event.actor) == (ROTATED, SUBJECT, "ops")
    assert event.payload == rotation_payload(old, new, reason="yearly", compromised=False)
    *_, by_old, by_new = ring.auditing.checkpoints()
    assert (by_old.seq, by_old.key_id) == (done.seq, key_id(old))
    assert (by_new.seq, by_new.key_id) == (done.seq, key_id(new))
    assert by_old.hash == by_new.hash == event.hash
    # the old private key is gone, both public halves are kept, nothing pending remains
    folder = ring.ring.root
    assert not (folder / "retired").exists() and not (folder / PENDING_FILE).exists()
    assert ring.keys.public_keys() == {key_id(old): old, key_id(new): new}
    assert (folder / "public" / f"{key_id(old)}.pub").read_text() == old.hex() + "\n"


def test_the_old_private_key_is_kept_private_when_asked(env: Env, ring: Ring) -> None:
    old = ring.ring.current()
    done = ring.keys.rotate("ops", keep_old=True)
    kept = ring.ring.root / "retired" / f"{done.old_key_id}.pem"
    assert kept.read_bytes() == private_key_pem(old)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((ring.ring.root / "audit-ed25519.pem").stat().st_mode) == 0o600
    listed = {k.key_id: k for k in ring.keys.known()}
    assert listed[done.old_key_id].private_key == "kept"
    assert listed[done.new_key_id].private_key == "current"


@pytest.mark.backends("memory", "sqlite")  # the SQL store keeps rotations too
def test_the_first_public_key_verifies_checkpoints_of_every_later_key(env: Env, ring: Ring) -> None:
    first = ring.public()
    env.to_staging("1")
    ring.auditing.checkpoint()
    second = ring.rotate(reason="yearly")
    env.to_staging("2")
    ring.auditing.checkpoint()
    third = ring.rotate()
    env.clock.advance(minutes=1)
    ring.auditing.checkpoint()
    last = ring.public()

    for trusted in (first, last):  # the auditor kept the first key, or got the latest
        report = ring.auditing.verify(trusted)
        assert report.ok, report.fault
        assert report.checkpoints == 7 and report.warnings == ()
        assert report.state_checked and report.key_id == key_id(trusted)
    assert ring.auditing.verify().ok  # the workspace's own keys
    listed = ring.keys.known()
    assert [k.key_id for k in listed] == [key_id(first), second, third]
    assert [k.current for k in listed] == [False, False, True]
    assert listed[0].since_seq is None and listed[0].retired_seq == listed[1].since_seq
    assert listed[0].reason == "yearly" and listed[1].retired_seq == listed[2].since_seq
    assert [k.private_key for k in listed] == ["destroyed", "destroyed", "current"]


def test_an_unrelated_key_checkpoint_fails_by_name(env: Env, ring: Ring) -> None:
    first = ring.public()
    ring.rotate()
    stranger = generate_key()
    head = env.ws.store  # an attacker signs the head with their own key
    with head.transaction() as tx:
        event = tx.head_event()
        assert event is not None
        cp = sign_checkpoint(stranger, event, env.clock.now())
        tx.add_checkpoint(CheckpointRecord(**cp.model_dump()))
    report = ring.auditing.verify(first)
    assert not report.ok and report.fault is not None
    assert report.fault.kind == "bad_checkpoint"
    assert f"signed by key {key_id(public_key_raw(stranger))}" in report.fault.message
    assert "no key rotation in the trail names" in report.fault.message


def test_a_rotation_the_old_key_did_not_seal_vouches_for_nothing(env: Env, ring: Ring) -> None:
    """Someone who can write the database but lacks the key appends a rotation to their own
    key and signs it with that key only: the old key never vouched for it."""
    first = ring.public()
    ring.auditing.checkpoint()
    theirs = generate_key()
    with env.ws.store.transaction() as tx:
        payload = rotation_payload(first, public_key_raw(theirs), reason="", compromised=False)
        event = tx.append_event(
            time=env.clock.now(),
            actor="ops",
            action=ROTATED,
            subject=SUBJECT,
            model=None,
            payload=payload,
        )
        cp = sign_checkpoint(theirs, event, env.clock.now())
        tx.add_checkpoint(CheckpointRecord(**cp.model_dump()))
    report = ring.auditing.verify(first)
    assert not report.ok and report.fault is not None
    assert report.fault.message == (
        f"the checkpoint for seq {event.seq}: CHECKPOINT KEY CHANGED: it was signed by key "
        f"{key_id(public_key_raw(theirs))}, which no verified key rotation vouches for: the "
        f"rotation at seq {event.seq} is not covered by a sound checkpoint of a key trusted "
        f"from the given key {key_id(first)}"
    )


def test_a_new_key_swapped_in_the_rotation_event_fails(env: Env, ring: Ring) -> None:
    """The rotation event rewritten to name another new key (its hash and the next ones
    recomputed) no longer matches the old key's checkpoint at it."""
    first = ring.public()
    ring.rotate()
    rows = list(_stored(env))
    rotation = next(i for i, r in enumerate(rows) if r.action == ROTATED)
    payload = json.loads(rows[rotation].payload)
    swapped = public_key_raw(generate_key())
    payload.update(new_public_key=swapped.hex(), new_key_id=key_id(swapped))
    forged = _rechained(rows, rotation, payload)
    checkpoints = [Checkpoint(**c.model_dump()) for c in ring.auditing.checkpoints()]
    report = verify_rotating(forged, checkpoints, [first])
    assert not report.ok and report.fault is not None
    assert report.fault.kind == "modified" and report.fault.seq == rows[rotation].seq
    assert "does not match the checkpoint signed" in report.fault.message
    # the same with the payload's key id left stale: the event itself is refused
    payload["new_key_id"] = key_id(public_key_raw(ring.ring.current()))
    report = verify_rotating(_rechained(rows, rotation, payload), checkpoints, [first])
    assert report.fault is not None and "is not the id of its new_public_key" in (
        report.fault.message
    )


def test_a_tampered_rotation_event_breaks_the_chain(env: Env, ring: Ring) -> None:
    first = ring.public()
    ring.rotate(reason="yearly")
    rows = list(_stored(env))
    at = next(i for i, r in enumerate(rows) if r.action == ROTATED)
    rows[at] = rows[at]._replace(payload=rows[at].payload.replace("yearly", "forced"))
    checkpoints = [Checkpoint(**c.model_dump()) for c in ring.auditing.checkpoints()]
    report = verify_rotating(rows, checkpoints, [first])
    assert report.fault is not None and (report.fault.seq, report.fault.kind) == (
        rows[at].seq,
        "modified",
    )


def test_a_retired_key_signing_after_its_rotation_fails(env: Env, ring: Ring) -> None:
    """A process that still holds the old key (a server not restarted) signs a checkpoint
    past the rotation: the old key's span ended at the rotation."""
    first = ring.ring.current()
    rotated = ring.keys.rotate("ops", keep_old=True)
    env.ws.registry.add_user("late", ["auditor"], actor="admin", operator=True)
    stale = Auditing(env.ws.store, env.clock, lambda: first)
    with pytest.raises(StoreError, match=f"retired by the key rotation at seq {rotated.seq}"):
        stale.checkpoint()  # refused here; signed anyway (an older clearance, a forger):
    with env.ws.store.transaction() as tx:
        head = tx.head_event()
        assert head is not None
        cp = sign_checkpoint(first, head, env.clock.now())
        tx.add_checkpoint(CheckpointRecord(**cp.model_dump()))
    report = ring.auditing.verify(public_key_raw(first))
    assert report.fault is not None and report.fault.message.endswith(
        f"outside its span of the chain: it was retired by the key rotation at seq {rotated.seq}"
    )


def test_a_compromised_rotation_warns_and_still_verifies(env: Env, ring: Ring) -> None:
    first = ring.public()
    ring.keys.rotate("ops", reason="laptop stolen", compromised=True)
    report = ring.auditing.verify(first)
    assert report.ok
    (warning,) = report.warnings
    assert f"key {key_id(first)} was rotated out as COMPROMISED" in warning
    assert ring.keys.known()[0].compromised


def test_rotations_must_continue_each_other() -> None:
    a, b, c = (public_key_raw(generate_key()) for _ in range(3))
    one = read_rotation(3, "t", "ops", rotation_payload(a, b, reason="", compromised=False))
    gap = read_rotation(9, "t", "ops", rotation_payload(c, a, reason="", compromised=False))
    fault, done, _ = check_checkpoints([], [one, gap], {}, 9, [a])
    assert fault is not None and done == 0
    assert fault.message == (
        f"the {ROTATED} event at seq 9 retires key {key_id(c)}, but the key in use then was "
        f"{key_id(b)} (since the rotation at seq 3)"
    )
    back = read_rotation(9, "t", "ops", rotation_payload(b, a, reason="", compromised=False))
    fault, _, _ = check_checkpoints([], [one, back], {}, 9, [a])
    assert fault is not None and "brings back key" in fault.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"old_public_key": "zz"}, "old_public_key is not 64 lowercase hex digits"),
        ({"new_key_id": "0" * 16}, "new_key_id '0000000000000000' is not the id of its"),
        ({"compromised": "yes"}, "reason must be text and compromised true or false"),
    ],
)
def test_a_rotation_payload_that_does_not_hold_together_is_refused(
    change: dict[str, str], message: str
) -> None:
    a, b = (public_key_raw(generate_key()) for _ in range(2))
    payload = {**rotation_payload(a, b, reason="", compromised=False), **change}
    with pytest.raises(ValueError, match=message):
        read_rotation(4, "t", "ops", payload)
    with pytest.raises(ValueError, match="the old and the new key are the same key"):
        read_rotation(4, "t", "ops", rotation_payload(a, a, reason="", compromised=False))


@pytest.mark.backends("memory", "sqlite")  # the SQL store keeps rotations too
def test_a_rotation_that_fails_leaves_the_key_in_place(
    env: Env, ring: Ring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signing fails after the event is appended: the transaction rolls back, the key stays."""
    from clearance.service import keys as module

    before, count, checkpoints = ring.public(), env.event_count(), ring.auditing.checkpoints()

    def broken(*args: object) -> None:
        raise OSError("the signer is gone")

    monkeypatch.setattr(module, "sign_checkpoint", broken)
    with pytest.raises(OSError, match="the signer is gone"):
        ring.keys.rotate("ops")
    assert ring.public() == before and env.event_count() == count
    assert ring.auditing.checkpoints() == checkpoints
    assert not (ring.ring.root / PENDING_FILE).exists()


def test_a_rotation_cut_short_after_its_commit_is_finished(env: Env, ring: Ring) -> None:
    class Crash(Exception):
        pass

    def crash(*, keep_old: bool) -> None:
        raise Crash

    cut = dataclasses.replace(ring.keys, ring=_Crashing(ring.ring.root, crash))
    with pytest.raises(Crash):
        cut.rotate("ops")
    recorded = env.events()[-1].payload["new_key_id"]
    assert key_id(ring.public()) != recorded  # the trail names a key the file is not yet
    note = ring.keys.recover()
    assert note is not None and f"key {recorded} is now the signing key" in note
    assert key_id(ring.public()) == recorded and ring.keys.recover() is None
    assert ring.auditing.verify().ok


def test_a_pending_key_the_trail_does_not_name_stops_a_rotation(env: Env, ring: Ring) -> None:
    """Another rotation is running (or died before recording): never two at once."""
    pending = ring.ring.root / PENDING_FILE
    pending.write_bytes(private_key_pem(generate_key()))
    before, count = ring.public(), env.event_count()
    with pytest.raises(StoreError, match="another rotation is running"):
        ring.keys.rotate("ops")
    assert ring.keys.recover() is None and pending.exists()
    assert ring.public() == before and env.event_count() == count


def test_a_bad_reason_is_refused(env: Env, ring: Ring) -> None:
    with pytest.raises(InputError, match="--reason"):
        ring.keys.rotate("ops", reason="two\nlines")
    with pytest.raises(InputError, match="--reason"):
        ring.keys.rotate("ops", reason="x" * 501)


class _Crashing(DirectoryKeyRing):
    """The key folder with ``promote`` replaced: the process dies before the key swap."""

    def __init__(self, root: Path, promote: Callable[..., None]) -> None:
        super().__init__(root)
        self._promote = promote

    def promote(self, *, keep_old: bool) -> None:
        self._promote(keep_old=keep_old)


def _stored(env: Env) -> list[StoredEvent]:
    with env.ws.store.reading() as tx:
        return list(map(stored, tx.events()))


def _rechained(rows: list[StoredEvent], at: int, payload: dict[str, Any]) -> list[StoredEvent]:
    """The rows with ``rows[at]``'s payload replaced and every hash from there recomputed."""
    out: list[StoredEvent] = list(rows[:at])
    prev = out[-1].hash if out else "0" * 64
    for i, row in enumerate(rows[at:]):
        event = parsed(row)
        body = payload if i == 0 else event.payload
        h = event_hash(
            seq=event.seq,
            time=event.time,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            payload=body,
            prev_hash=prev,
        )
        out.append(row._replace(payload=canonical_json(body), prev_hash=prev, hash=h))
        prev = h
    return out


def test_rotating_an_empty_trail_is_sealed_too(tmp_path: Path, clock: FixedClock) -> None:
    from clearance.testing import MemoryWorkspace

    ws = MemoryWorkspace(tmp_path / "ws", clock)
    folder = ws.home / "keys"
    folder.mkdir(mode=0o700)
    (folder / "audit-ed25519.pem").write_bytes(private_key_pem(ws.key))
    keys = Keys(ws.store, ws.clock, DirectoryKeyRing(folder))
    done = keys.rotate("ops")
    assert done.seq == 1 and len(done.checkpoints) == 2
    auditing = Auditing(ws.store, ws.clock, DirectoryKeyRing(folder).current)
    assert auditing.verify(public_key_raw(ws.key)).ok
