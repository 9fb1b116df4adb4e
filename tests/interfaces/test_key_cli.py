"""``clearance key rotate`` / ``key list``, and the audit and attest commands across a
rotation: an auditor holding only the first public key still verifies, an attestation
signed before the rotation still verifies in the workspace, one dated after it does not.

Exit codes: 0 ok, 1 does not verify, 2 bad input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from clearance.cli import attest, key
from clearance.core import attestation as A
from clearance.core.audit import generate_key, key_id, public_key_raw
from clearance.errors import ClearanceError
from clearance.workspace import Workspace, init_workspace
from cli_runner import run_cli


def invoke(app: typer.Typer, ws: Workspace, *args: str | Path) -> tuple[int, str, str]:
    """A sub-command app run in the workspace, errors turned into exit codes as ``main``
    turns them."""
    env = {"CLEARANCE_WORKSPACE": str(ws.root), "COLUMNS": "200"}
    unset: dict[str, str | None] = {"CLEARANCE_URL": None, "CLEARANCE_DB_URL": None}
    result = CliRunner().invoke(app, [str(a) for a in args], env={**env, **unset})
    exc = result.exception
    if isinstance(exc, ClearanceError):
        return exc.exit_code, result.stdout, str(exc)
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code, result.stdout, result.stderr


def cli(ws: Workspace, *args: str | Path) -> Any:
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(ws.root), "COLUMNS": "200"}
    env.pop("CLEARANCE_URL", None)
    env.pop("CLEARANCE_DB_URL", None)
    return run_cli(*args, env=env)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = init_workspace(tmp_path / "ws")
    ws.registry.add_user("alice", ["ml_engineer"], actor="admin", operator=True)
    return ws


def test_rotate_then_list_and_verify_with_the_first_key(ws: Workspace, tmp_path: Path) -> None:
    first = tmp_path / "first.pub"
    assert cli(ws, "audit", "public-key", "-o", first).returncode == 0
    assert cli(ws, "audit", "checkpoint").returncode == 0
    old = key_id(bytes.fromhex(first.read_text()))

    code, out, err = invoke(key.app, ws, "rotate", "--reason", "yearly", "--as", "ops")
    assert code == 0, err
    assert out.startswith(f"key rotated at seq 2: {old} → ")
    rotated = out.split("→ ")[1].split(" ")[0]
    assert len(rotated) == 16 and rotated != old
    assert "old private key destroyed" in out
    ws.registry.add_user("bob", ["tech_lead"], actor="admin", operator=True)
    assert cli(ws, "audit", "checkpoint").returncode == 0

    verified = cli(ws, "audit", "verify", "--public-key", first)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "4 signed checkpoint(s) verified" in verified.stdout
    assert "WARNING" not in verified.stdout
    assert cli(ws, "audit", "verify").returncode == 0

    code, out, _ = invoke(key.app, ws, "list")
    assert code == 0 and old in out and rotated in out and "yearly" in out
    code, out, _ = invoke(key.app, ws, "list", "--json")
    listed = json.loads(out)
    assert [(k["key_id"], k["current"], k["private_key"]) for k in listed] == [
        (old, False, "destroyed"),
        (rotated, True, "current"),
    ]
    assert listed[0]["retired_seq"] == listed[1]["since_seq"] == 2

    current = cli(ws, "audit", "public-key", "--json")
    assert json.loads(current.stdout)["key_id"] == rotated
    earlier = cli(ws, "audit", "public-key", "--key-id", old)
    assert earlier.returncode == 0 and earlier.stdout.strip() == first.read_text().strip()
    unknown = cli(ws, "audit", "public-key", "--key-id", "0" * 16)
    assert unknown.returncode == 2 and "kept no key '0000000000000000'" in unknown.stderr


def test_a_key_no_rotation_names_fails_verify(ws: Workspace, tmp_path: Path) -> None:
    assert invoke(key.app, ws, "rotate")[0] == 0
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(public_key_raw(generate_key()).hex() + "\n")
    done = cli(ws, "audit", "verify", "--public-key", stranger)
    assert done.returncode == 1
    assert "audit chain BROKEN" in done.stdout and "CHECKPOINT KEY CHANGED" in done.stdout
    assert "which no verified key rotation vouches for" in done.stdout


def test_rotate_json_and_bad_input(ws: Workspace) -> None:
    code, out, _ = invoke(key.app, ws, "rotate", "--keep-old", "--json")
    done = json.loads(out)
    assert code == 0 and done["old_private_key"] == "kept"
    assert [c["key_id"] for c in done["checkpoints"]] == [done["old_key_id"], done["new_key_id"]]
    assert (ws.home / "keys" / "retired" / f"{done['old_key_id']}.pem").exists()
    code, _, err = invoke(key.app, ws, "rotate", "--reason", "a\nb")
    assert code == 2 and "--reason" in err
    (ws.home / "keys" / "next-ed25519.pem").write_bytes(b"")
    code, _, err = invoke(key.app, ws, "rotate")
    assert code == 2 and "another" in err
    signer = {"command": ["sign-audit"], "public_key": "a" * 64}
    (ws.home / "config.json").write_text(json.dumps({"signer": signer}))
    code, _, err = invoke(key.app, ws, "rotate")
    assert code == 2 and "external signer" in err


def _statement(decided: str) -> dict[str, Any]:
    return {
        "_type": A.STATEMENT_TYPE,
        "subject": [{"name": "m@1", "digest": {"sha256": "a" * 64}}],
        "predicateType": A.PREDICATE_TYPE,
        "predicate": {
            "decision": {"id": "d" * 64, "number": 1, "outcome": "allow", "decidedAt": decided},
            "policy": {"name": "p", "version": "1", "hash": "b" * 64},
            "gates": [],
            "auditEvent": {"action": "decision.recorded", "seq": 1, "hash": "e" * 64},
        },
    }


def test_an_attestation_signed_before_the_rotation_verifies_after_it(
    ws: Workspace, tmp_path: Path
) -> None:
    old = ws.key
    before = tmp_path / "before.intoto.json"
    before.write_bytes(A.sign(_statement("2026-03-01T12:00:00.000000+00:00"), old))
    late = tmp_path / "late.intoto.json"  # by a process that kept the old key too long
    late.write_bytes(A.sign(_statement("2099-01-01T00:00:00.000000+00:00"), old))
    assert invoke(key.app, ws, "rotate")[0] == 0

    code, out, err = invoke(attest.app, ws, "verify", before)
    assert code == 0, err
    assert out.startswith(f"valid: signed by key {key_id(public_key_raw(old))}")
    code, _, err = invoke(attest.app, ws, "verify", late)
    assert code == 1
    assert "retired by the key rotation at seq 2" in err and "after it" in err


def test_verifying_against_a_server_follows_the_rotations_too(ws: Workspace) -> None:
    """``audit verify`` with CLEARANCE_URL checks the fetched events and checkpoints here:
    the same rotation schedule, from the auditor's key alone."""
    from clearance.cli.audit import _verified_here
    from clearance.local import LocalClearance

    first = public_key_raw(ws.key)
    assert invoke(key.app, ws, "rotate")[0] == 0
    assert invoke(key.app, ws, "rotate")[0] == 0
    served = LocalClearance(init_workspace(ws.root), "alice")  # a fresh process: new key
    report = _verified_here(served, first, blobs=False)
    assert report.ok and report.checkpoints == 4, report.fault
    stranger = public_key_raw(generate_key())
    report = _verified_here(served, stranger, blobs=False)
    assert not report.ok and report.fault is not None
    assert "which no verified key rotation vouches for" in report.fault.message
