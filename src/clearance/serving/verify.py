"""Judge a serving check against the bytes about to be loaded, a key and a clock.

``judge`` trusts the server (or workspace) for what it cannot know itself (which version
serves, the waivers' expiry dates) and for nothing it can check: the artifact's sha256 is
the loader's own hash of the bytes, the attestation's signature is verified here (with the
pinned key, or the key the check lists under the envelope's key id), the signed statement
must name those very bytes, this model and version, this request and decision, an
``allow`` and the stage asked for, and every waiver the signed decision relied on must be
in the answer. Expiries are judged at the loader's ``now``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from clearance.errors import ClearanceError

if TYPE_CHECKING:
    from clearance.core.inference import InferenceSpec
    from clearance.service.serving_check import (
        Bypass,
        ReasonCode,
        ReliedWaiver,
        ServingCheck,
        SigningKey,
    )

KeySource = Literal["pinned", "listed", "none"]


class ServingRefused(ClearanceError):
    """The model may not be served: ``reason`` says why (a ``ReasonCode``), the message what
    to do. Exit code 1 for ``clearance serving verify``."""

    exit_code = 1

    def __init__(self, reason: ReasonCode, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.detail = message


@dataclass(frozen=True)
class VerifiedServing:
    """A model version verified for serving: what was checked, and by which key."""

    model: str
    stage: str
    version: str
    role: str
    sha256: str
    request: int
    decision: int
    policy: str | None
    keyid: str | None  # None: no attestation was required and none was found
    key_source: KeySource
    waivers: tuple[ReliedWaiver, ...]
    bypass: Bypass | None
    inference: InferenceSpec | None
    checked_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "stage": self.stage,
            "version": self.version,
            "role": self.role,
            "sha256": self.sha256,
            "request": self.request,
            "decision": self.decision,
            "policy": self.policy,
            "keyid": self.keyid,
            "key_source": self.key_source,
            "waivers": [w.model_dump(mode="json") for w in self.waivers],
            "bypass": self.bypass.model_dump(mode="json") if self.bypass else None,
            "checked_at": self.checked_at.isoformat(),
        }


def judge(
    check: ServingCheck,
    *,
    sha256: str,
    now: dt.datetime,
    public_key: bytes | None = None,
    require_attestation: bool = True,
) -> VerifiedServing:
    """``check`` judged for the bytes whose sha256 is ``sha256``; raises ``ServingRefused``."""
    from clearance.service.serving_check import TIME_CODES

    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    for problem in check.problems:
        if problem.code in TIME_CODES:  # judged again below, at ``now``
            continue
        if problem.code == "attestation_missing" and not require_attestation:
            continue
        raise ServingRefused(problem.code, problem.message)
    if check.version is None or check.request is None or check.decision is None:
        raise ServingRefused("not_serving", f"nothing of {check.model} serves in {check.stage}")
    recorded = check.artifact.sha256 if check.artifact else None
    if not recorded:
        raise ServingRefused("artifact_missing", f"{check.model} {check.version} has no digest")
    if sha256 != recorded:
        raise ServingRefused(
            "digest_mismatch",
            f"the artifact's bytes have sha256 {sha256}; clearance recorded {recorded} for "
            f"{check.model} {check.version}: it was changed or is another file",
        )
    keyid: str | None = None
    source: KeySource = "none"
    if check.attestation is not None:
        keyid, source = _attested(check, sha256, public_key)
    elif require_attestation:
        raise ServingRefused(
            "attestation_missing",
            f"decision {check.decision} has no signed attestation (pass "
            "require_attestation=False only for decisions made before attestations)",
        )
    _expiries(check, now)
    return VerifiedServing(
        model=check.model,
        stage=check.stage,
        version=check.version,
        role=check.role or "stage",
        sha256=sha256,
        request=check.request,
        decision=check.decision,
        policy=check.policy,
        keyid=keyid,
        key_source=source,
        waivers=tuple(check.waivers),
        bypass=check.bypass,
        inference=check.inference,
        checked_at=now,
    )


def _invalid(message: str) -> ServingRefused:
    return ServingRefused("attestation_invalid", message)


def _key(check: ServingCheck, named: list[str]) -> SigningKey:
    found = next((k for k in check.keys if k.keyid in named), None)
    if found is None:
        raise _invalid(
            f"the attestation is signed by key(s) {', '.join(k[:16] for k in named) or '?'}, "
            "none of which the workspace lists; pin the key with public_key="
        )
    return found


def _attested(check: ServingCheck, sha256: str, pinned: bytes | None) -> tuple[str, KeySource]:
    from clearance.core.attestation import (
        AttestationInvalid,
        AttestationUnreadable,
        read_envelope,
        verify,
    )

    assert check.attestation is not None
    data = check.attestation.to_bytes()
    listed: SigningKey | None = None
    try:
        if pinned is not None:
            verified = verify(data, pinned)
        else:
            listed = _key(check, [kid for kid, _ in read_envelope(data).signatures])
            verified = verify(data, bytes.fromhex(listed.public_key_hex))
    except (AttestationInvalid, AttestationUnreadable) as exc:
        raise _invalid(str(exc)) from None
    p = verified.predicate
    decided = _time(_get(p, "decision", "decidedAt"), "predicate.decision.decidedAt")
    if listed is not None and listed.compromised:
        # whoever stole the key could sign any decision and date it before the rotation
        raise _invalid(
            f"signed by key {listed.keyid[:16]}, rotated out as compromised: promote the "
            "version again (its new decision is attested with the current key), or check this "
            "attestation against a record kept outside the workspace and pin that key"
        )
    if listed is not None and listed.retired is not None and decided > listed.retired:
        raise _invalid(
            f"signed by key {listed.keyid[:16]}, retired at {listed.retired.isoformat()}, "
            f"for a decision at {decided.isoformat()}, after it"
        )
    subject = verified.statement["subject"][0]
    stated = {
        "subject digest": (subject.get("digest", {}).get("sha256"), sha256),
        "subject name": (subject.get("name"), f"{check.model}@{check.version}"),
        "subjectKind": (p.get("subjectKind"), "artifact"),
        "model": (_get(p, "model", "name"), check.model),
        "version": (_get(p, "model", "version"), check.version),
        "outcome": (_get(p, "decision", "outcome"), "allow"),
        "decision number": (_get(p, "decision", "number"), check.decision),
        "request": (_get(p, "request", "id"), check.request),
        "stage": (_get(p, "request", "toStage"), check.stage),
        "change type": (_get(p, "request", "changeType"), check.change_type),
    }
    for name, (said, expected) in stated.items():
        if said != expected:
            code: ReasonCode = (
                "digest_mismatch" if name == "subject digest" else "attestation_invalid"
            )
            raise ServingRefused(
                code, f"the signed statement's {name} is {said!r}, not {expected!r}"
            )
    signed = {w.get("id") for w in _list(p.get("waivers")) if isinstance(w, dict)}
    missing = sorted(str(w) for w in signed - {w.id for w in check.waivers})
    if missing:
        raise _invalid(
            f"the signed decision relied on waiver(s) {', '.join(missing)}, which the "
            "serving check leaves out"
        )
    return verified.keyid, "pinned" if pinned is not None else "listed"


def _expiries(check: ServingCheck, now: dt.datetime) -> None:
    for w in check.waivers:
        if w.covered_until is None or w.covered_until <= now:
            code: ReasonCode = "waiver_revoked" if w.revoked_at is not None else "waiver_expired"
            raise ServingRefused(
                code,
                f"waiver {w.id} on gate {w.gate}, which the decision relied on, "
                f"{'was revoked' if w.revoked_at else f'expired at {w.expires_at.isoformat()}'}"
                f", and no waiver covers the gate at {now.isoformat()}",
            )
    bypass = check.bypass
    if bypass is None or bypass.expires_at is None or now < bypass.expires_at:
        return
    bare = [g.gate for g in bypass.gates if g.covered_until is None or g.covered_until <= now]
    if bare:
        raise ServingRefused(
            "bypass_expired",
            f"the {bypass.change_type} bypass of request {check.request} expired at "
            f"{bypass.expires_at.isoformat()}; {', '.join(bare)} must pass (promote a version "
            "that passes them) or be waived",
        )


def _get(data: Any, *names: str) -> Any:
    for name in names:
        data = data.get(name) if isinstance(data, dict) else None
    return data


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _time(value: Any, what: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise _invalid(f"{what}: not a time with a zone")
    return when
