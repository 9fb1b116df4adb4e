"""Builders for the monitor tests (issue 17): a policy with a drift monitor, two production
versions of a model, production batches written as real Parquet files, and real HTTP
receivers for the alerts. Every store-backed test runs on the ``InMemoryStore`` unless marked
(``tests/contract/backends.py``), with the injected ``FixedClock``."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from clearance.adapters.clock import FixedClock
from clearance.workspace import Workspace
from contract import backends
from receivers import HttpReceiver, http_receivers  # noqa: F401 (fixtures)
from stories import REVIEWERS, Story, apply_reviewed

pytest_configure = backends.pytest_configure
pytest_generate_tests = backends.pytest_generate_tests
workspace = backends.workspace
db_url = backends.db_url

MODEL = "fraud-scorer"
TEAM = {"alice": ["ml_engineer"], "frank": ["mlops_oncall"], "dave": ["policy_admin"]}
FEATURES = ["amount", "age"]
SECRET = "whsec-monitor-test"


def monitor(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": "input_drift",
        "gate": "input_drift",
        "data": "batches",
        "every": "1h",
        "for": "2h",
        "on_fail": ["alert", "rollback"],
    }
    spec.update(over)
    return {k: v for k, v in spec.items() if v is not None}


def policy_doc(*monitors: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "mon", "version": "1.0.0", "owner": "ml@bank.example"},
        "selector": {"models": [MODEL]},
        "workflow": {
            "transitions": [
                {"from": "draft", "to": "staging", "approvals": [{"role": "mlops_oncall"}]},
                {"from": "staging", "to": "production", "approvals": [{"role": "mlops_oncall"}]},
            ]
        },
        "gates": [
            {
                "id": "input_drift",
                "type": "drift",
                "reference": "reference",
                "current": "production",
                "features": FEATURES,
                "psi_max": 0.2,
                "ks_pvalue_min": 0.001,
                "remediation": "retrain on recent data",
            }
        ],
        "monitors": list(monitors) or [monitor()],
    }


def frame(shift: float, seed: int, rows: int = 400) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "amount": rng.normal(100 + 40 * shift, 40, rows),
            "age": rng.normal(40 + 10 * shift, 10, rows),
        }
    )


@dataclass
class Env(Story):
    model: str = MODEL
    batches: int = 0

    def manifest(self, version: str, **kw: Any) -> Path:
        here = self.tmp / "manifests" / version
        here.mkdir(parents=True, exist_ok=True)
        pq.write_table(frame(0.0, seed=1), here / "reference.parquet")
        doc = {
            "apiVersion": "clearance/v1",
            "kind": "ModelManifest",
            "model": {"name": MODEL, "risk_tier": "high", "owner": "fraud@bank.example"},
            "version": version,
            "features": FEATURES,
            "metrics": {"auc": 0.8},
            "evidence": {"reference": {"kind": "dataset", "path": "reference.parquet"}},
        }
        path = here / "manifest.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def apply(self, doc: dict[str, Any]) -> None:
        folder = self.tmp / "policies"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"mon-{len(list(folder.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump(copy.deepcopy(doc), sort_keys=False))
        apply_reviewed(self.ws, path, "dave")

    def to_production(self, version: str) -> None:
        self.register(version)
        for stage in ("staging", "production"):
            rid = self.ws.promotions.promote(MODEL, version, stage, actor="alice").request.id
            result = self.ws.promotions.approve(rid, actor="frank")
            assert result.executed, result.decision.summary

    def batch(self, *, shift: float) -> Path:
        """A new production batch, newer than every earlier one."""
        self.batches += 1
        folder = self.ws.root / "batches"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"batch-{self.batches:03d}.parquet"
        pq.write_table(frame(shift, seed=100 + self.batches), path)
        stamp = 1_800_000_000 + self.batches * 60
        os.utime(path, (stamp, stamp))
        return path

    def webhook(self, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MONITOR_HOOK_SECRET", SECRET)
        channels = [
            {"name": "ops-hook", "type": "webhook", "url": f"{receiver.base}/ops",
             "secret_env": "MONITOR_HOOK_SECRET", "events": ["monitor_failed", "rolled_back"]},
            {"name": "retrain-hook", "type": "webhook", "url": f"{receiver.base}/retrain",
             "secret_env": "MONITOR_HOOK_SECRET", "events": ["retrain_requested"]},
        ]  # fmt: skip
        self.ws.notifications_file.write_text(yaml.safe_dump({"channels": channels}))


@pytest.fixture
def env(workspace: Workspace, clock: FixedClock, tmp_path: Path) -> Env:
    for name, roles in {**TEAM, **{r: ["policy_admin"] for r in REVIEWERS}}.items():
        workspace.registry.add_user(name, roles, actor="admin", operator=True)
    return Env(workspace, clock, tmp_path)
