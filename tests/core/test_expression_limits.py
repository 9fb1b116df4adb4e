"""The expression gate bounds its cost: input size before, a deadline during (issue 10.4).

CEL holds the GIL with no cost limit, so an unbounded expression froze the server; every
limit passed must end in an ``error`` result that names it, promptly, never a hang.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from clearance.core.gates.base import GateContext, Measurement
from clearance.core.gates.expression import Expression, ExpressionParams
from clearance.core.results import GateStatus
from clearance.core.version import ModelVersion
from clearance.kernels import sandbox

# 1,000 x 1,000 x 1,000 list elements: minutes of work for CEL
BIG = "[" + ",".join(str(i) for i in range(1000)) + "]"
HEAVY = f"{BIG}.map(a, {BIG}.map(b, {BIG})).size() > 0"


def _measure(
    gate: Expression, version: ModelVersion, params: dict[str, Any], now: dt.datetime
) -> Measurement:
    ctx = GateContext(version, evidence=None, now=now, from_stage="staging", to_stage="production")  # type: ignore[arg-type]
    return gate.evaluate(ExpressionParams.model_validate(params), ctx)


def _never(source: str, variables: dict[str, Any], seconds: float) -> bool | str:
    raise AssertionError("the expression must not run when its input is over a limit")


def test_too_many_elements_is_an_error_naming_the_limit_and_the_list(
    make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    version = make_version(features=[f"f{i}" for i in range(1_001)])
    params = {"expr": "version.features.size() > 0", "max_elements": 1_000}
    m = _measure(Expression(runner=_never), version, params, now)
    assert m.status is GateStatus.ERROR
    assert "max_elements = 1,000" in m.message
    assert "version.features has 1,001 items" in m.message
    assert "raise the gate's max_elements" in m.message
    assert m.details["limit"] == "max_elements"


def test_a_long_string_is_an_error_naming_max_string_length(
    make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    version = make_version(tags={"note": "x" * 5_000})
    params = {"expr": "true", "max_string_length": 4_096}
    m = _measure(Expression(runner=_never), version, params, now)
    assert m.status is GateStatus.ERROR
    assert "max_string_length = 4,096 (version.tags.note has 5,000 characters)" in m.message


def test_defaults_let_an_ordinary_version_through(
    make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    m = _measure(Expression(), make_version(), {"expr": "version.features.size() == 2"}, now)
    assert m.status is GateStatus.PASS, m.message


def test_an_expensive_expression_is_stopped_at_max_seconds(
    make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    started = time.monotonic()
    m = _measure(Expression(), make_version(), {"expr": HEAVY, "max_seconds": 0.5}, now)
    elapsed = time.monotonic() - started
    assert m.status is GateStatus.ERROR
    assert "ran past max_seconds = 0.5" in m.message
    assert "raise the gate's max_seconds (at most 60)" in m.message
    assert elapsed < 5, elapsed
    # the killed worker is replaced: the next evaluation answers normally
    after = _measure(Expression(), make_version(), {"expr": "1 < 2"}, now)
    assert after.status is GateStatus.PASS


def test_a_regex_over_a_long_feature_list_is_stopped(
    make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    """The finding: a case-insensitive regex per feature over 190,000 features (26 s)."""
    version = make_version(features=[f"feature_{i}" for i in range(190_000)])
    params = {
        "expr": '!version.features.exists(f, f.matches("(?i)email|ssn|phone"))',
        "max_elements": 200_000,
        "max_seconds": 1,
    }
    started = time.monotonic()
    m = _measure(Expression(), version, params, now)
    assert m.status is GateStatus.ERROR and "max_seconds = 1" in m.message
    assert time.monotonic() - started < 6


def test_a_worker_that_dies_is_an_error_naming_the_memory_cap(
    make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    def small(source: str, variables: dict[str, Any], seconds: float) -> bool | str:
        return sandbox.evaluate_bounded(source, variables, timeout=seconds, memory=128 << 20)

    version = make_version(tags={"s": "x" * (4 << 20)})
    # 40 concatenations of a 4 MiB string: far more than 128 MiB of address space
    expr = "size(" + " + ".join(["version.tags.s"] * 40) + ") > 0"
    params = {"expr": expr, "max_string_length": 5_000_000, "max_seconds": 30}
    m = _measure(Expression(runner=small), version, params, now)
    assert m.status is GateStatus.ERROR
    assert "its worker process died" in m.message and "memory cap" in m.message


@pytest.mark.parametrize(
    "params",
    [
        {"max_seconds": 61},
        {"max_seconds": 0},
        {"max_elements": 0},
        {"max_string_length": 10_000_001},
    ],
)
def test_limits_have_ceilings(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ExpressionParams.model_validate({"expr": "true", **params})
