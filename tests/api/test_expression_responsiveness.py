"""A heavy policy expression does not freeze the server (issue 10.4).

CEL holds the GIL for a whole evaluation: evaluated in the server process, one expensive
expression gate made ``/healthz`` wait as long as the gate ran (40 s in the finding). Here a
promotion runs such a gate over HTTP on a real server while another client times
``/healthz``; every health answer must come promptly, and the gate must end in an ``error``
naming its ``max_seconds`` limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from api_server import running_server, token_for
from clearance.workspace import Workspace, init_workspace

BIG = "[" + ",".join(str(i) for i in range(1000)) + "]"
HEAVY = f"{BIG}.map(a, {BIG}.map(b, a)).size() > 0"  # minutes of CEL work in one process
MAX_SECONDS = 4
POLICY = {
    "apiVersion": "clearance/v1",
    "kind": "Policy",
    "metadata": {"name": "heavy", "version": "1.0.0", "owner": "ops@example.com"},
    "selector": {"tags": {"domain": "heavy"}},
    "workflow": {
        "stages": ["draft", "staging", "production"],
        "transitions": [{"from": "draft", "to": "staging", "gates": ["slow"]}],
    },
    "gates": [{"id": "slow", "type": "expression", "expr": HEAVY, "max_seconds": MAX_SECONDS}],
}
MANIFEST = {
    "apiVersion": "clearance/v1",
    "kind": "ModelManifest",
    "model": {"name": "heavy-model", "risk_tier": "low", "tags": {"domain": "heavy"}},
    "version": "1",
    "stage": "draft",
    "artifact": {"uri": "s3://models/heavy/1/model.bin"},
    "features": ["a", "b"],
}


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[tuple[str, Workspace]]:
    ws = init_workspace(tmp_path / "ws")
    with running_server(ws) as url:
        yield url, ws


def _post(url: str, token: str, path: str, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}{path}", headers=headers, timeout=120, **kw)  # type: ignore[arg-type]


def test_healthz_answers_promptly_while_a_heavy_expression_gate_runs(
    sqlite_server: tuple[str, Workspace],
) -> None:
    url, ws = sqlite_server
    admin = token_for(ws, "paula", ["policy_admin"])
    engineer = token_for(ws, "alice", ["ml_engineer"])
    policy = yaml.safe_dump(POLICY).encode()
    r = _post(url, admin, "/v1/policies", files=[("files", ("p.yaml", policy, "text/yaml"))])
    assert r.status_code == 201, r.text
    manifest = yaml.safe_dump(MANIFEST).encode()
    r = _post(url, engineer, "/v1/versions", files={"manifest": ("m.yaml", manifest)})
    assert r.status_code == 201, r.text

    answer: dict[str, httpx.Response] = {}
    body = {"model": "heavy-model", "version": "1", "to": "staging"}

    def promote() -> None:
        answer["r"] = _post(url, engineer, "/v1/requests", json=body)

    gate = threading.Thread(target=promote)
    started = time.monotonic()
    gate.start()
    latencies: list[float] = []
    with httpx.Client(timeout=30) as client:
        while gate.is_alive() and time.monotonic() - started < 60:
            t = time.perf_counter()
            assert client.get(f"{url}/healthz").status_code == 200
            latencies.append(time.perf_counter() - t)
            time.sleep(0.05)
    gate.join(60)
    took = time.monotonic() - started

    result = answer["r"].json()
    gates = {g["gate_id"]: g for g in result["decision"]["gates"]}
    assert gates["slow"]["status"] == "error", gates["slow"]
    assert f"max_seconds = {MAX_SECONDS}" in gates["slow"]["message"]
    assert MAX_SECONDS <= took < MAX_SECONDS + 20
    assert len(latencies) > 10  # health was really asked while the gate ran
    # never waiting for the gate (4 s here, 40 s in the finding); the margin is for a loaded
    # 2-core CI machine, where one answer in a run once took 1.2 s
    assert max(latencies) < MAX_SECONDS / 2, f"worst /healthz latency {max(latencies):.3f} s"
