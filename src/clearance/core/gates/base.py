"""The gate protocol: what every gate type, built-in or third-party, implements.

A gate type declares a Pydantic ``Params`` model (validated when the policy loads, so a
bad parameter is reported at its file and line) and an ``evaluate`` that turns params and
a ``GateContext`` into a ``Measurement``. The engine adds severity, waivers, near misses
and remediation; evaluators only measure.

Errors, one style: ``evaluate`` *returns* every outcome, a problem included. When the gate
cannot measure (missing or unreadable evidence, a missing column or metric, data it cannot
compute on) it returns ``Measurement.error(message, details={"missing": [...]})``, naming
what is missing. Code deep inside a gate may instead raise ``GateProblem``; the
``reports_problems`` decorator on ``evaluate`` turns it into that same error result, so it
never leaves the gate. Any other exception is a bug in the gate: the engine still turns it
into an ``error`` result (``gate type 'x' failed: ...``) so one broken gate never hides the
others, but a gate does not report through it.

Holm family, one declaration: a gate type whose measurements test a hypothesis (a
``details.hypothesis`` record, see ``_data.hypothesis``) says so with the class attribute
``holm_family = True``; only those gates' p-values are adjusted together by the engine
(``in_holm_family``). The built-in members are ``performance`` and ``champion_comparison``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from clearance.core.hashing import canonical_json
from clearance.core.results import GateStatus
from clearance.core.version import EvidenceReader, ModelVersion


class GateParams(BaseModel):
    """Base for gate parameter models: unknown parameters and NaN or infinite numbers are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class GateContext:
    """Everything a gate may look at. ``now`` is the injected clock; there is no other.

    ``version_data()`` and ``version_json()`` are the version as JSON-ready data and as its
    canonical JSON (what its digest is of), made once per context and shared by the engine
    and the gates that read the version whole: read-only.
    """

    version: ModelVersion
    evidence: EvidenceReader
    now: dt.datetime
    from_stage: str
    to_stage: str
    change_type: str = "standard"
    _data: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _json: str | None = field(default=None, init=False, repr=False, compare=False)

    def version_data(self) -> dict[str, Any]:
        """``version.model_dump(mode="json", by_alias=True)``, made once."""
        if self._data is None:
            object.__setattr__(self, "_data", self.version.model_dump(mode="json", by_alias=True))
        assert self._data is not None
        return self._data

    def version_json(self) -> str:
        """The canonical JSON of ``version_data()``: ``canonical_json(version)``, made once."""
        if self._json is None:
            object.__setattr__(self, "_json", canonical_json(self.version_data()))
        assert self._json is not None
        return self._json


@dataclass(frozen=True, init=False)
class Measurement:
    """What an evaluator found. ``margin`` is positive on the safe side of the threshold.

    ``Measurement(status, message, observed=None, threshold=None, operator=None, margin=None,
    scale=None, details={}, evidence={})``. Frozen like any dataclass, with its own
    ``__init__``: a frozen dataclass's generated one sets each field through
    ``object.__setattr__`` (twice the cost), and its defaults would be class attributes,
    which keep Python 3.11 from specializing the reads of those fields. Every gate of every
    decision makes one and the engine reads it a dozen times.
    """

    status: GateStatus
    message: str
    observed: Any
    threshold: Any
    operator: str | None  # how observed is compared with threshold: >=, <=, in ...
    margin: float | None
    scale: float | None  # what a near-miss share is taken of; default |threshold|
    details: dict[str, Any]
    evidence: dict[str, str]

    def __init__(
        self,
        status: GateStatus,
        message: str,
        observed: Any = None,
        threshold: Any = None,
        operator: str | None = None,
        margin: float | None = None,
        scale: float | None = None,
        details: dict[str, Any] | None = None,
        evidence: dict[str, str] | None = None,
    ) -> None:
        fields = self.__dict__  # written directly: the frozen ``__setattr__`` is for callers
        fields["status"] = status
        fields["message"] = message
        fields["observed"] = observed
        fields["threshold"] = threshold
        fields["operator"] = operator
        fields["margin"] = margin
        fields["scale"] = scale
        fields["details"] = {} if details is None else details
        fields["evidence"] = {} if evidence is None else evidence

    @classmethod
    def error(cls, message: str, **kw: Any) -> Measurement:
        return cls(GateStatus.ERROR, message, **kw)


class GateType(Protocol):
    """A gate evaluator. Register it in the ``clearance.gates`` entry-point group.

    Optional: ``holm_family: ClassVar[bool] = True`` when its measurements are hypothesis
    tests to be Holm-adjusted with the transition's other tests (module docstring).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[GateParams]]

    def evaluate(self, params: Any, ctx: GateContext) -> Measurement: ...


def in_holm_family(gate_type: GateType) -> bool:
    """Whether the gate type declared ``holm_family = True``: the one place the engine asks."""
    return getattr(gate_type, "holm_family", False) is True


class GateProblem(Exception):
    """Why a gate cannot measure, raised deep inside it; carries the ``error`` result.

    Raise it only under an ``evaluate`` wrapped by ``reports_problems``, which returns
    ``measurement``: it never reaches the engine. ``missing`` names the absent inputs
    (``evidence.<name>``, ``metrics.<name>``...).
    """

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        details: dict[str, Any] = {"missing": list(missing)} if missing else {}
        self.measurement = Measurement.error(message, details=details)


_Gate = TypeVar("_Gate")
_Params = TypeVar("_Params")
Evaluate = Callable[[_Gate, _Params, GateContext], Measurement]


def reports_problems(evaluate: Evaluate[_Gate, _Params]) -> Evaluate[_Gate, _Params]:
    """Wrap a gate's ``evaluate`` so a ``GateProblem`` raised inside is returned as its result."""

    @functools.wraps(evaluate)
    def wrapper(gate: _Gate, params: _Params, ctx: GateContext) -> Measurement:
        try:
            return evaluate(gate, params, ctx)
        except GateProblem as problem:
            return problem.measurement

    return wrapper


def check_bound(observed: float, *, min: float | None, max: float | None, what: str) -> Measurement:
    """Compare ``observed`` with a min and/or max; the tighter side decides the margin (the
    min on a tie). Written out rather than sorted: it runs for most gates of every decision."""
    low = None if min is None else observed - min
    high = None if max is None else max - observed
    if min is not None and low is not None and not (high is not None and high < low):
        op, threshold, margin = ">=", min, low  # what a stable sort by margin put first
    elif max is not None and high is not None:
        op, threshold, margin = "<=", max, high
    else:
        raise ValueError("check_bound needs a min or a max")
    ok = (low is None or low >= 0) and (high is None or high >= 0)
    bound = _bounds.get((op, threshold)) or _bound_text(op, threshold)
    return Measurement(
        _PASS if ok else _FAIL,
        f"{what} = {observed:.6g} {'meets' if ok else 'violates'}{bound}",
        observed,
        threshold,
        op,
        margin,
        abs(threshold),
    )


def _bound_text(op: str, threshold: float) -> str:
    """``" {op} {threshold:.6g}"``, written once per bound: a policy has few and every decision
    repeats them (formatting a float is most of ``check_bound``). Zero is not remembered
    (-0.0 equals 0.0 but is written "-0"), nor NaN (it equals nothing)."""
    key = (op, threshold)
    text = _bounds.get(key)
    if text is None:
        text = f" {op} {threshold:.6g}"
        if threshold and threshold == threshold:
            if len(_bounds) >= 4096:
                _bounds.clear()
            _bounds[key] = text
    return text


_bounds: dict[tuple[str, float], str] = {}
_PASS, _FAIL = GateStatus.PASS, GateStatus.FAIL
