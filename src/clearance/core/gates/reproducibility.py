"""``reproducibility``: the version can be rebuilt: lineage recorded, artifact digest matches.

Another team can only reproduce a model if the code commit, data snapshot, training config
and seed are pinned, and if the artifact being promoted is byte-for-byte the one trained.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field

from clearance.core.gates.artifact_integrity import artifact_fault
from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.results import GateStatus

LineageField = Literal[
    "code_commit", "data_snapshot", "config_digest", "seed", "environment_lock_digest"
]
_DEFAULT_REQUIRED: tuple[LineageField, ...] = (
    "code_commit",
    "data_snapshot",
    "config_digest",
    "seed",
)
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


class ReproducibilityParams(GateParams):
    require: list[LineageField] = Field(default_factory=lambda: list(_DEFAULT_REQUIRED))
    verify_artifact: bool = True


class Reproducibility:
    name: ClassVar[str] = "reproducibility"
    summary: ClassVar[str] = "Lineage is recorded and the artifact's sha256 matches its bytes."
    Params: ClassVar[type[GateParams]] = ReproducibilityParams

    def evaluate(self, params: ReproducibilityParams, ctx: GateContext) -> Measurement:
        lineage = ctx.version.lineage
        faults = [
            f"lineage.{name} not recorded"
            for name in params.require
            if getattr(lineage, name) in (None, "")
        ]
        commit = lineage.code_commit
        if commit and not _COMMIT.match(commit):
            faults.append(f"lineage.code_commit '{commit}' is not a commit hash")
        evidence: dict[str, str] = {}
        if params.verify_artifact:
            fault = artifact_fault(ctx, evidence)
            if isinstance(fault, Measurement):
                return fault
            if fault:
                faults.append(fault)
        checked = len(params.require) + int(params.verify_artifact)
        if faults:
            return Measurement(
                GateStatus.FAIL,
                "; ".join(faults),
                observed=checked - len(faults),
                threshold=checked,
                operator=">=",
                evidence=evidence,
                details={"faults": faults},
            )
        what = ", ".join(params.require) + (
            " and artifact sha256" if params.verify_artifact else ""
        )
        return Measurement(
            GateStatus.PASS,
            f"recorded: {what}",
            observed=checked,
            threshold=checked,
            operator=">=",
            evidence=evidence,
        )
