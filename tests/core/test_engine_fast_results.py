"""The engine builds results without validating them only when validation would change nothing
(issue 12.3): equal field for field, in JSON and in what Pydantic records as set; a gate that
returns other types (an int margin, a status given as text, odd keys) still gets validated,
coerced results.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.gates._bounds import oversize
from clearance.core.gates.base import GateContext, GateParams, Measurement, check_bound
from clearance.core.gates.expression import _surely_fits, activation
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.hashing import canonical_json, digest
from clearance.core.loading import LoadedPolicy, parse_policy
from clearance.core.results import Decision, DecisionInputs, GateResult, GateStatus, assemble
from clearance.core.version import ModelVersion
from clearance.core.waivers import Waiver

CARD = b"# Model card\n\n## Intended use\nScoring.\n"
GATES: list[dict[str, Any]] = [
    {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7},
    {"id": "latency", "type": "metric_threshold", "metric": "latency_p95_ms", "max": 80,
     "severity": "warn", "controls": ["SR11-7 4.2"], "expires": "2026-01-31"},
    {"id": "champ", "type": "champion_comparison", "metric": "auc", "max_degradation": 0.01},
    {"id": "card", "type": "documentation", "documents": [{"name": "model_card"}]},
    {"id": "odd", "type": "odd"},
]  # fmt: skip


class Odd:
    """A third-party gate whose measurement holds values validation must convert."""

    name: ClassVar[str] = "odd"
    summary: ClassVar[str] = "Returns loosely typed values."
    Params: ClassVar[type[GateParams]] = GateParams

    def evaluate(self, params: Any, ctx: GateContext) -> Measurement:
        return Measurement(
            "pass",  # type: ignore[arg-type]  # text, not a GateStatus
            "close to the line",
            observed=3,
            threshold=2,
            operator=">=",
            margin=1,  # an int: a result's margin is a float
            scale=10,
            evidence={"report": "a" * 64},
        )


@pytest.fixture(scope="module")
def registry() -> GateRegistry:
    reg = GateRegistry(dict(default_registry()))
    reg.register(Odd)
    return reg


@pytest.fixture(scope="module")
def policy(policy_data: Callable[..., dict[str, Any]], registry: GateRegistry) -> LoadedPolicy:
    data = policy_data(GATES, [{"from": "staging", "to": "production",
                                "gates": [g["id"] for g in GATES],
                                "approvals": [{"role": "model_owner"}]}])  # fmt: skip
    return parse_policy([("p.yaml", yaml.safe_dump(data))], registry)


def _decide(
    policy: LoadedPolicy,
    version: ModelVersion,
    fake_evidence: type,
    now: dt.datetime,
    registry: GateRegistry,
    **kw: Any,
) -> Decision:
    transition = resolve_transition(policy, "staging", "production")
    request = Evaluation(
        policy, transition, version, fake_evidence({"model_card": CARD}), now, **kw
    )
    return evaluate(request, registry=registry)


def _validated(result: GateResult) -> GateResult:
    given = {name: getattr(result, name) for name in result.model_fields_set}
    return GateResult(**given)


def test_every_result_is_what_validation_makes(
    policy: LoadedPolicy,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
    registry: GateRegistry,
) -> None:
    version = make_version(documents={"model_card": CARD})
    decision = _decide(policy, version, fake_evidence, now, registry)
    assert [g.status for g in decision.gates] == [
        GateStatus.PASS, GateStatus.WARN, GateStatus.PASS, GateStatus.PASS, GateStatus.PASS
    ]  # fmt: skip
    for result in decision.gates:
        again = _validated(result)
        assert again == result
        assert again.model_dump_json() == result.model_dump_json()
        assert again.model_fields_set == result.model_fields_set
        assert list(again.__dict__) == list(result.__dict__)  # declaration order
    odd = decision.gates[-1]
    assert odd.status is GateStatus.PASS and type(odd.margin) is float and odd.margin == 1.0
    inputs = decision.inputs
    assert DecisionInputs(**{k: getattr(inputs, k) for k in inputs.model_fields_set}) == inputs
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
    # the warn gate: its own controls, expiry flag, unwaived status
    latency = decision.gates[1]
    assert latency.controls == ["SR11-7 4.2"] and latency.details["unwaived_status"] == "fail"


def test_a_waived_result_leaves_the_others_as_they_were(
    policy: LoadedPolicy,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
    registry: GateRegistry,
) -> None:
    weak = make_version(documents={"model_card": CARD}, metrics={"auc": 0.6, "latency_p95_ms": 70})
    grant = Waiver(
        id="W-1",
        gate_id="auc_floor",
        model="credit-default",
        expires_at=now + dt.timedelta(days=2),
        justification="retrain scheduled",
        granted_by="risk@example.com",
    )
    first = _decide(policy, weak, fake_evidence, now, registry)
    waived = _decide(policy, weak, fake_evidence, now, registry, waivers=[grant])
    assert waived.gates[0].status is GateStatus.WAIVED
    assert waived.gates[0].model_fields_set >= {"waiver", "waived_status"}
    # the fields set is shared between built results; a copy with updates never changes it
    assert "waiver" not in first.gates[0].model_fields_set
    assert "waiver" not in waived.gates[2].model_fields_set
    assert _validated(waived.gates[0]) == waived.gates[0]


def test_assemble_equals_validation() -> None:
    fields = {
        "gate_id": "g",
        "type": "metric_threshold",
        "severity": "block",
        "status": GateStatus.FAIL,
        "observed": 0.4,
        "threshold": 0.5,
        "operator": ">=",
        "margin": -0.1,
        "near_miss": False,
        "message": "m",
        "remediation": "",
        "details": {"k": [1, 2]},
        "evidence": {},
        "waiver": None,
        "waived_status": None,
        "owner": "",
        "rationale": "",
        "controls": [],
    }
    given = set(fields) - {"waiver", "waived_status"}
    built = assemble(GateResult, dict(fields), given)
    checked = GateResult(**{k: fields[k] for k in given})
    assert built == checked and built.model_dump_json() == checked.model_dump_json()
    assert built.blocking and built.model_fields_set == checked.model_fields_set
    with pytest.raises(Exception, match="frozen"):
        built.status = GateStatus.PASS  # type: ignore[misc]


def test_measurement_stays_a_frozen_dataclass() -> None:
    m = Measurement(GateStatus.PASS, "ok")
    assert (m.observed, m.margin, m.details, m.evidence) == (None, None, {}, {})
    assert m == Measurement(GateStatus.PASS, "ok", details={}, evidence={})
    assert dataclasses.replace(m, message="other").message == "other"
    assert [f.name for f in dataclasses.fields(Measurement)][:3] == [
        "status",
        "message",
        "observed",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.message = "changed"  # type: ignore[misc]
    assert (
        Measurement(GateStatus.PASS, "a").details is not Measurement(GateStatus.PASS, "b").details
    )


@pytest.mark.parametrize(
    ("observed", "low", "high", "status", "op", "margin", "message"),
    [
        (0.8, 0.7, None, GateStatus.PASS, ">=", 0.8 - 0.7, "m = 0.8 meets >= 0.7"),
        (0.6, 0.7, None, GateStatus.FAIL, ">=", 0.6 - 0.7, "m = 0.6 violates >= 0.7"),
        (5.0, None, 4.0, GateStatus.FAIL, "<=", -1.0, "m = 5 violates <= 4"),
        (0.5, 0.0, 1.0, GateStatus.PASS, ">=", 0.5, "m = 0.5 meets >= 0"),  # a tie: the min
        (0.9, 0.0, 1.0, GateStatus.PASS, "<=", 1.0 - 0.9, "m = 0.9 meets <= 1"),
        (1.5, 0.0, 1.0, GateStatus.FAIL, "<=", 1.0 - 1.5, "m = 1.5 violates <= 1"),
    ],
)
def test_check_bound(
    observed: float,
    low: float | None,
    high: float | None,
    status: GateStatus,
    op: str,
    margin: float,
    message: str,
) -> None:
    m = check_bound(observed, min=low, max=high, what="m")
    assert (m.status, m.operator, m.margin, m.message) == (status, op, margin, message)
    assert m.threshold == (low if op == ">=" else high) and m.scale == abs(m.threshold)
    with pytest.raises(ValueError, match="needs a min or a max"):
        check_bound(observed, min=None, max=None, what="m")


_TEXT = st.text(max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    features=st.lists(_TEXT, max_size=12),
    tags=st.dictionaries(_TEXT, _TEXT, max_size=6),
    params=st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-9, 9), _TEXT),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)
        ),
        max_leaves=12,
    ),
    stage=st.text(min_size=1, max_size=30),
    elements=st.integers(1, 400),
    length=st.integers(1, 1200),
)
def test_the_size_bound_never_accepts_what_oversize_refuses(
    make_version: Callable[..., ModelVersion],
    now: dt.datetime,
    features: list[str],
    tags: dict[str, str],
    params: Any,
    stage: str,
    elements: int,
    length: int,
) -> None:
    version = make_version(features=features, tags=tags, params={"p": params})
    ctx = GateContext(version, None, now, stage, "production")  # type: ignore[arg-type]
    limits = {"max_elements": elements, "max_string_length": length}
    if _surely_fits(ctx, **limits):
        assert oversize(activation(ctx), **limits) is None
    assert ctx.version_json() == canonical_json(version)


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 12, 0, 0, 250, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 17, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),
        dt.datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=ZoneInfo("Europe/Berlin")),
    ],
)
def test_the_decision_id_digests_the_inputs_as_pydantic_writes_them(
    policy: LoadedPolicy,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    registry: GateRegistry,
    at: dt.datetime,
) -> None:
    decision = _decide(
        policy, make_version(documents={"model_card": CARD}), fake_evidence, at, registry
    )
    expected = digest(
        {
            "inputs": decision.inputs.model_dump(mode="json", by_alias=True),
            "transition": "staging -> production",
            "change_type": "standard",
            "requester": None,
        }
    )
    assert decision.decision_id == expected


_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON)
def test_canonical_json_is_json_dumps(value: Any) -> None:
    """The digests' text, made through the C encoder directly, is what ``json.dumps`` writes."""
    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    assert canonical_json(value) == expected
