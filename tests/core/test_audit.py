"""The audit chain: every single tampering is found and named; checkpoints make cuts visible.

Faults name the chain *position* where they were found (the seq that belongs there), so a
fault is always at the tampered row or the one right after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from clearance.core.audit import (
    GENESIS,
    AuditEvent,
    ChainFault,
    Checkpoint,
    VerifyReport,
    checkpoint_message,
    event_hash,
    generate_key,
    key_id,
    load_private_key_pem,
    next_event,
    private_key_pem,
    public_key_raw,
    sign_checkpoint,
    verify_chain,
    verify_checkpoint,
)
from clearance.core.hashing import sha256_bytes
from clearance.errors import AuditChainBroken, InputError

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
KEY = generate_key()
PUBLIC = public_key_raw(KEY)
OTHER_PUBLIC = public_key_raw(generate_key())
Chain = list[AuditEvent]


def build_chain(n: int, start: dt.datetime = T0) -> Chain:
    """``n`` events one second apart from a fixed clock, each on its own subject."""
    chain: Chain = []
    for i in range(1, n + 1):
        prev = chain[-1] if chain else None
        chain.append(
            next_event(
                prev,
                time=start + dt.timedelta(seconds=i),
                actor=f"user{i % 3}@bank.example",
                action="request.approved" if i % 2 else "version.registered",
                subject=f"model:credit-default/version:{i}",
                payload={"i": i, "note": "übergeben", "nested": {"tags": ["a", i]}},
            )
        )
    return chain


def fields_of(event: AuditEvent) -> dict[str, Any]:
    """The hashed fields of ``event`` (everything but its own hash)."""
    return event.model_dump(exclude={"hash"})


def forged(prev: AuditEvent | None, **overrides: Any) -> AuditEvent:
    """A well-formed event after ``prev`` with its own hash recomputed over ``overrides``."""
    base = next_event(
        prev, time=T0, actor="mallory", action="request.approved", subject="x", payload={}
    )
    data = {**fields_of(base), **overrides}
    return AuditEvent(**data, hash=event_hash(**data))


def verify(chain: Chain) -> VerifyReport:
    return verify_chain(chain)


# --- building and hashing ----------------------------------------------------------------


def test_next_event_links_each_event_to_the_one_before() -> None:
    chain = build_chain(3)
    assert [e.seq for e in chain] == [1, 2, 3]
    assert chain[0].prev_hash == GENESIS
    assert chain[1].prev_hash == chain[0].hash
    assert chain[2].prev_hash == chain[1].hash
    assert all(e.hash == event_hash(**fields_of(e)) for e in chain)


def test_a_built_chain_verifies_and_reports_its_head() -> None:
    chain = build_chain(5)
    report = verify(chain)
    assert report == VerifyReport(
        ok=True, events=5, head_seq=5, head_hash=chain[-1].hash, checkpoints=0, fault=None
    )


def test_an_empty_chain_verifies_with_genesis_as_head() -> None:
    assert verify([]) == VerifyReport(
        ok=True, events=0, head_seq=0, head_hash=GENESIS, checkpoints=0, fault=None
    )


def test_verify_reads_a_stream_once() -> None:
    chain = build_chain(4)
    reads: list[int] = []

    def stream() -> Iterator[AuditEvent]:
        for event in chain:
            reads.append(event.seq)
            yield event

    assert verify_chain(stream()).ok
    assert reads == [1, 2, 3, 4]


def test_hash_format_is_pinned() -> None:
    """Stored chains must keep verifying: changing the hashed text is a migration."""
    event = next_event(None, time=T0, actor="a", action="b", subject="c", payload={"k": "é"})
    assert event.hash == sha256_bytes(
        '{"action":"b","actor":"a","payload":{"k":"é"},"prev_hash":"'.encode()
        + GENESIS.encode()
        + b'","seq":1,"subject":"c","time":"2026-03-01T12:00:00.000000+00:00"}'
    )


def test_the_same_instant_in_another_timezone_hashes_the_same() -> None:
    berlin = T0.astimezone(dt.timezone(dt.timedelta(hours=1)))
    fields: dict[str, Any] = {
        "seq": 1,
        "actor": "a",
        "action": "b",
        "subject": "c",
        "payload": {},
        "prev_hash": GENESIS,
    }
    assert event_hash(time=berlin, **fields) == event_hash(time=T0, **fields)
    event = next_event(None, time=berlin, actor="a", action="b", subject="c", payload={})
    assert event.time == T0
    assert event.time.utcoffset() == dt.timedelta(0)


def test_a_naive_time_is_refused() -> None:
    naive = dt.datetime(2026, 3, 1, 12, 0)
    with pytest.raises(InputError, match="no timezone"):
        next_event(None, time=naive, actor="a", action="b", subject="c", payload={})
    event = build_chain(1)[0]
    with pytest.raises(ValidationError, match="timezone-aware"):
        AuditEvent(**{**event.model_dump(), "time": naive})


def test_events_are_frozen_and_refuse_unknown_fields() -> None:
    event = build_chain(1)[0]
    with pytest.raises(ValidationError):
        event.actor = "mallory"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        AuditEvent(**event.model_dump(), extra_field=1)  # type: ignore[call-arg]


# --- each fault kind, with the exact position named -----------------------------------------

Tamper = Callable[[Chain], Chain]


def _edit(i: int, **update: Any) -> Tamper:
    return lambda c: [e.model_copy(update=update) if e.seq == i else e for e in c]


def _rewrite(i: int) -> Tamper:
    """Edit event ``i`` and recompute its hash, as an attacker with the formula would."""

    def tamper(c: Chain) -> Chain:
        data = {**fields_of(c[i - 1]), "actor": "mallory"}
        return [*c[: i - 1], AuditEvent(**data, hash=event_hash(**data)), *c[i:]]

    return tamper


def _delete(*seqs: int) -> Tamper:
    return lambda c: [e for e in c if e.seq not in seqs]


def _swap(i: int, j: int) -> Tamper:
    def tamper(c: Chain) -> Chain:
        c = list(c)
        c[i - 1], c[j - 1] = c[j - 1], c[i - 1]
        return c

    return tamper


def _insert_after(i: int, make: Callable[[Chain], AuditEvent]) -> Tamper:
    return lambda c: [*c[:i], make(c), *c[i:]]


def _insert_renumbered(i: int, *makers: Callable[[Chain], AuditEvent]) -> Tamper:
    """Insert well-formed forgeries after seq ``i`` and shift the later rows' seq up, as
    a forger must to keep seq unique in the table (their hashes, covering seq, break)."""

    def tamper(c: Chain) -> Chain:
        later = [e.model_copy(update={"seq": e.seq + len(makers)}) for e in c[i:]]
        return [*c[:i], *(make(c) for make in makers), *later]

    return tamper


def _delete_renumbered(i: int) -> Tamper:
    def tamper(c: Chain) -> Chain:
        later = [e.model_copy(update={"seq": e.seq - 1}) for e in c[i:]]
        return [*c[: i - 1], *later]

    return tamper


FAULTS: list[tuple[str, Tamper, str, int, str]] = [
    ("payload edited", _edit(3, payload={"i": 99}), "modified", 3, "event seq 3"),
    ("actor edited", _edit(1, actor="mallory"), "modified", 1, "event seq 1"),
    ("time edited", _edit(2, time=T0), "modified", 2, "was modified"),
    ("last hash edited", _edit(5, hash="f" * 64), "modified", 5, "stored hash ffffffffffff"),
    ("prev_hash edited", _edit(4, prev_hash="a" * 64), "modified", 4, "event seq 4"),
    ("seq edited", _edit(3, seq=30), "modified", 3, "(stored seq 30)"),
    ("rewritten, hash recomputed", _rewrite(3), "inserted_or_reordered", 4, "seq 3 was rewritten"),
    ("middle deleted", _delete(3), "deleted", 3, "seq 3 is missing"),
    ("two deleted", _delete(2, 3), "deleted", 2, "seq 2..3 is missing"),
    ("first deleted", _delete(1), "bad_start", 1, "starts at seq 2"),
    ("neighbours swapped", _swap(2, 3), "deleted", 2, "followed by seq 3"),
    ("far swap", _swap(1, 5), "bad_start", 1, "starts at seq 5"),
    ("copy replayed", _insert_after(2, lambda c: c[1]), "inserted_or_reordered", 3, "seq 2 comes"),
    (
        "forged start",
        lambda c: [forged(None, prev_hash="b" * 64), *c[1:]],
        "bad_start",
        1,
        "not at seq 1 after GENESIS",
    ),
    (
        "well-formed forgery inserted",
        _insert_after(2, lambda c: forged(c[1])),
        "inserted",
        3,
        "event seq 3 (request.approved on x) was inserted",
    ),
    (
        "forgery inserted, later rows renumbered",
        _insert_renumbered(2, lambda c: forged(c[1])),
        "inserted",
        3,
        "stored as seq 4",
    ),
    (
        "two forgeries inserted, later rows renumbered",
        _insert_renumbered(2, lambda c: forged(c[1]), lambda c: forged(forged(c[1]))),
        "inserted",
        3,
        "so seq 3..4 was put in between",
    ),
    (
        "middle deleted, later rows renumbered",
        _delete_renumbered(3),
        "deleted",
        3,
        "hashes correctly only as seq 4: seq 3..3 of the original chain were deleted",
    ),
    (
        "forgery linking ahead",
        _insert_after(2, lambda c: forged(c[1], seq=7)),
        "inserted_or_reordered",
        3,
        "claims seq 7",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "kind", "seq", "says"),
    [f[1:] for f in FAULTS],
    ids=[f[0] for f in FAULTS],
)
def test_each_fault_is_named_at_its_position(
    tamper: Tamper, kind: str, seq: int, says: str
) -> None:
    report = verify(tamper(build_chain(5)))
    assert not report.ok
    assert report.fault is not None
    assert (report.fault.kind, report.fault.seq) == (kind, seq), report.fault.message
    assert says in report.fault.message
    assert "\n" not in report.fault.message
    assert report.events == seq - 1, "the report describes the verified prefix"


def test_raise_if_broken() -> None:
    verify(build_chain(2)).raise_if_broken()
    with pytest.raises(AuditChainBroken, match="seq 2 is missing"):
        verify(_delete(2)(build_chain(3))).raise_if_broken()


def test_cutting_the_tail_is_not_detectable_without_a_checkpoint() -> None:
    """Documented limit: a chain cannot know it used to be longer. Checkpoints cover this."""
    report = verify(build_chain(5)[:3])
    assert report.ok
    assert report.head_seq == 3


def test_a_well_formed_append_is_not_detectable() -> None:
    """Documented limit: anyone who can write the table can append a valid-looking event."""
    chain = build_chain(3)
    assert verify([*chain, forged(chain[-1])]).ok


# --- checkpoints and keys -----------------------------------------------------------------


def test_a_signed_checkpoint_verifies_with_its_public_key() -> None:
    chain = build_chain(4)
    cp = sign_checkpoint(KEY, chain[-1], T0 + dt.timedelta(hours=1))
    assert (cp.seq, cp.hash, cp.key_id) == (4, chain[-1].hash, key_id(PUBLIC))
    assert verify_checkpoint(cp, PUBLIC)
    report = verify_chain(chain, [cp], PUBLIC)
    assert report.ok
    assert report.checkpoints == 1


def test_checkpoint_message_is_canonical_and_timezone_free() -> None:
    h = "c" * 64
    berlin = T0.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert checkpoint_message(3, h, T0) == checkpoint_message(3, h, berlin)
    assert checkpoint_message(3, h, T0) != checkpoint_message(4, h, T0)


@pytest.mark.parametrize(
    "update",
    [{"seq": 3}, {"hash": "d" * 64}, {"time": T0}, {"signature": "00" * 64}, {"signature": "zz"}],
    ids=["seq", "hash", "time", "signature", "not-hex"],
)
def test_a_tampered_checkpoint_is_refused(update: dict[str, Any]) -> None:
    chain = build_chain(4)
    cp = sign_checkpoint(KEY, chain[-1], T0 + dt.timedelta(hours=1)).model_copy(update=update)
    assert not verify_checkpoint(cp, PUBLIC)
    report = verify_chain(chain, [cp], PUBLIC)
    assert report.fault == ChainFault(
        cp.seq,
        "bad_checkpoint",
        f"the checkpoint for seq {cp.seq}: "
        "its signature does not verify (the checkpoint was altered)",
    )


def test_a_checkpoint_checked_with_the_wrong_key_is_refused() -> None:
    chain = build_chain(2)
    cp = sign_checkpoint(KEY, chain[-1], T0)
    assert not verify_checkpoint(cp, OTHER_PUBLIC)
    relabelled = cp.model_copy(update={"key_id": key_id(OTHER_PUBLIC)})
    assert not verify_checkpoint(relabelled, OTHER_PUBLIC)
    fault = verify_chain(chain, [cp], OTHER_PUBLIC).fault
    assert fault is not None
    assert fault.kind == "bad_checkpoint"
    assert f"signed by key {key_id(PUBLIC)}, not the given key {key_id(OTHER_PUBLIC)}" in (
        fault.message
    )


def test_checkpoints_without_a_public_key_do_not_pass() -> None:
    chain = build_chain(2)
    report = verify_chain(chain, [sign_checkpoint(KEY, chain[-1], T0)])
    assert not report.ok
    assert report.fault == ChainFault(
        None, "bad_checkpoint", "checkpoints were given without the public key to verify them"
    )


def test_truncation_after_a_checkpoint_is_detected() -> None:
    chain = build_chain(6)
    cps = [sign_checkpoint(KEY, chain[2], T0), sign_checkpoint(KEY, chain[4], T0)]
    assert verify_chain(chain, cps, PUBLIC).checkpoints == 2
    report = verify_chain(chain[:4], cps, PUBLIC)
    assert not report.ok
    assert report.checkpoints == 1
    assert report.fault is not None
    assert (report.fault.kind, report.fault.seq) == ("truncated", 5)
    assert report.fault.message.startswith(
        "the chain ends at seq 4 but a signed checkpoint covers seq 5"
    )
    emptied = verify_chain([], cps, PUBLIC).fault
    assert emptied is not None
    assert emptied.message.startswith(
        "the chain ends at seq 0 but a signed checkpoint covers seq 3"
    )


def test_a_chain_rewritten_consistently_contradicts_its_checkpoint() -> None:
    """Rewriting from seq 2 on and recomputing every hash passes the chain, not the checkpoint."""
    chain = build_chain(4)
    cp = sign_checkpoint(KEY, chain[-1], T0)
    rewritten = chain[:1]
    for e in chain[1:]:
        rewritten.append(
            next_event(
                rewritten[-1],
                time=e.time,
                actor="mallory",
                action=e.action,
                subject=e.subject,
                payload=e.payload,
            )
        )
    assert verify(rewritten).ok
    fault = verify_chain(rewritten, [cp], PUBLIC).fault
    assert fault is not None
    assert (fault.kind, fault.seq) == ("modified", 4)
    assert "does not match the checkpoint" in fault.message


def test_a_private_key_round_trips_through_pem() -> None:
    pem = private_key_pem(KEY)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_raw(load_private_key_pem(pem)) == PUBLIC
    assert len(PUBLIC) == 32
    assert key_id(PUBLIC) == sha256_bytes(PUBLIC)[:16]
    assert public_key_raw(KEY.public_key()) == PUBLIC


def test_a_key_that_is_not_ed25519_pem_is_bad_input() -> None:
    with pytest.raises(InputError, match="not an unencrypted PEM private key"):
        load_private_key_pem(b"not a key")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    with pytest.raises(InputError, match="must be Ed25519"):
        load_private_key_pem(ec_pem)


def test_checkpoints_refuse_naive_times() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        Checkpoint(seq=1, hash="a", time=dt.datetime(2026, 1, 1), signature="", key_id="")


# --- properties: any single tampering is caught at or next to where it happened --------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
PAYLOADS = st.dictionaries(st.text(max_size=8), JSON, max_size=4)
TEXT = st.text(max_size=20)
HEX64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def chains(draw: st.DrawFn, min_size: int = 1) -> Chain:
    """1-30 events drawn from small pools of random texts and payloads (pools keep it fast;
    repeated content across events is itself a case worth covering)."""
    size = draw(st.integers(min_size, 30))
    texts = draw(st.lists(TEXT, min_size=1, max_size=4))
    payloads = draw(st.lists(PAYLOADS, min_size=1, max_size=4))
    rnd = draw(st.randoms(use_true_random=False))
    chain: Chain = []
    time = T0
    for _ in range(size):
        time += dt.timedelta(microseconds=rnd.randrange(10**9))
        chain.append(
            next_event(
                chain[-1] if chain else None,
                time=time,
                actor=rnd.choice(texts),
                action=rnd.choice(texts),
                subject=rnd.choice(texts),
                payload=rnd.choice(payloads),
            )
        )
    return chain


def _different(draw: st.DrawFn, event: AuditEvent, field: str) -> Any:
    """A new value for ``field`` that really differs (as hashed) from the old one."""
    old = getattr(event, field)
    if field == "time":
        return old + dt.timedelta(
            microseconds=draw(st.integers(1, 10**12)) * draw(st.sampled_from([-1, 1]))
        )
    strategy: st.SearchStrategy[Any] = {
        "actor": TEXT,
        "action": TEXT,
        "subject": TEXT,
        "payload": PAYLOADS,
        "hash": HEX64,
        "prev_hash": HEX64 | TEXT,
        "seq": st.integers(),
    }[field]
    new = draw(strategy)
    assume(
        new != old
        if field != "payload"
        else event_hash(**{**fields_of(event), "payload": new}) != event.hash
    )
    return new


def _assert_caught(report: VerifyReport, positions: set[int]) -> ChainFault:
    assert not report.ok
    assert report.fault is not None
    assert report.fault.seq in positions, report.fault
    assert report.events == report.fault.seq - 1
    return report.fault


@PROPERTY
@given(chains())
def test_any_untampered_chain_verifies(chain: Chain) -> None:
    report = verify(chain)
    assert report.ok
    assert (report.events, report.head_hash) == (len(chain), chain[-1].hash)


@PROPERTY
@given(
    chains(),
    st.sampled_from(["actor", "action", "subject", "payload", "time", "hash", "prev_hash", "seq"]),
    st.data(),
)
def test_any_single_field_modification_is_caught(
    chain: Chain, field: str, data: st.DataObject
) -> None:
    k = data.draw(st.integers(0, len(chain) - 1))
    new = data.draw(st.composite(lambda draw: _different(draw, chain[k], field))())
    chain[k] = chain[k].model_copy(update={field: new})
    fault = _assert_caught(verify(chain), {k + 1})
    assert fault.kind == "modified"


@PROPERTY
@given(chains(), st.data())
def test_a_rewrite_with_its_hash_recomputed_is_caught_by_the_next_event(
    chain: Chain, data: st.DataObject
) -> None:
    assume(len(chain) >= 2)
    k = data.draw(st.integers(0, len(chain) - 2))
    fields = {**fields_of(chain[k]), "actor": chain[k].actor + "!"}
    chain[k] = AuditEvent(**fields, hash=event_hash(**fields))
    fault = _assert_caught(verify(chain), {k + 2})
    assert fault.kind == "inserted_or_reordered"


@PROPERTY
@given(chains(), st.data())
def test_deleting_any_event_but_the_last_is_caught(chain: Chain, data: st.DataObject) -> None:
    assume(len(chain) >= 2)
    k = data.draw(st.integers(0, len(chain) - 2))
    del chain[k]
    fault = _assert_caught(verify(chain), {k + 1})
    assert fault.kind == ("bad_start" if k == 0 else "deleted")


@PROPERTY
@given(chains(), st.data())
def test_inserting_a_forged_event_anywhere_is_caught(chain: Chain, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(chain)), label="insert at")
    before = chain[i - 1] if i else None
    natural_seq = i + 1
    natural_prev = before.hash if before else GENESIS
    fields: dict[str, Any] = {
        "seq": data.draw(
            st.sampled_from([natural_seq, max(i, 1), natural_seq + 1]) | st.integers()
        ),
        "time": T0 + dt.timedelta(microseconds=data.draw(st.integers(0, 10**12))),
        "actor": data.draw(TEXT),
        "action": data.draw(TEXT),
        "subject": data.draw(TEXT),
        "payload": data.draw(PAYLOADS),
        "prev_hash": data.draw(
            st.just(natural_prev) | HEX64 | st.sampled_from([e.hash for e in chain])
        ),
    }
    correct = event_hash(**fields)
    event = AuditEvent(**fields, hash=data.draw(st.just(correct) | HEX64))
    appended = i == len(chain) and (fields["seq"], fields["prev_hash"], event.hash) == (
        natural_seq,
        natural_prev,
        correct,
    )
    assume(not appended)  # a well-formed append is indistinguishable from a real one
    chain.insert(i, event)
    _assert_caught(verify(chain), {i + 1, i + 2})


@PROPERTY
@given(chains(min_size=2), st.data())
def test_swapping_any_two_events_is_caught(chain: Chain, data: st.DataObject) -> None:
    assume(len(chain) >= 2)
    i = data.draw(st.integers(0, len(chain) - 2))
    j = data.draw(st.integers(i + 1, len(chain) - 1))
    chain[i], chain[j] = chain[j], chain[i]
    _assert_caught(verify(chain), {i + 1})


@PROPERTY
@given(chains(), st.data())
def test_truncating_after_any_checkpoint_is_caught(chain: Chain, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(chain) - 1))
    cp = sign_checkpoint(KEY, chain[k], T0)
    assert verify_chain(chain, [cp], PUBLIC).ok
    kept = data.draw(st.integers(0, k))
    fault = _assert_caught(verify_chain(chain[:kept], [cp], PUBLIC), {kept + 1})
    assert fault.kind == "truncated"
    assert f"ends at seq {kept} but a signed checkpoint covers seq {k + 1}" in fault.message


@PROPERTY
@given(
    st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
    PAYLOADS,
)
def test_an_instant_hashes_the_same_in_every_timezone(
    naive: dt.datetime, offset_minutes: int, payload: dict[str, Any]
) -> None:
    utc = naive.replace(tzinfo=dt.UTC)
    local = utc.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    fields: dict[str, Any] = {
        "seq": 1,
        "actor": "a",
        "action": "b",
        "subject": "c",
        "payload": payload,
        "prev_hash": GENESIS,
    }
    assert event_hash(time=local, **fields) == event_hash(time=utc, **fields)
