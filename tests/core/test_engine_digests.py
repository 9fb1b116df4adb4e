"""Decisions are pinned to the byte: stored decisions are replayed and compared by digest.

Each scenario's ``decision_id`` and the sha256 of its full JSON record were computed before
the engine's speed work (issue 12.3); any change to either means stored decisions would no
longer replay, so a change here needs a migration story, not a new pin.

Re-pinned once since, for a change of the inputs rather than of the engine: issue 13.2 made
the example policy (now credit-risk 1.3.0) scan the SBOM and pip-audit report for content,
so the scenarios carry the example's real reports. Before re-pinning, the engine of that
change was checked to reproduce every old pin from the old policy (1.2.0) and old evidence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clearance.adapters.evidence import load_manifest
from clearance.core.approvals import Approval
from clearance.core.engine import Evaluation, evaluate, evidence_digest, resolve_transition
from clearance.core.hashing import sha256_text
from clearance.core.loading import LoadedPolicy
from clearance.core.results import Decision
from clearance.core.version import ModelVersion
from clearance.core.waivers import Waiver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"
CARD = (
    b"# Model card\n## Intended use\nx\n## Training data\nx\n## Evaluation\nx\n"
    b"## Limitations\nx\n## Fairness\nx\n"
)
MONITORING = b"# Plan\n## Drift\nx\n## Rejection rate\nx\n## Alerts\nx\n"
ROLLBACK = b"Trigger\n=======\nx\n\nSteps\n-----\nx\n"
DOCS = {
    "model_card": CARD,
    "monitoring_plan": MONITORING,
    "rollback_plan": ROLLBACK,
    "sbom": (EXAMPLES / "v7-pass" / "sbom.json").read_bytes(),  # scanned for content since 13.2
    "vulnerability_scan": (EXAMPLES / "v7-pass" / "pip-audit.json").read_bytes(),
}
METRICS = {"auc": 0.812, "latency_p95_ms": 84.0, "approval_rate_disparity_ratio": 0.83}


def _scenario(
    name: str,
    policy: LoadedPolicy,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
) -> Evaluation:
    """The evaluation named ``name``, over the credit-risk example policy."""
    docs = dict(DOCS)
    version_kw: dict[str, Any] = {"documents": docs, "metrics": dict(METRICS)}
    kw: dict[str, Any] = {}
    if name == "pii_and_warn":  # the regex gate fails, latency fails at warn severity
        version_kw.update(
            features=["income", "Customer_Email", "utilization"],
            metrics={**METRICS, "latency_p95_ms": 130},
        )
    elif name == "near_miss_missing_doc":  # a pass within 5% of its threshold; no rollback plan
        del docs["rollback_plan"]
        version_kw["metrics"] = {**METRICS, "auc": 0.80, "approval_rate_disparity_ratio": 0.81}
    elif name == "waived_and_approved":
        version_kw["metrics"] = {**METRICS, "auc": 0.70}
        good = make_version(**version_kw)
        seen = evidence_digest(good)
        kw["waivers"] = [
            Waiver(
                id="W-9",
                gate_id="auc_vs_champion",
                model="credit-default",
                expires_at=now + dt.timedelta(days=3),
                justification="retrain scheduled",
                granted_by="risk@bank.example",
            )
        ]
        kw["approvals"] = [
            Approval(approver="ann", roles=["model_owner"], at=now, evidence_digest=seen),
            Approval(approver="bob", roles=["risk_officer"], at=now, evidence_digest="0" * 64),
            Approval(approver="cy", roles=["compliance_officer"], at=now, verdict="reject"),
        ]
        kw["requester"] = "dee"
    elif name == "emergency":
        version_kw["champion"] = None
        kw["change_type"] = "emergency"
        kw["approvals"] = [Approval(approver="eve", roles=["mlops_oncall"], at=now)]
    version = make_version(**version_kw)
    transition = resolve_transition(policy, "staging", "production")
    return Evaluation(policy, transition, version, fake_evidence(docs), now, **kw)


def _fingerprint(decision: Decision) -> tuple[str, str]:
    return decision.decision_id, sha256_text(decision.model_dump_json())


PINNED = {
    "clean": (  # needs_approval
        "05109092068bf4db70735a9405ecc537294231a1efce37d3e13f942128e29308",
        "490b6d0d481c70eb216599105554b4f6657cc23194bee815bb9b79b01470b138",
    ),
    "pii_and_warn": (  # deny
        "54edb582d6c1b8d381ac96804c3e4ef6693dbe2cf424dc204cce7b746f291442",
        "c13d4e29fe3a37ddfb8a472fab7e58df335235e7a2438c8c3c0a21eea887c88d",
    ),
    "near_miss_missing_doc": (  # deny
        "846ca6e5ddc3ba97c2c3f7d14e00171561316ab00d5e869b99a8ac788dc4f2a7",
        "75ffb1673a651937a20bb67180ac8fc4fef4d255ddb312f78246fc914040ff3c",
    ),
    "waived_and_approved": (  # deny
        "3f534ca5cde117380abe94ea279d906e2cbe02dcc8281ff7d2941eabba16720f",
        "aa1fc122fac12e343f518251ee6130bbe978da59730e08d4ca55e1873d9ccb1b",
    ),
    "emergency": (  # allow
        "0828e3ae08d0954aaa21b5cdd55dc99485de8da4e9c6e160d1346b7943b9d1a9",
        "83a474d641f13327df31f142dc69004176a84ff895e600eda040478862023171",
    ),
}
PINNED_EXAMPLES = {
    "v7-pass": (  # needs_approval
        "6050855b4b6b2ef5c5d3d804689821106f7aa1cabd5d7812b84e3623ccd06c5a",
        "205f604ed9c6b83430b7bb3cdc8824115d59ddc2ed72e593c08eb9da1dcec108",
    ),
    "v8-blocked": (  # deny
        "17c966eaecfcfdc1fe63dfff0e89204af89adbfb802106a8f780308d9f806abf",
        "2ba22f82749f0c4fb3e75ce98fb312bea030e8b79adb6917efb654e799a92901",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_decision_is_pinned(
    name: str,
    example_policy: LoadedPolicy,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
) -> None:
    request = _scenario(name, example_policy, make_version, fake_evidence, now)
    assert _fingerprint(evaluate(request)) == PINNED[name]


@pytest.mark.parametrize("example", sorted(PINNED_EXAMPLES))
def test_example_decision_is_pinned(
    example: str, example_policy: LoadedPolicy, now: dt.datetime
) -> None:
    version, evidence = load_manifest(EXAMPLES / example / "manifest.yaml")
    transition = resolve_transition(example_policy, version.stage, "production")
    decision = evaluate(Evaluation(example_policy, transition, version, evidence, now))
    assert _fingerprint(decision) == PINNED_EXAMPLES[example]


def test_a_second_evaluation_is_the_same_record(
    example_policy: LoadedPolicy,
    make_version: Callable[..., ModelVersion],
    fake_evidence: type,
    now: dt.datetime,
) -> None:
    """Whatever is cached across evaluations (compiled regexes, expression results, per-policy
    plans), the second evaluation of the same inputs records exactly what the first did."""
    for name in sorted(PINNED):
        first = evaluate(_scenario(name, example_policy, make_version, fake_evidence, now))
        second = evaluate(_scenario(name, example_policy, make_version, fake_evidence, now))
        assert second.model_dump_json() == first.model_dump_json()
