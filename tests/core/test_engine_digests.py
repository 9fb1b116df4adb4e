"""Decisions are pinned to the byte: stored decisions are replayed and compared by digest.

Each scenario's ``decision_id`` and the sha256 of its full JSON record were computed before
the engine's speed work (issue 12.3); any change to either means stored decisions would no
longer replay, so a change here needs a migration story, not a new pin.
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
    "sbom": b"{}",
    "license_scan": b"[]",
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
        "4c651a89dd799550ceeaf41b4cad7041a19ab97e130b6c9c9053876e146e234a",
        "23f04004ada7d79e989866276fef31d210e21b51de967fea93d72c8abdd4349e",
    ),
    "pii_and_warn": (  # deny
        "2d0c95b139c4ada380f7dc8fc706fe2534bd823490db948f24c6e10c37e46eac",
        "304fa2168dd46fe8def8fa41515d52cc626acdee9a62a78555c2d8b602db082c",
    ),
    "near_miss_missing_doc": (  # deny
        "090c10e2d79004bbc4b417135e3f514a7a414314a0a307db740ffb20f74ed3f5",
        "171980c7d4061437955d747690f31f62c602886d438cd88560c8802a23ee124d",
    ),
    "waived_and_approved": (  # deny
        "e10b98a2b36af5b5be974d02d1b45b7c5c7e1e6d893579b3c064ceb299860514",
        "b9e0b8d392b5825f0aba843cd9dd147b9724b46076ca8d29489bd060e5736647",
    ),
    "emergency": (  # allow
        "63ef6547ae533e60b3703ec50e4e06333896769354833fec07ff48c671b630a1",
        "5fd40baab00b7e59a53a368fd85a2fbedba9d266c5dcd3f5b9747f625592f735",
    ),
}
PINNED_EXAMPLES = {
    "v7-pass": (  # needs_approval
        "f885e88e2ca482a5d61fce61067bd372a36ed211ab5bb47cf5519978e9b1070e",
        "61200bd628f067073d1afc932ff5c04edadd46137fca95d122c7e954d5e513bf",
    ),
    "v8-blocked": (  # deny
        "53a02b894d7f90f51cf20f277ad7344750af9c1149e638f4e2d45d440f189d18",
        "5f1b11c8ea2b019b8667191dd59467ebbb3c51a8d468bcfc6b1aae6c1b786954",
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
