"""Upload boundaries over a real server: who may send a body is decided before it is read,
bodies and documents are capped, paths are checked on the values the loader reads, and a
refused upload leaves nothing behind (no blob, no staging folder)."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from api.test_routes_support import (
    MODEL,
    Api,
    apply_policy,
    problem,
    team,
    v7_upload,
)
from api_server import running_server
from clearance.api.uploads import STAGING, remove_stale_staging
from clearance.workspace import Workspace, init_workspace

SMALL_BODY = 256 << 10  # the server's whole-request limit in these tests


@pytest.fixture
def small_server(tmp_path: Path, db_url: str) -> Iterator[tuple[str, Workspace]]:
    ws = init_workspace(tmp_path / "ws", db_url=db_url)
    env = {"CLEARANCE_MAX_REQUEST_BYTES": str(SMALL_BODY), "TMPDIR": str(tmp_path)}
    with running_server(ws, env=env) as url:
        yield url, ws


def raw_post(url: str, path: str, token: str, declared: int, send: int) -> tuple[int, float]:
    """POST with a declared Content-Length, sending only ``send`` bytes, then read the
    status line: a server that reads the body first would wait for the rest (and time out)."""
    parsed = urlparse(url)
    started = time.perf_counter()
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parsed.hostname}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"--xyz\r\n" + b"x" * send)
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1]), time.perf_counter() - started


@pytest.mark.parametrize("path", ["/v1/versions", "/v1/policies"])
def test_a_user_who_may_not_upload_is_refused_before_the_body_is_read(
    small_server: tuple[str, Workspace], path: str
) -> None:
    url, ws = small_server
    api = team(url, ws)
    # rita (risk officer) may neither register nor apply policies: 403 at once, with only
    # 1 KiB of an announced 100 KB body sent (the rest never comes)
    status, took = raw_post(url, path, api.token("rita"), declared=100_000, send=1024)
    assert status == 403
    assert took < 5
    assert not any(ws.home.joinpath("blobs").rglob("*")), "nothing stored"


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    small_server: tuple[str, Workspace],
) -> None:
    url, ws = small_server
    api = team(url, ws)
    status, _ = raw_post(url, "/v1/versions", api.token("alice"), SMALL_BODY + 1, send=1024)
    assert status == 413
    # a body that streams past the limit without announcing its size is cut off too
    parts, data = v7_upload(manifest_edit={"lineage": {"code_commit": "x" * SMALL_BODY}})
    r = api.call("alice", "POST", "/v1/versions", files=parts, data=data)
    assert problem(r, 413)["type"] == "urn:clearance:problem:too-large"


def test_policy_files_and_manifests_are_capped_at_the_document_limit(
    server: str, server_ws: Workspace
) -> None:
    api = team(server, server_ws)
    huge = b"# padding\n" * ((4 << 20) // 10 + 1)  # just over the 4 MiB default
    r = apply_policy(api, files=[("policy.yaml", huge)])
    assert "policy.yaml: the policy's files are larger than" in problem(r, 413)["detail"]
    assert apply_policy(api).status_code == 201
    parts, data = v7_upload()
    parts[0] = ("manifest", ("manifest.yaml", huge, "application/yaml"))
    r = api.call("alice", "POST", "/v1/versions", files=parts, data=data)
    assert "manifest.yaml is larger than the server's limit" in problem(r, 413)["detail"]


@pytest.mark.parametrize(
    "edit",
    [
        {"path": b"/etc/passwd"},
        {"uri": b"file:///etc/passwd"},
        {"path": b"../../../../../../proc/self/environ"},
    ],
    ids=["binary-path", "binary-uri", "binary-proc"],
)
def test_a_path_written_with_a_yaml_tag_is_never_read(
    server: str, server_ws: Workspace, edit: dict[str, bytes]
) -> None:
    """``yaml.safe_dump`` writes bytes as ``!!binary``: the loader refuses the value itself."""
    api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    parts, data = v7_upload(
        manifest_edit={"evidence": {"model_card": {"kind": "document", **edit}}}
    )
    assert b"!!binary" in parts[0][1][1]

    r = api.call("alice", "POST", "/v1/versions", files=parts, data=data)

    body = problem(r, 422)
    assert body["type"] == "urn:clearance:problem:invalid-manifest"
    assert "!!binary values are not supported" in body["detail"]
    assert api.call("alice", "GET", f"/v1/models/{MODEL}").status_code == 404
    passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    assert not server_ws.blobs.has(passwd)


def test_a_refused_registration_stores_no_blob(server: str, server_ws: Workspace) -> None:
    api: Api = team(server, server_ws)
    assert apply_policy(api).status_code == 201
    parts, data = v7_upload()
    r = api.call("tess", "POST", "/v1/versions", files=parts, data=data)  # a tech lead
    assert problem(r, 403)["type"] == "urn:clearance:problem:not-permitted"
    assert not any(p.is_file() for p in server_ws.home.joinpath("blobs").rglob("*"))


def test_staging_folders_of_dead_servers_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{STAGING}999999999-abc"  # no such pid
    mine = tmp_path / f"{STAGING}{os.getpid()}-def"
    for folder in (dead, mine):
        folder.mkdir()
        (folder / "manifest.yaml").write_text("x")
    assert remove_stale_staging(tmp_path) == [dead]
    assert mine.is_dir() and not dead.exists()


def test_a_server_start_removes_stale_staging(tmp_path: Path, db_url: str) -> None:
    stale = tmp_path / f"{STAGING}999999999-zzz"
    stale.mkdir()
    ws = init_workspace(tmp_path / "ws", db_url=db_url)
    with running_server(ws, env={"TMPDIR": str(tmp_path)}):
        assert not stale.exists()
    assert tempfile.gettempdir() != str(tmp_path)  # the test's own process was unaffected


def test_json_bodies_wait_for_sign_in_and_are_capped(small_server: tuple[str, Workspace]) -> None:
    url, ws = small_server
    api = team(url, ws)
    status, _ = raw_post(url, "/v1/requests", "clr_not-a-token", declared=100_000, send=1024)
    assert status == 401
    status, _ = raw_post(url, "/v1/requests", api.token("nobody"), declared=100_000, send=1024)
    assert status == 403  # a user with no roles
    status, _ = raw_post(url, "/v1/requests", api.token("alice"), 5 << 20, send=1024)
    assert status == 413  # over the 4 MiB document limit
