"""The expression gate's speed-ups keep its answers (issue 12.3).

The runner gets only the variables the expression can read (``narrow``), and the default
runner remembers answers (``_remembered``); neither may change an answer, and a timeout or
failure is never remembered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import cel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearance.core.gates import expression as ex
from clearance.core.gates._bounds import oversize
from clearance.core.gates.base import GateContext
from clearance.core.gates.expression import Expression, ExpressionParams, activation, narrow
from clearance.core.results import GateStatus
from clearance.core.version import ModelVersion
from clearance.kernels import sandbox

EXPRESSIONS = [
    '!version.features.exists(f, f.matches("(?i)email|ssn|phone"))',
    "version.metrics.auc >= 0.8 && model.risk_tier == 'high'",
    "version.exists(k, k == 'features')",  # a macro over the variable: all of it
    "size(version) > 3",
    "champion.version == '6' && champion.metrics.auc < version.metrics.auc",
    "transition['to'] == 'production' && now > timestamp('2020-01-01T00:00:00Z')",
    "has(version.tags.team) || version.lineage.seed == 42",
    "'model_card' in evidence && evidence.model_card.kind == 'document'",
    "version.nosuchfield == 1",  # missing in both: the same error
    "version.featuresx.size() > 0",
    "true",
]


@pytest.fixture
def variables(make_version: Callable[..., ModelVersion], now: dt.datetime) -> dict[str, Any]:
    version = make_version(documents={"model_card": b"# Card\n"}, tags={"owner": "x"})
    return activation(GateContext(version, None, now, "staging", "production"))  # type: ignore[arg-type]


def _outcome(source: str, variables: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", cel.compile(source).execute(variables)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_narrowed_variables_give_the_same_answer(source: str, variables: dict[str, Any]) -> None:
    assert _outcome(source, narrow(source, variables)) == _outcome(source, variables)


def test_narrow_keeps_only_what_is_named(variables: dict[str, Any]) -> None:
    kept = narrow(EXPRESSIONS[0], variables)
    assert kept == {"version": {"features": variables["version"]["features"]}}
    assert narrow("version.exists(k, true)", variables)["version"] == variables["version"]
    assert narrow("version.exist", {"version": {"exist": 1, "exists": 2}}) == {
        "version": {"exist": 1}
    }
    assert narrow("true", variables) == {}


def _ctx(version: ModelVersion, now: dt.datetime) -> GateContext:
    return GateContext(version, None, now, "staging", "production")  # type: ignore[arg-type]


def test_answers_are_remembered_per_input_and_deadline(
    monkeypatch: pytest.MonkeyPatch, make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    calls: list[dict[str, Any]] = []

    def counting(source: str, variables: dict[str, Any], seconds: float) -> bool | str:
        calls.append(variables)
        return bool(cel.compile(source).execute(variables))

    monkeypatch.setattr(ex, "_bounded", counting)
    monkeypatch.setattr(ex, "_answers", ex._Answers(16))
    gate = Expression()
    params = ExpressionParams(expr="version.features.size() == 2")
    first = gate.evaluate(params, _ctx(make_version(metrics={"auc": 0.9}), now))
    again = gate.evaluate(params, _ctx(make_version(metrics={"auc": 0.6}), now))
    assert first == again and first.status is GateStatus.PASS
    assert len(calls) == 1, "the metrics are not read: the same input, one evaluation"
    gate.evaluate(params.model_copy(update={"max_seconds": 2.0}), _ctx(make_version(), now))
    other = gate.evaluate(params, _ctx(make_version(features=["a"]), now))
    assert other.status is GateStatus.FAIL and len(calls) == 3


def test_a_timeout_is_never_remembered(
    monkeypatch: pytest.MonkeyPatch, make_version: Callable[..., ModelVersion], now: dt.datetime
) -> None:
    outcomes: list[bool | Exception] = [sandbox.ExpressionTimeout("slow"), True]

    def flaky(source: str, variables: dict[str, Any], seconds: float) -> bool | str:
        found = outcomes.pop(0)
        if isinstance(found, Exception):
            raise found
        return found

    monkeypatch.setattr(ex, "_bounded", flaky)
    monkeypatch.setattr(ex, "_answers", ex._Answers(16))
    params = ExpressionParams(expr="true")
    assert Expression().evaluate(params, _ctx(make_version(), now)).status is GateStatus.ERROR
    assert Expression().evaluate(params, _ctx(make_version(), now)).status is GateStatus.PASS


def test_remembered_answers_are_bounded() -> None:
    answers = ex._Answers(2)
    for key in (b"a", b"b", b"c"):
        answers.put(key, True)
    assert answers.get(b"a") is None and answers.get(b"b") is True and answers.get(b"c") is True


_KEYS = st.one_of(st.text(max_size=6), st.integers(), st.tuples(st.text(max_size=4)))
_DATA = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(_KEYS, inner, max_size=5),
    ),
    max_leaves=30,
)


@given(_DATA, st.integers(1, 25), st.integers(1, 8))
def test_the_quick_size_check_agrees_with_oversize(data: Any, elements: int, length: int) -> None:
    limits = {"max_elements": elements, "max_string_length": length}
    assert ex._fits(data, **limits) is (oversize(data, **limits) is None)
