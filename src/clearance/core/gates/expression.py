"""``expression``: a CEL expression over the version must be true.

CEL (Common Expression Language) is non-Turing-complete and side-effect free: it cannot
import, read files, reach the network or loop forever, so a policy can carry logic without
being able to run code (invariant 6). The input object is documented in
``docs/gates.md#expression`` and built by ``activation`` below.

CEL can still be slow (a regex per element of a long list, nested comprehensions) and the
``cel`` package holds the GIL with no cost limit, so every evaluation is bounded: the input's
size is measured first (``max_elements``, ``max_string_length``), then the expression runs
through a ``Runner`` with a deadline (``max_seconds``). By default that is a worker process
the deadline kills (:mod:`clearance.kernels.sandbox`); tests may pass another runner. Passing
a limit is an ``error`` result naming it, never an exception or a hang.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

import cel
from pydantic import Field, field_validator

from clearance.core.gates._bounds import TooLarge, oversize
from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.results import GateStatus
from clearance.kernels import sandbox

Runner = Callable[[str, dict[str, Any], float], "bool | str"]
"""``runner(source, variables, seconds)``: true/false, or a description of another value.
Raises ``KeyError(key)`` for a missing key, ``sandbox.ExpressionTimeout`` past the deadline,
``sandbox.ExpressionCrashed`` or ``sandbox.ExpressionFailed``."""

MAX_SECONDS, MAX_ELEMENTS, MAX_STRING_LENGTH = 5.0, 100_000, 100_000
CEILING_SECONDS, CEILING_SIZE = 60.0, 10_000_000


@lru_cache(maxsize=512)
def compile_expression(source: str) -> Any:
    """Parse once per distinct expression; ``ValueError`` names the column of a syntax error."""
    try:
        return cel.compile(source)
    except ValueError as exc:
        text = str(exc)
        detail = text.split("ERROR: <input>:", 1)[-1].split("\n", 1)[0]
        raise ValueError(f"CEL syntax error at {detail}") from None


class ExpressionParams(GateParams):
    expr: str = Field(min_length=1, description="A CEL expression that must evaluate to true.")
    message: str = Field(default="", description="Shown when the expression is false.")
    max_seconds: float = Field(
        default=MAX_SECONDS,
        gt=0,
        le=CEILING_SECONDS,
        description="Time the evaluation may take before it is stopped (an error).",
    )
    max_elements: int = Field(
        default=MAX_ELEMENTS,
        ge=1,
        le=CEILING_SIZE,
        description="List items and map entries the input may hold in all (else an error).",
    )
    max_string_length: int = Field(
        default=MAX_STRING_LENGTH,
        ge=1,
        le=CEILING_SIZE,
        description="Characters any one string of the input may have (else an error).",
    )

    @field_validator("expr")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_expression(value)
        return value


def activation(ctx: GateContext) -> dict[str, Any]:
    """The variables an expression sees: version, model, champion, evidence, transition, now."""
    v = ctx.version
    version = v.model_dump(mode="json", exclude={"evidence", "champion", "model"})
    version.update(name=v.model.name, risk_tier=v.model.risk_tier)
    return {
        "version": version,
        "model": v.model.model_dump(mode="json"),
        "champion": v.champion.model_dump(mode="json") if v.champion else None,
        "evidence": {k: e.model_dump(mode="json") for k, e in v.evidence.items()},
        "transition": {"from": ctx.from_stage, "to": ctx.to_stage, "change_type": ctx.change_type},
        "now": ctx.now,
    }


def _bounded(source: str, variables: dict[str, Any], seconds: float) -> bool | str:
    return sandbox.evaluate_bounded(source, variables, timeout=seconds)


class Expression:
    name: ClassVar[str] = "expression"
    summary: ClassVar[str] = "A sandboxed CEL expression over the version must be true."
    Params: ClassVar[type[GateParams]] = ExpressionParams

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or _bounded

    def evaluate(self, params: ExpressionParams, ctx: GateContext) -> Measurement:
        variables = activation(ctx)
        too_large = oversize(
            variables,
            max_elements=params.max_elements,
            max_string_length=params.max_string_length,
        )
        if too_large is not None:
            return _too_large(too_large)
        try:
            value = self.runner(params.expr, variables, params.max_seconds)
        except KeyError as exc:
            return Measurement.error(
                f"expression needs {exc.args[0]!r}, which this version does not have",
                details={"missing": [str(exc.args[0])]},
            )
        except sandbox.ExpressionTimeout:
            return Measurement.error(
                f"expression stopped: it ran past max_seconds = {params.max_seconds:g}; make it "
                f"cheaper (fewer nested comprehensions or regex calls) or raise the gate's "
                f"max_seconds (at most {CEILING_SECONDS:g})",
                details={"limit": "max_seconds", "allowed": params.max_seconds},
            )
        except sandbox.ExpressionCrashed as exc:
            return Measurement.error(
                f"expression stopped: its worker process died ({exc}), most likely at the "
                f"{sandbox.MEMORY_BYTES >> 20} MiB memory cap of an evaluation; "
                "build smaller lists",
                details={"limit": "memory", "allowed": sandbox.MEMORY_BYTES},
            )
        except Exception as exc:  # CEL reports type and lookup faults as plain exceptions
            return Measurement.error(f"expression failed: {exc}")
        if not isinstance(value, bool):
            return Measurement.error(f"expression returned {value}; it must return true/false")
        if value:
            return Measurement(GateStatus.PASS, f"true: {params.expr}", observed=True)
        return Measurement(
            GateStatus.FAIL,
            params.message or f"false: {params.expr}",
            observed=False,
            threshold=True,
            operator="==",
        )


def _too_large(t: TooLarge) -> Measurement:
    what = "items" if t.limit == "max_elements" else "characters"
    return Measurement.error(
        f"expression not run: its input passes {t.limit} = {t.allowed:,} ({t.path} has "
        f"{t.found:,} {what}); raise the gate's {t.limit} (at most {CEILING_SIZE:,}) "
        "or record less",
        details={"limit": t.limit, "allowed": t.allowed, "path": t.path, "found": t.found},
    )
