"""The Python SDK against a live server: the promotion story, errors, retries, pagination.

Every call goes over HTTP to a real server process (SQLite and PostgreSQL); the results are
the service layer's own types and the errors its own exceptions, as they are locally.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import clearance.client
from api_server import token_for
from clearance.client import Client
from clearance.core.audit import AuditEvent
from clearance.core.results import Outcome
from clearance.errors import (
    ApprovalError,
    InputError,
    ManifestError,
    NotFound,
    NotPermitted,
    PolicyError,
    StoreConflict,
    StoreError,
    TransitionRefused,
    Unauthenticated,
)
from clearance.service.promotion import RequestResult
from clearance.service.records import (
    CheckpointRecord,
    DecisionRecord,
    PolicyRecord,
    RolloutRecord,
    TickSummary,
    TokenRecord,
    User,
    VersionRecord,
    WaiverRecord,
)
from clearance.service.replay import ReplayReport
from clearance.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "credit-risk"
EXAMPLE_SCRIPT = ROOT / "examples" / "sdk" / "train_and_register.py"
POLICY = EXAMPLE / "policy"
V7 = EXAMPLE / "v7-pass" / "manifest.yaml"
MODEL = "credit-default"


def _client(url: str, ws: Workspace, user: str, *roles: str) -> Client:
    return Client(url, token_for(ws, user, roles))


@pytest.fixture
def clients(server: str, server_ws: Workspace) -> Iterator[dict[str, Client]]:
    """One client per person, each in the role the credit-risk policy asks of them."""
    people = {"pat": "policy_admin", "alice": "ml_engineer", "tom": "tech_lead"}
    made = {name: _client(server, server_ws, name, role) for name, role in people.items()}
    yield made
    for c in made.values():
        c.close()


def test_the_promotion_story(clients: dict[str, Client], tmp_path: Path) -> None:
    policy, new = clients["pat"].apply_policy(POLICY)
    assert isinstance(policy, PolicyRecord) and new
    assert (policy.name, policy.version) == ("credit-risk", "1.4.0")
    assert clients["pat"].apply_policy(POLICY) == (policy, False)  # already applied as is

    alice = clients["alice"]
    version = alice.register(V7)
    assert isinstance(version, VersionRecord)
    assert (version.version, version.stage, version.registered_by) == ("7", "draft", "alice")
    report = tmp_path / "eval.md"
    report.write_text("# Evaluation\nAUC 0.812 on the 2025-06 holdout.\n")
    item = alice.attach(MODEL, "7", "evaluation_report", report, kind="report")
    assert (item.name, item.uri, item.size) == (
        "evaluation_report",
        "eval.md",
        report.stat().st_size,
    )
    names = [e.item.name for e in alice.evidence(MODEL, "7")]
    assert {"model_card", "sbom"} < set(names) and names[-1] == "evaluation_report"

    staging = alice.promote(MODEL, "7", "staging", reason="nightly retrain", ticket="ML-7")
    assert isinstance(staging, RequestResult)
    assert staging.decision.outcome is Outcome.NEEDS_APPROVAL and not staging.executed
    done = clients["tom"].approve(staging.request.id, reason="reviewed the run")
    assert done.executed and done.request.status == "executed"

    # production compares with the champion in production: there is none yet, so it is denied
    prod = alice.promote(MODEL, "7", "production", reason="first release", ticket="CR-1")
    assert prod.request.status == "blocked" and prod.exit_code == 1
    assert [g.gate_id for g in prod.decision.gates if g.blocking] == ["auc_vs_champion"]

    status = alice.model(MODEL)
    assert status.policy == "credit-risk@1.4.0"
    assert [(v.version, v.stage) for v in status.versions] == [("7", "staging")]
    assert [r.id for r in status.open_requests] == [prod.request.id]
    assert alice.version(MODEL, "7").stage == "staging"
    listed = {r.id: r.status for r in alice.requests(model=MODEL)}
    assert listed == {staging.request.id: "executed", prod.request.id: "blocked"}
    shown = alice.request(staging.request.id)
    assert [(a.approver, a.verdict) for a in shown.approvals] == [("tom", "approve")]
    assert [m.model for m in alice.models(risk_tier="high")] == [MODEL]
    assert alice.models(team="nobody") == []


def test_errors_are_the_projects_exceptions(
    clients: dict[str, Client], server: str, tmp_path: Path
) -> None:
    with Client(server, "clr_not-a-real-token") as stranger, pytest.raises(Unauthenticated) as e:
        stranger.me()
    assert "unknown API token" in str(e.value)

    alice = clients["alice"]
    with pytest.raises(NotPermitted, match=r"alice holds ml_engineer and may not apply policies"):
        alice.apply_policy(POLICY)
    with pytest.raises(NotFound, match="no-such-model"):
        alice.model("no-such-model")

    # 422 from request validation: the message names the field at fault
    with pytest.raises(InputError) as e:
        alice.create_token(expires_in="forever")
    assert "body.expires_in" in str(e.value)

    # a malformed policy is a PolicyError with its located problems, as locally
    bad = tmp_path / "bad.yaml"
    bad.write_text((POLICY / "workflow.yaml").read_text().replace("to: staging", "to: nowhere"))
    with pytest.raises(PolicyError) as e:
        clients["pat"].apply_policy(bad)
    assert e.value.problems and "bad.yaml" in str(e.value)
    assert "nowhere" in str(e.value)

    # an invalid manifest never leaves the machine
    broken = tmp_path / "manifest.yaml"
    broken.write_text(V7.read_text().replace("path: model.pkl", "path: missing.bin"))
    with pytest.raises(ManifestError, match=r"missing\.bin"):
        alice.register(broken)

    clients["pat"].apply_policy(POLICY)
    alice.register(V7)
    with pytest.raises(TransitionRefused):
        alice.promote(MODEL, "7", "archived")
    opened = alice.promote(MODEL, "7", "staging")
    with pytest.raises(ApprovalError, match="separation of duties"):
        alice.approve(opened.request.id)  # a 403 of its own kind: approval-refused
    with pytest.raises(InputError, match="rejection needs"):
        clients["tom"].reject(opened.request.id, reason=" ")


def test_register_retried_with_the_same_key_returns_the_same_version(
    clients: dict[str, Client], tmp_path: Path
) -> None:
    clients["pat"].apply_policy(POLICY)
    alice = clients["alice"]
    first = alice.register(V7, idempotency_key="ci-build-1234")
    again = alice.register(V7, idempotency_key="ci-build-1234")
    assert again == first
    with pytest.raises(InputError, match="already registered"):
        alice.register(V7)  # a new call gets a new key: versions are immutable

    # the same key for different content is refused rather than answered with the old version
    copy = tmp_path / "v7b"
    shutil.copytree(V7.parent, copy)
    (copy / "model_card.md").write_text("# changed\n")
    with pytest.raises(InputError, match="different request"):
        alice.register(copy / "manifest.yaml", idempotency_key="ci-build-1234")


def test_audit_events_iterate_across_pages(
    clients: dict[str, Client], server_ws: Workspace
) -> None:
    clients["pat"].apply_policy(POLICY)
    clients["alice"].register(V7)
    clients["alice"].promote(MODEL, "7", "staging")
    with server_ws.store.reading() as tx:
        expected = list(tx.events())
    events = list(clients["alice"].audit_events(page_size=2))
    assert len(expected) > 4
    assert all(isinstance(e, AuditEvent) for e in events)
    assert [e.hash for e in events] == [e.hash for e in expected]
    later = list(clients["alice"].audit_events(after=expected[2].seq, page_size=3))
    assert [e.seq for e in later] == [e.seq for e in expected[3:]]
    only = list(clients["alice"].audit_events(model=MODEL, page_size=2))
    assert only and {e.seq for e in only} < {e.seq for e in expected}


def test_lists_follow_every_page(
    clients: dict[str, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clearance.client, "PAGE_SIZE", 2)
    names = [u.name for u in clients["alice"].users()]
    assert sorted(names) == ["alice", "pat", "tom"]


TOY_POLICY = """\
apiVersion: clearance/v1
kind: Policy
metadata: {name: toy, version: 1.0.0, owner: ml@example.org}
selector: {models: [toy]}
workflow:
  stages: [draft, staging, production, deprecated, archived]
  transitions:
    - {from: draft, to: staging, gates: [auc_floor]}
    - from: staging
      to: production
      gates: [auc_floor]
      rollout:
        steps: [{traffic: 1.0}]
        kpis: [{name: error_rate, max: 0.01}]
gates:
  - {id: auc_floor, type: metric_threshold, metric: auc, min: 0.7}
waivers: {grantors: [risk_officer], max_duration: 30d}
"""


def _toy(folder: Path, version: str, auc: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / f"v{version}.yaml"
    manifest.write_text(
        "apiVersion: clearance/v1\nkind: ModelManifest\nmodel: {name: toy, team: ml}\n"
        f'version: "{version}"\nmetrics: {{auc: {auc}}}\n'
    )
    return manifest


def test_every_other_resource_comes_back_as_its_service_type(
    server: str, server_ws: Workspace, tmp_path: Path
) -> None:
    root = _client(server, server_ws, "root", "admin", "policy_admin", "risk_officer", "auditor")
    alice = _client(server, server_ws, "alice", "ml_engineer")
    olga = _client(server, server_ws, "olga", "model_owner")
    with root, alice, olga:
        # users and tokens
        bob = root.add_user("bob", ["ml_engineer"])
        assert isinstance(bob, User) and bob in root.users()
        assert root.set_roles("bob", ["tech_lead"]).roles == ["tech_lead"]
        with pytest.raises(NotPermitted, match="manage users"):
            alice.add_user("eve", ["admin"])
        token, secret = alice.create_token(name="laptop", expires_in="1d")
        assert isinstance(token, TokenRecord) and token.user == "alice"
        with Client(server, secret) as laptop:
            assert laptop.me().name == "alice"
            assert token.id in [t.id for t in alice.tokens()]
            assert alice.revoke_token(token.id).revoked_by == "alice"
            with pytest.raises(Unauthenticated, match="revoked"):
                laptop.me()

        # a canary rollout that completes, a waiver, and a rollback
        policy = tmp_path / "toy.yaml"
        policy.write_text(TOY_POLICY)
        root.apply_policy(policy)
        assert [p.name for p in alice.policies()] == ["toy"]
        for number in ("1", "2"):
            alice.register(_toy(tmp_path, number, 0.8))
            assert alice.promote("toy", number, "staging").executed
            waiting = alice.promote("toy", number, "production")
            assert waiting.request.status == "approved"  # it waits for its canary
            started = alice.start_rollout("toy", number)
            assert isinstance(started, RolloutRecord) and started.status == "running"
            rollout, verdict = alice.observe_rollout("toy", {"error_rate": 0.001})
            assert (rollout.status, verdict.action) == ("completed", "complete")
        assert alice.rollout_status("toy").canary == "2"
        assert [v.stage for v in alice.versions("toy")] == ["deprecated", "production"]
        assert [v.version for v in alice.versions("toy", stage="production")] == ["2"]

        alice.register(_toy(tmp_path, "3", 0.5))
        blocked = alice.promote("toy", "3", "staging")
        assert blocked.request.status == "blocked"
        waiver = root.grant_waiver(
            "toy", "auc_floor", version="3", expires_in="7d",
            justification="a known label delay", controls=["daily review"],
        )  # fmt: skip
        assert isinstance(waiver, WaiverRecord) and waiver.label == "W-1"
        assert alice.reevaluate(blocked.request.id).executed
        assert [w.id for w in alice.waivers(model="toy", state="active")] == [waiver.id]
        assert root.revoke_waiver(waiver.label, reason="labels arrived").revoked_by == "root"

        done = olga.rollback("toy", reason="error budget spent")
        gone, restored = done.rolled_back, done.restored
        assert (gone.version, gone.stage, restored.version, restored.stage) == (
            "2", "deprecated", "1", "production",
        )  # fmt: skip

        # decisions, replay, and the audit trail
        (decision,) = alice.decisions(blocked.decision_number)
        assert isinstance(decision, DecisionRecord) and decision.outcome == "deny"
        replayed = alice.replay(decision.id)
        assert isinstance(replayed, ReplayReport) and replayed.identical
        assert [e.action for e in alice.history("toy")][:1] == ["model.registered"]

        assert alice.verify_audit().ok
        assert isinstance(root.checkpoint(), CheckpointRecord)
        assert len(alice.checkpoints()) == 1
        assert alice.verify_audit().checkpoints == 1
        assert alice.public_key() == server_ws.auditing.public_key()
        for fmt in ("jsonl", "csv"):
            local = "".join(server_ws.auditing.export(fmt, model="toy"))
            assert "".join(alice.export_audit(fmt, model="toy")) == local

        assert any(a.event == "rolled_back" for a in alice.alerts(model="toy"))
        assert isinstance(root.tick(), TickSummary)
        with pytest.raises(NotPermitted):
            alice.tick()


def test_the_sdk_doc_shows_the_example_verbatim() -> None:
    doc = (ROOT / "docs" / "sdk.md").read_text(encoding="utf-8")
    marker = "<!-- examples/sdk/train_and_register.py -->\n```python\n"
    shown = doc.split(marker, 1)[1].split("```\n", 1)[0]
    assert shown == EXAMPLE_SCRIPT.read_text(encoding="utf-8")


def test_the_training_script_example_runs(
    server: str, server_ws: Workspace, clients: dict[str, Client], tmp_path: Path
) -> None:
    clients["pat"].apply_policy(POLICY)
    report = tmp_path / "evaluation.md"
    report.write_text("# Evaluation\nAUC 0.812 on the holdout.\n")
    env = {
        **os.environ,
        "CLEARANCE_URL": server,
        "CLEARANCE_TOKEN": token_for(server_ws, "alice", ["ml_engineer"]),
        "CI_JOB_ID": "4711",
    }
    run = [sys.executable, str(EXAMPLE_SCRIPT), str(V7), str(report)]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "credit-default 7 → staging: request 1 is pending" in first.stdout
    assert [e.item.name for e in clients["alice"].evidence(MODEL, "7")][-1] == "evaluation_report"
    # the CI job re-run: register and promote answer as before; the attach is evidence again
    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "request 1 is pending" in again.stdout
    assert len(clients["alice"].requests(model=MODEL)) == 1
    del env["CI_JOB_ID"]
    refused = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "already registered" in refused.stderr


# --- retries, without a server: what is retried and what is never retried -----------------


def _mock(replies: list[httpx.Response], seen: list[httpx.Request]) -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return replies.pop(0)

    client = Client("http://clearance.test", "clr_x", transport=httpx.MockTransport(handle))
    client.backoff = 0.0
    return client


def _problem(status: int, slug: str, detail: str) -> httpx.Response:
    body = {"type": f"urn:clearance:problem:{slug}", "title": "t", "status": status}
    return httpx.Response(
        status,
        json={**body, "detail": detail, "errors": []},
        headers={"content-type": "application/problem+json"},
    )


def test_keyed_calls_retry_with_the_same_key_and_unkeyed_posts_never() -> None:
    seen: list[httpx.Request] = []
    registered = {
        "id": 1,
        "model_id": 1,
        "version": "7",
        "stage": "draft",
        "production_slot": None,
        "record": {},
        "registered_by": "alice",
        "created_at": "2026-11-22T09:00:00Z",
        "stage_changed_at": "2026-11-22T09:00:00Z",
    }
    replies = [
        _problem(503, "store-unavailable", "database restarting"),
        _problem(409, "in-progress", "the first call with this key is busy"),
        httpx.Response(201, json=registered),
    ]
    with _mock(replies, seen) as client:
        assert client.register(V7, idempotency_key="k").version == "7"
    assert [r.headers["idempotency-key"] for r in seen] == ["k", "k", "k"]
    sent = (V7.parent / "model_card.md").read_bytes()
    assert all(sent in r.content for r in seen)  # each attempt uploads the whole file again

    seen.clear()
    down = _problem(503, "store-unavailable", "down")
    with _mock([down], seen) as client, pytest.raises(StoreError, match="down"):
        client.approve(3)
    assert len(seen) == 1  # a POST without a key might have been applied: never repeated

    seen.clear()
    conflict = _problem(409, "conflict", "version 7 was registered concurrently")
    with _mock([conflict], seen) as client, pytest.raises(Exception, match="concurrently"):
        client.promote("m", "1", "staging", idempotency_key="k")
    assert len(seen) == 1  # a lost race is an answer, not an outage


def test_retries_follow_the_problem_type_not_its_wording() -> None:
    seen: list[httpx.Request] = []
    # the words of a retryable problem, under a type that is not: an answer, never repeated
    worded = _problem(409, "conflict", "the request is still running; retry")
    with _mock([worded], seen) as client, pytest.raises(StoreConflict, match="still running"):
        client.promote("m", "1", "staging", idempotency_key="k")
    assert len(seen) == 1

    seen.clear()  # a retryable type, whatever it says, is retried; then its exception is raised
    busy = [_problem(409, "in-progress", "held by another call") for _ in range(4)]
    with _mock(busy, seen) as client, pytest.raises(StoreConflict, match="held by"):
        client.promote("m", "1", "staging", idempotency_key="k")
    assert len(seen) == 4  # the first try and three retries

    seen.clear()  # a server failure that is not an outage of the store is reported at once
    failed = _problem(500, "internal-server-error", "the server failed")
    with _mock([failed], seen) as client, pytest.raises(StoreError, match="the server failed"):
        client.me()
    assert len(seen) == 1


def test_safe_reads_retry_until_the_budget_is_spent() -> None:
    seen: list[httpx.Request] = []
    replies = [httpx.Response(502, text="bad gateway")] * 4
    with _mock(replies, seen) as client, pytest.raises(StoreError, match="HTTP 502"):
        client.me()
    assert len(seen) == 4  # the first try and three retries


def test_connection_failures_are_retried_then_reported_as_store_errors() -> None:
    seen: list[httpx.Request] = []
    me = {"name": "alice", "roles": ["ml_engineer"], "created_at": "2026-11-22T09:00:00Z"}

    def flaky(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=me)

    with Client("http://clearance.test", "clr_x", transport=httpx.MockTransport(flaky)) as c:
        c.backoff = 0.0
        assert c.me().name == "alice" and len(seen) == 3
        seen.clear()
        with pytest.raises(StoreError, match="cannot reach the clearance server"):
            c.approve(1)  # a POST without a key is not repeated, whatever the failure
        assert len(seen) == 1
