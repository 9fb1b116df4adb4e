"""``measure_gates`` (what a backtest runs for the gates a policy change touched) gives, for
each gate asked, the very result ``evaluate`` gives for it: bypasses, warn severity, expired
definitions, near misses, waivers and a Holm family measured as a whole included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.engine import Evaluation, evaluate, measure_gates, resolve_transition
from clearance.core.gates.base import GateContext, GateParams, GateStatus, Measurement
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.loading import LoadedPolicy, parse_policy
from clearance.core.version import ModelVersion
from clearance.core.waivers import Waiver
from clearance.errors import InputError, TransitionRefused

CARD = b"# Model card\n\n## Intended use\nScoring.\n"


class PValueParams(GateParams):
    metric: str


class PValueGate:
    """A hypothesis test whose p-value is the version's metric it names."""

    name: ClassVar[str] = "tested"
    summary: ClassVar[str] = "A declared hypothesis test."
    Params: ClassVar[type[GateParams]] = PValueParams
    holm_family: ClassVar[bool] = True

    def evaluate(self, params: Any, ctx: GateContext) -> Measurement:
        p = ctx.version.metrics.get(params.metric, 0.5)
        hypothesis = {"null": "not better", "p_value": p, "alpha": 0.05, "confidence": 0.95}
        status = GateStatus.PASS if p <= 0.05 else GateStatus.FAIL
        return Measurement(status, f"p = {p}", details={"hypothesis": hypothesis})


GATES: list[dict[str, Any]] = [
    {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7},
    {"id": "latency", "type": "metric_threshold", "metric": "latency_p95_ms", "max": 80,
     "severity": "warn", "expires": "2026-01-31"},
    {"id": "champ", "type": "champion_comparison", "metric": "auc", "max_degradation": 0.01},
    {"id": "card", "type": "documentation", "documents": [{"name": "model_card"}]},
    {"id": "t1", "type": "tested", "metric": "p_t1"},
    {"id": "t2", "type": "tested", "metric": "p_t2"},
    {"id": "t3", "type": "tested", "metric": "p_t3"},
]  # fmt: skip
IDS = [g["id"] for g in GATES]


@pytest.fixture(scope="module")
def registry() -> GateRegistry:
    reg = GateRegistry(dict(default_registry()))
    reg.register(PValueGate)
    return reg


@pytest.fixture(scope="module")
def policy(policy_data: Callable[..., dict[str, Any]], registry: GateRegistry) -> LoadedPolicy:
    data = policy_data(
        GATES,
        [{"from": "staging", "to": "production", "gates": IDS, "approvals": [{"role": "x"}]}],
        change_types={"emergency": {"bypass": ["champ", "t2"]}},
        settings={"near_miss": 0.1},
    )
    return parse_policy([("p.yaml", yaml.safe_dump(data))], registry)


def _request(
    policy: LoadedPolicy, version: ModelVersion, now: dt.datetime, fake: type, **kw: Any
) -> Evaluation:
    transition = resolve_transition(policy, "staging", "production")
    return Evaluation(policy, transition, version, fake({"model_card": CARD}), now, **kw)


metric = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(
    auc=metric,
    latency=st.floats(0, 200, allow_nan=False),
    ps=st.lists(st.floats(0.0, 0.2, allow_nan=False), min_size=3, max_size=3),
    asked=st.lists(st.sampled_from(IDS), min_size=1, max_size=len(IDS), unique=True),
    change=st.sampled_from(["standard", "emergency"]),
    waived=st.sampled_from([None, *IDS]),
    card=st.booleans(),
)
def test_each_gate_asked_is_as_evaluate_gives_it(
    policy: LoadedPolicy,
    registry: GateRegistry,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
    auc: float,
    latency: float,
    ps: list[float],
    asked: list[str],
    change: str,
    waived: str | None,
    card: bool,
) -> None:
    metrics = {
        "auc": auc,
        "latency_p95_ms": latency,
        **{f"p_t{i + 1}": p for i, p in enumerate(ps)},
    }
    version = make_version(metrics=metrics, documents={"model_card": CARD} if card else None)
    waivers = (
        [
            Waiver(
                id="w1",
                gate_id=waived,
                model=version.model.name,
                expires_at=now + dt.timedelta(days=1),
                justification="known",
                granted_by="risk",
            )
        ]
        if waived
        else []
    )
    request = _request(policy, version, now, fake_evidence, waivers=waivers, change_type=change)
    full = {g.gate_id: g for g in evaluate(request, registry=registry).gates}
    got = measure_gates(request, asked, registry=registry)
    assert list(got) == asked
    if change == "standard":  # the family was measured: every test says so
        assert all(full[t].details.get("family_size") == 3 for t in ("t1", "t2", "t3"))
    for gid in asked:
        assert got[gid] == full[gid], gid
        assert got[gid].model_dump(mode="json") == full[gid].model_dump(mode="json")
        assert got[gid].model_fields_set == full[gid].model_fields_set


def test_one_test_of_a_family_is_adjusted_with_the_others(
    policy: LoadedPolicy,
    registry: GateRegistry,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
) -> None:
    version = make_version(metrics={"auc": 0.8, "p_t1": 0.03, "p_t2": 0.01, "p_t3": 0.2})
    got = measure_gates(_request(policy, version, now, fake_evidence), ["t1"], registry=registry)
    # alone p 0.03 passes; with the family (3 tests) its adjusted p is 0.06: it fails
    assert got["t1"].details["family_size"] == 3
    assert got["t1"].status is GateStatus.FAIL


def test_a_gate_not_of_the_transition_or_an_unknown_change_is_refused(
    policy: LoadedPolicy,
    registry: GateRegistry,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
) -> None:
    request = _request(policy, make_version(), now, fake_evidence)
    with pytest.raises(InputError, match="nope are not gates of staging -> production"):
        measure_gates(request, ["auc_floor", "nope"], registry=registry)
    odd = _request(policy, make_version(), now, fake_evidence, change_type="experiment")
    with pytest.raises(TransitionRefused, match="no 'experiment' change type"):
        measure_gates(odd, ["auc_floor"], registry=registry)
