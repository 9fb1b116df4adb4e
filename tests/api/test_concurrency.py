"""The invariants under real contention through the API: several server processes, one
PostgreSQL database.

Three server processes (one uvicorn with a single worker, one with two) share a workspace
and its database. Clients in threads fire at all of them at once, released together by a
barrier, while each server holds every write open a little before it commits
(``CLEARANCE_TEST_SLEEP_BEFORE_COMMIT``) so the others must queue behind it:

- promotions of different versions of one model to production, each version asked for twice
  through different servers: one production version at the end, each version promoted at
  most once, every refusal a clean 409/422 problem that changed nothing;
- one approver approving one request from every server at once: the approval is recorded
  and counted once (a rule that needs two people of that role is still waiting), and the
  request executes exactly once when the last sign-off arrives, whichever call wins;
- the audit chain verifies, and its events tell exactly the final state.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_server import running_server, token_for
from clearance.adapters.clock import SystemClock
from clearance.adapters.store.sql import FAULT_ENV
from clearance.workspace import Workspace, init_workspace
from race_policies import FREE_POLICY, gated_policy, replayed_stages

pytestmark = pytest.mark.slow  # ~30 s: three server processes on two cores

MODEL, GATED = "race-model", "gated-model"
VERSIONS = [str(i) for i in range(1, 7)]
HOLD = {FAULT_ENV: "0.15"}  # each write holds the chain head this long before it commits
PROBLEM = "application/problem+json"

POLICIES = {"free.yaml": FREE_POLICY, "gated.yaml": gated_policy(model_owners=2)}
USERS = {
    "admin": ["admin"],
    "alice": ["ml_engineer"],
    "erin": ["ml_engineer"],
    "bob": ["model_owner"],
    "dave": ["model_owner"],
    "carol": ["risk_officer"],
}


def _manifest(folder: Path, model: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.bin").write_bytes(f"weights of {model} {version}".encode())
    path = folder / "manifest.yaml"
    path.write_text(
        "apiVersion: clearance/v1\nkind: ModelManifest\n"
        f"model: {{name: {model}, risk_tier: medium, owner: ml@example.org, team: t}}\n"
        f'version: "{version}"\nartifact: {{path: model.bin}}\n'
        f"lineage: {{code_commit: c0ffee{version}, data_snapshot: snap-1, seed: 7}}\n"
        "metrics: {auc: 0.8}\n"
    )
    return path


@dataclass
class Cluster:
    ws: Workspace
    urls: list[str]  # one per server process (the two-worker server is listed twice)
    tokens: dict[str, str]

    def call(self, i: int, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """One call through server process ``i`` (round robin), as ``user``."""
        url = self.urls[i % len(self.urls)]
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            return client.request(method, path, **kw)

    def stages(self, model: str) -> dict[str, str]:
        with self.ws.store.reading() as tx:
            found = tx.get_model(model)
            assert found is not None
            return {v.version: v.stage for v in tx.list_versions(found.id)}


@pytest.fixture(scope="module")
def cluster(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    import uuid

    import psycopg

    name = f"clearance_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{pg_admin.rsplit('/', 1)[0]}/{name}"
    tmp = tmp_path_factory.mktemp("cluster")
    try:
        ws = init_workspace(tmp / "ws", db_url=url, clock=SystemClock())
        tokens = {user: token_for(ws, user, roles) for user, roles in USERS.items()}
        for file, text in POLICIES.items():
            (tmp / file).write_text(text)
            ws.registry.apply_policy(tmp / file, actor="admin")
        for model, versions in ((MODEL, VERSIONS), (GATED, ["1"])):
            for v in versions:
                ws.registry.register(_manifest(tmp / model / v, model, v), actor="alice")
                assert ws.promotions.promote(model, v, "staging", actor="alice").executed
        with ExitStack() as stack:
            single = stack.enter_context(running_server(ws, env=HOLD))
            double = stack.enter_context(running_server(ws, workers=2, env=HOLD))
            yield Cluster(ws, [single, double, double], tokens)
        ws.engine.dispose()
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls in threads released together by a barrier; responses in call order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _assert_clean(response: httpx.Response, *ok: int) -> bool:
    """A success in ``ok``, or a refusal that is a complete problem; never a 5xx."""
    if response.status_code in ok:
        return True
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM, response.text
    body = response.json()
    assert body["status"] == response.status_code and body["detail"] and body["request_id"]
    assert body["type"].startswith("urn:clearance:problem:")
    return False


def test_concurrent_promotions_through_several_servers(cluster: Cluster) -> None:
    # every version asked for twice, by two people, through two different server processes
    asks = [(v, user) for v in VERSIONS for user in ("alice", "erin")]
    calls = [
        (
            lambda i=i, v=v, user=user: cluster.call(
                i + (1 if user == "erin" else 0),
                user,
                "POST",
                "/v1/requests",
                json={"model": MODEL, "version": v, "to": "production", "reason": "race"},
            )
        )
        for i, (v, user) in enumerate(asks)
    ]
    responses = _all_at_once(calls)

    won: Counter[str] = Counter()
    for (v, _), r in zip(asks, responses, strict=True):
        if _assert_clean(r, 201):
            assert r.json()["executed"] is True, r.text
            won[v] += 1
        else:
            # the twin request lost: the version is on its way already, or has moved on
            assert r.status_code in (409, 422), r.text
    assert won, "at least one promotion must succeed"
    assert all(n == 1 for n in won.values()), won  # no version promoted twice

    stages = cluster.stages(MODEL)
    assert list(stages.values()).count("production") == 1, stages
    for v in VERSIONS:
        assert stages[v] == ("staging" if v not in won else stages[v]), (v, stages)
        assert stages[v] in (("production", "deprecated") if v in won else ("staging",))

    report = cluster.ws.auditing.verify()
    assert report.ok, report.fault
    events = cluster.ws.views.history(MODEL)
    assert replayed_stages(events) == stages
    changes = Counter(
        (e.payload["from"], e.payload["to"]) for e in events if e.action == "version.stage_changed"
    )
    assert changes[("staging", "production")] == len(won)
    assert changes[("production", "deprecated")] == len(won) - 1
    with cluster.ws.store.reading() as tx:
        model = tx.get_model(MODEL)
        assert model is not None
        slots = [v.version for v in tx.list_versions(model.id) if v.production_slot is not None]
        assert slots == [v for v, s in stages.items() if s == "production"]
        executed = [
            r
            for r in tx.list_requests(statuses=["executed"])
            if r.model_id == model.id and r.to_stage == "production"
        ]
        assert len(executed) == len(won)
        for r in executed:
            assert [d.outcome for d in tx.decisions_for(r.id)] == ["allow"]


def _sign_everywhere(cluster: Cluster, request_id: int, user: str, n: int) -> list[httpx.Response]:
    calls = [
        (
            lambda i=i: cluster.call(
                i, user, "POST", f"/v1/requests/{request_id}/approvals", json={"reason": "ok"}
            )
        )
        for i in range(n)
    ]
    return _all_at_once(calls)


def _refused_approval(r: httpx.Response) -> None:
    # 409/422 for a request that is no longer open; a duplicate sign-off is refused with
    # the approval rules' own problem (403 approval-refused, "already gave") today
    if r.status_code == 403:
        body = r.json()
        assert body["type"] == "urn:clearance:problem:approval-refused", body
        assert "already gave" in body["detail"], body
    else:
        assert r.status_code in (409, 422), r.text


def test_one_approver_approving_everywhere_counts_once(cluster: Cluster) -> None:
    opened = cluster.call(
        0,
        "alice",
        "POST",
        "/v1/requests",
        json={"model": GATED, "version": "1", "to": "production"},
    )
    assert opened.status_code == 201, opened.text
    request_id = opened.json()["request"]["id"]
    assert opened.json()["request"]["status"] == "pending"

    # bob approves through every server process at once, twice each
    responses = _sign_everywhere(cluster, request_id, "bob", 6)
    accepted = [r for r in responses if _assert_clean(r, 201)]
    for r in responses:
        if r.status_code != 201:
            _refused_approval(r)
    assert len(accepted) == 1, [r.text for r in responses]
    assert accepted[0].json()["request"]["status"] == "pending"

    def state() -> tuple[str, list[tuple[str, str]]]:
        with cluster.ws.store.reading() as tx:
            req = tx.get_request(request_id)
            assert req is not None
            return req.status, [(a.approver, a.verdict) for a in tx.approvals_for(request_id)]

    # recorded once, and counted once: two model owners are needed, bob alone is one
    assert state() == ("pending", [("bob", "approve")])
    detail = cluster.call(1, "bob", "GET", f"/v1/requests/{request_id}")
    assert detail.status_code == 200 and detail.json()["status"] == "pending", detail.text

    # carol (risk officer) everywhere at once: counted once, still one model owner short
    responses = _sign_everywhere(cluster, request_id, "carol", 3)
    assert sum(_assert_clean(r, 201) for r in responses) == 1
    for r in responses:
        if r.status_code != 201:
            _refused_approval(r)
    assert state() == ("pending", [("bob", "approve"), ("carol", "approve")])

    # dave, the second model owner, completes it from three servers at once: one execution
    responses = _sign_everywhere(cluster, request_id, "dave", 3)
    accepted = [r for r in responses if _assert_clean(r, 201)]
    assert len(accepted) == 1, [r.text for r in responses]
    assert accepted[0].json()["executed"] is True
    assert accepted[0].json()["request"]["status"] == "executed"
    for r in responses:
        if r.status_code != 201:
            _refused_approval(r)
    status, approvals = state()
    assert status == "executed"
    assert approvals == [("bob", "approve"), ("carol", "approve"), ("dave", "approve")]
    assert cluster.stages(GATED) == {"1": "production"}

    with cluster.ws.store.reading() as tx:
        outcomes = [d.outcome for d in tx.decisions_for(request_id)]
    assert outcomes.count("allow") == 1 and outcomes[-1] == "allow", outcomes
    assert len(outcomes) == 1 + len(approvals)  # one at opening, one per recorded approval

    report = cluster.ws.auditing.verify()
    assert report.ok, report.fault
    events = cluster.ws.views.history(GATED)
    assert replayed_stages(events) == {"1": "production"}
    approved = Counter(e.actor for e in events if e.action == "request.approved")
    assert approved == {"bob": 1, "carol": 1, "dave": 1}
    to_production = [
        e for e in events if e.action == "version.stage_changed" and e.payload["to"] == "production"
    ]
    assert len(to_production) == 1
