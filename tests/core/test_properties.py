"""Property tests: determinism, monotone thresholds, robust loading, order-free approvals."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clearance.core.approvals import Approval, approval_status
from clearance.core.engine import Evaluation, evaluate, resolve_transition
from clearance.core.gates.base import GateContext, check_bound
from clearance.core.gates.champion_comparison import ChampionComparison, ChampionComparisonParams
from clearance.core.loading import LoadedPolicy, parse_policy
from clearance.core.policy import ApprovalRequirement, ApprovalRules
from clearance.core.results import GateStatus
from clearance.core.version import ModelVersion
from clearance.core.waivers import Waiver
from clearance.errors import PolicyError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk" / "policy"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0, max_value=1, allow_nan=False)
names = st.sampled_from(["alice", "bob", "carol", "dave", "rita"])
roles = st.sampled_from(["A", "B", "C"])
times = st.integers(min_value=0, max_value=4).map(lambda m: T0 + dt.timedelta(minutes=m))
digests = st.sampled_from([None, "a" * 64, "b" * 64])


# --- (1) the engine is deterministic ---------------------------------------------------------

POLICY_GATES: list[dict[str, Any]] = [
    {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7},
    {"id": "latency", "type": "metric_threshold", "metric": "lat", "max": 120, "severity": "warn"},
    {
        "id": "champ",
        "type": "champion_comparison",
        "metric": "auc",
        "max_relative_degradation": 0.01,
        "when_no_champion": "skip",
    },
    {"id": "card", "type": "documentation", "documents": [{"name": "card", "sections": ["Use"]}]},
    {"id": "repro", "type": "reproducibility"},
    {"id": "pii", "type": "expression", "expr": '!version.features.exists(f, f == "email")'},
]

approvals_st = st.lists(
    st.builds(
        Approval,
        approver=names,
        roles=st.lists(roles, min_size=1, max_size=3, unique=True),
        verdict=st.sampled_from(["approve", "approve", "reject"]),
        at=times,
        evidence_digest=digests,
    ),
    max_size=6,
)
waivers_st = st.lists(
    st.builds(
        Waiver,
        id=st.sampled_from(["W-1", "W-2", "W-3"]),
        gate_id=st.sampled_from([g["id"] for g in POLICY_GATES]),
        model=st.sampled_from(["credit-default", "fraud"]),
        version=st.sampled_from([None, "7", "8"]),
        expires_at=times,
        justification=st.just("j"),
        granted_by=st.just("g"),
        revoked=st.booleans(),
    ),
    max_size=3,
    unique_by=lambda w: w.id,
)


@st.composite
def versions(draw: st.DrawFn, make_version: Callable[..., ModelVersion]) -> ModelVersion:
    metrics = draw(
        st.dictionaries(st.sampled_from(["auc", "lat"]), unit.map(lambda x: round(x, 3)))
    )
    champion = draw(st.one_of(st.none(), st.builds(lambda a: {"metrics": {"auc": a}}, unit)))
    features = draw(st.lists(st.sampled_from(["income", "email", "age"]), max_size=3))
    card = draw(st.sampled_from([None, b"", b"# Use\nscoring\n", b"# Other\n"]))
    docs = {} if card is None else {"card": card}
    return make_version(metrics=metrics, champion=champion, features=features, documents=docs)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_engine_is_deterministic(
    data: st.DataObject,
    make_policy: Callable[..., LoadedPolicy],
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
) -> None:
    policy = make_policy(
        POLICY_GATES,
        change_types={"emergency": {"bypass": ["champ"], "approvals": [{"role": "C"}]}},
    )
    version = data.draw(versions(make_version))
    approvals = data.draw(approvals_st)
    waivers = data.draw(waivers_st)
    now = data.draw(times)
    change_type = data.draw(st.sampled_from(["standard", "emergency"]))
    requester = data.draw(st.one_of(st.none(), names))
    recorded = version.artifact.sha256 if version.artifact else None
    artifact = data.draw(st.sampled_from([None, recorded, "c" * 64]))
    card = data.draw(st.sampled_from([b"", b"# Use\nok\n"]))
    files = dict.fromkeys(version.evidence, card)
    transition = resolve_transition(policy, None, "production")

    def run(v: ModelVersion, approvals: list[Approval], waivers: list[Waiver]) -> str:
        decision = evaluate(
            Evaluation(
                policy,
                transition,
                v,
                fake_evidence(files, artifact_sha=artifact),
                now,
                approvals=approvals,
                waivers=waivers,
                change_type=change_type,
                requester=requester,
            )
        )
        return decision.model_dump_json()

    first = run(version, approvals, waivers)
    assert run(version, approvals, waivers) == first
    # the same inputs, rebuilt from their JSON form and given in another order, decide the same,
    # byte for byte (decision id and input digests included)
    rebuilt = ModelVersion.model_validate_json(version.model_dump_json())
    shuffled_approvals = data.draw(st.permutations(approvals))
    shuffled_waivers = data.draw(st.permutations(waivers))
    assert run(rebuilt, shuffled_approvals, shuffled_waivers) == first


# --- (2) tightening a threshold never turns a fail into a pass ---------------------------------


@FAST
@given(value=finite, bound=finite, tighten=st.floats(min_value=0, max_value=1e6))
def test_raising_a_min_never_turns_a_fail_into_a_pass(
    value: float, bound: float, tighten: float
) -> None:
    loose = check_bound(value, min=bound, max=None, what="m")
    tight = check_bound(value, min=bound + tighten, max=None, what="m")
    if loose.status is GateStatus.FAIL:
        assert tight.status is GateStatus.FAIL
    assert tight.margin is not None and loose.margin is not None
    assert tight.margin <= loose.margin


@FAST
@given(value=finite, bound=finite, tighten=st.floats(min_value=0, max_value=1e6))
def test_lowering_a_max_never_turns_a_fail_into_a_pass(
    value: float, bound: float, tighten: float
) -> None:
    loose = check_bound(value, min=None, max=bound, what="m")
    tight = check_bound(value, min=None, max=bound - tighten, what="m")
    if loose.status is GateStatus.FAIL:
        assert tight.status is GateStatus.FAIL


@FAST
@given(
    value=finite,
    low=finite,
    width=st.floats(min_value=0, max_value=1e6),
    raise_min=st.floats(min_value=0, max_value=1e6),
    lower_max=st.floats(min_value=0, max_value=1e6),
)
def test_tightening_both_bounds_through_the_loader(
    value: float, low: float, width: float, raise_min: float, lower_max: float
) -> None:
    from clearance.core.gates.metric_threshold import MetricThreshold, MetricThresholdParams

    high = low + width
    assume(low + raise_min <= high - lower_max)
    gate = MetricThreshold()
    ctx = GateContext(
        ModelVersion.model_validate(
            {"model": {"name": "m"}, "version": "1", "metrics": {"x": value}}
        ),
        evidence=None,  # type: ignore[arg-type]
        now=T0,
        from_stage="a",
        to_stage="b",
    )
    loose = gate.evaluate(MetricThresholdParams(metric="x", min=low, max=high), ctx)
    tight = gate.evaluate(
        MetricThresholdParams(metric="x", min=low + raise_min, max=high - lower_max), ctx
    )
    if loose.status is GateStatus.FAIL:
        assert tight.status is GateStatus.FAIL


@FAST
@given(
    candidate=unit,
    champion=st.floats(min_value=0.01, max_value=1),
    limit=st.floats(min_value=0, max_value=1),
    tighten=st.floats(min_value=0, max_value=1),
    kind=st.sampled_from(["max_degradation", "max_relative_degradation"]),
    higher=st.booleans(),
)
def test_a_smaller_allowed_degradation_never_turns_a_fail_into_a_pass(
    candidate: float,
    champion: float,
    limit: float,
    tighten: float,
    kind: str,
    higher: bool,
) -> None:
    ctx = GateContext(
        ModelVersion.model_validate(
            {
                "model": {"name": "m"},
                "version": "1",
                "metrics": {"x": candidate},
                "champion": {"metrics": {"x": champion}},
            }
        ),
        evidence=None,  # type: ignore[arg-type]
        now=T0,
        from_stage="a",
        to_stage="b",
    )
    gate = ChampionComparison()

    def status(allowed: float) -> GateStatus:
        params = ChampionComparisonParams(metric="x", higher_is_better=higher, **{kind: allowed})
        return gate.evaluate(params, ctx).status

    if status(limit) is GateStatus.FAIL:
        assert status(max(0.0, limit - tighten)) is GateStatus.FAIL


# --- (3) malformed policy text only ever raises PolicyError ------------------------------------

VALID_FILES = sorted((p.name, p.read_text(encoding="utf-8")) for p in EXAMPLE.glob("*.yaml"))
VALID_TEXT = "\n".join(
    text if i == 0 else text.split("kind: Policy\n", 1)[1]
    for i, (_, text) in enumerate(VALID_FILES)
)
VALID_DOC = yaml.safe_load(VALID_TEXT)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["clearance/v1", "Policy", "1.0.0", "draft", "metric_threshold", "auc"]),
    st.dates(),
)
keys = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        ["apiVersion", "kind", "metadata", "workflow", "gates", "id", "type", "min", "params",
         "transitions", "from", "to", "stages", "approvals", "role", "change_types", "expr"]
    ),
)  # fmt: skip
nested = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=20,
)


def assert_only_policy_errors(text: str, name: str = "fuzz.yaml") -> None:
    try:
        parse_policy([(name, text)])
    except PolicyError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.location.file == name, problem
            assert problem.location.line is not None and problem.location.line >= 1, problem
            assert problem.location.column is not None and problem.location.column >= 1
            assert problem.severity == "error"
            # where and what are one line (values quoted in messages may hold what they hold)
            assert "\n" not in f"{problem.location} {problem.field}"


@FAST
@given(text=st.text(max_size=200))
def test_random_text_raises_only_policy_error(text: str) -> None:
    assert_only_policy_errors(text)


@st.composite
def mutations(draw: st.DrawFn) -> str:
    text = VALID_TEXT
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        n = len(text)
        i = draw(st.integers(min_value=0, max_value=n))
        j = draw(st.integers(min_value=i, max_value=min(n, i + 40)))
        op = draw(st.sampled_from(["truncate", "delete", "insert", "replace", "dup-line"]))
        if op == "truncate":
            text = text[:i]
        elif op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            junk = draw(st.text(alphabet=" :-[]{}#&*!|>'\"\t\n,?%@`abc0123", max_size=8))
            text = text[:i] + junk + text[i:]
        elif op == "replace":
            text = text[:i] + draw(st.text(max_size=3)) + text[j:]
        else:
            lines = text.splitlines(keepends=True)
            k = draw(st.integers(min_value=0, max_value=max(0, len(lines) - 1)))
            text = "".join(lines[: k + 1] + lines[k:])
    return text


@settings(max_examples=150, deadline=None)
@given(text=mutations())
def test_mutated_policy_raises_only_policy_error(text: str) -> None:
    assert_only_policy_errors(text)


@FAST
@given(data=nested)
def test_random_data_raises_only_policy_error(data: Any) -> None:
    assert_only_policy_errors(yaml.safe_dump(data))


@st.composite
def grafted(draw: st.DrawFn) -> Any:
    """The valid policy with one subtree replaced by random data: reaches deep validation."""
    doc = copy.deepcopy(VALID_DOC)
    node: Any = doc
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict | list) or draw(st.booleans()):
                node[key] = draw(nested)
                return doc
            node = node[key]
        elif isinstance(node, list) and node:
            k = draw(st.integers(min_value=0, max_value=len(node) - 1))
            if not isinstance(node[k], dict | list) or draw(st.booleans()):
                node[k] = draw(nested)
                return doc
            node = node[k]
    if isinstance(node, dict):
        node[draw(keys)] = draw(nested)
    return doc


@settings(max_examples=150, deadline=None)
@given(doc=grafted())
def test_grafted_policy_raises_only_policy_error(doc: Any) -> None:
    assert_only_policy_errors(yaml.safe_dump(doc, sort_keys=False))


# --- (4) approval counting does not depend on the order approvals arrive in ---------------------

requirements_st = st.lists(
    st.builds(ApprovalRequirement, role=roles, count=st.integers(min_value=1, max_value=2)),
    max_size=3,
    unique_by=lambda r: r.role,
)
rules_st = st.builds(
    ApprovalRules, allow_self_approval=st.booleans(), one_person_counts_once=st.booleans()
)


@settings(max_examples=200, deadline=None)
@given(
    requirements=requirements_st,
    approvals=approvals_st,
    rules=rules_st,
    requester=st.one_of(st.none(), names),
    current=digests,
    data=st.data(),
)
def test_approval_counting_ignores_order(
    requirements: list[ApprovalRequirement],
    approvals: list[Approval],
    rules: ApprovalRules,
    requester: str | None,
    current: str | None,
    data: st.DataObject,
) -> None:
    shuffled = data.draw(st.permutations(approvals))
    a = approval_status(
        requirements, approvals, rules, requester=requester, evidence_digest=current
    )
    b = approval_status(requirements, shuffled, rules, requester=requester, evidence_digest=current)
    assert a == b
    for role in a.roles:
        assert len(role.approved_by) <= role.required
        assert requester not in role.approved_by or rules.allow_self_approval
    if rules.one_person_counts_once:
        people = [p for r in a.roles for p in r.approved_by]
        assert len(people) == len(set(people))
