"""The authorization matrix: every mutating endpoint x every role, and every way to present
no valid token, against one real server process.

The endpoints come from the app itself (``create_app(ws).routes``: every POST, PUT, PATCH and
DELETE), so a new endpoint without an entry here fails ``test_every_mutating_route_is_in_
the_matrix``. The expected answer of each cell is derived from the rules, never from what
the server answered: the model actions' roles from ``core/access.py`` (``model_roles``, which
falls back to ``MODEL_DEFAULTS`` for a policy without an ``access`` section), the server
actions' from ``SERVER_ROLES``, the sign-off roles from the credit-risk example's
staging → production transition, and the waiver grantors from its ``waivers`` section.

Each cell is meaningful: the state is arranged so that the call would succeed for a caller
who may make it, the refusals (401 for no, unknown, expired or revoked tokens; 403 for the
wrong role) are tried on that state first and must change nothing (audit chain head and
checkpoints unchanged), and then every permitted role succeeds, on a fresh arrangement when
the first success used the old one up. SQLite runs the whole matrix; a smaller PostgreSQL
pass runs each endpoint with one refused and one permitted role, no token and a revoked one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from api_server import running_server, token_for
from clearance.adapters.clock import FixedClock, SystemClock
from clearance.api.app import create_app
from clearance.core.access import SERVER_ROLES, ModelAction, model_roles
from clearance.core.engine import resolve_transition
from clearance.core.loading import LoadedPolicy
from clearance.service.access import Tokens
from clearance.service.context import load_recorded
from clearance.workspace import Workspace, init_workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit-risk"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROBLEM = "application/problem+json"

NOBODY = "(no roles)"
ROLES = [
    "ml_engineer",
    "model_owner",
    "tech_lead",
    "risk_officer",
    "compliance_officer",
    "mlops_oncall",
    "policy_admin",
    "auditor",
    "admin",
    NOBODY,
]
EVERYONE = frozenset(ROLES)
# A user with no roles is refused everything through the API, reads included (access.md).
HOLDS_A_ROLE = EVERYONE - {NOBODY}
AUTH_FAILURES = ["no token", "unknown token", "expired token", "revoked token"]

# The people who arrange the state (through the service, as the CLI would), never callers.
SETUP_TEAM = {
    "req": ["ml_engineer"],
    "tl": ["tech_lead"],
    "mo": ["model_owner"],
    "ro": ["risk_officer"],
    "co": ["compliance_officer"],
    "oncall": ["mlops_oncall"],
    "root": ["admin"],
}

CANARY_POLICY = """\
apiVersion: clearance/v1
kind: Policy
metadata: {name: matrix-canary, version: 1.0.0, owner: platform@example.org}
selector: {tags: {matrix: canary}}
workflow:
  stages: [draft, staging, production, deprecated, archived]
  transitions:
    - {from: draft, to: staging}
    - from: staging
      to: production
      rollout:
        steps: [{traffic: 0.1, min_duration: 48h}, {traffic: 1.0}]
        kpis: [{name: error_rate, max: 0.05}]
"""
# The example names no waiver grantors (so nobody may grant one); its auc_vs_champion gate's
# remediation says "a waiver signed by the risk officer", which this adds when it is missing.
WAIVERS = """\
apiVersion: clearance/v1
kind: Policy
waivers: {grantors: [risk_officer], max_duration: 30d}
"""


def user_of(role: str) -> str:
    return "as-nobody" if role == NOBODY else f"as-{role}"


# --- the rules the expectations come from --------------------------------------------------


@dataclass(frozen=True)
class Rules:
    credit: LoadedPolicy  # governs every credit-* model of the matrix
    canary: LoadedPolicy  # governs the canary-* models (it has a rollout plan)

    def model(self, action: ModelAction, policy: LoadedPolicy | None = None) -> frozenset[str]:
        return frozenset(model_roles(action, (policy or self.credit).policy))

    def server(self, action: str) -> frozenset[str]:
        return frozenset(SERVER_ROLES[action])  # type: ignore[index]

    def sign_off(self, src: str, dst: str, change_type: str = "standard") -> frozenset[str]:
        """The roles whose sign-off the transition (or the change type instead) needs."""
        needed = resolve_transition(self.credit, src, dst).approvals
        ctype = self.credit.policy.change_types.get(change_type)  # type: ignore[call-overload]
        if ctype is not None and ctype.approvals is not None:
            needed = ctype.approvals
        return frozenset(a.role for a in needed)

    def grantors(self) -> frozenset[str]:
        return frozenset(self.credit.policy.waivers.grantors)


# --- a call, and the arrangements that make it meaningful ----------------------------------


@dataclass
class Call:
    method: str
    path: str
    kwargs: Callable[[], dict[str, Any]] = dict  # fresh for each call (files, unique names)
    status: int = 200  # what a permitted caller gets
    changes: bool | None = True  # a success writes (None: it may or may not)


@dataclass
class World:
    ws: Workspace
    url: str
    tmp: Path
    tokens: dict[str, str]
    rules: Rules
    grantor: str
    http: httpx.Client  # one connection for every caller (each call sends its own token)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    made: set[str] = field(default_factory=set)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    # the state ---------------------------------------------------------------------------
    def fingerprint(self) -> tuple[Any, ...]:
        """Everything a write leaves behind: the chain's length and head, the checkpoints."""
        with self.ws.store.reading() as tx:
            head = tx.head_event()
            return (tx.event_count(), head and head.hash, len(tx.checkpoints()))

    def stages(self, model: str) -> dict[str, str]:
        with self.ws.store.reading() as tx:
            found = tx.get_model(model)
            assert found is not None
            return {v.version: v.stage for v in tx.list_versions(found.id)}

    # credit-risk versions (the example's v7 candidate under other names and numbers) ------
    def credit_manifest(self, model: str, version: str) -> Path:
        folder = self.tmp / "manifests" / model / version
        shutil.copytree(EXAMPLE / "v7-pass", folder)
        doc = yaml.safe_load((folder / "manifest.yaml").read_text())
        doc["model"]["name"], doc["version"] = model, version
        (folder / "manifest.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return folder / "manifest.yaml"

    def credit_version(self, model: str, stage: str = "draft") -> str:
        """A new version of ``model`` taken to ``stage`` (draft, staging or production)."""
        version = self.unique("v")
        self.ws.registry.register(self.credit_manifest(model, version), actor="req")
        if model not in self.made:
            # a first release has no champion to compare with: the risk officer waives that
            # gate (as its remediation says), so the other gates and the sign-offs decide
            self.waiver(model)
            self.made.add(model)
        if stage in ("staging", "production"):
            self._through(model, version, "staging", ["tl"])
        if stage == "production":
            self._through(model, version, "production", ["mo", "ro", "co"])
        return version

    def _through(self, model: str, version: str, to: str, signers: list[str], **kw: Any) -> int:
        opened = self.ws.promotions.promote(model, version, to, actor="req", **kw)
        result = opened
        for signer in signers:
            result = self.ws.promotions.approve(opened.request.id, actor=signer)
        assert result.executed, result.decision.summary
        return opened.request.id

    def open_request(self, model: str) -> int:
        """A pending staging → production request (it waits for its sign-offs)."""
        version = self.credit_version(model, "staging")
        opened = self.ws.promotions.promote(model, version, "production", actor="req")
        assert opened.request.status == "pending", opened.decision.summary
        return opened.request.id

    def draft_request(self, model: str) -> int:
        """A pending draft → staging request (it waits for the tech lead)."""
        version = self.credit_version(model)
        opened = self.ws.promotions.promote(model, version, "staging", actor="req")
        assert opened.request.status == "pending", opened.decision.summary
        return opened.request.id

    def emergency_request(self, model: str) -> int:
        """A pending emergency staging → production request (it waits for the on-call)."""
        version = self.credit_version(model, "staging")
        opened = self.ws.promotions.promote(
            model, version, "production", actor="req", change_type="emergency", reason="outage"
        )
        assert opened.request.status == "pending", opened.decision.summary
        return opened.request.id

    def emergency_executed(self, model: str) -> int:
        """An executed emergency change (it owes a post-incident review)."""
        version = self.credit_version(model, "staging")
        return self._through(
            model, version, "production", ["oncall"], change_type="emergency", reason="outage"
        )

    # canary versions --------------------------------------------------------------------
    def canary_approved(self) -> tuple[str, str]:
        """A new canary model whose version's promotion waits for its rollout."""
        model = self.unique("canary")
        folder = self.tmp / "manifests" / model
        folder.mkdir(parents=True)
        (folder / "model.bin").write_bytes(model.encode())
        (folder / "manifest.yaml").write_text(
            "apiVersion: clearance/v1\nkind: ModelManifest\n"
            f"model: {{name: {model}, risk_tier: medium, owner: ml@example.org, team: t, "
            "tags: {matrix: canary}}\n"
            'version: "1"\nartifact: {path: model.bin}\n'
            "lineage: {code_commit: abc123, data_snapshot: snap-1, seed: 1}\n"
            "metrics: {auc: 0.8}\n"
        )
        self.ws.registry.register(folder / "manifest.yaml", actor="req")
        assert self.ws.promotions.promote(model, "1", "staging", actor="req").executed
        waiting = self.ws.promotions.promote(model, "1", "production", actor="req")
        assert waiting.request.status == "approved", waiting.decision.summary
        return model, "1"

    def running_rollout(self) -> str:
        model, version = self.canary_approved()
        self.ws.rollouts.start(model, version, actor="req")
        return model

    # tokens and waivers -------------------------------------------------------------------
    def spare_token(self, user: str) -> int:
        record, _ = self.ws.tokens.create(user, actor="root", name="spare", operator=True)
        return record.id

    def waiver(self, model: str) -> int:
        record = self.ws.waivers.grant(
            model,
            "auc_vs_champion",
            until=SystemClock().now() + dt.timedelta(days=7),
            justification="matrix",
            controls=["weekly manual review"],
            actor=self.grantor,
        )
        return record.id

    def once(self, model: str, make: Callable[[], object]) -> None:
        if model not in self.made:
            make()
            self.made.add(model)


# --- the matrix --------------------------------------------------------------------------

Arrange = Callable[[World, str | None], Call]  # (the state, the caller's user name) -> the call


@dataclass(frozen=True)
class Case:
    allowed: Callable[[Rules], frozenset[str]]
    arrange: Arrange
    fresh: bool = False  # a permitted call uses the arrangement up: arrange again
    per_caller: bool = False  # the call depends on who makes it (their own token)
    name: str = ""


def _register(env: World, _caller: str | None) -> Call:
    def parts() -> dict[str, Any]:
        manifest = env.credit_manifest("credit-register", env.unique("v"))
        files = [("manifest", ("manifest.yaml", manifest.read_bytes(), "application/yaml"))]
        for p in sorted(manifest.parent.iterdir()):
            if p.name != "manifest.yaml":
                files.append(("files", (p.name, p.read_bytes(), "application/octet-stream")))
        return {"files": files}

    return Call("POST", "/v1/versions", parts, status=201)


def _evidence(env: World, _caller: str | None) -> Call:
    env.once("credit-evidence", lambda: env.credit_version("credit-evidence"))
    [version] = env.stages("credit-evidence")
    return Call(
        "POST",
        f"/v1/models/credit-evidence/versions/{version}/evidence",
        lambda: {
            "data": {"name": "release_notes", "kind": "document"},
            "files": [("file", ("notes.md", env.unique("# notes").encode(), "text/markdown"))],
        },
        status=201,
    )


def _policy(env: World, _caller: str | None) -> Call:
    def files() -> dict[str, Any]:
        name = env.unique("matrix-policy")
        text = (
            "apiVersion: clearance/v1\nkind: Policy\n"
            f"metadata: {{name: {name}, version: 1.0.0, owner: platform@example.org}}\n"
            f"selector: {{models: [{name}-model]}}\n"
            "workflow:\n  transitions:\n    - {from: draft, to: staging}\n"
        )
        return {"files": [("files", ("policy.yaml", text.encode(), "application/yaml"))]}

    return Call("POST", "/v1/policies", files, status=201)


def _promote(env: World, _caller: str | None) -> Call:
    version = env.credit_version("credit-promote", "staging")
    body = {"model": "credit-promote", "version": version, "to": "production"}
    return Call("POST", "/v1/requests", lambda: {"json": body}, status=201)


def _approve(env: World, _caller: str | None) -> Call:
    rid = env.open_request("credit-approve")
    return Call(
        "POST", f"/v1/requests/{rid}/approvals", lambda: {"json": {"reason": "ok"}}, status=201
    )


def _approve_draft(env: World, _caller: str | None) -> Call:
    rid = env.draft_request("credit-approve-draft")
    return Call(
        "POST", f"/v1/requests/{rid}/approvals", lambda: {"json": {"reason": "ok"}}, status=201
    )


def _approve_emergency(env: World, _caller: str | None) -> Call:
    rid = env.emergency_request("credit-approve-emergency")
    return Call(
        "POST", f"/v1/requests/{rid}/approvals", lambda: {"json": {"reason": "ok"}}, status=201
    )


def _reject(env: World, _caller: str | None) -> Call:
    rid = env.open_request("credit-reject")
    body = {"reason": "the fairness report is missing"}
    return Call("POST", f"/v1/requests/{rid}/rejections", lambda: {"json": body}, status=201)


def _reevaluate(env: World, _caller: str | None) -> Call:
    rid = env.open_request("credit-reevaluate")
    return Call("POST", f"/v1/requests/{rid}/reevaluate")


def _rollback(env: World, _caller: str | None) -> Call:
    model = "credit-rollback"
    env.once(model, lambda: [env.credit_version(model, "production") for _ in range(2)])
    [target] = [v for v, s in env.stages(model).items() if s == "deprecated"]
    body = {"reason": "matrix", "to_version": target}
    return Call("POST", f"/v1/models/{model}/rollback", lambda: {"json": body})


def _grant(env: World, _caller: str | None) -> Call:
    env.once("credit-waivers", lambda: env.credit_version("credit-waivers"))
    body = {
        "model": "credit-waivers",
        "gate": "auc_vs_champion",
        "expires_in": "7d",
        "justification": "champion data is stale; a fresh comparison is scheduled",
        "controls": ["weekly manual review"],
    }
    return Call("POST", "/v1/waivers", lambda: {"json": body}, status=201)


def _revoke_waiver(env: World, _caller: str | None) -> Call:
    env.once("credit-waivers", lambda: env.credit_version("credit-waivers"))
    wid = env.waiver("credit-waivers")
    return Call("POST", f"/v1/waivers/{wid}/revoke", lambda: {"json": {"reason": "done"}})


def _review(env: World, _caller: str | None) -> Call:
    rid = env.emergency_executed("credit-emergency")
    body = {"summary": "hotfix for the outage", "actions": ["add an alert"]}
    return Call("POST", f"/v1/requests/{rid}/review", lambda: {"json": body}, status=201)


def _start_rollout(env: World, _caller: str | None) -> Call:
    model, version = env.canary_approved()
    return Call(
        "POST", f"/v1/models/{model}/rollouts", lambda: {"json": {"version": version}}, status=201
    )


def _observe(env: World, _caller: str | None) -> Call:
    if "rollout-observe" not in env.made:
        env.made.add(f"rollout-observe={env.running_rollout()}")
        env.made.add("rollout-observe")
    [model] = [m.split("=", 1)[1] for m in env.made if m.startswith("rollout-observe=")]
    body = {"readings": {"error_rate": {"canary": 0.01}}}  # healthy: the canary holds (48h)
    return Call("POST", f"/v1/models/{model}/rollouts/observe", lambda: {"json": body})


def _tick(env: World, _caller: str | None) -> Call:
    return Call("POST", "/v1/tick", changes=None)


def _run_monitors(env: World, _caller: str | None) -> Call:
    return Call("POST", "/v1/monitors/run", changes=None)  # writes only when one is due


def _add_user(env: World, _caller: str | None) -> Call:
    return Call(
        "POST",
        "/v1/users",
        lambda: {"json": {"name": env.unique("newcomer"), "roles": ["ml_engineer"]}},
        status=201,
    )


def _set_roles(env: World, _caller: str | None) -> Call:
    env.once(
        "user:target",
        lambda: env.ws.registry.add_user("target", ["ml_engineer"], actor="root", operator=True),
    )
    body = {"roles": ["ml_engineer", env.unique("role")]}
    return Call("PUT", "/v1/users/target/roles", lambda: {"json": body})


def _disable_user(env: World, _caller: str | None) -> Call:
    name = env.unique("leaver")
    env.ws.registry.add_user(name, ["ml_engineer"], actor="root", operator=True)
    env.spare_token(name)  # disabling revokes it: the call changes state
    return Call("PUT", f"/v1/users/{name}/disabled", lambda: {"json": {"disabled": True}})


def _token_for_someone_else(env: World, _caller: str | None) -> Call:
    return Call("POST", "/v1/tokens", lambda: {"json": {"user": "req", "name": "ci"}}, status=201)


def _token_for_yourself(env: World, _caller: str | None) -> Call:
    return Call("POST", "/v1/tokens", lambda: {"json": {"name": "laptop"}}, status=201)


def _revoke_someone_elses_token(env: World, _caller: str | None) -> Call:
    return Call("DELETE", f"/v1/tokens/{env.spare_token('req')}")


def _revoke_your_own_token(env: World, caller: str | None) -> Call:
    return Call("DELETE", f"/v1/tokens/{env.spare_token(caller or 'req')}")


def _replay(env: World, _caller: str | None) -> Call:
    env.once("replay", lambda: env.open_request("credit-replay"))
    with env.ws.store.reading() as tx:
        number = max(d.id for r in tx.list_requests() for d in tx.decisions_for(r.id))
    return Call("POST", f"/v1/decisions/{number}/replay", changes=False)


def _backtest(env: World, _caller: str | None) -> Call:
    files = [
        {"name": p.name, "text": p.read_text()}
        for p in sorted((EXAMPLE / "policy").glob("*.yaml"))
        if not p.name.endswith(".test.yaml")
    ]
    body = {"files": files, "limit": 50}
    return Call("POST", "/v1/policies/backtest", lambda: {"json": body}, changes=False)


def _matrix_policy(name: str, version: str) -> str:
    return (
        "apiVersion: clearance/v1\nkind: Policy\n"
        f"metadata: {{name: {name}, version: {version}, owner: platform@example.org}}\n"
        f"selector: {{models: [{name}-model]}}\n"
        "workflow:\n  transitions:\n    - {from: draft, to: staging}\n"
    )


def _next_version(env: World) -> list[dict[str, str]]:
    """A policy applied at 1.0.0 (by root) and the files of its 1.1.0."""
    name = env.unique("matrix-changed")
    env.ws.registry.apply_documents([("policy.yaml", _matrix_policy(name, "1.0.0"))], actor="root")
    return [{"name": "policy.yaml", "text": _matrix_policy(name, "1.1.0")}]


def _propose_change(env: World, _caller: str | None) -> Call:
    body = {"files": _next_version(env), "rationale": "matrix", "ticket": "M-1"}
    return Call("POST", "/v1/policy-changes", lambda: {"json": body}, status=201)


def _pending_change(env: World) -> int:
    """A pending change (root's, a tightening: one approval applies it)."""
    changes = env.ws.policy_changes
    return changes.propose(_next_version(env), actor="root", rationale="m", ticket="M-1").change.id


def _approve_change(env: World, _caller: str | None) -> Call:
    path = f"/v1/policy-changes/{_pending_change(env)}/approve"
    return Call("POST", path, lambda: {"json": {}})


def _reject_change(env: World, _caller: str | None) -> Call:
    path = f"/v1/policy-changes/{_pending_change(env)}/reject"
    return Call("POST", path, lambda: {"json": {"reason": "not this quarter"}})


def _withdraw_change(env: World, _caller: str | None) -> Call:
    path = f"/v1/policy-changes/{_pending_change(env)}/withdraw"
    return Call("POST", path, lambda: {"json": {}})


def _checkpoint(env: World, _caller: str | None) -> Call:
    return Call("POST", "/v1/audit/checkpoints", status=201)


MATRIX: dict[tuple[str, str], list[Case]] = {
    ("POST", "/v1/versions"): [Case(lambda r: r.model("register"), _register)],
    ("POST", "/v1/models/{model}/versions/{version}/evidence"): [
        Case(lambda r: r.model("register"), _evidence)
    ],
    ("POST", "/v1/policies"): [Case(lambda r: r.server("policy"), _policy)],
    ("POST", "/v1/requests"): [Case(lambda r: r.model("request"), _promote, fresh=True)],
    # one pending request takes every permitted sign-off (the last one executes it)
    ("POST", "/v1/requests/{request_id}/approvals"): [
        Case(lambda r: r.sign_off("staging", "production"), _approve, name="to production"),
        Case(lambda r: r.sign_off("draft", "staging"), _approve_draft, name="to staging"),
        Case(
            lambda r: r.sign_off("staging", "production", "emergency"),
            _approve_emergency,
            name="emergency",
        ),
    ],
    ("POST", "/v1/requests/{request_id}/rejections"): [
        Case(lambda r: r.sign_off("staging", "production"), _reject, fresh=True)
    ],
    ("POST", "/v1/requests/{request_id}/reevaluate"): [
        Case(lambda r: r.model("request"), _reevaluate)
    ],
    ("POST", "/v1/models/{model}/rollback"): [
        Case(lambda r: r.model("rollback"), _rollback, fresh=True)
    ],
    ("POST", "/v1/waivers"): [Case(lambda r: r.grantors(), _grant)],
    ("POST", "/v1/waivers/{waiver_id}/revoke"): [
        Case(lambda r: r.grantors(), _revoke_waiver, fresh=True)
    ],
    ("POST", "/v1/requests/{request_id}/review"): [
        Case(lambda r: r.model("review"), _review, fresh=True)
    ],
    ("POST", "/v1/models/{model}/rollouts"): [
        Case(lambda r: r.model("rollout", r.canary), _start_rollout, fresh=True)
    ],
    ("POST", "/v1/models/{model}/rollouts/observe"): [
        Case(lambda r: r.model("rollout", r.canary), _observe)
    ],
    ("POST", "/v1/tick"): [Case(lambda r: r.server("tick"), _tick)],
    ("POST", "/v1/monitors/run"): [Case(lambda r: r.server("tick"), _run_monitors)],
    ("POST", "/v1/users"): [Case(lambda r: r.server("admin"), _add_user)],
    ("PUT", "/v1/users/{name}/roles"): [Case(lambda r: r.server("admin"), _set_roles)],
    ("PUT", "/v1/users/{name}/disabled"): [
        Case(lambda r: r.server("admin"), _disable_user, fresh=True)
    ],
    ("POST", "/v1/tokens"): [
        Case(lambda r: r.server("admin"), _token_for_someone_else, name="for someone else"),
        Case(lambda r: HOLDS_A_ROLE, _token_for_yourself, name="for yourself"),
    ],
    ("DELETE", "/v1/tokens/{token_id}"): [
        Case(lambda r: r.server("admin"), _revoke_someone_elses_token, fresh=True, name="other"),
        Case(lambda r: HOLDS_A_ROLE, _revoke_your_own_token, per_caller=True, name="your own"),
    ],
    # a replay recomputes and writes nothing: every user with a role may (auditors do)
    ("POST", "/v1/decisions/{key}/replay"): [Case(lambda r: HOLDS_A_ROLE, _replay)],
    # a backtest re-decides without storing anything, like a replay
    ("POST", "/v1/policies/backtest"): [Case(lambda r: HOLDS_A_ROLE, _backtest)],
    ("POST", "/v1/audit/checkpoints"): [Case(lambda r: r.server("checkpoint"), _checkpoint)],
    # policy changes: proposers are the policy roles; approvers the default change_control
    # (policy_admin or admin, never the author: root proposes); withdrawal: author or admin
    ("POST", "/v1/policy-changes"): [
        Case(lambda r: r.server("policy"), _propose_change, fresh=True)
    ],
    ("POST", "/v1/policy-changes/{change_id}/approve"): [
        Case(lambda r: r.server("policy"), _approve_change, fresh=True)
    ],
    ("POST", "/v1/policy-changes/{change_id}/reject"): [
        Case(lambda r: r.server("policy"), _reject_change, fresh=True)
    ],
    ("POST", "/v1/policy-changes/{change_id}/withdraw"): [
        Case(lambda r: frozenset({"admin"}), _withdraw_change, fresh=True)
    ],
}


def mutating_routes(ws: Workspace) -> set[tuple[str, str]]:
    """(method, path) of every mutating operation the app serves."""
    found: set[tuple[str, str]] = set()
    for route in create_app(ws).routes:
        # FastAPI keeps an included router as one entry that expands to its routes
        expand = getattr(route, "effective_route_contexts", None)
        items = [route] if expand is None else list(expand())
        for item in items:
            methods = getattr(item, "methods", None) or set()
            path = str(item.path)
            if path.startswith("/v1/"):  # the web pages' forms: tests/web (forged POSTs)
                found |= {(m, path) for m in methods & MUTATING}
    return found


# Answered 404 in this world (no .clearance/mlflow.yaml): their 401/403/HMAC cases are in
# tests/mlflow_governance/test_mlflow_api.py.
ELSEWHERE = {
    ("POST", "/v1/mlflow/versions"),
    ("POST", "/v1/mlflow/reconcile"),
    ("POST", "/v1/mlflow/webhook"),
}


def test_every_mutating_route_is_in_the_matrix(tmp_path: Path) -> None:
    served = mutating_routes(Workspace(tmp_path, SystemClock()))
    assert len(served) >= 20
    missing = sorted(served - set(MATRIX) - ELSEWHERE)
    assert not missing, f"mutating endpoints without an authorization matrix entry: {missing}"
    gone = sorted(set(MATRIX) - served)
    assert not gone, f"matrix entries for endpoints the app no longer serves: {gone}"


# --- the server and its team ---------------------------------------------------------------


@dataclass
class Matrix:
    env: World
    small: bool  # the PostgreSQL pass: fewer callers per endpoint


def _credit_policy_dir(tmp: Path) -> Path:
    target = tmp / "credit-risk-policy"
    shutil.copytree(EXAMPLE / "policy", target)
    docs = [yaml.safe_load(p.read_text()) for p in target.glob("*.yaml")]
    if not any((d or {}).get("waivers", {}).get("grantors") for d in docs):
        (target / "waivers.yaml").write_text(WAIVERS)
    return target


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    tmp = tmp_path_factory.mktemp(f"matrix-{request.param}")
    dropped: Callable[[], None] = lambda: None  # noqa: E731
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'matrix.db'}"
    else:
        admin = str(request.getfixturevalue("pg_admin"))
        name = f"clearance_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{admin.rsplit('/', 1)[0]}/{name}"

        def dropped() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    try:
        ws = init_workspace(tmp / "ws", db_url=url, clock=SystemClock())
        for user, roles in SETUP_TEAM.items():
            ws.registry.add_user(user, roles, actor="operator", operator=True)
        credit, _ = ws.registry.apply_policy(_credit_policy_dir(tmp), actor="root")
        (tmp / "canary.yaml").write_text(CANARY_POLICY)
        canary, _ = ws.registry.apply_policy(tmp / "canary.yaml", actor="root")
        rules = Rules(load_recorded(credit), load_recorded(canary))
        assert rules.grantors(), "the matrix needs a policy that names waiver grantors"
        grantor = "grantor"
        ws.registry.add_user(grantor, sorted(rules.grantors()), actor="root", operator=True)

        tokens = {user_of(role): token_for(ws, user_of(role), [] if role == NOBODY else [role])
                  for role in ROLES}  # fmt: skip
        # the refused tokens belong to the most powerful user: their power must not matter
        tokens["unknown token"] = "clr_" + secrets.token_urlsafe(32)
        past = Tokens(ws.store, FixedClock(SystemClock().now() - dt.timedelta(hours=2)))
        _, tokens["expired token"] = past.create(
            user_of("admin"), actor="operator", expires_in="1h", operator=True
        )
        revoked, tokens["revoked token"] = ws.tokens.create(
            user_of("admin"), actor="operator", operator=True
        )
        ws.tokens.revoke(revoked.id, actor="operator", operator=True)

        with running_server(ws) as base, httpx.Client(base_url=base, timeout=60) as http:
            env = World(ws, base, tmp, tokens, rules, grantor, http)
            yield Matrix(env, small=request.param != "sqlite")
        ws.engine.dispose()
    finally:
        dropped()


def _send(env: World, caller: str, call: Call) -> httpx.Response:
    token = env.tokens.get(caller)
    headers = {} if caller == "no token" else {"Authorization": f"Bearer {token}"}
    return env.http.request(call.method, call.path, headers=headers, **call.kwargs())


def _refused(r: httpx.Response, status: int, who: str) -> None:
    assert r.status_code == status, f"{who}: expected {status}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"] == PROBLEM, (who, r.text)
    body = r.json()
    assert body["status"] == status and body["detail"], (who, body)
    if status == 401:
        assert body["type"] == "urn:clearance:problem:unauthenticated", (who, body)
        assert r.headers["www-authenticate"] == "Bearer"
    else:
        assert body["type"] in (
            "urn:clearance:problem:not-permitted",
            "urn:clearance:problem:approval-refused",  # sign-offs: the approval rules refuse
        ), (who, body)


def run_case(m: Matrix, case: Case) -> dict[str, int]:
    """Every caller against one case; returns what each got (for the failure message)."""
    env = m.env
    allowed = case.allowed(env.rules)
    assert allowed <= EVERYONE, sorted(allowed - EVERYONE)
    permitted = [r for r in ROLES if r in allowed]
    refused = [r for r in ROLES if r not in allowed]
    failures = AUTH_FAILURES
    if m.small:
        permitted, refused, failures = permitted[:1], refused[:1], ["no token", "revoked token"]
    assert permitted, "every mutating endpoint is open to some role"
    seen: dict[str, int] = {}

    call = case.arrange(env, None)
    for who in [*failures, *refused]:
        caller = who if who in AUTH_FAILURES else user_of(who)
        if case.per_caller and who not in AUTH_FAILURES:
            call = case.arrange(env, caller)
        before = env.fingerprint()
        r = _send(env, caller, call)
        seen[who] = r.status_code
        _refused(r, 401 if who in AUTH_FAILURES else 403, who)
        assert env.fingerprint() == before, f"{who}: a refused call changed the state"

    for i, role in enumerate(permitted):
        caller = user_of(role)
        if case.per_caller or (case.fresh and i > 0):
            call = case.arrange(env, caller)
        before = env.fingerprint()
        r = _send(env, caller, call)
        seen[role] = r.status_code
        assert r.status_code == call.status, f"{role}: {r.status_code} {r.text}"
        if call.changes is not None:
            assert (env.fingerprint() != before) == call.changes, role
    return seen


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_authorization_matrix(matrix: Matrix, route: tuple[str, str]) -> None:
    for case in MATRIX[route]:
        run_case(matrix, case)
