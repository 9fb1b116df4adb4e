"""A workspace with a model in production, for the governed-serving tests.

One small policy: draft → staging needs nothing; staging → production needs ``auc_floor``
(auc ≥ 0.7) and a model owner's sign-off; an emergency change bypasses ``auc_floor`` for 72h;
risk officers grant waivers. Each version's artifact is a real pickle, stored in the blob
store at registration (so its digest is the bytes'), and every decision is attested with the
workspace key, as in production use.
"""

from __future__ import annotations

import datetime as dt
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clearance.adapters.clock import FixedClock
from clearance.workspace import Workspace, init_workspace

MODEL = "scorer"
START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
TEAM = {
    "pat": ["policy_admin", "ml_engineer"],
    "alice": ["ml_engineer"],
    "carol": ["model_owner"],
    "rita": ["risk_officer"],
    "otto": ["mlops_oncall"],
}
INFERENCE = {
    "max_rows": 100,
    "max_body_bytes": 65536,
    "forbidden": ["ssn", "email"],
    "fields": {
        "age": {"type": "integer", "min": 18, "max": 120},
        "income": {"type": "number", "min": 0},
        "country": {"type": "string", "allowed": ["DE", "FR", "NL"]},
        "note": {"type": "string", "required": False, "max_length": 40},
    },
}


def policy(*, canary: bool = False) -> dict[str, Any]:
    production: dict[str, Any] = {
        "from": "staging",
        "to": "production",
        "gates": ["auc_floor"],
        "approvals": [{"role": "model_owner"}],
    }
    if canary:
        production["rollout"] = {
            "steps": [{"traffic": 0.1, "min_duration": "1h"}, {"traffic": 1.0}]
        }
    return {
        "apiVersion": "clearance/v1",
        "kind": "Policy",
        "metadata": {"name": "scoring", "version": "1.0.0", "owner": "risk@example.com"},
        "selector": {"models": [MODEL]},
        "workflow": {"transitions": [{"from": "draft", "to": "staging"}, production]},
        "gates": [{"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7}],
        "change_types": {
            "emergency": {
                "bypass": ["auc_floor"],
                "approvals": [{"role": "mlops_oncall"}],
                "expires_after": "72h",
            }
        },
        "waivers": {"grantors": ["risk_officer"], "max_duration": "30d"},
        "inference": INFERENCE,
    }


class Model:
    """What the artifacts hold: a tiny picklable scorer."""

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        return [self.weight * float(r["income"]) for r in rows]


@dataclass
class Story:
    ws: Workspace
    clock: FixedClock
    root: Path

    def register(self, version: str, *, auc: float = 0.8, weight: float = 1.0) -> Path:
        folder = self.root / f"v{version}"
        folder.mkdir()
        artifact = folder / "model.pkl"
        artifact.write_bytes(pickle.dumps(Model(weight), protocol=5))
        manifest = {
            "apiVersion": "clearance/v1",
            "kind": "ModelManifest",
            "model": {"name": MODEL, "risk_tier": "medium", "owner": "ml@example.com"},
            "version": version,
            "artifact": {"path": "model.pkl"},
            "metrics": {"auc": auc},
        }
        (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest))
        self.ws.registry.register(folder / "manifest.yaml", actor="alice")
        return artifact

    def to_production(self, version: str, *, change_type: str = "standard") -> int:
        """Staging, then production (signed off by the owner or, in an emergency, on-call)."""
        p = self.ws.promotions
        p.promote(MODEL, version, "staging", actor="alice")
        self.clock.advance(minutes=1)
        opened = p.promote(MODEL, version, "production", actor="alice", change_type=change_type)
        self.clock.advance(minutes=1)
        signer = "otto" if change_type == "emergency" else "carol"
        result = p.approve(opened.request.id, actor=signer, reason="ok")
        self.clock.advance(minutes=1)
        return result.request.id


def story(root: Path, db_url: str | None = None, *, canary: bool = False) -> Story:
    clock = FixedClock(START)
    ws = init_workspace(root / "ws", db_url=db_url, clock=clock)
    for name, roles in TEAM.items():
        ws.registry.add_user(name, roles, actor="operator", operator=True)
    (root / "policy").mkdir()
    (root / "policy" / "policy.yaml").write_text(
        yaml.safe_dump(policy(canary=canary), sort_keys=False)
    )
    ws.registry.apply_policy(root / "policy", actor="pat")
    return Story(ws, clock, root)
