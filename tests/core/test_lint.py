"""Whole-policy checks: errors that make a policy unusable, warnings a reviewer should see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from clearance.core.lint import expiry_problems
from clearance.core.loading import check_policy, parse_policy
from clearance.errors import Problem

PolicyData = Callable[..., dict[str, Any]]
FLOOR = {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7}
LATENCY = {"id": "latency", "type": "metric_threshold", "metric": "latency_p95_ms", "max": 120}


def findings(data: dict[str, Any]) -> list[Problem]:
    _, problems = check_policy([("policy.yaml", yaml.safe_dump(data, sort_keys=False))])
    for p in problems:
        assert p.location.file == "policy.yaml"
        assert p.location.line is not None and p.location.line >= 1
    return problems


def summary(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [(p.severity, p.code, p.field) for p in problems]


def t(frm: str, to: str, gates: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    return {"from": frm, "to": to, "gates": gates or [], **kw}


def test_clean_policy_has_no_findings(policy_data: PolicyData) -> None:
    assert findings(policy_data()) == []


def test_undefined_gate_reference_suggests_the_close_name(policy_data: PolicyData) -> None:
    data = policy_data(
        [FLOOR], [t("draft", "staging", ["auc_flor"]), t("staging", "production", ["auc_floor"])]
    )
    (problem,) = findings(data)
    assert summary([problem]) == [("error", "undefined-gate", "workflow.transitions[0].gates[0]")]
    assert problem.message == (
        "gate 'auc_flor' is not defined under gates; did you mean 'auc_floor'?"
    )


def test_undefined_gate_far_from_any_lists_the_defined_ones(policy_data: PolicyData) -> None:
    data = policy_data(
        [FLOOR, LATENCY],
        [t("draft", "staging", ["auc_floor", "latency"]), t("staging", "production", ["zzz"])],
    )
    (problem,) = findings(data)
    assert problem.message.endswith("; defined: auc_floor, latency")


def test_duplicate_gate_id_names_the_first(policy_data: PolicyData) -> None:
    data = policy_data([FLOOR, {**LATENCY, "id": "auc_floor"}])
    data["workflow"]["transitions"] = [
        t("draft", "staging", ["auc_floor"]),
        t("staging", "production", ["auc_floor"]),
    ]
    problems = findings(data)
    assert summary(problems) == [("error", "dup-gate", "gates[1].id")]
    assert "gate id 'auc_floor' is already defined at policy.yaml:" in problems[0].message


def test_unreachable_stage_is_a_warning(policy_data: PolicyData) -> None:
    data = policy_data()
    data["workflow"]["stages"].append("archived")
    problems = findings(data)
    assert summary(problems) == [("warning", "unreachable-stage", "workflow.stages[3]")]
    assert (
        problems[0].message == "stage 'archived' cannot be reached from 'draft' by any transition"
    )


def test_unused_gate_is_a_warning(policy_data: PolicyData) -> None:
    data = policy_data([FLOOR, LATENCY])
    data["workflow"]["transitions"][1]["gates"] = ["auc_floor"]
    data["workflow"]["transitions"][0]["gates"] = ["auc_floor"]
    assert summary(findings(data)) == [("warning", "unused-gate", "gates[1].id")]


def test_duplicate_transition(policy_data: PolicyData) -> None:
    data = policy_data()
    data["workflow"]["transitions"].append(t("draft", "staging", ["auc_floor"]))
    problems = findings(data)
    assert summary(problems) == [("error", "dup-transition", "workflow.transitions[2]")]
    assert problems[0].message == (
        "transition draft -> staging is already defined as transitions[0]"
    )


@pytest.mark.parametrize(
    ("end", "name", "field", "message"),
    [
        (
            "to",
            "stagin",
            "workflow.transitions[0].to",
            "'stagin' is not a stage; did you mean 'staging'?",
        ),
        (
            "from",
            "qa",
            "workflow.transitions[0].from",
            "'qa' is not a stage; defined: draft, staging, production",
        ),
    ],
)
def test_unknown_stage_in_a_transition(
    policy_data: PolicyData, end: str, name: str, field: str, message: str
) -> None:
    data = policy_data()
    data["workflow"]["transitions"][0][end] = name
    problems = [p for p in findings(data) if p.severity == "error"]
    assert [(p.code, p.field, p.message) for p in problems] == [("unknown-stage", field, message)]


def test_bypass_of_an_undefined_gate(policy_data: PolicyData) -> None:
    data = policy_data(change_types={"emergency": {"bypass": ["auc_flor"]}})
    problems = findings(data)
    assert summary(problems) == [("error", "undefined-gate", "change_types.emergency.bypass[0]")]
    assert problems[0].message.endswith("did you mean 'auc_floor'?")


def test_allowed_stage_must_be_a_stage(policy_data: PolicyData) -> None:
    data = policy_data(change_types={"experiment": {"allowed_stages": ["stagign"]}})
    problems = findings(data)
    assert summary(problems) == [
        ("error", "unknown-stage", "change_types.experiment.allowed_stages[0]")
    ]


def test_duplicate_role_in_a_transition(policy_data: PolicyData) -> None:
    data = policy_data()
    data["workflow"]["transitions"][1]["approvals"] = [{"role": "owner"}, {"role": "owner"}]
    problems = findings(data)
    assert summary(problems) == [("error", "dup-role", "workflow.transitions[1].approvals")]
    assert problems[0].message == "role 'owner' is listed 2 times; use count: 2"


def test_a_trigger_window_longer_than_the_canary_is_a_warning(policy_data: PolicyData) -> None:
    data = policy_data()
    data["workflow"]["transitions"][1]["rollout"] = {
        "steps": [{"traffic": 0.1, "min_duration": "1h"}, {"traffic": 1.0, "min_duration": "1h"}],
        "kpis": [
            {"name": "p95", "rollback_when": "> 200", "for": "2h"},  # fits: 2h of canary
            {"name": "errors", "rollback_when": ">= 0.5%", "for": "3h"},
        ],
        "error_budgets": [
            {"kpi": "errors", "objective": "99.9%", "window": "6h", "rollback_when": ">= 2"}
        ],
    }
    problems = findings(data)
    assert summary(problems) == [
        ("warning", "window-longer-than-canary", "workflow.transitions[1].rollout.kpis[1].for"),
        (
            "warning",
            "window-longer-than-canary",
            "workflow.transitions[1].rollout.error_budgets[0].window",
        ),
    ]
    assert problems[0].message.startswith("errors: the 3h window is longer than the whole")


def test_open_transition_is_a_warning(policy_data: PolicyData) -> None:
    data = policy_data()
    data["workflow"]["transitions"].append(t("production", "staging"))
    assert summary(findings(data)) == [("warning", "open-transition", "workflow.transitions[2]")]


def test_duplicate_stage_and_unknown_production_stage(policy_data: PolicyData) -> None:
    data = policy_data()
    data["workflow"]["stages"].append("staging")
    data["workflow"]["production_stage"] = "prod"
    problems = findings(data)
    assert {(p.code, p.field) for p in problems} == {
        ("dup-stage", "workflow.stages"),
        ("unknown-stage", "workflow.production_stage"),
    }


def test_expired_gate_is_a_warning_only_after_its_date(policy_data: PolicyData) -> None:
    data = policy_data([{**FLOOR, "expires": "2026-06-30"}])
    loaded = parse_policy([("policy.yaml", yaml.safe_dump(data, sort_keys=False))])
    policy, positions = loaded.policy, loaded.positions
    assert expiry_problems(policy, positions, dt.date(2026, 6, 30)) == []
    (problem,) = expiry_problems(policy, positions, dt.date(2026, 7, 1))
    assert (problem.severity, problem.code, problem.field) == (
        "warning",
        "expired-gate",
        "gates[0].expires",
    )
    assert problem.message == (
        "gate 'auc_floor' expired on 2026-06-30; review its threshold and renew it"
    )
    # it points at the date itself
    assert problem.location == positions.locate(("gates", 0, "expires"))


def test_many_findings_are_reported_together(policy_data: PolicyData) -> None:
    data = policy_data([FLOOR, LATENCY], change_types={"emergency": {"bypass": ["nope"]}})
    data["workflow"]["transitions"][0]["gates"] = ["auc_floor", "missing"]
    data["workflow"]["transitions"][1]["gates"] = ["auc_floor"]
    data["workflow"]["stages"].append("archived")
    codes = sorted(p.code for p in findings(data))
    assert codes == ["undefined-gate", "undefined-gate", "unreachable-stage", "unused-gate"]


def test_example_policy_is_lint_clean(example_policy_path: Any) -> None:
    from clearance.core.loading import read_policy_files

    loaded, problems = check_policy(read_policy_files(example_policy_path))
    assert loaded is not None
    assert problems == []
