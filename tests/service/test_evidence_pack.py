"""Evidence packs built on a real workspace verify offline, and each kind of tampering fails
the check that names it."""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

from clearance.cli.report import open_pack_evidence
from clearance.core import evidence_pack as fmt
from clearance.core.audit import public_key_raw, sign_checkpoint
from clearance.errors import InputError

if TYPE_CHECKING:
    from conftest import Env


@pytest.fixture
def promoted(env: Env) -> Env:
    """Version 1 in production (two decisions, two sign-offs), a blocked version 2, and a
    checkpoint signed after all of it."""
    env.to_production("1")
    env.register("2", auc=0.60)
    env.ws.promotions.promote(env.model, "2", "staging", actor="alice")
    env.ws.auditing.checkpoint()
    return env


def _build(env: Env, version: str = "1", **kw: Any) -> bytes:
    return env.ws.evidence_packs.build(env.model, version, **kw).data


def _verify(data: bytes, key: bytes | None = None) -> fmt.PackReport:
    return fmt.verify_pack(fmt.read_pack(data), open_pack_evidence, key)


def _failed(report: fmt.PackReport) -> list[str]:
    return [c.name for c in report.failed()]


def _rewrite(data: bytes, change: dict[str, bytes], *, manifest: bool = True) -> bytes:
    """The pack with members replaced; with ``manifest`` their sha256 is updated too, so
    only the deeper checks can notice."""
    pack = fmt.read_pack(data)
    files = {**pack.files, **change}
    if not manifest:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr(fmt.MANIFEST, fmt._canonical(pack.manifest))
            for name, body in files.items():
                zf.writestr(name, body)
        return out.getvalue()
    files.pop(fmt.INFO)
    return fmt.write_pack(files, pack.info)


@pytest.mark.backends("memory", "sqlite")
def test_a_promoted_versions_pack_verifies_and_its_gates_rerun_identically(
    promoted: Env,
) -> None:
    key = promoted.ws.auditing.public_key()
    data = _build(promoted)
    report = _verify(data, key)
    assert report.ok, report.failed()
    assert not report.key_from_pack and report.warnings == ()
    # to staging; to production: opened, then decided again on each of the two sign-offs
    assert len(report.decisions) == 4
    reruns = [c for c in report.checks if c.name.endswith("re-run")]
    assert len(reruns) == 4 and all(c.ok for c in reruns)
    assert {c.detail.split(" again")[0] for c in reruns} == {"allow", "needs_approval"}
    pack = fmt.read_pack(data)
    assert fmt.MODEL_CARD in pack.files
    assert any(n.startswith("evidence/") for n in pack.files)
    assert any(n.startswith("policy/credit-1.0.0/") for n in pack.files)


def test_the_key_inside_the_pack_verifies_with_a_warning(promoted: Env) -> None:
    report = _verify(_build(promoted))
    assert report.ok and report.key_from_pack
    assert any("proves only that the pack is consistent" in w for w in report.warnings)


def test_a_blocked_version_reruns_to_its_recorded_deny(promoted: Env) -> None:
    report = _verify(_build(promoted, "2"), promoted.ws.auditing.public_key())
    assert report.ok, report.failed()
    assert any("deny again" in c.detail for c in report.checks if c.name.endswith("re-run"))


def test_building_without_a_covering_checkpoint_is_refused(env: Env) -> None:
    env.to_staging("1")
    with pytest.raises(InputError, match="no signed checkpoint covers"):
        _build(env)
    env.ws.auditing.checkpoint()
    assert _verify(_build(env)).ok


def test_a_pack_over_the_size_limit_is_refused(promoted: Env) -> None:
    with pytest.raises(InputError, match="more than 1000 bytes"):
        _build(promoted, max_bytes=1000)


def test_a_changed_file_fails_the_files_check(promoted: Env) -> None:
    data = _build(promoted)
    pack = fmt.read_pack(data)
    changed = _rewrite(data, {fmt.MODEL_CARD: pack.files[fmt.MODEL_CARD] + b"x"}, manifest=False)
    assert _failed(_verify(changed)) == ["files"]


def test_changed_evidence_fails_the_inputs_and_the_rerun(promoted: Env) -> None:
    data = _build(promoted)
    pack = fmt.read_pack(data)
    card = next(n for n in pack.files if n.startswith("evidence/"))
    forged = b"# Model card\n\n## Intended use\nAnything.\n"
    failed = _failed(_verify(_rewrite(data, {card: forged})))
    assert any(name.endswith("inputs") for name in failed)


def test_an_edited_event_fails_the_chain(promoted: Env) -> None:
    data = _build(promoted)
    pack = fmt.read_pack(data)
    lines = pack.files[fmt.EVENTS].decode().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["actor"] = "mallory"
    lines[0] = json.dumps(first, sort_keys=True) + "\n"
    report = _verify(_rewrite(data, {fmt.EVENTS: "".join(lines).encode()}))
    chain = fmt.checks_named(report, "audit chain")[0]
    assert not chain.ok and "was modified" in chain.detail


def test_an_altered_checkpoint_signature_fails_the_checkpoint(promoted: Env) -> None:
    data = _build(promoted)
    cp = json.loads(fmt.read_pack(data).files[fmt.CHECKPOINT])
    cp["signature"] = ("0" if cp["signature"][0] != "0" else "1") + cp["signature"][1:]
    report = _verify(_rewrite(data, {fmt.CHECKPOINT: fmt.dumps(cp)}))
    assert _failed(report) == ["signed checkpoint"]
    assert "signature does not verify" in fmt.checks_named(report, "signed")[0].detail


def test_a_pack_re_signed_with_another_key_fails_against_the_real_one(promoted: Env) -> None:
    """Whoever rebuilds a pack can sign it with a key of their own: only the workspace's
    key, kept apart, tells."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from clearance.core.audit import AuditEvent

    data = _build(promoted)
    pack = fmt.read_pack(data)
    last = json.loads(pack.files[fmt.EVENTS].decode().splitlines()[-1])
    head = AuditEvent(**{**last, "payload": json.loads(last["payload"])})
    other = Ed25519PrivateKey.generate()
    cp = sign_checkpoint(other, head, head.time)
    forged = _rewrite(
        data,
        {
            fmt.CHECKPOINT: fmt.dumps(cp.model_dump(mode="json")),
            fmt.PUBLIC_KEY: (public_key_raw(other).hex() + "\n").encode(),
        },
    )
    # on its own, the decisions' attestations (signed by the workspace) give it away...
    assert _failed(_verify(forged)) == [f"decision {n}: attestation" for n in (1, 2, 3, 4)]
    report = _verify(forged, promoted.ws.auditing.public_key())
    assert _failed(report) == ["signed checkpoint"]  # ...but not signed by the workspace
    assert "CHECKPOINT KEY CHANGED" in fmt.checks_named(report, "signed")[0].detail


def test_a_loosened_threshold_fails_the_policy_check(promoted: Env) -> None:
    data = _build(promoted)
    pack = fmt.read_pack(data)
    source = next(n for n in pack.files if n.startswith("policy/") and n.endswith(".yaml"))
    text = pack.files[source].decode()
    assert "min: 0.7" in text
    report = _verify(_rewrite(data, {source: text.replace("min: 0.7", "min: 0.5").encode()}))
    failed = _failed(report)
    assert failed and all(name.endswith(": policy") for name in failed)
    assert "a threshold or a gate was changed" in report.failed()[0].detail


def test_an_edited_recorded_outcome_fails_against_the_audit_event_and_the_rerun(
    promoted: Env,
) -> None:
    data = _build(promoted, "2")
    pack = fmt.read_pack(data)
    number = pack.info["decisions"][0]
    doc = json.loads(pack.files[fmt.decision_member(number)])
    doc["result"]["outcome"] = "allow"
    report = _verify(_rewrite(data, {fmt.decision_member(number): fmt.dumps(doc)}))
    assert set(_failed(report)) == {f"decision {number}: audit event", f"decision {number}: re-run"}


def test_a_removed_decision_event_is_noticed(promoted: Env) -> None:
    """Dropping the decision's event breaks the chain, and the decision has no event."""
    data = _build(promoted)
    pack = fmt.read_pack(data)
    lines = pack.files[fmt.EVENTS].decode().splitlines(keepends=True)
    kept = [line for line in lines if '"decision.recorded"' not in line]
    report = _verify(_rewrite(data, {fmt.EVENTS: "".join(kept).encode()}))
    assert "audit chain" in _failed(report)
    assert any(name.endswith("audit event") for name in _failed(report))


def test_a_decision_left_out_of_the_pack_is_noticed(promoted: Env) -> None:
    """The chain proof still records it: the pack cannot hide a decision that moved the
    version, even with its file, listing and manifest entry all removed."""
    data = _build(promoted)
    pack = fmt.read_pack(data)
    dropped = pack.info["decisions"][1]
    files = {
        k: v for k, v in pack.files.items() if k not in (fmt.decision_member(dropped), fmt.INFO)
    }
    info = {**pack.info, "decisions": [n for n in pack.info["decisions"] if n != dropped]}
    report = _verify(fmt.write_pack(files, info))
    assert _failed(report) == ["decisions complete"]
    assert f"decision:{dropped}" in report.failed()[0].detail


def test_signed_attestations_are_included_and_verified(env: Env) -> None:
    """Where the workspace signs decisions, each one's DSSE envelope goes in the pack and
    verify checks it against the key and the decision's audit event."""
    from clearance.service.attestations import Attestations, Attester, MemoryArchive
    from clearance.service.evidence_pack import EvidencePacks
    from clearance.service.promotion import Promotions

    ws = env.ws
    archive = MemoryArchive()
    promotions = Promotions(ws.store, ws.evidence, ws.clock, Attester(lambda: ws.key, archive))
    env.register("1")
    assert promotions.promote(env.model, "1", "staging", actor="alice").executed
    ws.auditing.checkpoint()
    attestations = Attestations(ws.store, archive)

    def envelope(request_id: int, decision: int) -> bytes:
        return attestations.attestation(request_id, decision=decision).to_bytes()

    packs = EvidencePacks(ws.store, ws.blobs, ws.clock, ws.auditing.public_key, envelope)
    data = packs.build(env.model, "1").data
    report = _verify(data, ws.auditing.public_key())
    assert report.ok, report.failed()
    [signed] = fmt.checks_named(report, "decision 1: attestation")
    assert signed.ok and "DSSE signature" in signed.detail

    pack = fmt.read_pack(data)
    envelope_doc = json.loads(pack.files[fmt.attestation_member(1)])
    sig = envelope_doc["signatures"][0]["sig"]
    envelope_doc["signatures"][0]["sig"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    changed = _rewrite(data, {fmt.attestation_member(1): json.dumps(envelope_doc).encode()})
    assert _failed(_verify(changed, ws.auditing.public_key())) == ["decision 1: attestation"]


def test_without_attestations_the_pack_says_so(promoted: Env) -> None:
    from clearance.service.evidence_pack import EvidencePacks

    ws = promoted.ws
    packs = EvidencePacks(ws.store, ws.blobs, ws.clock, ws.auditing.public_key)
    built = packs.build(promoted.model, "1")
    assert any("attestations: not included" in note for note in built.notes)
    assert not any(n.startswith("attestations/") for n in fmt.read_pack(built.data).files)


def test_a_version_replaced_in_production_still_verifies(env: Env) -> None:
    """Retiring version 1 names version 2's request in version 1's stage change: that
    request's decisions are version 2's, not ones version 1's pack leaves out."""
    env.to_production("1")
    env.to_production("2")
    assert env.stage_of("1") != "production"
    env.ws.auditing.checkpoint()
    report = _verify(_build(env, "1"), env.ws.auditing.public_key())
    assert report.ok, report.failed()
    [complete] = fmt.checks_named(report, "decisions complete")
    assert complete.detail.endswith("requests that moved the version (1, 2)")  # not 4
