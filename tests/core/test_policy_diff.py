"""`policy diff`: every loosening of the credit-risk example is flagged, tightenings are not,
and the diff is symmetric where direction is defined (hypothesis)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.core.loading import LoadedPolicy, parse_policy, read_policy_files
from clearance.core.policy_diff import Change, diff_policies

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk" / "policy"
SOURCES = [(name, yaml.safe_load(text)) for name, text in read_policy_files(EXAMPLE)]


def _policy(*steps: Callable[[dict[str, Any]], None], version: str = "1.3.0") -> LoadedPolicy:
    """The example as one document (gates of every file together), edited by ``steps``."""
    doc: dict[str, Any] = {}
    for _, part in copy.deepcopy(SOURCES):
        gates = part.pop("gates", [])
        doc.update(part)
        doc.setdefault("gates", []).extend(gates)
    for step in steps:
        step(doc)
    doc["metadata"]["version"] = version
    return parse_policy([("policy.yaml", yaml.safe_dump(doc, sort_keys=False))])


def _gate(doc: dict[str, Any], gid: str) -> dict[str, Any]:
    return next(g for g in doc["gates"] if g["id"] == gid)


BASE = _policy(version="1.2.0")


def _diff(*steps: Callable[[dict[str, Any]], None]) -> list[Change]:
    return list(diff_policies(BASE, _policy(*steps)).changes)


def _only(changes: list[Change]) -> Change:
    assert len(changes) == 1, [c.to_dict() for c in changes]
    return changes[0]


def test_the_same_policy_has_no_changes() -> None:
    assert diff_policies(BASE, _policy(version="1.2.0")).changes == ()
    assert diff_policies(BASE, _policy()).changes == ()  # a new version alone changes nothing


def test_a_change_without_a_raised_version_is_reported() -> None:
    raised = _policy(lambda d: _gate(d, "auc_floor").update(min=0.8), version="1.2.0")
    changes = diff_policies(BASE, raised).changes
    assert [c.kind for c in changes] == ["tightened", "changed"]
    assert changes[-1].path == "metadata.version" and not changes[-1].loosens


@pytest.mark.parametrize(
    ("edit", "path", "kind", "loosens"),
    [
        (lambda d: _gate(d, "auc_floor").update(min=0.60), "gates.auc_floor.min", "loosened", True),
        (
            lambda d: _gate(d, "auc_floor").update(min=0.90),
            "gates.auc_floor.min",
            "tightened",
            False,
        ),
        (
            lambda d: _gate(d, "auc_floor").update(severity="warn"),
            "gates.auc_floor.severity",
            "loosened",
            True,
        ),
        (
            lambda d: _gate(d, "latency_p95").update(max=500),
            "gates.latency_p95.max",
            "loosened",
            True,
        ),
        (
            lambda d: d.update(approval_rules={"allow_self_approval": True}),
            "approval_rules.allow_self_approval",
            "loosened",
            True,
        ),
        (
            lambda d: d.update(approval_rules={"one_person_counts_once": False}),
            "approval_rules.one_person_counts_once",
            "loosened",
            True,
        ),
        (
            lambda d: d["change_types"]["emergency"]["bypass"].append("approval_rate_parity"),
            "change_types.emergency.bypass",
            "loosened",
            True,
        ),
        (
            lambda d: d["change_types"]["emergency"].update(expires_after="30d"),
            "change_types.emergency.expires_after",
            "loosened",
            True,
        ),
        (
            lambda d: d["change_types"]["emergency"].update(post_incident_review_within="1d"),
            "change_types.emergency.post_incident_review_within",
            "tightened",
            False,
        ),
        (lambda d: d["selector"].update(risk_tier=[]), "selector.risk_tier", "loosened", True),
        (lambda d: d["selector"].update(tags={}), "selector.tags.domain", "loosened", True),
        (
            lambda d: d.update(access={"request": ["ml_engineer", "model_owner", "intern"]}),
            "access.request",
            "loosened",
            True,
        ),
        (
            lambda d: d.update(waivers={**d.get("waivers", {}), "max_duration": "365d"}),
            "waivers.max_duration",
            "loosened",
            True,
        ),
    ],
)
def test_each_change_is_judged(
    edit: Callable[[dict[str, Any]], None], path: str, kind: str, loosens: bool
) -> None:
    change = _only(_diff(edit))
    assert (change.path, change.kind, change.loosens) == (path, kind, loosens)
    assert change.location is not None and change.location.file == "policy.yaml"


def _production(doc: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in doc["workflow"]["transitions"] if t["to"] == "production")


def test_a_gate_left_out_of_a_transition_and_a_removed_gate_are_loosenings() -> None:
    def drop_pii(doc: dict[str, Any]) -> None:
        _production(doc)["gates"].remove("no_pii_features")
        doc["gates"] = [g for g in doc["gates"] if g["id"] != "no_pii_features"]

    changes = _diff(drop_pii)
    assert {(c.path, c.kind) for c in changes} == {
        ("workflow.transitions[staging -> production].gates", "loosened"),
        ("gates.no_pii_features", "removed"),
    }
    assert all(c.loosens for c in changes)


def test_fewer_sign_offs_and_a_shortcut_to_production_are_loosenings() -> None:
    def fewer(doc: dict[str, Any]) -> None:
        _production(doc)["approvals"] = [{"role": "model_owner"}]

    changes = _diff(fewer)
    assert sorted(c.note for c in changes) == [
        "sign-off by compliance_officer no longer required",
        "sign-off by risk_officer no longer required",
    ]
    shortcut = _only(
        _diff(lambda d: d["workflow"]["transitions"].append({"from": "draft", "to": "production"}))
    )
    assert shortcut.kind == "added" and shortcut.loosens and "no gates" in shortcut.note


def test_the_issue_s_one_person_path_is_all_flagged() -> None:
    """Issue 16: self-approval on, one open transition, then AUC 0.1 and PII straight through."""

    def one_person(doc: dict[str, Any]) -> None:
        doc["approval_rules"] = {"allow_self_approval": True}
        doc["workflow"]["transitions"].append({"from": "draft", "to": "production"})

    found = diff_policies(BASE, _policy(one_person))
    assert {c.path for c in found.loosenings} == {
        "approval_rules.allow_self_approval",
        "workflow.transitions[draft -> production]",
    }
    assert found.to_dict()["loosenings"] == 2


def test_an_expression_change_is_shown_for_review_not_judged() -> None:
    def edit(doc: dict[str, Any]) -> None:
        gate = _gate(doc, "no_pii_features")
        gate["expr"] = "true"

    change = _only(_diff(edit))
    assert change.kind == "changed" and not change.loosens and change.new == "true"


@settings(max_examples=60, deadline=None)
@given(old=st.floats(0.5, 0.99), new=st.floats(0.5, 0.99))
def test_a_floor_moved_one_way_is_the_opposite_of_moving_it_back(old: float, new: float) -> None:
    a = _policy(lambda d: _gate(d, "auc_floor").update(min=old))
    b = _policy(lambda d: _gate(d, "auc_floor").update(min=new))
    forward = [c for c in diff_policies(a, b).changes if c.path != "metadata.version"]
    back = [c for c in diff_policies(b, a).changes if c.path != "metadata.version"]
    if old == new:
        assert forward == back == []
        return
    assert len(forward) == len(back) == 1
    assert {forward[0].kind, back[0].kind} == {"tightened", "loosened"}
    assert forward[0].loosens == (new < old)


DATA_POLICY = Path(__file__).resolve().parents[2] / "examples" / "credit-risk-data" / "policy"


def _data_policy(*steps: Callable[[dict[str, Any]], None]) -> LoadedPolicy:
    ((name, text),) = read_policy_files(DATA_POLICY)
    doc = yaml.safe_load(text)
    for step in steps:
        step(doc)
    return parse_policy([(name, yaml.safe_dump(doc, sort_keys=False))])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda g: g["max_null_fraction"].update(score=0.1),
            ("max_null_fraction.score", "loosened"),
        ),
        (lambda g: g["max_null_fraction"].pop("score"), ("max_null_fraction.score", "removed")),
        (lambda g: g["ranges"]["score"].update(max=2), ("ranges.score.max", "loosened")),
        (lambda g: g["ranges"]["score"].update(min=0.1), ("ranges.score.min", "tightened")),
        (lambda g: g["freshness"].update(max_age="30d"), ("freshness.max_age", "loosened")),
        (lambda g: g["freshness"].update(max_age="1d"), ("freshness.max_age", "tightened")),
        (lambda g: g.update(min_rows=100), ("min_rows", "loosened")),
        (lambda g: g.update(unique=[]), ("unique", "loosened")),
        (lambda g: g.update(max_violation_share=0.2), ("max_violation_share", "loosened")),
    ],
)
def test_nested_limits_and_durations_in_gate_params_are_judged(
    edit: Callable[[dict[str, Any]], None], expected: tuple[str, str]
) -> None:
    def step(doc: dict[str, Any]) -> None:
        edit(_gate(doc, "evaluation_quality"))
        doc["metadata"]["version"] = "9.9.9"

    changes = diff_policies(_data_policy(), _data_policy(step)).changes
    assert [(c.path.split(".", 2)[2], c.kind) for c in changes] == [expected]
    assert changes[0].loosens == (expected[1] in ("loosened", "removed"))


def test_a_gate_type_s_declared_strictness_overrides_the_name() -> None:
    """fairness: a larger min_group_size leaves more groups unjudged, a loosening."""

    def step(doc: dict[str, Any]) -> None:
        gate = next(g for g in doc["gates"] if g["type"] == "fairness")
        gate["min_group_size"] = 500
        doc["metadata"]["version"] = "9.9.9"

    (change,) = diff_policies(_data_policy(), _data_policy(step)).changes
    assert change.path.endswith("min_group_size") and change.kind == "loosened"


RECOMMENDER = Path(__file__).resolve().parents[2] / "examples" / "recommender" / "policy.yaml"


def _canary(*steps: Callable[[dict[str, Any]], None]) -> list[Change]:
    """Changes to the recommender's canary (seed 004's triggers and error budget)."""

    def loaded(edits: tuple[Callable[[dict[str, Any]], None], ...], version: str) -> LoadedPolicy:
        doc = yaml.safe_load(RECOMMENDER.read_text())
        for step in edits:
            step(doc["workflow"]["transitions"][1]["rollout"])
        doc["metadata"]["version"] = version
        return parse_policy([("policy.yaml", yaml.safe_dump(doc, sort_keys=False))])

    return list(diff_policies(loaded((), "1.1.0"), loaded(steps, "1.2.0")).changes)


def _kpi(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(k for k in plan["kpis"] if k["name"] == name)


@pytest.mark.parametrize(
    ("edit", "path", "kind", "loosens"),
    [
        (  # the issue's case: the 0.5% error-rate rollback rewritten as exclusive
            lambda p: _kpi(p, "error_rate").update(rollback_when="error_rate > 0.5%"),
            "kpis.error_rate.rollback_when",
            "loosened",
            True,
        ),
        (
            lambda p: _kpi(p, "error_rate").update(rollback_when=[">= 0.5%", ">= 0.2%"]),
            "kpis.error_rate.rollback_when",
            "tightened",
            False,
        ),
        (lambda p: _kpi(p, "ctr").update({"for": "1h"}), "kpis.ctr.for", "loosened", True),
        (
            lambda p: _kpi(p, "latency_p95_ms").update({"for": "1h"}),
            "kpis.latency_p95_ms.for",
            "loosened",
            True,
        ),
        (
            lambda p: _kpi(p, "latency_p95_ms").update({"for": "5m"}),
            "kpis.latency_p95_ms.for",
            "tightened",
            False,
        ),
        (
            lambda p: _kpi(p, "latency_p95_ms").pop("for"),
            "kpis.latency_p95_ms.for",
            "tightened",
            False,
        ),
        (
            lambda p: _kpi(p, "error_rate")["source"]["prometheus"].update(query="vector(0)"),
            "kpis.error_rate.source",
            "changed",
            True,
        ),
        (lambda p: p.update(error_budgets=[]), "error_budgets.error_rate", "removed", True),
        (
            lambda p: p["error_budgets"][0].update(objective="99%"),
            "error_budgets.error_rate",
            "changed",
            True,
        ),
    ],
)
def test_canary_triggers_windows_and_budgets_are_judged(
    edit: Callable[[dict[str, Any]], None], path: str, kind: str, loosens: bool
) -> None:
    change = _only(_canary(edit))
    assert change.path.endswith(path), change.path
    assert (change.kind, change.loosens) == (kind, loosens)
    assert change.location is not None
