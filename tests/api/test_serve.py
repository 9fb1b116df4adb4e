"""``clearance serve`` as an operator runs it: the real console script in its own process.

It starts on the database ``--db`` names (every worker sees it), answers ``/readyz``, logs
JSON lines that carry the request id, finishes a request in flight when SIGTERM arrives and
exits 0, and refuses to start (exit 2, one line saying what to run) on a database whose
schema is not current, without migrating it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command

from api_server import free_port, token_for
from clearance.adapters.clock import SystemClock
from clearance.adapters.store import migrate
from clearance.adapters.store.sql import FAULT_ENV
from clearance.workspace import Workspace, init_workspace

EXE = str(Path(sys.executable).parent / "clearance")
POLICY = """\
apiVersion: clearance/v1
kind: Policy
metadata: {name: slow-policy, version: 1.0.0, owner: platform@example.org}
selector: {models: [slow-model]}
workflow:
  stages: [draft, staging, production]
  transitions:
    - {from: draft, to: staging}
"""


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def lines(self) -> list[dict[str, Any]]:
        """Every line the server wrote; each must be one JSON object."""
        out = []
        for line in self.log.read_text().splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pytest.fail(f"a log line that is not JSON: {line!r}")
        return out


def _env(ws: Workspace, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CLEARANCE_DB_URL", FAULT_ENV)}
    return {**env, "CLEARANCE_WORKSPACE": str(ws.root), **(extra or {})}


@contextmanager
def serve(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    log = ws.root.parent / f"serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [EXE, "serve", "--port", str(port), *args],
            env=_env(ws, env),
            cwd=ws.root,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"serve exited with {server.proc.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"serve not ready within 60 s:\n{server.log.read_text()}")


def _workspace_without_config(tmp_path: Path, db_url: str) -> Workspace:
    """A workspace whose database only ``--db`` names (no config.json, no environment)."""
    ws = init_workspace(tmp_path / "ws", db_url=db_url, clock=SystemClock())
    (ws.home / "config.json").unlink()
    return ws


def test_serve_uses_db_in_every_worker_and_logs_json(tmp_path: Path, db_url: str) -> None:
    ws = _workspace_without_config(tmp_path, db_url)
    token = token_for(ws, "alice", ["ml_engineer"])
    with serve(ws, "--db", db_url, "--workers", "2") as server:
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        auth = {"Authorization": f"Bearer {token}"}
        # several calls, spread over the workers: whichever answers knows alice, who exists
        # only in the database --db names
        ids = [f"serve-test-{i}" for i in range(8)]
        for rid in ids:
            me = httpx.get(f"{server.url}/v1/me", headers={**auth, "X-Request-ID": rid})
            assert me.status_code == 200, me.text
            assert me.json()["name"] == "alice"
            assert me.headers["x-request-id"] == rid
        anonymous = httpx.get(f"{server.url}/v1/me")
        assert anonymous.status_code == 401
        generated = anonymous.headers["x-request-id"]
        time.sleep(0.3)  # the log line is written after the response
        lines = server.lines()
    requests = {line.get("request_id"): line for line in lines if line["message"] == "request"}
    for rid in ids:
        line = requests[rid]
        assert line["user"] == "alice" and line["status"] == 200 and line["route"] == "/v1/me"
        assert line["level"] == "info" and line["method"] == "GET"
        assert isinstance(line["duration_ms"], float)
    assert requests[generated]["status"] == 401 and len(generated) == 32
    [starting] = [line for line in lines if line["message"] == "starting"]
    assert starting["workers"] == 2
    assert starting["database"].rsplit("/", 1)[-1] == db_url.rsplit("/", 1)[-1]
    assert "password" not in json.dumps(starting)


def _write_in_flight(ws: Workspace) -> bool:
    """True while a server transaction holds the write lock (it sleeps before commit)."""
    url = ws.db_url
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
        ).fetchone()
    return bool(row and row[0])


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path, db_url: str) -> None:
    ws = init_workspace(tmp_path / "ws", db_url=db_url, clock=SystemClock())
    token = token_for(ws, "root", ["admin"])
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    with serve(ws, "--graceful-timeout", "20", env={FAULT_ENV: "3"}) as server:
        result: dict[str, Any] = {}

        def apply() -> None:
            try:
                with policy.open("rb") as f:
                    result["response"] = httpx.post(
                        f"{server.url}/v1/policies",
                        headers={"Authorization": f"Bearer {token}"},
                        files=[("files", ("policy.yaml", f, "application/yaml"))],
                        timeout=60,
                    )
            except httpx.HTTPError as exc:  # pragma: no cover - reported below
                result["error"] = exc

        client = threading.Thread(target=apply)
        client.start()
        deadline = time.monotonic() + 30
        while not _write_in_flight(ws):
            assert time.monotonic() < deadline, "the write never started"
            assert client.is_alive(), result
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # no new connections once shutting down, while the old request is still running
        assert client.is_alive()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/healthz", timeout=2)
        client.join(timeout=60)
        assert server.proc.wait(timeout=30) == 0, server.log.read_text()
    assert "error" not in result, result
    response = result["response"]
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "slow-policy"
    with ws.store.reading() as tx:  # it committed
        assert [p.name for p in tx.list_policies()] == ["slow-policy"]
    assert ws.auditing.verify().ok
    messages = [line["message"] for line in server.lines()]
    assert "Shutting down" in messages
    assert messages[-1] == "stopped"
    posted = [
        line
        for line in server.lines()
        if line["message"] == "request" and line["path"] == "/v1/policies"
    ]
    assert [line["status"] for line in posted] == [201]
    assert posted[0]["duration_ms"] >= 3000


def _downgrade(ws: Workspace, revision: str) -> None:
    config = migrate.alembic_config()
    with ws.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _refused(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    port = free_port()
    result = subprocess.run(
        [EXE, "serve", "--port", str(port), *args],
        env=_env(ws),
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "clearance db upgrade" in result.stderr
    assert "never migrates" in result.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    return result


def test_serve_refuses_an_out_of_date_schema(tmp_path: Path, db_url: str) -> None:
    ws = init_workspace(tmp_path / "ws", db_url=db_url, clock=SystemClock())
    head = migrate.head_revision()
    previous = "0002"
    assert head != previous
    _downgrade(ws, previous)
    result = _refused(ws)
    assert f"is at revision {previous}, this clearance needs {head}" in result.stderr
    assert migrate.current_revision(ws.engine) == previous  # nothing migrated it

    _downgrade(ws, "base")
    result = _refused(ws, "--db", db_url)
    assert "has no clearance schema" in result.stderr
    assert migrate.current_revision(ws.engine) is None

    migrate.upgrade(ws.engine)  # what `clearance db upgrade` does; now it starts
    with serve(ws) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_serve_outside_a_workspace_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    result = subprocess.run(
        [EXE, "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "clearance init" in result.stderr and "Traceback" not in result.stderr
