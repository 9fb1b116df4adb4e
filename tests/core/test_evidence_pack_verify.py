"""The evidence pack verifier on packs made here, with no store: a well-formed pack verifies,
any flipped byte fails it, and hostile zips are refused as unreadable (exit 2)."""

from __future__ import annotations

import datetime as dt
import io
import json
import stat
import zipfile
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearance.core import evidence_pack as fmt
from clearance.core import subjects
from clearance.core.audit import AuditEvent, next_event, public_key_raw, sign_checkpoint, stored
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.loading import parse_policy
from clearance.core.version import EvidenceReader, ModelVersion, NoEvidence

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
POLICY = yaml.safe_dump(
    {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "credit", "version": "1.0.0", "owner": "risk@bank.example"},
        "selector": {"risk_tier": ["high"]},
        "workflow": {
            "stages": ["draft", "staging", "production"],
            "transitions": [{"from": "draft", "to": "staging", "gates": ["auc_floor"]}],
        },
        "gates": [{"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7}],
    }
)


def _opener(version: ModelVersion, artifact: str | None, blobs: fmt.PackBlobs) -> EvidenceReader:
    return NoEvidence()  # the version below has no evidence files


def make_pack(auc: float = 0.8) -> bytes:
    """A pack of one version with one decision, its events between another model's, and a
    checkpoint over the last: what the service builds, made from the pure pieces."""
    loaded = parse_policy([("credit.yaml", POLICY)])
    record = {"metrics": {"auc": auc}, "lineage": {}, "params": {}, "features": [], "tags": {}}
    version = ModelVersion.model_validate(
        {"model": {"name": "credit", "risk_tier": "high"}, "version": "1", "metrics": {"auc": auc}}
    )
    inputs = {
        "version": version.model_dump(mode="json"),
        "artifact_blob": None,
        "approvals": [],
        "waivers": [],
        "now": NOW.isoformat(),
        "change_type": "standard",
        "requester": "alice",
        "from": "draft",
        "to": "staging",
    }
    decision = evaluate(
        Evaluation(
            loaded,
            resolve_transition(loaded, "draft", "staging"),
            version,
            NoEvidence(),
            NOW,
            requester="alice",
        )
    ).model_dump(mode="json")
    events: list[AuditEvent] = []

    def add(action: str, subject: str, payload: Mapping[str, Any]) -> None:
        prev = events[-1] if events else None
        time = NOW + dt.timedelta(seconds=len(events))
        events.append(
            next_event(
                prev, time=time, actor="alice", action=action, subject=subject, payload=payload
            )
        )

    add("model.registered", subjects.model("other"), {"team": "x"})
    add("version.registered", subjects.version("credit", "1"), {**record, "stage": "draft"})
    add("model.registered", subjects.model("other2"), {"team": "y"})
    add(
        "decision.recorded",
        subjects.decision(1),
        {
            "request": 1,
            "decision_id": decision["decision_id"],
            "outcome": decision["outcome"],
            "summary": decision["summary"],
            "policy_hash": decision["policy_hash"],
            "gates": {g["gate_id"]: g["status"] for g in decision["gates"]},
        },
    )
    proof = events[1:]  # from the version's first event
    cp = sign_checkpoint(KEY, events[-1], NOW + dt.timedelta(hours=1))
    files = {
        fmt.VERSION: fmt.dumps({"model": {"name": "credit"}, "version": {"record": record}}),
        fmt.decision_member(1): fmt.dumps(
            {
                "id": 1,
                "request_id": 1,
                "digest": decision["decision_id"],
                "outcome": decision["outcome"],
                "policy": {"name": "credit", "version": "1.0.0"},
                "inputs": inputs,
                "result": decision,
            }
        ),
        "policy/credit-1.0.0/policy.json": fmt.dumps(
            {"sources": [["credit.yaml", "policy/credit-1.0.0/01.yaml"]]}
        ),
        "policy/credit-1.0.0/01.yaml": POLICY.encode(),
        fmt.EVENTS: b"".join(fmt.event_line(stored(e)) for e in proof),
        fmt.CHECKPOINT: fmt.dumps(cp.model_dump(mode="json")),
        fmt.PUBLIC_KEY: public_key_raw(KEY).hex().encode(),
    }
    return fmt.write_pack(files, {"model": "credit", "version": "1", "decisions": [1]})


PACK = make_pack()
PUBLIC = public_key_raw(KEY)


def verify(data: bytes, key: bytes | None = PUBLIC) -> fmt.PackReport:
    return fmt.verify_pack(fmt.read_pack(data), _opener, key)


def zip_of(members: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_the_pack_verifies_and_reruns_its_decision() -> None:
    report = verify(PACK)
    assert report.ok, report.failed()
    assert [c.name for c in report.checks] == [
        "files",
        "audit chain",
        "signed checkpoint",
        "version record",
        "decisions complete",
        "decision 1: audit event",
        "decision 1: policy",
        "decision 1: inputs",
        "decision 1: re-run",
    ]
    assert "allow again" in report.checks[-1].detail
    assert fmt.report_json(report)["exit_code"] == 0


def test_a_deny_reruns_as_a_deny() -> None:
    report = verify(make_pack(auc=0.5))
    assert report.ok
    assert "deny again" in report.checks[-1].detail


def test_writing_is_deterministic() -> None:
    assert make_pack() == PACK


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_flipping_any_byte_of_any_member_fails_verification(data: st.DataObject) -> None:
    members = _members(PACK)
    name = data.draw(st.sampled_from(sorted(members)), label="member")
    body = bytearray(members[name])
    at = data.draw(st.integers(0, len(body) - 1), label="offset")
    body[at] ^= data.draw(st.integers(1, 255), label="xor")
    tampered = zip_of({**members, name: bytes(body)})
    try:
        report = verify(tampered)
    except fmt.PackUnreadable:
        return  # the manifest itself no longer parses: unreadable, exit 2
    assert not report.ok, (name, at)


@st.composite
def _damaged_zip(draw: st.DrawFn) -> bytes:
    """The pack's zip bytes with one byte changed anywhere (headers, directory, data)."""
    data = bytearray(PACK)
    at = draw(st.integers(0, len(data) - 1))
    data[at] ^= draw(st.integers(1, 255))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | _damaged_zip())
def test_any_bytes_are_refused_as_unreadable_or_fail_or_verify(blob: bytes) -> None:
    """Whatever the bytes, reading raises only ``PackUnreadable``; what reads is verified
    without an unexpected exception, and verifies only when it is the pack's own content."""
    _read_or_refused(blob)


def test_a_pack_claiming_a_zip_version_python_cannot_read_is_unreadable() -> None:
    """Found by the test above: a central directory entry needing zip 8.4 to extract made
    ``zipfile`` raise NotImplementedError while listing the pack."""
    data = bytearray(PACK)
    data[data.find(b"PK\x01\x02") + 6] = 84
    with pytest.raises(fmt.PackUnreadable, match="not a zip file"):
        fmt.read_pack(bytes(data))


def _read_or_refused(blob: bytes) -> None:
    try:
        pack = fmt.read_pack(blob)
    except fmt.PackUnreadable:
        return
    report = fmt.verify_pack(pack, _opener, PUBLIC)
    if report.ok:  # a change to zip metadata only (a date, a comment): the same files
        assert pack.files == fmt.read_pack(PACK).files


@pytest.mark.parametrize(
    "name",
    ["../evil", "/etc/passwd", "a/../../b", "evidence\\x", "C:/x", "a//b", "dir/", "./x", "é"],
)
def test_member_names_that_could_escape_are_refused(name: str) -> None:
    data = zip_of({fmt.MANIFEST: fmt.dumps({"format": fmt.FORMAT}), name: b"x"})
    with pytest.raises(fmt.PackUnreadable, match="not a pack file name"):
        fmt.read_pack(data)


def test_a_missing_manifest_is_unreadable() -> None:
    with pytest.raises(fmt.PackUnreadable, match=r"no manifest\.json"):
        fmt.read_pack(zip_of({"version.json": b"{}"}))


def test_not_a_zip_is_unreadable() -> None:
    with pytest.raises(fmt.PackUnreadable, match="not a zip file"):
        fmt.read_pack(b"PK\x03\x04 not really")


def test_another_format_is_unreadable() -> None:
    manifest = fmt._canonical({"format": "other/v9", "files": {}})
    members = {**_members(PACK), fmt.MANIFEST: manifest}
    with pytest.raises(fmt.PackUnreadable, match="format"):
        fmt.read_pack(zip_of(members))


def test_a_pack_over_the_size_limit_is_refused_before_reading() -> None:
    with pytest.raises(fmt.PackUnreadable, match="over the limit of 100"):
        fmt.read_pack(PACK, max_bytes=100)


def test_a_member_larger_than_it_declares_is_refused() -> None:
    """A zip bomb's central directory lies about the size: reading stops at the declared
    size (plus one byte), and the member is refused, never inflated whole."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(fmt.MANIFEST, fmt.dumps({"format": fmt.FORMAT}))
        zf.writestr("bomb", b"\0" * 100_000)
    data = bytearray(out.getvalue())
    # the central directory's uncompressed size of "bomb" (offset 24 in its entry) → 10
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(fmt.PackUnreadable, match="member 'bomb'"):
        fmt.read_pack(bytes(data))


def test_too_many_members_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "MAX_MEMBERS", 3)
    with pytest.raises(fmt.PackUnreadable, match="at most 3"):
        fmt.read_pack(zip_of({f"f{i}": b"" for i in range(5)}))


def test_duplicate_and_link_members_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(fmt.MANIFEST, b"{}")
        link = zipfile.ZipInfo("version.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, b"/etc/passwd")
    with pytest.raises(fmt.PackUnreadable, match="not a regular file"):
        fmt.read_pack(out.getvalue())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr(fmt.MANIFEST, b"{}")
        zf.writestr(fmt.MANIFEST, b"{}")
    with pytest.raises(fmt.PackUnreadable, match="appears twice"):
        fmt.read_pack(out.getvalue())


def test_a_manifest_with_repeated_keys_is_unreadable() -> None:
    members = {**_members(PACK), fmt.MANIFEST: b'{"format": "a", "format": "b"}'}
    with pytest.raises(fmt.PackUnreadable, match="appears twice"):
        fmt.read_pack(zip_of(members))


def test_a_file_not_in_the_manifest_fails_the_files_check() -> None:
    report = verify(zip_of({**_members(PACK), "extra.txt": b"hello"}))
    assert [c.name for c in report.failed()] == ["files"]
    assert "not in manifest.json" in report.failed()[0].detail


def test_a_truncated_chain_proof_fails_the_checkpoint() -> None:
    pack = fmt.read_pack(PACK)
    lines = pack.files[fmt.EVENTS].splitlines(keepends=True)
    files = {**pack.files, fmt.EVENTS: b"".join(lines[:-1])}
    files.pop(fmt.INFO)
    report = verify(fmt.write_pack(files, pack.info))
    failed = {c.name for c in report.failed()}
    assert "signed checkpoint" in failed and "decision 1: audit event" in failed


def test_a_wrong_length_key_is_an_input_error() -> None:
    with pytest.raises(fmt.InputError, match="32 bytes"):
        verify(PACK, key=b"short")


def test_events_keep_their_stored_payload_text() -> None:
    line = fmt.read_pack(PACK).files[fmt.EVENTS].splitlines()[0]
    assert isinstance(json.loads(line)["payload"], str)
