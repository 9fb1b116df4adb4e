"""``Idempotency-Key`` under load and crashes, against a real server on SQLite and PostgreSQL.

Eight clients register and promote versions, each call with its own key and each key sent by
two clients at once (a retry racing its first attempt). No call may answer 5xx, no key may
stay "in progress" once its calls are done, and each key's work must happen exactly once.
A server killed in the middle of a keyed call leaves a claim that lapses after its lease;
the retry then runs the call, once.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api_server import _wait_ready, free_port, running_server, token_for
from clearance.adapters.store.schema import IdempotencyRow
from clearance.adapters.store.sql import FAULT_ENV
from clearance.workspace import Workspace
from race_policies import FREE_POLICY

MODEL = "race-model"
CLIENTS = 8
VERSIONS_PER_CLIENT = 3
IN_PROGRESS = "urn:clearance:problem:in-progress"
LEASE_ENV = "CLEARANCE_IDEMPOTENCY_LEASE"

pytestmark = pytest.mark.slow  # ~1 min: real servers, eight clients, a lease to wait out


def _manifest(version: str) -> list[tuple[str, Any]]:
    manifest = (
        "apiVersion: clearance/v1\nkind: ModelManifest\n"
        f"model: {{name: {MODEL}, risk_tier: medium, owner: ml@example.org, team: t}}\n"
        f'version: "{version}"\nartifact: {{path: model.bin}}\n'
        f"lineage: {{code_commit: c0ffee{version}, data_snapshot: snap-1, seed: 7}}\n"
        "metrics: {auc: 0.8}\n"
    )
    return [
        ("manifest", ("manifest.yaml", manifest.encode(), "application/yaml")),
        ("files", ("model.bin", f"weights {version}".encode(), "application/octet-stream")),
    ]


@dataclass
class Tally:
    """What the clients saw: every status, and every answer that was not final."""

    statuses: Counter[int] = field(default_factory=Counter)
    waits: int = 0  # 409 in-progress answers (a retry that overtook its first attempt)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, r: httpx.Response) -> None:
        with self.lock:
            self.statuses[r.status_code] += 1
            if _in_progress(r):
                self.waits += 1


def _in_progress(r: httpx.Response) -> bool:
    return r.status_code == 409 and r.json().get("type") == IN_PROGRESS


def _send(url: str, token: str, key: str, tally: Tally, path: str, **kw: Any) -> httpx.Response:
    """One keyed call, repeated (as the SDK would) while its first attempt is in progress."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for _ in range(100):
            r = client.post(path, **kw)
            tally.add(r)
            if not _in_progress(r):
                break
            time.sleep(0.05)
    return r


def _call(version: str, promote: bool) -> dict[str, Any]:
    if promote:
        return {
            "path": "/v1/requests",
            "json": {"model": MODEL, "version": version, "to": "staging"},
        }
    return {"path": "/v1/versions", "files": _manifest(version)}


def _setup(ws: Workspace, tmp: Path) -> str:
    (tmp / "free.yaml").write_text(FREE_POLICY)
    ws.registry.add_user("admin", ["admin"], actor="operator", operator=True)
    ws.registry.apply_policy(tmp / "free.yaml", actor="admin")
    return token_for(ws, "alice", ["ml_engineer"])


def _client(url: str, token: str, c: int, tally: Tally) -> list[tuple[str, httpx.Response]]:
    """Client ``c``: its own versions, and a concurrent retry of its neighbour's calls."""
    out = []
    for j in range(VERSIONS_PER_CLIENT):
        for owner in (c, (c + 1) % CLIENTS):
            v = str(owner * VERSIONS_PER_CLIENT + j + 1)
            for key, promote in ((f"reg-{v}", False), (f"stage-{v}", True)):
                out.append((key, _send(url, token, key, tally, **_call(v, promote))))
    return out


def _keys(ws: Workspace) -> list[IdempotencyRow]:
    with Session(ws.engine) as s:
        return list(s.scalars(select(IdempotencyRow)))


def test_eight_keyed_clients_get_no_5xx_and_leave_no_stuck_key(
    server_ws: Workspace, tmp_path: Path
) -> None:
    token = _setup(server_ws, tmp_path)
    tally = Tally()
    with running_server(server_ws) as url:
        with ThreadPoolExecutor(CLIENTS) as pool:
            runs = list(pool.map(lambda c: _client(url, token, c, tally), range(CLIENTS)))
        answers = [pair for run in runs for pair in run]
        # afterwards, every key answers at once with its stored response
        final = {
            key: _send(url, token, key, Tally(), **_call(key.split("-")[1], key[0] == "s"))
            for key in sorted({k for k, _ in answers})
        }

    keys = len(final)
    calls = sum(tally.statuses.values())
    errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    stuck = [k for k, r in final.items() if _in_progress(r)]
    print(
        f"\nidempotency load ({server_ws.engine.dialect.name}): {CLIENTS} clients, {calls} calls "
        f"for {keys} keys, {errors} 5xx, {tally.waits} in-progress 409s, {len(stuck)} stuck keys"
    )
    assert errors == 0, tally.statuses
    assert not stuck, stuck
    assert all(r.status_code == 201 for _, r in answers), [r.text for _, r in answers][:3]
    for key, r in final.items():
        assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true", (key, r.text)
    # both senders of a key got the same answer, the stored one
    for key, r in answers:
        assert r.json() == final[key].json(), key
    assert all(row.status == 201 for row in _keys(server_ws))

    # each key's work happened once: one version per register key, one request per promotion
    versions = CLIENTS * VERSIONS_PER_CLIENT
    with server_ws.store.reading() as tx:
        model = tx.get_model(MODEL)
        assert model is not None
        stages = {v.version: v.stage for v in tx.list_versions(model.id)}
        requests = Counter(r.version_id for r in tx.list_requests())
    assert len(stages) == versions and set(stages.values()) == {"staging"}
    assert len(requests) == versions and set(requests.values()) == {1}
    events = Counter(e.action for e in server_ws.views.history(MODEL))
    assert events["version.registered"] == versions and events["request.opened"] == versions
    assert server_ws.auditing.verify().ok


def _wait_for_claim(ws: Workspace, key: str, proc_alive: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(row.key == key for row in _keys(ws)):
            time.sleep(0.3)  # the call has claimed its key and is now in its use case
            return
        assert proc_alive(), "the server ended before the call claimed its key"
        time.sleep(0.05)
    raise AssertionError("the call never claimed its key")


LEASE = 8  # seconds a claim holds its key in the crash test


@contextmanager
def _server(ws: Workspace, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A server process of our own, so the test can kill it with SIGKILL."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "clearance.api.app:app_from_environment"]
    cmd += ["--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    child_env = {**os.environ, "CLEARANCE_WORKSPACE": str(ws.root), "CLEARANCE_DB_URL": ws.db_url}
    log = ws.home / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env={**child_env, **env}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _post_and_lose_the_answer(url: str, headers: dict[str, str]) -> None:
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            client.post("/v1/versions", files=_manifest("1"))
    except httpx.HTTPError:
        pass  # the server was killed under it


def test_a_claim_left_by_a_killed_server_is_retried_after_its_lease(
    server_ws: Workspace, tmp_path: Path
) -> None:
    token = _setup(server_ws, tmp_path)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "ci-7-register"}
    lease = {LEASE_ENV: str(LEASE)}
    slow = {**lease, FAULT_ENV: "30"}  # each write waits 30 s before it commits

    with (
        _server(server_ws, lease) as (url, _),
        httpx.Client(base_url=url, headers=headers, timeout=30) as survivor,
    ):
        with _server(server_ws, slow) as (doomed_url, doomed):
            sender = threading.Thread(target=_post_and_lose_the_answer, args=(doomed_url, headers))
            sender.start()
            _wait_for_claim(server_ws, "ci-7-register", lambda: doomed.poll() is None)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            sender.join(timeout=10)
        [row] = _keys(server_ws)
        assert row.status is None  # a claim with no response: its server died mid-call

        # within the lease the key is still held: a retryable 409 that says so
        first = survivor.post("/v1/versions", files=_manifest("1"))
        assert first.status_code == 409, first.text
        assert first.json()["type"] == IN_PROGRESS
        assert first.headers["Retry-After"].isdigit()
        lapse = row.created_at + dt.timedelta(seconds=LEASE) - dt.datetime.now(dt.UTC)
        time.sleep(max(0.0, lapse.total_seconds()) + 0.5)

        retried = survivor.post("/v1/versions", files=_manifest("1"))
        assert retried.status_code == 201, retried.text
        again = survivor.post("/v1/versions", files=_manifest("1"))
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == retried.json()
    events = Counter(e.action for e in server_ws.views.history(MODEL))
    assert events["version.registered"] == 1  # the killed call left nothing; the retry ran once
    assert server_ws.auditing.verify().ok
