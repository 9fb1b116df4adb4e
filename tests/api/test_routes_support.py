"""Builders the route tests share (no tests here): a team with tokens, the credit-risk
example's policy and its v7 candidate uploaded over HTTP, and small request helpers.

Everything goes through the live server; tokens are minted as ``clearance token create``
does (``token_for``), since a fresh server has no admin to ask.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from api_server import token_for
from clearance.workspace import Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"
POLICY_DIR = EXAMPLE / "policy"
V7 = EXAMPLE / "v7-pass"
MODEL = "credit-default"
PROBLEM = "application/problem+json"

# Who does what in the credit-risk story (the approval roles are the policy's own).
TEAM: dict[str, list[str]] = {
    "alice": ["ml_engineer"],
    "tess": ["tech_lead"],
    "carol": ["model_owner"],
    "rita": ["risk_officer"],
    "cora": ["compliance_officer"],
    "frank": ["mlops_oncall"],
    "paula": ["policy_admin"],
    "adam": ["admin"],
    "aude": ["auditor"],
    "nobody": [],
}


@dataclass
class Api:
    """A client per user against the live server."""

    url: str
    ws: Workspace
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = token_for(self.ws, user, TEAM.get(user, []))
        return self.tokens[user]

    def as_(self, user: str | None) -> httpx.Client:
        headers = {} if user is None else {"Authorization": f"Bearer {self.token(user)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def call(self, user: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        with self.as_(user) as client:
            return client.request(method, path, **kw)


def team(url: str, ws: Workspace) -> Api:
    api = Api(url, ws)
    for name in TEAM:
        api.token(name)
    return api


def policy_files() -> list[tuple[str, bytes]]:
    """The example policy's files as (name, content)."""
    return [(p.name, p.read_bytes()) for p in sorted(POLICY_DIR.glob("*.yaml"))]


CANARY = "credit-canary"
CANARY_TAGS = {"domain": "canary"}
PLAN = {
    "steps": [{"traffic": 0.1, "min_duration": "48h"}, {"traffic": 1.0}],
    "kpis": [{"name": "error_rate", "max": 0.005}],
}


def canary_policy_files() -> list[tuple[str, bytes]]:
    """The example policy for a second model, with waivers and a canary to production."""
    out = []
    for name, data in policy_files():
        if name == "workflow.yaml":
            doc = yaml.safe_load(data)
            doc["metadata"]["name"] = CANARY
            doc["selector"] = {"risk_tier": ["high"], "tags": CANARY_TAGS}
            to_production = doc["workflow"]["transitions"][1]
            to_production["rollout"] = PLAN
            # a first production version has no champion to be compared with
            to_production["gates"].remove("auc_vs_champion")
            doc["waivers"] = {
                "grantors": ["risk_officer"],
                "max_duration": "30d",
                "not_waivable": ["model_card"],
            }
            data = yaml.safe_dump(doc, sort_keys=False).encode()
        out.append((name, data))
    return out


def apply_policy(
    api: Api, user: str = "paula", files: list[tuple[str, bytes]] | None = None
) -> httpx.Response:
    upload = [("files", (name, data, "application/yaml")) for name, data in files or policy_files()]
    return api.call(user, "POST", "/v1/policies", files=upload)


def v7_upload(
    version: str = "7", *, digests: bool = True, manifest_edit: Mapping[str, Any] | None = None
) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """Multipart parts registering the v7 candidate (as ``version``) and its form fields."""
    doc = yaml.safe_load((V7 / "manifest.yaml").read_text())
    doc["version"] = version
    doc.update(manifest_edit or {})
    manifest = yaml.safe_dump(doc, sort_keys=False).encode()
    names = ["model.pkl", "model_card.md", "monitoring_plan.md", "rollback_plan.md"]
    names += ["sbom.json", "pip-audit.json"]
    parts: list[tuple[str, Any]] = [("manifest", ("manifest.yaml", manifest, "application/yaml"))]
    sums = {}
    for name in names:
        data = (V7 / name).read_bytes()
        parts.append(("files", (name, data, "application/octet-stream")))
        sums[name] = hashlib.sha256(data).hexdigest()
    return parts, ({"digests": json.dumps(sums)} if digests else {})


def register(
    api: Api, version: str = "7", user: str = "alice", model: str = MODEL, **kw: Any
) -> httpx.Response:
    edit = None
    if model != MODEL:
        doc = yaml.safe_load((V7 / "manifest.yaml").read_text())
        edit = {"model": {**doc["model"], "name": model, "tags": CANARY_TAGS}}
    parts, data = v7_upload(version, manifest_edit=edit)
    return api.call(user, "POST", "/v1/versions", files=parts, data=data, **kw)


def promote(
    api: Api, version: str, to: str, user: str = "alice", model: str = MODEL, **body: Any
) -> httpx.Response:
    return api.call(
        user, "POST", "/v1/requests", json={"model": model, "version": version, "to": to, **body}
    )


def approve(api: Api, request_id: int, user: str) -> httpx.Response:
    return api.call(user, "POST", f"/v1/requests/{request_id}/approvals", json={"reason": "ok"})


def staged(api: Api, version: str = "7", model: str = MODEL) -> None:
    """Register ``version`` and take it to staging (the tech lead signs off)."""
    r = register(api, version, model=model)
    assert r.status_code == 201, r.text
    r = promote(api, version, "staging", model=model)
    assert r.status_code == 201, r.text
    rid = r.json()["request"]["id"]
    r = approve(api, rid, "tess")
    assert r.status_code == 201, r.text
    assert r.json()["executed"], r.json()["decision"]["summary"]


def production_request(api: Api, version: str = "7", model: str = MODEL, **body: Any) -> int:
    r = promote(api, version, "production", model=model, **body)
    assert r.status_code == 201, r.text
    return int(r.json()["request"]["id"])


def approved_by_all(api: Api, rid: int) -> httpx.Response:
    last = None
    for user in ("carol", "rita", "cora"):
        last = approve(api, rid, user)
        assert last.status_code == 201, last.text
    assert last is not None
    return last


def canary_running(api: Api, version: str = "7") -> httpx.Response:
    """Apply the canary policy, approve ``version`` of its model to production and start the
    canary (the response of the start)."""
    r = apply_policy(api, files=canary_policy_files())
    assert r.status_code == 201, r.text
    staged(api, version, model=CANARY)
    rid = production_request(api, version, model=CANARY)
    last = approved_by_all(api, rid)
    assert last.json()["request"]["status"] == "approved", last.json()["decision"]["summary"]
    return api.call("frank", "POST", f"/v1/models/{CANARY}/rollouts", json={"version": version})


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The problem+json body of an error response, after checking its status and type."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM, r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json()["errors"]]
