"""The decision engine: severity, waivers, change types, near misses, outcomes, digests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from clearance.adapters.evidence import load_manifest
from clearance.core.approvals import Approval
from clearance.core.engine import Evaluation, evaluate, evidence_digest, resolve_transition
from clearance.core.gates.base import GateContext, GateParams, Measurement
from clearance.core.gates.registry import GateRegistry, default_registry
from clearance.core.loading import LoadedPolicy, load_policy, parse_policy
from clearance.core.results import Decision, GateStatus, Outcome
from clearance.core.version import ModelVersion
from clearance.core.waivers import Waiver
from clearance.errors import InputError, NotFound, TransitionRefused

S = GateStatus
DAY = dt.timedelta(days=1)

GATES: list[dict[str, Any]] = [
    {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7},
    {
        "id": "latency",
        "type": "metric_threshold",
        "metric": "latency_p95_ms",
        "max": 120,
        "severity": "warn",
        "remediation": "profile the feature pipeline",
    },
    {"id": "champ", "type": "champion_comparison", "metric": "auc", "max_degradation": 0.01},
    {"id": "card", "type": "documentation", "documents": [{"name": "model_card"}]},
]
TRANSITIONS = [
    {"from": "draft", "to": "staging", "gates": ["auc_floor"]},
    {
        "from": "staging",
        "to": "production",
        "gates": ["auc_floor", "latency", "champ", "card"],
        "approvals": [{"role": "model_owner"}],
    },
]
CHANGE_TYPES = {
    "emergency": {"bypass": ["champ"], "approvals": [{"role": "mlops_oncall"}]},
    "experiment": {"allowed_stages": ["staging"]},
}
CARD = b"# Model card\n\n## Intended use\nScoring.\n"


@pytest.fixture(scope="module")
def loaded(make_policy: Callable[..., LoadedPolicy]) -> LoadedPolicy:
    return make_policy(GATES, TRANSITIONS, change_types=CHANGE_TYPES)


@pytest.fixture(scope="module")
def good(make_version: Callable[..., ModelVersion]) -> ModelVersion:
    return make_version(documents={"model_card": CARD})


@pytest.fixture(scope="module")
def files() -> Any:
    return {"model_card": CARD}


@pytest.fixture
def decide(loaded: LoadedPolicy, good: ModelVersion, fake_evidence: type, now: dt.datetime) -> Any:
    """``evaluate`` for staging -> production with defaults for everything not given."""

    def go(
        version: ModelVersion | None = None,
        *,
        policy: LoadedPolicy | None = None,
        approvals: Sequence[Approval] = (),
        waivers: Sequence[Waiver] = (),
        at: dt.datetime = now,
        evidence: Any = None,
        to: str = "production",
        change_type: str = "standard",
        requester: str | None = None,
        **kw: Any,
    ) -> Decision:
        policy = policy or loaded
        version = version or good
        transition = resolve_transition(policy, None, to)
        request = Evaluation(
            policy,
            transition,
            version,
            evidence if evidence is not None else fake_evidence({"model_card": CARD}),
            at,
            approvals=list(approvals),
            waivers=list(waivers),
            change_type=change_type,
            requester=requester,
        )
        return evaluate(request, **kw)

    return go


def approve(who: str, *roles: str, at: dt.datetime, **kw: Any) -> Approval:
    return Approval(approver=who, roles=list(roles), at=at, **kw)


def waiver(gate: str = "auc_floor", **kw: Any) -> Waiver:
    data: dict[str, Any] = {
        "id": "W-1",
        "gate_id": gate,
        "model": "credit-default",
        "version": "7",
        "expires_at": dt.datetime(2026, 3, 8, tzinfo=dt.UTC),
        "justification": "known data issue; retrain scheduled",
        "granted_by": "risk-officer@example.com",
    }
    data.update(kw)
    return Waiver.model_validate(data)


def statuses(decision: Decision) -> dict[str, GateStatus]:
    return {g.gate_id: g.status for g in decision.gates}


def test_clean_version_needs_approval_then_is_allowed(decide: Any, good: Any, now: Any) -> None:
    d = decide()
    assert statuses(d) == {"auc_floor": S.PASS, "latency": S.PASS, "champ": S.PASS, "card": S.PASS}
    assert d.outcome is Outcome.NEEDS_APPROVAL
    assert d.summary == "gates pass; awaiting approval: model_owner (0/1)"
    assert d.exit_code == 0
    d = decide(approvals=[approve("olivia", "model_owner", at=now)])
    assert d.outcome is Outcome.ALLOW
    assert d.summary == "all gates pass; approvals complete"
    assert d.exit_code == 0
    assert (d.model, d.version, d.from_stage, d.to_stage) == (
        "credit-default",
        "7",
        "staging",
        "production",
    )
    assert d.policy == "demo" and d.policy_version == "1.0.0"


def test_failing_gate_denies(decide: Any, make_version: Any) -> None:
    version = make_version(
        metrics={"auc": 0.6, "latency_p95_ms": 80.0}, documents={"model_card": CARD}
    )
    d = decide(version)
    assert d.outcome is Outcome.DENY
    assert d.exit_code == 1
    assert statuses(d)["auc_floor"] is S.FAIL
    assert d.summary == "blocked by 2 gate(s): auc_floor, champ"


def test_error_denies(decide: Any, make_version: Any) -> None:
    d = decide(make_version())  # no model_card evidence recorded
    assert statuses(d)["card"] is S.ERROR
    assert d.outcome is Outcome.DENY
    assert d.gates[3].blocking


def test_rejection_denies_even_when_gates_pass(decide: Any, now: Any) -> None:
    approvals = [approve("olivia", "model_owner", at=now, verdict="reject", reason="no")]
    d = decide(approvals=approvals)
    assert d.outcome is Outcome.DENY
    assert d.exit_code == 1
    assert d.summary == "rejected by olivia"


@pytest.mark.parametrize(
    ("metrics", "unwaived"),
    [
        ({"auc": 0.812, "latency_p95_ms": 130.0}, "fail"),  # a fail
        ({"auc": 0.812}, "error"),  # an error: latency not recorded
    ],
)
def test_warn_severity_does_not_block(
    decide: Any, make_version: Any, metrics: dict[str, float], unwaived: str
) -> None:
    d = decide(make_version(metrics=metrics, documents={"model_card": CARD}))
    (latency,) = [g for g in d.gates if g.gate_id == "latency"]
    assert latency.status is S.WARN
    assert latency.details["unwaived_status"] == unwaived
    assert not latency.blocking
    assert latency.remediation == "profile the feature pipeline"
    assert d.outcome is Outcome.NEEDS_APPROVAL
    assert d.exit_code == 0


# --- waivers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weak(make_version: Callable[..., ModelVersion]) -> ModelVersion:
    """Fails only auc_floor (0.69 < 0.7) and passes the champion check (champion 0.695)."""
    return make_version(
        metrics={"auc": 0.69, "latency_p95_ms": 80.0},
        champion={"version": "6", "metrics": {"auc": 0.695}},
        documents={"model_card": CARD},
    )


def test_waiver_applies_before_expiry(decide: Any, weak: Any, now: Any) -> None:
    d = decide(weak, waivers=[waiver()], approvals=[approve("olivia", "model_owner", at=now)])
    (gate,) = [g for g in d.gates if g.gate_id == "auc_floor"]
    assert gate.status is S.WAIVED
    assert (gate.waiver, gate.waived_status) == ("W-1", S.FAIL)
    assert gate.message.startswith("waived (W-1, expires 2026-03-08 00:00 UTC): auc = 0.69")
    assert d.outcome is Outcome.ALLOW
    assert d.summary == "all gates pass (1 waived: auc_floor); approvals complete"


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (dt.datetime(2026, 3, 7, 23, 59, 59, tzinfo=dt.UTC), S.WAIVED),
        (dt.datetime(2026, 3, 8, tzinfo=dt.UTC), S.FAIL),  # expiry is exclusive
        (dt.datetime(2026, 4, 1, tzinfo=dt.UTC), S.FAIL),
    ],
)
def test_waiver_expires_on_the_injected_clock(
    decide: Any, weak: Any, at: dt.datetime, status: GateStatus
) -> None:
    assert statuses(decide(weak, waivers=[waiver()], at=at))["auc_floor"] is status


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({}, S.WAIVED),
        ({"version": None}, S.WAIVED),  # every version of the model
        ({"version": "8"}, S.FAIL),
        ({"model": "fraud"}, S.FAIL),
        ({"gate_id": "champ"}, S.FAIL),
        ({"revoked": True}, S.FAIL),
    ],
)
def test_waiver_only_for_its_model_version_and_gate(
    decide: Any, weak: Any, overrides: dict[str, Any], status: GateStatus
) -> None:
    assert statuses(decide(weak, waivers=[waiver(**overrides)]))["auc_floor"] is status


def test_waiver_does_not_touch_passing_gates(decide: Any) -> None:
    d = decide(waivers=[waiver(gate="latency")])
    assert statuses(d)["latency"] is S.PASS


def test_waiver_covers_a_warn_gate(decide: Any, make_version: Any) -> None:
    version = make_version(
        metrics={"auc": 0.812, "latency_p95_ms": 130.0}, documents={"model_card": CARD}
    )
    (gate,) = [
        g for g in decide(version, waivers=[waiver(gate="latency")]).gates if g.gate_id == "latency"
    ]
    assert (gate.status, gate.waived_status) == (S.WAIVED, S.WARN)


def test_longest_lasting_waiver_is_chosen(decide: Any, weak: Any) -> None:
    short = waiver(id="W-short", expires_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    long = waiver(id="W-long", expires_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    for order in ([short, long], [long, short]):
        (gate,) = [g for g in decide(weak, waivers=order).gates if g.gate_id == "auc_floor"]
        assert gate.waiver == "W-long"


# --- change types -----------------------------------------------------------------------------


def test_emergency_bypasses_only_listed_gates(decide: Any, make_version: Any, now: Any) -> None:
    worse = make_version(
        metrics={"auc": 0.75, "latency_p95_ms": 80.0}, documents={"model_card": CARD}
    )
    assert statuses(decide(worse))["champ"] is S.FAIL
    d = decide(worse, change_type="emergency")
    assert statuses(d) == {
        "auc_floor": S.PASS,
        "latency": S.PASS,
        "champ": S.SKIPPED,
        "card": S.PASS,
    }
    assert d.gates[2].message == "bypassed by the emergency change type"
    assert d.change_type == "emergency"
    # bypassing champ does not waive the floor
    bad = make_version(metrics={"auc": 0.6, "latency_p95_ms": 80.0}, documents={"model_card": CARD})
    assert decide(bad, change_type="emergency").outcome is Outcome.DENY


def test_emergency_uses_its_own_approvals(decide: Any, now: Any) -> None:
    owner = approve("olivia", "model_owner", at=now)
    oncall = approve("omar", "mlops_oncall", at=now)
    d = decide(change_type="emergency", approvals=[owner])
    assert d.outcome is Outcome.NEEDS_APPROVAL
    assert [r.role for r in d.approvals.roles] == ["mlops_oncall"]
    assert decide(change_type="emergency", approvals=[oncall]).outcome is Outcome.ALLOW
    assert decide(approvals=[oncall]).outcome is Outcome.NEEDS_APPROVAL  # standard: owner


def test_experiment_may_only_reach_its_allowed_stages(decide: Any) -> None:
    with pytest.raises(TransitionRefused, match="may only reach staging, not 'production'"):
        decide(change_type="experiment")
    assert decide(to="staging", change_type="experiment").to_stage == "staging"


def test_undefined_change_type_is_refused(decide: Any, make_policy: Any) -> None:
    with pytest.raises(TransitionRefused, match="defines no 'emergency' change type"):
        decide(policy=make_policy(GATES, TRANSITIONS), change_type="emergency")


def test_clock_must_be_timezone_aware(decide: Any) -> None:
    with pytest.raises(InputError, match="timezone-aware"):
        decide(at=dt.datetime(2026, 3, 1, 12, 0))


# --- near misses ------------------------------------------------------------------------------


def floor_policy(make_policy: Any, min_: float, **gate: Any) -> LoadedPolicy:
    spec = {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": min_, **gate}
    settings = gate.pop("settings", None)
    sections = {"settings": settings} if settings else {}
    spec.pop("settings", None)
    return make_policy([spec], **sections)


@pytest.mark.parametrize(
    ("min_", "gate", "near"),
    [
        (0.78, {}, True),  # margin 0.032 <= 5% of 0.78
        (0.77, {}, False),  # margin 0.042 > 0.0385
        (0.812, {}, True),  # exactly on the threshold
        (0.78, {"near_miss": 0.01}, False),  # per-gate override
        (0.7, {"near_miss": 0.2}, True),
        (0.7, {"settings": {"near_miss": 0.2}}, True),  # policy-wide setting
        (0.7, {"settings": {"near_miss": 0.2}, "near_miss": 0.0}, False),  # gate wins
        (0.9, {}, False),  # a fail is never a near miss
    ],
)
def test_near_miss(
    decide: Any, make_policy: Any, min_: float, gate: dict[str, Any], near: bool
) -> None:
    d = decide(policy=floor_policy(make_policy, min_, **gate))
    assert d.gates[0].near_miss is near


def test_champion_near_miss_is_a_share_of_the_limit(
    decide: Any, make_policy: Any, make_version: Any
) -> None:
    champ = {"id": "champ", "type": "champion_comparison", "metric": "auc", "max_degradation": 0.1}
    policy = make_policy([champ])
    # change -0.0955: margin 0.0045 <= 5% of the 0.1 limit
    close = make_version(metrics={"auc": 0.7095})
    assert decide(close, policy=policy).gates[0].near_miss is True
    assert decide(policy=policy).gates[0].near_miss is False


# --- robustness -------------------------------------------------------------------------------


class Boom:
    name: ClassVar[str] = "boom"
    summary: ClassVar[str] = "Always raises."
    Params: ClassVar[type[GateParams]] = GateParams

    def evaluate(self, params: Any, ctx: GateContext) -> Measurement:
        raise RuntimeError("kaput")


def test_an_evaluator_that_raises_is_an_error_result(decide: Any, policy_data: Any) -> None:
    import yaml

    registry = GateRegistry(dict(default_registry()))
    registry.register(Boom)
    data = policy_data([{"id": "bang", "type": "boom"}, GATES[0]])
    policy = parse_policy([("p.yaml", yaml.safe_dump(data))], registry)
    d = decide(policy=policy, registry=registry)
    assert statuses(d) == {"bang": S.ERROR, "auc_floor": S.PASS}
    assert d.gates[0].message == "gate type 'boom' failed: RuntimeError: kaput"
    assert d.outcome is Outcome.DENY


def test_expired_gate_definition_is_flagged_but_still_evaluated(
    decide: Any, make_policy: Any
) -> None:
    spec = {**GATES[0], "expires": "2026-01-31"}
    d = decide(policy=make_policy([spec]))
    assert d.gates[0].status is S.PASS
    assert d.gates[0].details["gate_expired"] == "2026-01-31"
    assert d.gates[0].message.endswith(
        "[gate definition expired 2026-01-31: the policy owner should review it]"
    )


def test_gate_results_carry_policy_metadata(decide: Any, make_policy: Any) -> None:
    spec = {**GATES[0], "owner": "ml-lead@x", "rationale": "floor", "controls": ["SR11-7"]}
    (gate,) = decide(policy=make_policy([spec])).gates
    assert (gate.owner, gate.rationale, gate.controls, gate.type, gate.severity) == (
        "ml-lead@x",
        "floor",
        ["SR11-7"],
        "metric_threshold",
        "block",
    )


# --- transitions ------------------------------------------------------------------------------


def test_resolve_transition(loaded: LoadedPolicy, make_policy: Any) -> None:
    assert resolve_transition(loaded, None, "production").key == "staging -> production"
    assert resolve_transition(loaded, "staging", "production").key == "staging -> production"
    with pytest.raises(NotFound, match="'prod' is not a stage of policy demo"):
        resolve_transition(loaded, None, "prod")
    with pytest.raises(
        TransitionRefused, match="allows no transition from 'draft' to 'production'"
    ):
        resolve_transition(loaded, "draft", "production")
    with pytest.raises(TransitionRefused, match="allows no transition to 'draft'"):
        resolve_transition(loaded, None, "draft")
    two = make_policy(
        GATES[:1],
        [
            {"from": "draft", "to": "staging", "gates": ["auc_floor"]},
            {"from": "draft", "to": "production", "gates": ["auc_floor"]},
            {"from": "staging", "to": "production", "gates": ["auc_floor"]},
        ],
    )
    with pytest.raises(
        InputError, match=r"several transitions lead to 'production' \(from draft, staging\)"
    ):
        resolve_transition(two, None, "production")


# --- decision identity ------------------------------------------------------------------------


def test_same_inputs_same_decision(decide: Any, now: Any) -> None:
    approvals = [approve("olivia", "model_owner", at=now), approve("ann", "x", at=now - DAY)]
    a = decide(approvals=approvals, waivers=[waiver(), waiver(id="W-2")])
    b = decide(approvals=approvals[::-1], waivers=[waiver(id="W-2"), waiver()])
    assert a.model_dump_json() == b.model_dump_json()
    assert a.decision_id == b.decision_id
    assert len(a.decision_id) == 64


def test_input_order_never_changes_the_decision(decide: Any, now: Any) -> None:
    # Same person, same instant, different verdicts; same waiver id, different content: the
    # latest-verdict rule and the input digests must not depend on which came first.
    a = approve("olivia", "model_owner", at=now, evidence_digest="a" * 64)
    b = approve("olivia", "model_owner", at=now, verdict="reject")
    w1, w2 = waiver(), waiver(revoked=True)
    first = decide(approvals=[a, b], waivers=[w1, w2])
    second = decide(approvals=[b, a], waivers=[w2, w1])
    assert first.model_dump_json() == second.model_dump_json()
    assert first.approvals.rejected_by == ["olivia"]  # at a tie the rejection stands


def test_every_input_changes_the_decision_id(
    decide: Any, good: ModelVersion, make_policy: Any, fake_evidence: type, now: Any
) -> None:
    base = decide()
    variants = {
        "policy": decide(
            policy=make_policy(
                GATES, TRANSITIONS, change_types={**CHANGE_TYPES, "emergency": {"bypass": []}}
            )
        ),
        "version": decide(good.model_copy(update={"version": "7.1"})),
        "metric": decide(good.model_copy(update={"metrics": {**good.metrics, "auc": 0.813}})),
        "approval": decide(approvals=[approve("olivia", "model_owner", at=now)]),
        "waiver": decide(waivers=[waiver()]),
        "clock": decide(at=now + dt.timedelta(seconds=1)),
        "change_type": decide(change_type="emergency"),
        "requester": decide(requester="someone"),
        "transition": decide(to="staging"),
    }
    ids = {name: d.decision_id for name, d in variants.items()}
    assert base.decision_id not in ids.values()
    assert len(set(ids.values())) == len(ids)
    assert variants["policy"].inputs.policy_hash != base.inputs.policy_hash
    assert variants["metric"].inputs.version_digest != base.inputs.version_digest
    assert variants["approval"].inputs.approvals_digest != base.inputs.approvals_digest
    assert variants["waiver"].inputs.waivers_digest != base.inputs.waivers_digest
    assert variants["clock"].inputs.now != base.inputs.now
    for name in ("approval", "waiver", "clock", "change_type", "requester"):
        assert variants[name].inputs.version_digest == base.inputs.version_digest, name


def test_evidence_content_is_in_the_inputs(
    decide: Any, make_version: Any, fake_evidence: type
) -> None:
    other = CARD + b"\n## Limitations\nnone known\n"
    a = decide()
    b = decide(
        make_version(documents={"model_card": other}), evidence=fake_evidence({"model_card": other})
    )
    assert a.inputs.evidence["model_card"] != b.inputs.evidence["model_card"]
    assert a.decision_id != b.decision_id
    assert b.gates[3].evidence["model_card"] == b.inputs.evidence["model_card"]


def test_evidence_digest_is_of_the_version(good: ModelVersion) -> None:
    assert evidence_digest(good) == evidence_digest(good.model_copy())
    assert evidence_digest(good) != evidence_digest(good.model_copy(update={"stage": "draft"}))


# --- the shipped examples, end to end through the manifest reader ------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MANIFESTS = sorted(EXAMPLES.glob("*/*/manifest.yaml"))


@pytest.mark.parametrize(
    "manifest", MANIFESTS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}"
)
def test_examples_pass_or_block_as_named(manifest: Path, now: dt.datetime) -> None:
    folder = manifest.parent.parent
    policy = load_policy(
        folder / "policy" if (folder / "policy").is_dir() else folder / "policy.yaml"
    )
    version, evidence = load_manifest(manifest)
    transition = resolve_transition(policy, version.stage, "production")
    decision = evaluate(Evaluation(policy, transition, version, evidence, now))
    expected = Outcome.DENY if manifest.parent.name.endswith("-blocked") else Outcome.NEEDS_APPROVAL
    assert decision.outcome is expected, decision.summary
    again = evaluate(Evaluation(policy, transition, *load_manifest(manifest), now))
    assert again.model_dump_json() == decision.model_dump_json()


def test_there_are_examples_to_check() -> None:
    assert len(MANIFESTS) >= 2
