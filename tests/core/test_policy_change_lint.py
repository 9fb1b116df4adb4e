"""Lint warnings that keep a policy reviewable: expired and ownerless gates, and gates that
nothing evaluates (a change type that bypasses one does not count as using it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import yaml

from clearance.core.lint import ownership_problems, review_problems
from clearance.core.loading import check_policy, parse_policy

PolicyData = Callable[..., dict[str, Any]]
FLOOR = {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7}
LATENCY = {"id": "latency", "type": "metric_threshold", "metric": "latency_p95_ms", "max": 120}


def loaded(data: dict[str, Any]) -> Any:
    return parse_policy([("policy.yaml", yaml.safe_dump(data, sort_keys=False))])


def test_a_gate_without_an_owner_is_a_warning_at_its_id(policy_data: PolicyData) -> None:
    policy = loaded(policy_data([FLOOR]))
    (problem,) = ownership_problems(policy.policy, policy.positions)
    assert (problem.severity, problem.code, problem.field) == (
        "warning",
        "ownerless-gate",
        "gates[0].id",
    )
    assert problem.location == policy.positions.locate(("gates", 0, "id"))
    owned = loaded(policy_data([{**FLOOR, "owner": "ml-lead@bank.example"}]))
    assert ownership_problems(owned.policy, owned.positions) == []
    blank = loaded(policy_data([{**FLOOR, "owner": "  "}]))
    assert [p.code for p in ownership_problems(blank.policy, blank.positions)] == ["ownerless-gate"]


def test_review_problems_report_expired_and_ownerless_gates(policy_data: PolicyData) -> None:
    gates = [{**FLOOR, "expires": "2026-06-30", "owner": "a@b.example"}, LATENCY]
    data = policy_data(gates)
    data["workflow"]["transitions"][0]["gates"] = ["auc_floor", "latency"]
    policy = loaded(data)
    found = review_problems(policy.policy, policy.positions, dt.date(2026, 7, 1))
    assert [(p.code, p.field) for p in found] == [
        ("expired-gate", "gates[0].expires"),
        ("ownerless-gate", "gates[1].id"),
    ]
    before = review_problems(policy.policy, policy.positions, dt.date(2026, 6, 30))
    assert [p.code for p in before] == ["ownerless-gate"]


def test_a_gate_only_a_change_type_bypasses_is_still_unused(policy_data: PolicyData) -> None:
    data = policy_data([FLOOR, LATENCY], change_types={"emergency": {"bypass": ["latency"]}})
    data["workflow"]["transitions"][0]["gates"] = ["auc_floor"]
    data["workflow"]["transitions"][1]["gates"] = ["auc_floor"]
    _, problems = check_policy([("policy.yaml", yaml.safe_dump(data, sort_keys=False))])
    (unused,) = [p for p in problems if p.code == "unused-gate"]
    assert unused.message == (
        "gate 'latency' is not used by any transition (change type emergency bypasses it, "
        "but no transition evaluates it)"
    )


def test_change_control_is_part_of_the_policy(policy_data: PolicyData) -> None:
    data = policy_data([FLOOR])
    data["change_control"] = {"approvals": [{"role": "risk_officer", "count": 2}]}
    policy = loaded(data).policy
    assert [(r.role, r.count) for r in policy.change_control.approvals] == [("risk_officer", 2)]
    assert policy.change_control.loosening_approvals == 2
    data["change_control"] = {"loosening_approvals": 1}
    _, problems = check_policy([("policy.yaml", yaml.safe_dump(data, sort_keys=False))])
    assert [(p.code, p.field) for p in problems] == [
        ("invalid", "change_control.loosening_approvals")
    ]


def test_an_unset_change_control_keeps_the_hash(policy_data: PolicyData) -> None:
    """Applied policies keep their content hash: the section's defaults are left out."""
    data = policy_data([FLOOR])
    explicit = {**data, "change_control": {"approvals": [], "loosening_approvals": 2}}
    assert loaded(data).content_hash == loaded(explicit).content_hash
