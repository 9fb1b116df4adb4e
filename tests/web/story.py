"""The approval story the browser tests walk through, set up through the service.

credit-default 7 is in staging with a blocked production request (auc_vs_champion fails:
there is no champion yet), waiting on its failing gate and three sign-offs. credit-limit 7
(the same candidate under another name) is in staging with an emergency production request
that only the on-call engineer's approval stands between it and production.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from api_server import token_for
from clearance.workspace import Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"
TEAM: dict[str, list[str]] = {
    "alice": ["ml_engineer"],
    "tess": ["tech_lead"],
    "carol": ["model_owner"],
    "rita": ["risk_officer"],
    "cora": ["compliance_officer"],
    "frank": ["mlops_oncall"],
    "paula": ["policy_admin"],
    "aude": ["auditor"],
}


@dataclass(frozen=True)
class Story:
    tokens: dict[str, str]
    blocked: int  # credit-default 7 → production, blocked by auc_vs_champion
    emergency: int  # credit-limit 7 → production, waiting for mlops_oncall


def build(ws: Workspace, tmp: Path) -> Story:
    tokens = {user: token_for(ws, user, roles) for user, roles in TEAM.items()}
    ws.registry.apply_policy(EXAMPLE / "policy", actor="paula")
    second = tmp / "credit-limit"
    shutil.copytree(EXAMPLE / "v7-pass", second)
    manifest = yaml.safe_load((second / "manifest.yaml").read_text())
    manifest["model"]["name"] = "credit-limit"
    (second / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    for model, path in (("credit-default", EXAMPLE / "v7-pass"), ("credit-limit", second)):
        ws.registry.register(path / "manifest.yaml", actor="alice")
        staged = ws.promotions.promote(model, "7", "staging", actor="alice")
        assert ws.promotions.approve(staged.request.id, actor="tess").executed
    blocked = ws.promotions.promote("credit-default", "7", "production", actor="alice")
    assert blocked.request.status == "blocked", blocked.decision.summary
    emergency = ws.promotions.promote(
        "credit-limit",
        "7",
        "production",
        actor="alice",
        change_type="emergency",
        reason="scores drifted",
        ticket="INC-7",
    )
    assert emergency.request.status == "pending", emergency.decision.summary
    return Story(tokens=tokens, blocked=blocked.request.id, emergency=emergency.request.id)
