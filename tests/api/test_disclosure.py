"""What the live server tells a client, and what it never does with an upload.

When the database is down, ``/readyz`` and every call answer a short 503; where the database
is and who connects to it stay in the server log. An unknown model's 404 suggests a few close
names, never the whole registry. An uploaded pickle is never unpickled by the server: the
latency gate's measure mode is an ``error`` there, and the pickle's code never runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from api.test_routes_support import Api
from api_server import free_port, token_for
from clearance.adapters.clock import SystemClock
from clearance.workspace import Workspace, init_workspace

EXE = str(Path(sys.executable).parent / "clearance")


def _serve(ws: Workspace, db_url: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``clearance serve`` as an operator runs it (JSON logs); waits until ready."""
    port = free_port()
    log = ws.root.parent / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    env |= {"CLEARANCE_WORKSPACE": str(ws.root), "CLEARANCE_DB_URL": db_url}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [EXE, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"not ready:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_database_outage_tells_clients_nothing_about_the_database(
    tmp_path: Path, pg_admin: str, pg_url: str
) -> None:
    ws = init_workspace(tmp_path / "ws", db_url=pg_url, clock=SystemClock())
    token = token_for(ws, "alice", ["ml_engineer"])
    ws.engine.dispose()
    database = pg_url.rsplit("/", 1)[1]
    proc, url, log = _serve(ws, pg_url)
    try:
        with psycopg.connect(pg_admin, autocommit=True) as conn:  # the database goes away
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        answers = [
            httpx.get(f"{url}/readyz"),
            httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {token}"}),
            httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {token}"}),
        ]
        time.sleep(0.3)  # log lines are written after the response
    finally:
        _stop(proc)
    for answer in answers:
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["type"] == "urn:clearance:problem:store-unavailable"
        for secret in ("postgres", "127.0.0.1", "5432", database, "psycopg"):
            assert secret not in answer.text, answer.text
        assert len(body["detail"]) < 100
    # the operator still learns what failed, from the server log, by request id
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    reasons = {
        line.get("request_id"): line["reason"]
        for line in logged
        if line["message"] == "store unavailable"
    }
    for answer in answers:
        assert database in reasons[answer.headers["x-request-id"]]


def test_an_unknown_model_suggests_a_few_close_names(server: str, server_ws: Workspace) -> None:
    now = server_ws.clock.now()
    with server_ws.store.transaction() as tx:
        for i in range(2000):
            tx.add_model(
                name=f"fraud-detector-{i:04d}-{'x' * 40}",
                risk_tier="low",
                owner="",
                team="",
                tags={},
                at=now,
            )
        tx.add_model(name="credit-default", risk_tier="low", owner="", team="", tags={}, at=now)
    api = Api(server, server_ws)
    token_for(server_ws, "alice", ["ml_engineer"])
    for path, close in [
        ("/v1/models/credit-defualt", ["credit-default"]),
        ("/v1/models/credit-default/versions/9", []),
        ("/v1/models/zzz", []),
    ]:
        r = api.call("alice", "GET", path)
        assert r.status_code == 404, r.text
        assert len(r.content) < 600, r.text
        assert [name for name in close if name in r.json()["detail"]] == close
        assert r.text.count("fraud-detector") <= 3


# -------------------------------------------------------------------- no unpickling


class _Marker:
    """Unpickling this creates ``path``: the proof that the server ran the pickle's code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


POLICY = """\
apiVersion: clearance/v1
kind: Policy
metadata: {name: timed, version: 1.0.0, owner: platform@example.org}
selector: {models: [timed-model]}
workflow:
  stages: [draft, staging, production]
  transitions:
    - {from: draft, to: staging, gates: [latency_measured]}
gates:
  - id: latency_measured
    type: latency
    allow_measure: true
    dataset: evaluation
    columns: {features: [x]}
    max_p95_ms: 1000
    warmup: 0
    repeats: 10
"""


def test_the_server_never_unpickles_an_uploaded_artifact(
    server: str, server_ws: Workspace, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled-in-the-server"
    artifact = __import__("pickle").dumps(_Marker(marker))
    table = io.BytesIO()
    pq.write_table(pa.table({"x": [0.1, 0.2, 0.3]}), table)
    manifest = {
        "apiVersion": "clearance/v1",
        "kind": "ModelManifest",
        "model": {"name": "timed-model"},
        "version": "1",
        "artifact": {"path": "model.pkl"},
        "evidence": {"evaluation": {"kind": "dataset", "path": "eval.parquet"}},
    }
    api = Api(server, server_ws)
    token_for(server_ws, "paula", ["policy_admin"])
    token_for(server_ws, "alice", ["ml_engineer"])
    policy = [("files", ("policy.yaml", POLICY.encode(), "application/yaml"))]
    assert api.call("paula", "POST", "/v1/policies", files=policy).status_code == 201
    files = {"model.pkl": artifact, "eval.parquet": table.getvalue()}
    parts: list[tuple[str, Any]] = [
        ("manifest", ("manifest.yaml", yaml.safe_dump(manifest).encode(), "application/yaml"))
    ]
    parts += [("files", (n, data, "application/octet-stream")) for n, data in files.items()]
    digests = {n: hashlib.sha256(data).hexdigest() for n, data in files.items()}
    r = api.call(
        "alice", "POST", "/v1/versions", files=parts, data={"digests": json.dumps(digests)}
    )
    assert r.status_code == 201, r.text
    body = {"model": "timed-model", "version": "1", "to": "staging"}
    r = api.call("alice", "POST", "/v1/requests", json=body)
    assert r.status_code == 201, r.text
    assert not marker.exists(), "the server unpickled the uploaded artifact"
    [gate] = r.json()["decision"]["gates"]
    assert gate["status"] == "error"
    assert "benchmark" in gate["message"] and "CI" in gate["message"], gate["message"]
