"""Guarantees of ADR 11 that the route tests do not reach: a manifest sent to the server can
never make it read its own files, and a retry that arrives while the first call with the same
idempotency key still runs is told so (409) instead of running the use case twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from api.test_routes_support import MODEL, apply_policy, problem, team, v7_upload
from clearance.api.idempotency import fingerprint
from clearance.contract.schemas import PromoteBody
from clearance.workspace import Workspace


@pytest.mark.parametrize(
    "edit",
    [
        {"path": "/etc/hostname"},
        {"path": "../../outside.md"},
        {"uri": "file:///etc/hostname"},
    ],
    ids=["absolute", "dotdot", "file-uri"],
)
def test_a_manifest_cannot_name_files_outside_its_upload(
    server: str, server_ws: Workspace, edit: dict[str, str]
) -> None:
    outside = server_ws.root.parent / "outside.md"
    outside.write_text("# not for the registry\n")
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    parts, data = v7_upload(
        manifest_edit={"evidence": {"model_card": {"kind": "document", **edit}}}
    )
    before = server_ws.auditing.verify().events

    r = api.call("alice", "POST", "/v1/versions", files=parts, data=data)

    body = problem(r, 422)
    assert "must be a relative path inside the manifest's folder" in body["detail"]
    assert server_ws.auditing.verify().events == before  # nothing registered
    for target in (outside, Path("/etc/hostname")):
        if target.is_file():
            assert not server_ws.blobs.has(hashlib.sha256(target.read_bytes()).hexdigest())
    assert api.call("alice", "GET", f"/v1/models/{MODEL}").status_code == 404


def test_a_retry_while_the_first_call_runs_gets_409(server: str, server_ws: Workspace) -> None:
    api = team(server, server_ws)
    body = PromoteBody(model=MODEL, version="7", to="staging")
    # the first call with this key has claimed it and not finished (as a slow promote would)
    claim = server_ws.idempotency.claim(
        "alice", "ci-42", fingerprint("promote", body.model_dump_json()), server_ws.clock.now()
    )
    assert claim is None

    r = api.call(
        "alice",
        "POST",
        "/v1/requests",
        json=body.model_dump(),
        headers={"Idempotency-Key": "ci-42"},
    )

    assert "still running" in problem(r, 409)["detail"]
    server_ws.idempotency.release("alice", "ci-42")
    other = api.call(
        "alice",
        "POST",
        "/v1/requests",
        json={**body.model_dump(), "to": "production"},
        headers={"Idempotency-Key": "ci-42"},
    )
    assert other.status_code != 409  # released: the key is free again (this one is a 404)
