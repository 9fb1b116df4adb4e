"""Governed serving against a real server: the SDK's loader and `clearance serving verify`.

The server (uvicorn over the workspace, SQLite and PostgreSQL) answers the serving check;
the loader hashes the bytes, verifies the attestation and judges the expiries on the
client's side, so a tampered artifact is refused whatever the server says.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import clearance.serving as serving
from api_server import running_server, token_for
from clearance.core.audit import generate_key, public_key_raw
from clearance.serving import ServingRefused
from cli_runner import run_cli
from serving_setup import MODEL, Story, story

Served = tuple[Story, str, str, Path]


@contextmanager
def serve(tmp_path: Path, db_url: str | None) -> Iterator[Served]:
    s = story(tmp_path, db_url)
    artifact = s.register("1", weight=2.0)
    s.to_production("1")
    with running_server(s.ws) as url:
        yield s, url, token_for(s.ws, "viewer", ["auditor"]), artifact


@pytest.fixture
def served(tmp_path: Path, db_url: str) -> Iterator[Served]:
    """On SQLite and PostgreSQL."""
    with serve(tmp_path, db_url) as made:
        yield made


@pytest.fixture
def served_sqlite(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path, None) as made:
        yield made


def test_the_loader_over_http(served: Served, tmp_path: Path) -> None:
    s, url, token, artifact = served
    got = serving.load(MODEL, url=url, token=token, artifact=artifact, now=s.clock.now())
    assert got.model.predict([{"income": 1.5}]) == [3.0]
    assert got.verified.key_source == "listed"
    # the server cannot read the file for us: without artifact= the registered path is
    # relative, and the loader says so instead of guessing
    with pytest.raises(ServingRefused) as raised:
        serving.load(MODEL, url=url, token=token, now=s.clock.now())
    assert raised.value.reason == "artifact_unavailable"
    tampered = tmp_path / "tampered.pkl"
    data = bytearray(artifact.read_bytes())
    data[-2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ServingRefused) as raised:
        serving.load(MODEL, url=url, token=token, artifact=tampered, now=s.clock.now())
    assert raised.value.reason == "digest_mismatch"
    with pytest.raises(ServingRefused) as raised:
        serving.load(
            MODEL,
            url=url,
            token=token,
            artifact=artifact,
            public_key=public_key_raw(generate_key()),
            now=s.clock.now(),
        )
    assert raised.value.reason == "attestation_invalid"
    # the route itself: what the loader reads
    answer = httpx.get(
        f"{url}/v1/models/{MODEL}/serving/check",
        params={"stage": "production"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["version"], body["ok"], body["problems"]) == ("1", True, [])
    assert body["attestation"]["payloadType"] == "application/vnd.in-toto+json"
    missing = httpx.get(
        f"{url}/v1/models/nope/serving/check", headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status_code == 404


def test_the_cli_for_deploy_scripts(served_sqlite: Served, tmp_path: Path) -> None:
    s, url, token, artifact = served_sqlite
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    remote = {**env, "CLEARANCE_URL": url, "CLEARANCE_TOKEN": token}
    ok = run_cli("serving", "verify", MODEL, "--artifact", artifact, "--json", env=remote)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert (out["ok"], out["version"], out["role"]) == (True, "1", "champion")
    key = tmp_path / "key.hex"
    key.write_text(public_key_raw(s.ws.key).hex() + "\n")
    pinned = run_cli(
        "serving", "verify", MODEL, "--artifact", artifact, "--public-key", key, env=remote
    )
    assert pinned.returncode == 0, pinned.stderr
    assert "serves in production (champion)" in pinned.stdout and "(pinned)" in pinned.stdout

    tampered = tmp_path / "model.pkl"
    tampered.write_bytes(artifact.read_bytes() + b"\0")
    bad = run_cli("serving", "verify", MODEL, "--artifact", tampered, env=remote)
    assert bad.returncode == 1
    assert "refused: digest_mismatch" in bad.stderr
    as_json = run_cli("serving", "verify", MODEL, "--artifact", tampered, "--json", env=remote)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["reason"] == "digest_mismatch"
    # locally, on the workspace: the stored copy is found without --artifact
    local = run_cli("serving", "verify", MODEL, env={**env, "CLEARANCE_WORKSPACE": str(s.ws.root)})
    assert local.returncode == 0, local.stderr
    usage = run_cli("serving", "verify", MODEL, "--stage", "nowhere", env=remote)
    assert usage.returncode == 2 and "not in scoring's workflow" in usage.stderr
    no_key = run_cli("serving", "verify", MODEL, "--public-key", tmp_path / "none", env=remote)
    assert no_key.returncode == 2
