"""``expression``: a CEL expression over the version must be true.

CEL (Common Expression Language) is non-Turing-complete and side-effect free: it cannot
import, read files, reach the network or loop forever, so a policy can carry logic without
being able to run code (invariant 6). The input object is documented in
``docs/gates.md#expression`` and built by ``activation`` below.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import cel
from pydantic import Field, field_validator

from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.results import GateStatus


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


class Expression:
    name: ClassVar[str] = "expression"
    summary: ClassVar[str] = "A sandboxed CEL expression over the version must be true."
    Params: ClassVar[type[GateParams]] = ExpressionParams

    def evaluate(self, params: ExpressionParams, ctx: GateContext) -> Measurement:
        program = compile_expression(params.expr)
        try:
            value = program.execute(activation(ctx))
        except KeyError as exc:
            return Measurement.error(
                f"expression needs {exc.args[0]!r}, which this version does not have",
                details={"missing": [str(exc.args[0])]},
            )
        except Exception as exc:  # CEL reports type and lookup faults as plain exceptions
            return Measurement.error(f"expression failed: {exc}")
        if not isinstance(value, bool):
            return Measurement.error(
                f"expression returned {type(value).__name__} {value!r}; it must return true/false"
            )
        if value:
            return Measurement(GateStatus.PASS, f"true: {params.expr}", observed=True)
        return Measurement(
            GateStatus.FAIL,
            params.message or f"false: {params.expr}",
            observed=False,
            threshold=True,
            operator="==",
        )
