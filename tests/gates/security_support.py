"""Shared by tests/gates/test_security_*.py: an in-memory evidence reader that holds the
artifact's bytes, a registry with the security gate types, and a one-call engine run."""

from __future__ import annotations

import datetime as dt
import errno
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.gates.base import GateContext, Measurement
from clearance.core.hashing import sha256_bytes
from clearance.core.loading import parse_policy
from clearance.core.results import Decision, GateResult
from clearance.core.version import EvidenceItem, ModelVersion

from .conftest import policy_text

DATA = Path(__file__).parent / "data" / "security"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class MemoryEvidence:
    """Evidence and the artifact held as bytes; ``artifact=None`` means "not readable here".

    ``reads`` counts artifact reads, so a test can see the bytes were read, never loaded.
    """

    def __init__(
        self,
        files: Mapping[str, bytes] | None = None,
        artifact: bytes | None = None,
        *,
        unreadable: bool = False,
    ) -> None:
        self.files = dict(files or {})
        self.artifact = artifact
        self.unreadable = unreadable
        self.reads = 0

    def read_bytes(self, name: str) -> bytes:
        return self.files[name]

    def artifact_sha256(self) -> str | None:
        return None if self.artifact is None or self.unreadable else sha256_bytes(self.artifact)

    def read_artifact(self, max_bytes: int) -> bytes:
        self.reads += 1
        if self.unreadable:
            raise OSError(errno.EACCES, "Permission denied", "model.pkl")
        if self.artifact is None:
            raise KeyError("artifact")
        return self.artifact[: max_bytes + 1]

    def read_columns(self, name: str, columns: Sequence[str]) -> Mapping[str, Any]:
        from clearance.adapters.datasets import read_columns

        return read_columns(self.files[name], columns, name=name, hint=name)


def version(
    *,
    artifact: bytes | None = None,
    recorded: str | None = "same",
    features: Sequence[str] = (),
    evidence: Mapping[str, bytes] | None = None,
    kinds: Mapping[str, str] | None = None,
    uri: str = "model.pkl",
) -> ModelVersion:
    """A version whose artifact digest is recorded as the bytes' (``recorded="same"``)."""
    data: dict[str, Any] = {
        "model": {"name": "credit", "risk_tier": "high"},
        "version": "7",
        "features": list(features),
        "evidence": {
            name: EvidenceItem(
                name=name,
                kind=(kinds or {}).get(name, "report"),  # type: ignore[arg-type]
                uri=name,
                sha256=sha256_bytes(content),
                size=len(content),
            )
            for name, content in (evidence or {}).items()
        },
    }
    if artifact is not None:
        sha = sha256_bytes(artifact) if recorded == "same" else recorded
        data["artifact"] = {"uri": uri, "sha256": sha}
    return ModelVersion.model_validate(data)


def context(v: ModelVersion, reader: Any, now: dt.datetime = NOW) -> GateContext:
    return GateContext(v, reader, now, "staging", "production")


def measure(gate_type: Any, params: Mapping[str, Any], ctx: GateContext) -> Measurement:
    gate = gate_type()
    return gate.evaluate(gate.Params.model_validate(dict(params)), ctx)  # type: ignore[no-any-return]


def run(
    gates: list[dict[str, Any]], v: ModelVersion, reader: Any, now: dt.datetime = NOW
) -> Decision:
    loaded = parse_policy([("policy.yaml", policy_text(gates))])  # the installed gate types
    transition = resolve_transition(loaded, "staging", "production")
    return evaluate(Evaluation(loaded, transition, v, reader, now))


def gate(decision: Decision, gate_id: str) -> GateResult:
    return next(g for g in decision.gates if g.gate_id == gate_id)
