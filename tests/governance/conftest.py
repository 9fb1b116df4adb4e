"""Builders for the governance tests (issue 5): a policy with waivers, change types and a
canary plan, a small team, versions on disk, and real local HTTP and SMTP receivers.

Every store-backed test runs on the ``InMemoryStore`` (``clearance.testing``) unless marked
with the SQL backends it needs (``@pytest.mark.backends("sqlite")``, see
``tests/contract/backends.py``), with the injected ``FixedClock``: nothing here reads the
wall clock.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.adapters.clock import FixedClock
from clearance.service.promotion import RequestResult
from clearance.workspace import Workspace
from contract import backends
from receivers import (  # shared with the other notification tests  # noqa: F401
    HttpReceiver,
    Mail,
    SmtpReceiver,
    http_receivers,
    smtp_receiver,
)
from stories import REVIEWERS, Story, apply_reviewed

# the store each test runs on: memory unless marked (tests/contract/backends.py)
pytest_configure = backends.pytest_configure
pytest_generate_tests = backends.pytest_generate_tests
workspace = backends.workspace
db_url = backends.db_url

MODEL = "fraud-scorer"
OTHER = "churn-scorer"
POLICY = "gov@1.0.0"
TEAM = {
    "alice": ["ml_engineer"],
    "carol": ["model_owner"],
    "dave": ["risk_officer", "policy_admin"],
    "frank": ["mlops_oncall"],
    "olga": ["tech_lead"],
}
MODEL_CARD = "# Model card\n\n## Intended use\nFraud scoring.\n\n## Limitations\nNone known.\n"
LATENCY_FIX = "cut the feature pipeline or get a waiver from the risk officer"
KPIS = dict[str, tuple[float, float | None]]
GOOD: KPIS = {"error_rate": (0.001, 0.0012), "ctr": (0.050, 0.050)}
BREACH: KPIS = {"error_rate": (0.01, 0.001), "ctr": (0.050, 0.050)}


def policy_doc(
    *,
    rollback_if_review_overdue: bool = True,
    rollout: bool = True,
    approval_sla: str | None = "24h",
) -> dict[str, Any]:
    """The issue-5 policy: waivers by risk officers (never for the model card), an emergency
    that bypasses only ``auc_floor``, experiments up to staging, and staging→production with
    an approval SLA and a two-step canary judged on error rate and relative CTR."""
    to_prod: dict[str, Any] = {
        "from": "staging",
        "to": "production",
        "gates": ["auc_floor", "latency_p95", "model_card"],
        "approvals": [{"role": "model_owner"}],
    }
    if approval_sla is not None:
        to_prod["approval_sla"] = approval_sla
    if rollout:
        to_prod["rollout"] = {
            "steps": [{"traffic": 0.1, "min_duration": "48h"}, {"traffic": 1.0}],
            "kpis": [
                {"name": "error_rate", "max": 0.005},
                {"name": "ctr", "max_relative_drop": 0.01},
            ],
        }
    return {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "gov", "version": "1.0.0", "owner": "risk@bank.example"},
        "selector": {"models": [MODEL, OTHER]},
        "workflow": {
            "stages": ["draft", "staging", "production", "deprecated", "archived"],
            "transitions": [
                {"from": "draft", "to": "staging", "gates": ["model_card"]},
                to_prod,
            ],
        },
        "gates": [
            {
                "id": "auc_floor",
                "type": "metric_threshold",
                "metric": "auc",
                "min": 0.70,
                "remediation": "retrain on fresher data",
            },
            {
                "id": "latency_p95",
                "type": "metric_threshold",
                "metric": "latency_p95_ms",
                "max": 200,
                "remediation": LATENCY_FIX,
            },
            {
                "id": "model_card",
                "type": "documentation",
                "documents": [{"name": "model_card", "sections": ["Intended use", "Limitations"]}],
            },
        ],
        "waivers": {
            "grantors": ["risk_officer"],
            "max_duration": "30d",
            "not_waivable": ["model_card"],
        },
        "escalation": {"contacts": ["risk-office"]},
        "change_types": {
            "emergency": {
                "bypass": ["auc_floor"],
                "approvals": [{"role": "mlops_oncall"}],
                "expires_after": "72h",
                "post_incident_review_within": "5d",
                "rollback_if_review_overdue": rollback_if_review_overdue,
            },
            "experiment": {"allowed_stages": ["staging"]},
        },
    }


def write_manifest(
    folder: Path, version: str, *, model: str = MODEL, auc: float = 0.80, latency: float = 120
) -> Path:
    here = folder / f"{model}-{version}"
    here.mkdir(parents=True, exist_ok=True)
    (here / "model_card.md").write_text(MODEL_CARD)
    doc = {
        "apiVersion": "clearance/v1",
        "kind": "ModelManifest",
        "model": {
            "name": model,
            "risk_tier": "high",
            "owner": "fraud@bank.example",
            "team": "payments",
            "tags": {"domain": "payments"},
        },
        "version": version,
        "lineage": {"code_commit": "9b1d2c3", "data_snapshot": "tx-2026-10", "seed": 1},
        "metrics": {"auc": auc, "latency_p95_ms": latency},
        "evidence": {"model_card": {"kind": "document", "path": "model_card.md"}},
    }
    path = here / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Env(Story):
    """A workspace with the team and the issue-5 policy, plus builders and readers."""

    model: str = MODEL

    def manifest(self, version: str, **kw: Any) -> Path:
        return write_manifest(self.tmp / "manifests", version, **kw)

    def apply(self, doc: dict[str, Any]) -> None:
        folder = self.tmp / "policies"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"gov-{len(list(folder.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump(copy.deepcopy(doc), sort_keys=False))
        apply_reviewed(self.ws, path, "dave")

    def request_production(self, version: str, change_type: str = "standard") -> RequestResult:
        return self.ws.promotions.promote(
            MODEL, version, "production", actor="alice", change_type=change_type
        )

    def approved(self, version: str, **kw: Any) -> int:
        """Stage a version and approve its production request: it waits for its canary."""
        self.to_staging(version, **kw)
        rid = self.request_production(version).request.id
        result = self.ws.promotions.approve(rid, actor="carol")
        assert result.request.status == "approved", result.decision.summary
        return rid

    def canary_to_production(self, version: str, **kw: Any) -> int:
        """The whole standard path: approval, then both canary steps on healthy KPIs."""
        rid = self.approved(version, **kw)
        self.ws.rollouts.start(MODEL, version, actor="frank")
        self.ws.rollouts.observe(MODEL, GOOD, actor="frank")
        self.clock.advance(hours=49)
        _, verdict = self.ws.rollouts.observe(MODEL, GOOD, actor="frank")
        assert verdict.action == "advance", verdict.reason
        self.clock.advance(hours=1)
        _, verdict = self.ws.rollouts.observe(MODEL, GOOD, actor="frank")
        assert verdict.action == "complete", verdict.reason
        assert self.stage_of(version) == "production"
        self.clock.advance(minutes=1)
        return rid

    def emergency(self, version: str, **kw: Any) -> int:
        """An executed emergency change of a staged version (frank is on call)."""
        self.to_staging(version, **kw)
        rid = self.request_production(version, "emergency").request.id
        result = self.ws.promotions.approve(rid, actor="frank")
        assert result.executed, result.decision.summary
        return rid


@pytest.fixture
def env(workspace: Workspace, clock: FixedClock, tmp_path: Path) -> Env:
    for name, roles in {**TEAM, **{r: ["policy_admin"] for r in REVIEWERS}}.items():
        workspace.registry.add_user(name, roles, actor="admin", operator=True)
    e = Env(workspace, clock, tmp_path)
    e.apply(policy_doc())
    return e
