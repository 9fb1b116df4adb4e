"""Decisions are pinned to the byte: stored decisions are replayed and compared by digest.

Each scenario's ``decision_id`` and the sha256 of its full JSON record were computed before
the engine's speed work (issue 12.3); any change to either means stored decisions would no
longer replay, so a change here needs a migration story, not a new pin.

Re-pinned once since, for a change of the inputs rather than of the engine: issue 13.2 made
the example policy (now credit-risk 1.3.0) scan the SBOM and pip-audit report for content,
so the scenarios carry the example's real reports. Before re-pinning, the engine of that
change was checked to reproduce every old pin from the old policy (1.2.0) and old evidence.

Re-pinned again for issue 15, again for the inputs: credit-risk 1.4.0 adds the artifact
gates (``artifact_integrity``, ``unsafe_serialization``, ``secrets``) and the example's
artifacts became real scikit-learn pickles, so the scenarios' artifact is v7's ``model.pkl``.
Before re-pinning, the engine was checked to reproduce every old pin from the old policy
(1.3.0) and old artifacts (``git show`` of the previous commit's example into a temporary
folder, evaluated with this module's ``_scenario`` and ``_fingerprint``).
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
from clearance.core.hashing import sha256_bytes, sha256_text
from clearance.core.loading import LoadedPolicy
from clearance.core.results import Decision
from clearance.core.version import ModelVersion
from clearance.core.waivers import Waiver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"
MODEL = (EXAMPLES / "v7-pass" / "model.pkl").read_bytes()  # read by the gates, never loaded
MODEL_SHA = sha256_bytes(MODEL)
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
    version_kw: dict[str, Any] = {
        "documents": docs,
        "metrics": dict(METRICS),
        "artifact": {"uri": "mem://model.pkl", "sha256": MODEL_SHA},
    }
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
    evidence = _WithArtifact(fake_evidence, docs)
    return Evaluation(policy, transition, version, evidence, now, **kw)


class _WithArtifact:
    """The in-memory evidence of the core tests, serving v7's model as the artifact."""

    def __init__(self, fake_evidence: type, docs: dict[str, bytes]) -> None:
        self._files = fake_evidence(docs, artifact_sha=MODEL_SHA)

    def read_bytes(self, name: str) -> bytes:
        data: bytes = self._files.read_bytes(name)
        return data

    def artifact_sha256(self) -> str | None:
        return MODEL_SHA

    def read_artifact(self, max_bytes: int) -> bytes:
        return MODEL[: max_bytes + 1]

    def read_columns(self, name: str, columns: Any) -> Any:
        return self._files.read_columns(name, columns)


def _fingerprint(decision: Decision) -> tuple[str, str]:
    return decision.decision_id, sha256_text(decision.model_dump_json())


PINNED = {
    "clean": (  # needs_approval
        "3683fdfb81e2653f291b75840c5c7a6f85e20ee48f71fb08fcd92d730ed604ce",
        "f35275507f385c9ef00481474a24e881f13c315cbbc17d294342d2f444ce1365",
    ),
    "pii_and_warn": (  # deny
        "d288cdaf407a6acb7d80bfd2211228e4b974bfab0c7997af436004cdfdb0f54d",
        "f32fcf50a09f6cbf99f4fd68350e8599a33e4dfb355797938c96d7f6c4ea0129",
    ),
    "near_miss_missing_doc": (  # deny
        "d16cf4a1272db18b63ea9b9ddc02fb3a32812f1c7d400103ab8786a0eb366dae",
        "dee171ab9b7d6c09e0ebab7c94372dee6a0d19ea1f863f730c71f387fc157bc2",
    ),
    "waived_and_approved": (  # deny
        "02c618891cbe175d0759f8d12ab83ea44d275b85fd9b17dcf0cd2801fa480afc",
        "68c4ace56dfae3323e4759ecb1720ead7deb46431806083f7a5b58cc953bcb0e",
    ),
    "emergency": (  # allow
        "379bdb5bd376d565aca39545b1433bf66fe26183f59898f03ad45624c78cbcb7",
        "822c2972fc0033cad7de8df029dcc9ec267637a1ff080bcc5959c8b9e366336a",
    ),
}
PINNED_EXAMPLES = {
    "v7-pass": (  # needs_approval
        "fdabee96e01f4f83c55052613963d0b61d3b4a93302684c599a3b3df6d34fb63",
        "7145653da33fe7b1320591c67a93e4cdcf7cbf35b21c72f4d9c1987eeddd6ebc",
    ),
    "v8-blocked": (  # deny
        "29596b99e83d105df708da1654938df5a26d3148514c2137bb1e997288591eb5",
        "b739712248c9fae6e1a5df15484cb7fa7e65f3b6713de591d547eed515fa55cd",
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
