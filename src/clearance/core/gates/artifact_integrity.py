"""``artifact_integrity``: the artifact promoted is byte for byte the one registered.

The evidence reader re-hashes the artifact's bytes when the decision is made
(``EvidenceReader.artifact_sha256``), and the digest is compared with ``artifact.sha256``
recorded at registration. A mismatch is a ``fail``: with the gate's default ``severity:
block`` it denies the decision, whatever else passed.

:func:`artifact_fault` is the one rule for "the artifact's digest matches", shared with the
``reproducibility`` gate's ``verify_artifact`` check.
"""

from __future__ import annotations

from typing import ClassVar

from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.results import GateStatus

REPRODUCIBILITY_HINT = "give artifact.path (a local file) or set verify_artifact: false"
_HINT = "give artifact.path (a local file), or register the version with its artifact file"


def artifact_fault(
    ctx: GateContext, evidence: dict[str, str], *, unreadable_hint: str = REPRODUCIBILITY_HINT
) -> str | Measurement | None:
    """Whether the artifact's actual sha256 is its recorded one.

    Returns an ``error`` Measurement when it cannot be checked (no artifact, or its bytes
    cannot be read here), a fault message when the digest is not recorded or differs, None
    when it matches. The actual digest is put in ``evidence["artifact"]`` once computed.
    """
    artifact = ctx.version.artifact
    if artifact is None:
        return Measurement.error(
            "needs the artifact (artifact.uri and artifact.sha256) to verify its digest",
            details={"missing": ["artifact"]},
        )
    actual = ctx.evidence.artifact_sha256()
    if actual is None:
        return Measurement.error(
            f"cannot read the artifact at {artifact.uri} to verify its sha256; {unreadable_hint}",
            details={"missing": ["artifact"]},
        )
    evidence["artifact"] = actual
    if artifact.sha256 is None:
        return f"artifact.sha256 not recorded (actual {actual})"
    if artifact.sha256 != actual:
        return f"artifact sha256 mismatch: recorded {artifact.sha256[:12]}…, file {actual[:12]}…"
    return None


class ArtifactIntegrityParams(GateParams):
    """No parameters: the artifact and its recorded digest are the version's."""


class ArtifactIntegrity:
    name: ClassVar[str] = "artifact_integrity"
    summary: ClassVar[str] = (
        "The artifact's sha256, computed at decision time, is the recorded one."
    )
    Params: ClassVar[type[GateParams]] = ArtifactIntegrityParams

    def evaluate(self, params: ArtifactIntegrityParams, ctx: GateContext) -> Measurement:
        evidence: dict[str, str] = {}
        fault = artifact_fault(ctx, evidence, unreadable_hint=_HINT)
        if isinstance(fault, Measurement):
            return fault
        artifact = ctx.version.artifact
        recorded = None if artifact is None else artifact.sha256
        actual = evidence["artifact"]
        details = {"recorded": recorded, "actual": actual, "uri": artifact and artifact.uri}
        if fault is not None:
            details["remediation"] = (
                "do not promote these bytes: find out why the artifact changed, then register "
                "a new version with the artifact that was trained (and its sha256)"
            )
            return Measurement(
                GateStatus.FAIL,
                fault,
                observed=actual,
                threshold=recorded,
                operator="==",
                details=details,
                evidence=evidence,
            )
        return Measurement(
            GateStatus.PASS,
            f"artifact sha256 {actual[:12]}… is the recorded one",
            observed=actual,
            threshold=recorded,
            operator="==",
            details=details,
            evidence=evidence,
        )
