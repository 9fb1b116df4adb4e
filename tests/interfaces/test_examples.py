"""The examples under ``examples/`` behave as ``examples/README.md`` says.

Each case runs ``clearance check`` as users and CI run it (``cli_runner``: the console
script's entry point, in this process) with a fixed clock and ``--json``, and checks the exit
code, the outcome, the status of every gate of the transition, the near misses and the pending
approver roles. One case (``PROCESS_CASE``) runs the installed console script, so the exit
code CI reads is the process's own. All runs happen once, in one session fixture.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cli_runner import Ran, run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NOW = "2026-11-22T12:00:00"
TODAY = "2026-11-22"
POLICIES = {
    "credit-risk": "examples/credit-risk/policy",
    "recommender": "examples/recommender/policy.yaml",
    "medical-triage": "examples/medical-triage/policy.yaml",
    "ride-eta": "examples/ride-eta/policy.yaml",
}


@dataclass(frozen=True)
class Case:
    """One ``clearance check`` run and what it must report."""

    id: str
    example: str
    manifest: str  # folder under examples/<example>/
    to: str
    exit_code: int
    outcome: str
    gates: dict[str, str]  # every gate of the transition -> its status
    from_: str | None = None
    near_misses: frozenset[str] = frozenset()
    pending: tuple[str, ...] = ()
    edit: Callable[[str], str] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (f"examples/{self.example}/{self.manifest}/manifest.yaml", self.from_, self.to)


def _all(status: str, *gate_ids: str) -> dict[str, str]:
    return dict.fromkeys(gate_ids, status)


CREDIT_PROD = (
    "reproducibility",
    "artifact_unchanged",
    "no_code_in_model",
    "no_secrets",
    "auc_vs_champion",
    "approval_rate_parity",
    "latency_p95",
    "no_known_vulnerabilities",
    "licenses_allowed",
    "no_pii_features",
    "model_card",
    "monitoring_and_rollback",
)
RECS_PROD = (
    "reproducibility",
    "ctr_vs_baseline",
    "latency_p95",
    "error_rate",
    "catalog_coverage",
    "no_user_identifiers",
    "launch_docs",
)
TRIAGE_PROD = (
    "reproducibility",
    "locked_test_set",
    "sensitivity_floor",
    "specificity_floor",
    "subgroup_sensitivity_gap",
    "feature_use",
    "human_in_the_loop",
    "clinical_docs",
)
ETA_STAGING = ("reproducibility", "mae_ceiling", "latency_p95", "cost_per_1k")
ETA_PROD = (
    "reproducibility",
    "mae_ceiling",
    "mae_vs_champion",
    "city_error_ratio",
    "latency_p95",
    "cost_per_1k",
    "rollback_plan",
)

CASES = [
    Case(
        "credit-v7-staging",
        "credit-risk",
        "v7-pass",
        "staging",
        0,
        "needs_approval",
        _all("pass", "reproducibility", "auc_floor"),
        from_="draft",
        pending=("tech_lead",),
    ),
    Case(
        "credit-v7-production",
        "credit-risk",
        "v7-pass",
        "production",
        0,
        "needs_approval",
        _all("pass", *CREDIT_PROD),
        pending=("model_owner", "risk_officer", "compliance_officer"),
    ),
    Case(
        "credit-v8-staging",
        "credit-risk",
        "v8-blocked",
        "staging",
        0,
        "needs_approval",
        _all("pass", "reproducibility", "auc_floor"),
        from_="draft",
        pending=("tech_lead",),
    ),
    Case(
        "credit-v8-production",
        "credit-risk",
        "v8-blocked",
        "production",
        1,
        "deny",
        {
            **_all("pass", *CREDIT_PROD),
            **_all("fail", "auc_vs_champion", "approval_rate_parity"),
            **_all("fail", "model_card", "no_pii_features"),
        },
        pending=("model_owner", "risk_officer", "compliance_officer"),
    ),
    Case(
        "credit-code-in-model",
        "credit-risk",
        "attacks/code-in-model",
        "production",
        1,
        "deny",
        {**_all("pass", *CREDIT_PROD), "no_code_in_model": "fail"},
        pending=("model_owner", "risk_officer", "compliance_officer"),
    ),
    Case(
        "credit-tampered",
        "credit-risk",
        "attacks/tampered",
        "production",
        1,
        "deny",
        {**_all("pass", *CREDIT_PROD), **_all("fail", "artifact_unchanged", "reproducibility")},
        pending=("model_owner", "risk_officer", "compliance_officer"),
    ),
    Case(
        "recs-v12-production",
        "recommender",
        "v12-pass",
        "production",
        0,
        "needs_approval",
        _all("pass", *RECS_PROD),
        pending=("model_owner", "product_owner"),
    ),
    Case(
        "recs-v13-production",
        "recommender",
        "v13-blocked",
        "production",
        1,
        "deny",
        {**_all("pass", *RECS_PROD), "ctr_vs_baseline": "fail", "catalog_coverage": "warn"},
        near_misses=frozenset({"latency_p95"}),
        pending=("model_owner", "product_owner"),
    ),
    Case(
        "triage-v4-production",
        "medical-triage",
        "v4-pass",
        "production",
        0,
        "needs_approval",
        _all("pass", *TRIAGE_PROD),
        pending=("senior_clinician", "model_owner"),
    ),
    Case(
        "triage-v5-production",
        "medical-triage",
        "v5-blocked",
        "production",
        1,
        "deny",
        {**_all("pass", *TRIAGE_PROD), "sensitivity_floor": "fail"},
        pending=("senior_clinician", "model_owner"),
    ),
    Case(
        "eta-v21-staging",
        "ride-eta",
        "v21-pass",
        "staging",
        0,
        "needs_approval",
        _all("pass", *ETA_STAGING),
        from_="draft",
        pending=("tech_lead",),
    ),
    Case(
        "eta-v21-production",
        "ride-eta",
        "v21-pass",
        "production",
        0,
        "needs_approval",
        _all("pass", *ETA_PROD),
        pending=("model_owner", "mlops"),
    ),
    Case(
        "eta-v22-staging",
        "ride-eta",
        "v22-blocked",
        "staging",
        0,
        "needs_approval",
        _all("pass", *ETA_STAGING),
        from_="draft",
        pending=("tech_lead",),
    ),
    Case(
        "eta-v22-production",
        "ride-eta",
        "v22-blocked",
        "production",
        1,
        "deny",
        {**_all("pass", *ETA_PROD), "mae_vs_champion": "fail", "rollback_plan": "error"},
        pending=("model_owner", "mlops"),
    ),
]

# Variants of a passing manifest (in a temporary copy) showing that a gate is not vacuous.
VARIANTS = [
    Case(
        "triage-v4-with-ethnicity-input",
        "medical-triage",
        "v4-pass",
        "production",
        1,
        "deny",
        {**_all("pass", *TRIAGE_PROD), "feature_use": "fail"},
        pending=("senior_clinician", "model_owner"),
        edit=lambda text: text.replace("referral_source]", "referral_source, ethnicity]"),
    ),
]

PROCESS_CASE = "credit-v8-production"  # a deny: exit 1 from the installed console script
LINT_ARGS = ["policy", "lint", "--strict", "--json", "--today", TODAY, *POLICIES.values()]


def _check_args(case: Case, manifest: Path) -> list[str]:
    args = ["check", "-p", POLICIES[case.example], "-m", str(manifest), "--to", case.to]
    if case.from_ is not None:
        args += ["--from", case.from_]
    return [*args, "--now", NOW, "--json"]


def _variant_manifest(case: Case, base: Path) -> Path:
    folder = base / case.id
    shutil.copytree(EXAMPLES / case.example / case.manifest, folder)
    manifest = folder / "manifest.yaml"
    original = manifest.read_text(encoding="utf-8")
    assert case.edit is not None
    edited = case.edit(original)
    assert edited != original, f"{case.id}: the edit changed nothing"
    manifest.write_text(edited, encoding="utf-8")
    return manifest


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Run every case and the lint, one after another; results by case id (and ``"lint"``)."""
    base = tmp_path_factory.mktemp("variants")
    commands: dict[str, list[str]] = {"lint": LINT_ARGS}
    for case in CASES:
        commands[case.id] = _check_args(case, ROOT / case.key[0])
    for case in VARIANTS:
        commands[case.id] = _check_args(case, _variant_manifest(case, base))
    return {
        name: run_cli(*args, cwd=ROOT, process=name == PROCESS_CASE)
        for name, args in commands.items()
    }


def _decision(run: Ran) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    return data


@pytest.mark.parametrize("case", CASES + VARIANTS, ids=lambda c: c.id)
def test_example_decision(case: Case, runs: dict[str, Ran]) -> None:
    run = runs[case.id]
    decision = _decision(run)
    assert run.returncode == case.exit_code, run.stdout + run.stderr
    assert decision["exit_code"] == case.exit_code
    assert decision["outcome"] == case.outcome
    assert decision["to_stage"] == case.to
    statuses = {g["gate_id"]: g["status"] for g in decision["gates"]}
    assert statuses == case.gates
    assert {g["gate_id"] for g in decision["gates"] if g["near_miss"]} == case.near_misses
    pending = [r["role"] for r in decision["approvals"]["roles"] if not r["approved_by"]]
    assert pending == list(case.pending)
    for gate in decision["gates"]:
        assert gate["owner"], f"{gate['gate_id']} has no owner"
        assert gate["remediation"], f"{gate['gate_id']} has no remediation"
        assert gate["rationale"], f"{gate['gate_id']} has no rationale"
        if gate["status"] != "pass":
            assert gate["message"], f"{gate['gate_id']} failed without a message"


def _gate(case_id: str, gate_id: str, runs: dict[str, Any]) -> dict[str, Any]:
    gates = {g["gate_id"]: g for g in _decision(runs[case_id])["gates"]}
    return gates[gate_id]


def test_credit_v8_names_each_fault(runs: dict[str, Ran]) -> None:
    card = _gate("credit-v8-production", "model_card", runs)
    assert "'Limitations'" in card["message"] and "'Fairness'" in card["message"]
    auc = _gate("credit-v8-production", "auc_vs_champion", runs)
    assert auc["observed"] == pytest.approx((0.798 - 0.812) / 0.812)
    assert auc["details"]["champion_version"] == "7"
    parity = _gate("credit-v8-production", "approval_rate_parity", runs)
    assert (parity["observed"], parity["threshold"]) == (0.74, 0.8)


def test_credit_artifact_attacks_name_what_they_found(runs: dict[str, Ran]) -> None:
    code = _gate("credit-code-in-model", "no_code_in_model", runs)
    assert "posix:system" in code["message"]
    tampered = _gate("credit-tampered", "artifact_unchanged", runs)
    assert tampered["details"]["recorded"] != tampered["details"]["actual"]


def test_warn_gate_records_what_it_would_have_been(
    runs: dict[str, Ran],
) -> None:
    coverage = _gate("recs-v13-production", "catalog_coverage", runs)
    assert coverage["severity"] == "warn"
    assert coverage["details"]["unwaived_status"] == "fail"
    latency = _gate("recs-v13-production", "latency_p95", runs)
    assert (latency["observed"], latency["margin"]) == (116, 4)


def test_missing_rollback_plan_is_an_error_naming_the_evidence(
    runs: dict[str, Ran],
) -> None:
    gate = _gate("eta-v22-production", "rollback_plan", runs)
    assert gate["status"] == "error"
    assert "rollback_plan" in gate["message"]
    assert gate["details"]["missing"] == [
        "rollback_plan: missing (attach it as evidence named 'rollback_plan')"
    ]
    mae = _gate("eta-v22-production", "mae_vs_champion", runs)
    assert mae["details"]["higher_is_better"] is False
    assert mae["observed"] == pytest.approx(-(103.2 - 98.4) / 98.4)


def test_every_example_policy_lints_clean(
    runs: dict[str, Ran],
) -> None:
    lint = runs["lint"]
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert json.loads(lint.stdout) == []


_ROW = re.compile(r"^\|.*`(clearance check [^`]+)`.*\| (\d) \|[^|]*\|$")


def test_readme_table_matches_the_cases() -> None:
    """Every command in examples/README.md is a case here, with the same exit code."""
    documented: dict[tuple[str, str | None, str], int] = {}
    for line in (EXAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if not match:
            continue
        argv = shlex.split(match.group(1))
        opts = dict(zip(argv[2::2], argv[3::2], strict=False))
        documented[(opts["-m"], opts.get("--from"), opts["--to"])] = int(match.group(2))
    assert documented == {case.key: case.exit_code for case in CASES}


def test_recorded_artifact_digests_are_true() -> None:
    """The artifact generator reproduces every committed model.bin byte for byte."""
    spec = importlib.util.spec_from_file_location(
        "make_artifacts", EXAMPLES / "_tools" / "make_artifacts.py"
    )
    assert spec is not None and spec.loader is not None
    make_artifacts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_artifacts)
    for name, (seed, size) in make_artifacts.ARTIFACTS.items():
        data = make_artifacts.artifact_bytes(name, seed, size)
        assert (EXAMPLES / name).read_bytes() == data, name


def test_credit_risk_models_are_the_generated_pickles() -> None:
    """The credit-risk generator rewrites every committed model.pkl (and attack file) byte
    for byte with the scikit-learn and numpy versions it records; it never loads them."""
    spec = importlib.util.spec_from_file_location(
        "make_credit_risk_models", EXAMPLES / "_tools" / "make_credit_risk_models.py"
    )
    assert spec is not None and spec.loader is not None
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    import numpy
    import sklearn

    if {"scikit-learn": sklearn.__version__, "numpy": numpy.__version__} != models.VERSIONS:
        pytest.skip(f"the pickles were written with {models.VERSIONS}")
    written = models.files()
    assert sorted(written) == sorted(
        str(p.relative_to(EXAMPLES)) for p in (EXAMPLES / "credit-risk").rglob("model.pkl")
    )
    for name, data in written.items():
        assert (EXAMPLES / name).read_bytes() == data, name
