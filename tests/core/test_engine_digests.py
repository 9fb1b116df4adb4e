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
        "8a757718548af2d76d886a0ab28cd18b5ccfcd1d31c13a481fcb507a1967d572",
        "856883fab496c98425f5446760ed41b1fed9da5e1f2cfe4667b259c4d9ac2973",
    ),
    "pii_and_warn": (  # deny
        "1da84fbeb0c522eebf78e8e4cd519121b413d47c4f438db503e0086c6c50df68",
        "b36a5e38232ae770ae8f1754670da3ca1d23f1063bcce2e7eea49fd3e8003dc8",
    ),
    "near_miss_missing_doc": (  # deny
        "112d4d5114ce9894c5a34d8f7246cac3f136524c58ec52226a6da0b53f2179be",
        "c3e967a754fe405c6d21b4bf9e23e7e04b72138b91f18800743847ccd84d1e29",
    ),
    "waived_and_approved": (  # deny
        "47e35e100cd0c02797d5592a5ec8286eef0b98d342df30c45fe8f32ceaa3fc7e",
        "2dc44c8564f4b0f2d9b4624db2c2bb8aabb2a953893a4c335137f6922cfe10a5",
    ),
    "emergency": (  # allow
        "177bb7848ad3cc26cd05cefa04ab2aa55d171ecee13f25529776315bbb17a8e3",
        "797dd049545b90eccadbcd2f7a123f250ad666f5774b3a9c1dbbf0cd1a7c7ef1",
    ),
}
PINNED_EXAMPLES = {
    "v7-pass": (  # needs_approval
        "36996011a591d60aad9c273173dbe9e7d67f6d821202b63d4709d780bfc62f9e",
        "d64d0ebca570c3d9c2a667aef949c3fb4d100eaa87c7215cd37309a6cfc9134a",
    ),
    "v8-blocked": (  # deny
        "c5c9dbf994a2c0d2d3ffc24121596007a430779e0bae2654c19a07fb366d6b80",
        "7ecf2371b4b71020cc0788bd00104528523a0ea8edebc234957fc2e202011874",
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
