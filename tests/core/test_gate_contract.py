"""The gate contract of ``core.gates.base``: errors are returned, Holm membership is declared."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import yaml

from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.gates.base import (
    GateContext,
    GateParams,
    GateProblem,
    Measurement,
    in_holm_family,
    reports_problems,
)
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.loading import parse_policy
from clearance.core.results import GateStatus
from clearance.core.version import ModelVersion

# one valid parameter set per built-in type, each needing evidence or metrics the bare
# version below lacks: a new gate type must add its case here
NEEDS_INPUT: dict[str, dict[str, Any]] = {
    "metric_threshold": {"metric": "auc", "min": 0.7},
    "champion_comparison": {"metric": "auc", "max_degradation": 0.01, "dataset": "evaluation"},
    "documentation": {"documents": [{"name": "model_card"}]},
    "reproducibility": {},
    "expression": {"expr": "version.metrics.auc > 0.5"},
    "performance": {"metric": "auc", "min": 0.7, "dataset": "evaluation"},
    "fairness": {
        "metric": "selection_rate_ratio",
        "sensitive_feature": "group",
        "min": 0.8,
        "dataset": "evaluation",
    },
    "drift": {"reference": "reference", "current": "evaluation", "psi_max": 0.2},
    "data_quality": {"dataset": "evaluation", "min_rows": 1},
    "latency": {"benchmark": "bench", "max_p95_ms": 50},
    "unsafe_serialization": {},
    "artifact_integrity": {},
    "pii": {"datasets": ["evaluation"]},
    "vulnerabilities": {"report": "pip_audit"},
    "licenses": {"sbom": "sbom", "allow": ["MIT"]},
    "secrets": {},
}


@pytest.fixture(scope="module")
def bare(make_version: Callable[..., ModelVersion]) -> ModelVersion:
    """A version with no metrics, lineage, champion, artifact or evidence."""
    return make_version(metrics={}, lineage={}, champion=None, artifact=None)


def test_every_built_in_gate_type_has_a_missing_input_case() -> None:
    assert set(NEEDS_INPUT) == set(default_registry().names())


@pytest.mark.parametrize("gate_type", sorted(NEEDS_INPUT))
def test_a_gate_returns_its_error_and_does_not_raise(
    gate_type: str, bare: ModelVersion, fake_evidence: type, now: dt.datetime
) -> None:
    """Called directly, without the engine's safety net: the error is a returned result."""
    evaluator = default_registry().get(gate_type)
    params = evaluator.Params.model_validate(NEEDS_INPUT[gate_type])
    ctx = GateContext(bare, fake_evidence(), now, "staging", "production")
    m = evaluator.evaluate(params, ctx)
    assert m.status is GateStatus.ERROR, m.message
    assert m.message


def test_reports_problems_returns_the_problem_raised_deep_inside() -> None:
    class Deep:
        @reports_problems
        def evaluate(self, params: Any, ctx: Any) -> Measurement:
            raise GateProblem("needs dataset evidence 'x'", ["evidence.x"])

    m = Deep().evaluate(None, None)
    assert (m.status, m.message) == (GateStatus.ERROR, "needs dataset evidence 'x'")
    assert m.details == {"missing": ["evidence.x"]}


# -- Holm family --------------------------------------------------------------------------


def test_the_holm_family_is_declared_by_performance_and_champion_comparison() -> None:
    members = {name for name, gate_type in default_registry() if in_holm_family(gate_type)}
    assert members == {"champion_comparison", "performance"}


def _tested(p_value: float) -> Measurement:
    hypothesis = {"null": "not met", "p_value": p_value, "alpha": 0.025, "confidence": 0.95}
    return Measurement(GateStatus.PASS, "tested", details={"hypothesis": hypothesis})


class Declared:
    name: ClassVar[str] = "declared_test"
    summary: ClassVar[str] = "A hypothesis test that says so."
    Params: ClassVar[type[GateParams]] = GateParams
    holm_family: ClassVar[bool] = True

    def evaluate(self, params: Any, ctx: GateContext) -> Measurement:
        return _tested(0.02)


class Undeclared:
    name: ClassVar[str] = "undeclared_test"
    summary: ClassVar[str] = "Carries a hypothesis record but does not join the family."
    Params: ClassVar[type[GateParams]] = GateParams

    def evaluate(self, params: Any, ctx: GateContext) -> Measurement:
        return _tested(0.02)


@pytest.fixture
def decide(
    policy_data: Callable[..., Any], bare: ModelVersion, fake_evidence: type, now: dt.datetime
) -> Callable[[list[str]], dict[str, Any]]:
    """The gate results, by id, of one transition running gates of ``types``."""

    def go(types: list[str]) -> dict[str, Any]:
        registry = GateRegistry(dict(default_registry()))
        registry.register(Declared)
        registry.register(Undeclared)
        gates = [{"id": f"g{i}", "type": t} for i, t in enumerate(types)]
        loaded = parse_policy([("p.yaml", yaml.safe_dump(policy_data(gates)))], registry)
        transition = resolve_transition(loaded, "staging", "production")
        request = Evaluation(loaded, transition, bare, fake_evidence(), now)
        return {g.gate_id: g for g in evaluate(request, registry=registry).gates}

    return go


def test_only_declared_gate_types_are_adjusted_together(decide: Callable[..., Any]) -> None:
    two = decide(["declared_test", "declared_test"])
    for g in two.values():  # 0.02 each: Holm's smallest adjusted p is 2 x 0.02 > 0.025
        assert g.details["family_size"] == 2
        assert g.status is GateStatus.FAIL
    mixed = decide(["declared_test", "undeclared_test"])
    assert mixed["g0"].details["family_size"] == 1
    assert mixed["g0"].status is GateStatus.PASS
    assert "holm_adjusted_p" not in mixed["g1"].details
    assert mixed["g1"].status is GateStatus.PASS
