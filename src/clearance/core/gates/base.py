"""The gate protocol: what every gate type, built-in or third-party, implements.

A gate type declares a Pydantic ``Params`` model (validated when the policy loads, so a
bad parameter is reported at its file and line) and an ``evaluate`` that turns params and
a ``GateContext`` into a ``Measurement``. The engine adds severity, waivers, near misses
and remediation; evaluators only measure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from clearance.core.results import GateStatus
from clearance.core.version import EvidenceReader, ModelVersion


class GateParams(BaseModel):
    """Base for gate parameter models: unknown parameters and NaN or infinite numbers are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class GateContext:
    """Everything a gate may look at. ``now`` is the injected clock; there is no other."""

    version: ModelVersion
    evidence: EvidenceReader
    now: dt.datetime
    from_stage: str
    to_stage: str
    change_type: str = "standard"


@dataclass(frozen=True)
class Measurement:
    """What an evaluator found. ``margin`` is positive on the safe side of the threshold."""

    status: GateStatus
    message: str
    observed: Any = None
    threshold: Any = None
    operator: str | None = None  # how observed is compared with threshold: >=, <=, in ...
    margin: float | None = None
    scale: float | None = None  # what a near-miss share is taken of; default |threshold|
    details: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, message: str, **kw: Any) -> Measurement:
        return cls(GateStatus.ERROR, message, **kw)


class GateType(Protocol):
    """A gate evaluator. Register it in the ``clearance.gates`` entry-point group."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[GateParams]]

    def evaluate(self, params: Any, ctx: GateContext) -> Measurement: ...


def check_bound(observed: float, *, min: float | None, max: float | None, what: str) -> Measurement:
    """Compare ``observed`` with a min and/or max; the tighter side decides the margin."""
    sides: list[tuple[str, float, float]] = []
    if min is not None:
        sides.append((">=", min, observed - min))
    if max is not None:
        sides.append(("<=", max, max - observed))
    op, threshold, margin = sorted(sides, key=lambda s: s[2])[0]
    ok = all(m >= 0 for _, _, m in sides)
    verdict = "meets" if ok else "violates"
    message = f"{what} = {observed:.6g} {verdict} {op} {threshold:.6g}"
    return Measurement(
        GateStatus.PASS if ok else GateStatus.FAIL,
        message,
        observed=observed,
        threshold=threshold,
        operator=op,
        margin=margin,
        scale=abs(threshold),
    )
