"""`policy test`: cases judged by the engine, with a clear line per mismatch, coverage of the
policy's transitions, gates and change types, and located errors in bad test files."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from clearance.adapters.policy_tests import discover, run_tests
from clearance.core.loading import load_policy
from clearance.errors import PolicyError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
SECTIONS = ("Intended use", "Training data", "Evaluation", "Limitations", "Fairness")
CARD = "# Card\\n" + "".join(f"## {s}\\nx\\n" for s in SECTIONS)  # escaped for YAML

TESTS = f"""\
apiVersion: clearance/v1
kind: PolicyTest
defaults: {{from: staging, to: production}}
cases:
  - name: the v7 candidate clears every gate; sign-offs pending
    manifest: v7-pass/manifest.yaml
    expect:
      outcome: needs_approval
      gates: {{auc_vs_champion: pass, no_pii_features: pass, model_card: pass}}
  - name: a PII feature blocks production
    manifest: v7-pass/manifest.yaml
    version: {{features: [income, customer_email]}}
    expect: {{outcome: deny, gates: {{no_pii_features: fail}}}}
  - name: all three sign-offs given
    manifest: v7-pass/manifest.yaml
    approvals:
      - {{approver: ann, roles: [model_owner]}}
      - {{approver: bob, roles: [risk_officer]}}
      - {{approver: cy, roles: [compliance_officer]}}
    expect: {{outcome: allow}}
  - name: inline facts and an inline model card, draft to staging
    from: draft
    to: staging
    version:
      model: {{name: credit-default, risk_tier: high, tags: {{domain: credit}}}}
      version: "9"
      metrics: {{auc: 0.65}}
    documents: {{model_card: "{CARD}"}}
    expect: {{outcome: deny, gates: {{auc_floor: fail}}}}
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE / "policy", tmp_path / "policy")
    shutil.copytree(EXAMPLE / "v7-pass", tmp_path / "v7-pass")
    (tmp_path / "credit.test.yaml").write_text(TESTS)
    return tmp_path


def test_cases_pass_and_coverage_names_what_they_missed(tree: Path) -> None:
    loaded = load_policy(tree / "policy")
    run = run_tests(loaded, [tree / "credit.test.yaml"], NOW, label="credit-risk")
    assert [r.passed for r in run.results] == [True, True, True, True], [
        (r.name, r.mismatches, r.error) for r in run.results
    ]
    cov = run.coverage.to_dict()
    assert cov["transitions"] == {"covered": 2, "total": 4}
    assert cov["change_types"] == {"covered": 1, "total": 2}
    missing = run.coverage.missing()
    assert missing["change types"] == ["emergency"]
    assert "production -> deprecated" in missing["transitions"]
    assert "no_pii_features" in run.coverage.gates_both  # passed in one case, failed in one
    assert "auc_floor" in missing["gates never seen failing or never passing"]  # failed only


def test_a_wrong_expectation_says_what_the_gate_saw(tree: Path) -> None:
    (tree / "credit.test.yaml").write_text(
        TESTS.replace(
            "expect: {outcome: deny, gates: {no_pii_features: fail}}",
            "expect: {outcome: needs_approval, gates: {no_pii_features: pass, nope: pass}}",
        )
    )
    run = run_tests(load_policy(tree / "policy"), [tree / "credit.test.yaml"], NOW, label="x")
    (failed,) = run.failed
    assert failed.name == "a PII feature blocks production"
    assert failed.mismatches[0] == "outcome: expected needs_approval, got deny"
    assert failed.mismatches[1].startswith("gate no_pii_features: expected pass, got fail (")
    assert failed.mismatches[2] == "gate nope: expected pass, but it is not on this transition"
    assert run.to_dict()["failed"] == 1


def test_an_unknown_transition_fails_that_case_only(tree: Path) -> None:
    text = TESTS.replace(
        "    from: draft\n    to: staging\n", "    from: draft\n    to: production\n"
    )
    (tree / "credit.test.yaml").write_text(text)
    run = run_tests(load_policy(tree / "policy"), [tree / "credit.test.yaml"], NOW, label="x")
    (failed,) = run.failed
    assert failed.error and "draft" in failed.error and failed.decision is None


HEAD = "apiVersion: clearance/v1\nkind: PolicyTest\ncases:\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("apiVersion: clearance/v1\nkind: PolicyTest\ncases: []\n", ":3:"),
        (HEAD + "  - name: x\n    expct: {}\n", ":5:"),
        (
            HEAD + "  - {name: x, expect: {outcome: maybe}}\n",
            ":4:",
        ),
        (
            HEAD + "  - {name: x, manifest: nope.yaml, to: production, expect: {}}\n",
            "nope.yaml",
        ),
        ("kind: [\n", ":"),
    ],
)
def test_bad_test_files_are_located_errors(tree: Path, text: str, where: str) -> None:
    (tree / "bad.test.yaml").write_text(text)
    with pytest.raises(PolicyError) as raised:
        run_tests(load_policy(tree / "policy"), [tree / "bad.test.yaml"], NOW, label="x")
    assert "bad.test.yaml" in str(raised.value) and where in str(raised.value)


def test_discovery_finds_test_files_beside_the_policy(tree: Path) -> None:
    (tree / "policy" / "gates.test.yaml").write_text("x")
    (tree / "policy" / "sub").mkdir()
    (tree / "policy" / "sub" / "more.test.yml").write_text("x")
    found = [p.name for p in discover(tree / "policy")]
    assert found == ["credit-risk.test.yaml", "gates.test.yaml", "more.test.yml"]
    single = tree / "one.yaml"
    single.write_text("x")
    assert [p.name for p in discover(single)] == ["credit.test.yaml"]
