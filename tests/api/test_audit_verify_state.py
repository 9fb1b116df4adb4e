"""``GET /v1/audit/verify`` on the live server compares the state the events imply with the
tables and, with ``blobs=true``, re-hashes the blobs; the remote CLI reports the same."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from api.test_routes_support import MODEL, apply_policy, staged, team
from clearance.workspace import Workspace

EXE = str(Path(sys.executable).parent / "clearance")


def test_verify_over_http_names_a_row_changed_in_the_database(
    server: str, server_ws: Workspace, tmp_path: Path
) -> None:
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    staged(api, "7")
    before = api.call("aude", "GET", "/v1/audit/verify", params={"blobs": "true"}).json()
    assert before["ok"] and before["state_checked"], before["differences"]
    assert before["blobs_checked"] >= 1 and before["blob_faults"] == []
    # re-hashing every blob is heavy: only roles that may sign checkpoints may ask for it
    denied = api.call("alice", "GET", "/v1/audit/verify", params={"blobs": "true"})
    assert denied.status_code == 403, denied.text

    with server_ws.engine.begin() as conn:
        conn.execute(text("UPDATE versions SET stage = 'production'"))
    after = api.call("aude", "GET", "/v1/audit/verify").json()
    assert after["ok"] is False and after["fault"] is None
    [d] = after["differences"]
    assert (d["table"], d["key"], d["field"]) == ("versions", f"model:{MODEL}/version:7", "stage")
    assert (d["expected"], d["found"]) == ("staging", "production")

    env = {**os.environ, "CLEARANCE_URL": server, "CLEARANCE_TOKEN": api.tokens["aude"]}
    env.pop("CLEARANCE_WORKSPACE", None)
    remote = subprocess.run(
        [EXE, "audit", "verify"], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )
    assert remote.returncode == 1, remote.stdout + remote.stderr
    assert "audit chain OK" in remote.stdout
    assert f"versions model:{MODEL}/version:7: stage is 'production' in the table" in remote.stdout
