"""Builders for the service tests: a team of users, small policies and manifests on disk.

Every test here runs on the ``InMemoryStore`` (``clearance.testing``), unless it is marked
with the SQL backends it needs (``@pytest.mark.backends("sqlite")``, see
``tests/contract/backends.py``): the contract suite holds the SQL stores to the same
behaviour. Policies and manifests are written into ``tmp_path`` so each test states exactly
the thresholds, gates and approvers it relies on.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from clearance.adapters.clock import FixedClock
from clearance.testing import MemoryWorkspace
from clearance.workspace import Workspace
from contract import backends
from stories import REVIEWERS, Story, apply_reviewed

# the store each test runs on: memory unless marked (tests/contract/backends.py)
pytest_configure = backends.pytest_configure
pytest_generate_tests = backends.pytest_generate_tests
workspace = backends.workspace
db_url = backends.db_url

MODEL = "credit-default"
TEAM = {
    "alice": ["ml_engineer"],
    "bob": ["tech_lead"],
    "carol": ["model_owner"],
    "dave": ["model_owner", "risk_officer", "policy_admin"],
    "erin": ["compliance_officer"],
    "frank": ["mlops_oncall"],
}
TABLES = [
    "users",
    "models",
    "versions",
    "evidence",
    "policies",
    "requests",
    "approvals",
    "decisions",
    "audit_events",
    "audit_head",
    "audit_checkpoints",
]
MODEL_CARD = "# Model card\n\n## Intended use\nScoring.\n\n## Limitations\nNone known.\n"


def policy_doc(
    *,
    name: str = "credit",
    version: str = "1.0.0",
    auc_min: float = 0.70,
    prod_approvals: list[dict[str, Any]] | None = None,
    selector: dict[str, Any] | None = None,
    max_production_versions: int = 1,
) -> dict[str, Any]:
    """A small policy: draft→staging needs only ``auc_floor``; staging→production adds a
    champion comparison (skipped without a champion) and a model card, and sign-offs."""
    approvals = (
        prod_approvals
        if prod_approvals is not None
        else [{"role": "model_owner"}, {"role": "risk_officer"}]
    )
    return {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": name, "version": version, "owner": "risk@bank.example"},
        "selector": selector
        if selector is not None
        else {"risk_tier": ["high"], "tags": {"domain": "credit"}},
        "workflow": {
            "stages": ["draft", "staging", "production", "deprecated", "archived"],
            "max_production_versions": max_production_versions,
            "transitions": [
                {"from": "draft", "to": "staging", "gates": ["auc_floor"]},
                {
                    "from": "staging",
                    "to": "production",
                    "gates": ["auc_floor", "auc_vs_champion", "model_card"],
                    "approvals": approvals,
                },
                {"from": "production", "to": "deprecated", "approvals": [{"role": "model_owner"}]},
            ],
        },
        "gates": [
            {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": auc_min},
            {
                "id": "auc_vs_champion",
                "type": "champion_comparison",
                "metric": "auc",
                "max_degradation": 0.01,
                "when_no_champion": "skip",
            },
            {
                "id": "model_card",
                "type": "documentation",
                "documents": [{"name": "model_card", "sections": ["Intended use", "Limitations"]}],
            },
        ],
        "change_types": {
            "emergency": {
                "bypass": ["auc_vs_champion"],
                "approvals": [{"role": "mlops_oncall"}],
                "expires_after": "72h",
                "post_incident_review_within": "5d",
            }
        },
    }


def write_policy(folder: Path, doc: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{doc['metadata']['name']}-{doc['metadata']['version']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def write_manifest(
    folder: Path,
    version: str,
    *,
    auc: float = 0.80,
    model: str = MODEL,
    risk_tier: str = "high",
    tags: dict[str, str] | None = None,
    card: str | None = MODEL_CARD,
    artifact: bytes | None = None,
) -> Path:
    """A manifest (and its files) for one version, in a folder of its own."""
    here = folder / f"{model}-{version}"
    here.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "apiVersion": "clearance/v1",
        "kind": "ModelManifest",
        "model": {
            "name": model,
            "risk_tier": risk_tier,
            "owner": "credit@bank.example",
            "team": "retail-credit",
            "tags": {"domain": "credit"} if tags is None else tags,
        },
        "version": version,
        "lineage": {"code_commit": "3f9c2a1e", "data_snapshot": "loans-2026", "seed": 7},
        "metrics": {"auc": auc},
        "features": ["income", "utilization"],
        "evidence": {},
    }
    if card is not None:
        (here / "model_card.md").write_text(card)
        doc["evidence"]["model_card"] = {"kind": "document", "path": "model_card.md"}
    if artifact is not None:
        (here / "model.bin").write_bytes(artifact)
        doc["artifact"] = {"path": "model.bin"}
    path = here / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Env(Story):
    """A workspace with the team added and the base policy applied, plus builders."""

    model: str = MODEL

    @staticmethod
    def policy(**kw: Any) -> dict[str, Any]:
        """The base policy document with some settings changed (see ``policy_doc``)."""
        return copy.deepcopy(policy_doc(**kw))

    def manifest(self, version: str, **kw: Any) -> Path:
        return write_manifest(self.tmp / "manifests", version, **kw)

    def apply(self, doc: dict[str, Any], actor: str = "dave") -> Any:
        return apply_reviewed(self.ws, write_policy(self.tmp / "policies", doc), actor)

    def card(self, name: str, content: str) -> Path:
        path = self.tmp / "cards" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path

    def to_production(self, version: str, **kw: Any) -> int:
        """Register, stage and fully approve a version into production; its request id."""
        self.to_staging(version, **kw)
        self.clock.advance(minutes=1)
        req = self.ws.promotions.promote(MODEL, version, "production", actor="alice").request
        self.ws.promotions.approve(req.id, actor="carol")
        result = self.ws.promotions.approve(req.id, actor="dave")
        assert result.executed, result.decision.summary
        self.clock.advance(minutes=1)
        return req.id

    def state(self) -> object:
        """Every row of every table, to show that a refused use case changed nothing."""
        if isinstance(self.ws, MemoryWorkspace):
            return self.ws.store.snapshot()
        out = {}
        with self.ws.engine.connect() as conn:
            for table in TABLES:
                rows = conn.execute(text(f"SELECT * FROM {table}"))
                out[table] = sorted((tuple(str(v) for v in r) for r in rows), key=repr)
        return out


@pytest.fixture
def env(workspace: Workspace, clock: FixedClock, tmp_path: Path) -> Env:
    for name, roles in {**TEAM, **{r: ["policy_admin"] for r in REVIEWERS}}.items():
        workspace.registry.add_user(name, roles, actor="admin", operator=True)
    e = Env(workspace, clock, tmp_path)
    e.apply(policy_doc())
    return e
