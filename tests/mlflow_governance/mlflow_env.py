"""Builders for the MLflow tests: a governed workspace and an MLflow to govern.

The use-case tests run on ``InMemoryMlflow`` (``clearance.testing.mlflow``) and the
``InMemoryStore`` unless marked with other backends. The tests of the adapter and the
end-to-end test need MLflow itself: ``require_mlflow()`` skips them, saying how to install
it, unless ``CLEARANCE_REQUIRE_MLFLOW=1`` (CI), where a missing MLflow fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.adapters.clock import FixedClock
from clearance.service.mlflow_governance import MlflowGovernance
from clearance.service.mlflow_port import Dataset, MlflowPort, Run
from clearance.service.mlflow_settings import MlflowSettings
from clearance.service.ports import Clock
from clearance.workspace import Workspace

MODEL = "credit"
SECRET = "whsec-test-4f1c"
TEAM = {
    "alice": ["ml_engineer"],
    "carol": ["model_owner"],
    "dave": ["risk_officer", "policy_admin"],
    "frank": ["mlops_oncall"],
}
MODEL_FLAGS: dict[str, Any] = {
    "risk_tier": "high",
    "owner": "credit@bank.example",
    "team": "retail-credit",
    "tags": {"domain": "credit"},
}
COMMIT = "3f9c2a1e5b7d9f0a1c3e5f7a9b1d3f5e7a9c1e3f"


def require_mlflow() -> None:
    """Skip (or, with CLEARANCE_REQUIRE_MLFLOW=1, fail) the calling module without MLflow."""
    try:
        import mlflow  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CLEARANCE_REQUIRE_MLFLOW") == "1":
            pytest.fail(f"MLflow is required (CLEARANCE_REQUIRE_MLFLOW=1) but: {exc}")
        pytest.skip(
            "MLflow is not installed: pip install 'clearance[mlflow]' to run these tests",
            allow_module_level=True,
        )


def policy_doc() -> dict[str, Any]:
    """Staging needs the lineage MLflow gives and the AUC it logged; production a sign-off."""
    return {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "credit-mlflow", "version": "1.0.0", "owner": "risk@bank.example"},
        "selector": {"risk_tier": ["high"], "tags": {"domain": "credit"}},
        "workflow": {
            "stages": ["draft", "staging", "production", "deprecated", "archived"],
            "transitions": [
                {"from": "draft", "to": "staging", "gates": ["reproducibility", "auc_floor"]},
                {
                    "from": "staging",
                    "to": "production",
                    "gates": ["auc_floor"],
                    "approvals": [{"role": "model_owner"}],
                },
                {"from": "production", "to": "deprecated"},
            ],
        },
        "gates": [
            {"id": "reproducibility", "type": "reproducibility"},
            {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7},
        ],
    }


def training_run(run_id: str, *, auc: float = 0.83, commit: str = COMMIT) -> Run:
    return Run(
        run_id=run_id,
        experiment_id="1",
        name=f"train-{run_id}",
        status="FINISHED",
        user="alice",
        start_ms=1_790_000_000_000,
        end_ms=1_790_000_060_000,
        artifact_uri=f"memory://runs/{run_id}/artifacts",
        params={"lr": "0.1", "seed": "7", "max_depth": "4"},
        metrics={"auc": auc, "loss": float("nan")},
        tags={"mlflow.source.git.commit": commit, "mlflow.user": "alice"},
        datasets=(
            Dataset("loans-train", "a5357541", "s3", '{"uri": "s3://b/train.parquet"}', "training"),
            Dataset("loans-eval", "9e0c11aa", "s3", '{"uri": "s3://b/eval.parquet"}', "eval"),
        ),
    )


MLMODEL = """\
flavors:
  python_function: {loader_module: mlflow.pyfunc.model}
signature:
  inputs: '[{"type": "double", "name": "income", "required": true},
    {"type": "double", "name": "utilization", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
"""


def model_files(weights: bytes = b"weights-v1") -> dict[str, bytes]:
    return {
        "MLmodel": MLMODEL.encode(),
        "requirements.txt": b"mlflow==3.17.2\nscikit-learn==1.9.1\n",
        "data/model.pkl": weights,
    }


@dataclass
class MlflowEnv:
    """A workspace with the team and the policy, an MLflow, and the use cases over both."""

    ws: Workspace
    clock: Clock
    tmp: Path
    mlflow: MlflowPort
    settings: MlflowSettings = field(default_factory=MlflowSettings)
    env: Mapping[str, str] = field(
        default_factory=lambda: {"CLEARANCE_MLFLOW_WEBHOOK_SECRET": SECRET}
    )
    model: str = MODEL

    @property
    def gov(self) -> MlflowGovernance:
        ws = self.ws
        return MlflowGovernance(
            ws.store, self.clock, ws.registry, self.mlflow, self.settings, ws.idempotency, self.env
        )

    def register(self, uri: str, **kw: Any) -> Any:
        actor = kw.pop("actor", "alice")
        return self.gov.register(uri, actor=actor, **{**MODEL_FLAGS, **kw})

    def promote(self, version: str, to: str) -> Any:
        result = self.ws.promotions.promote(self.model, version, to, actor="alice")
        if to == "production":
            result = self.ws.promotions.approve(result.request.id, actor="carol")
        assert result.executed, result.decision.summary
        if isinstance(self.clock, FixedClock):  # the end-to-end test runs on real time
            self.clock.advance(minutes=1)
        return result

    def actions(self, after: int = 0) -> list[str]:
        with self.ws.store.reading() as tx:
            return [e.action for e in tx.events() if e.seq > after]

    def events(self, action: str) -> list[Any]:
        with self.ws.store.reading() as tx:
            return [e for e in tx.events() if e.action == action]

    def alerts(self) -> list[dict[str, Any]]:
        with self.ws.store.reading() as tx:
            return [a for a in tx.notifications() if a["event"] == "non_compliant"]

    def head(self) -> int:
        with self.ws.store.reading() as tx:
            return tx.event_count()


def setup_workspace(ws: Workspace, tmp: Path) -> None:
    for name, roles in TEAM.items():
        ws.registry.add_user(name, roles, actor="admin", operator=True)
    path = tmp / "policies" / "credit-mlflow.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy_doc(), sort_keys=False))
    ws.registry.apply_policy(path, actor="dave")


def mlflow_store(template: Path, folder: Path) -> str:
    """A copy of the migrated template in ``folder``, as a tracking URI."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"
