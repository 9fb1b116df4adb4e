"""``clearance attest``: show and verify an envelope offline, fetch one from a workspace.

``verify`` exits 0 for a valid attestation, 1 for one that does not verify and 2 for input
it cannot read; with ``--key`` it needs no workspace at all (the tests run it with none).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from clearance.cli import attest
from clearance.core import attestation as A
from clearance.core.audit import AuditEvent, event_hash, public_key_raw
from clearance.errors import NotFound
from clearance.workspace import Workspace, init_workspace
from cli_runner import run_cli

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = public_key_raw(KEY)
OTHER = public_key_raw(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
ARTIFACT = hashlib.sha256(b"weights").hexdigest()


def statement() -> dict[str, Any]:
    """A decision statement as ``core.attestation.statement`` lays one out."""
    return {
        "_type": A.STATEMENT_TYPE,
        "subject": [{"name": "credit-default@7", "digest": {"sha256": ARTIFACT}}],
        "predicateType": A.PREDICATE_TYPE,
        "predicate": {
            "decision": {
                "id": "d" * 64,
                "number": 4,
                "outcome": "allow",
                "summary": "all gates pass",
                "decidedAt": "2026-03-01T12:00:00.000000+00:00",
            },
            "request": {"id": 2, "requester": "alice", "fromStage": "staging", "toStage": "prod"},
            "model": {"name": "credit-default", "version": "7"},
            "subjectKind": "artifact",
            "policy": {"name": "credit", "version": "1.2.0", "hash": "p" * 64},
            "gates": [
                {"id": "auc_floor", "type": "metric_threshold", "status": "pass"},
                {"id": "auc_vs_champion", "type": "champion_comparison", "status": "waived"},
            ],
            "approvals": {
                "signoffs": [{"approver": "carol", "roles": ["model_owner"], "verdict": "approve"}]
            },
            "waivers": [{"id": "W-1", "gate": "auc_vs_champion", "waivedStatus": "fail"}],
            "auditEvent": {"action": "decision.recorded", "seq": 21, "hash": "e" * 64},
        },
    }


def offline(*args: str | Path, stdin: bytes | None = None) -> tuple[int, str, str]:
    """The attest commands with no workspace or server in the environment."""
    env = {"CLEARANCE_WORKSPACE": "/nonexistent", "COLUMNS": "200"}
    result = CliRunner().invoke(attest.app, [str(a) for a in args], env=env, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    envelope = tmp_path / "decision.intoto.json"
    envelope.write_bytes(A.sign(statement(), KEY))
    public = KEY.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out = {"envelope": envelope}
    for name, data in {
        "hex": (PUBLIC.hex() + "\n").encode(),
        "pem": pem,
        "raw": PUBLIC,
        "other": OTHER.hex().encode(),
    }.items():
        out[name] = tmp_path / f"key.{name}"
        out[name].write_bytes(data)
    return out


@pytest.mark.parametrize("key", ["hex", "pem", "raw"])
def test_verify_with_a_key_file_needs_nothing_else(files: dict[str, Path], key: str) -> None:
    code, out, _ = offline("verify", files["envelope"], "--key", files[key])
    assert code == 0
    assert out.startswith(f"valid: signed by key {A.key_id(PUBLIC)[:16]}; credit-default@7 ")
    assert "decision 4 allow" in out


def test_verify_reads_standard_input(files: dict[str, Path]) -> None:
    envelope = files["envelope"].read_bytes()
    code, out, _ = offline("verify", "-", "--key", files["hex"], stdin=envelope)
    assert code == 0 and out.startswith("valid:")


def test_verify_says_why_an_attestation_is_invalid(files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = offline("verify", files["envelope"], "--key", files["other"])
    assert code == 1 and err.startswith("invalid: no signature by key")

    doc = json.loads(files["envelope"].read_bytes())
    doc["signatures"][0]["sig"] = "A" * 86 + "=="
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    code, _, err = offline("verify", tampered, "--key", files["hex"])
    assert code == 1 and "does not match" in err

    code, out, _ = offline("verify", tampered, "--key", files["hex"], "--json")
    assert code == 1
    assert json.loads(out)["valid"] is False and json.loads(out)["exit_code"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "error: the envelope is not JSON: line 1, column 2"),
        (b'{"payload": "e30=", "payloadType": "x"}', "error: the envelope has no 'signatures'"),
    ],
)
def test_unreadable_input_exits_2(
    files: dict[str, Path], tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code, _, err = offline("verify", bad, "--key", files["hex"])
    assert code == 2 and err.startswith(message)
    code, _, err = offline("show", bad)
    assert code == 2 and err.startswith(message)


def test_a_missing_file_or_a_bad_key_exits_2(files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = offline("verify", tmp_path / "absent.json", "--key", files["hex"])
    assert code == 2 and "absent.json: cannot read it" in err
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    code, _, err = offline("verify", files["envelope"], "--key", junk)
    assert code == 2 and "not an Ed25519 public key" in err


def test_verify_checks_the_event_in_an_exported_trail(tmp_path: Path) -> None:
    fields: dict[str, Any] = {
        "seq": 21,
        "time": dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
        "actor": "carol",
        "action": "decision.recorded",
        "subject": "decision:4",
        "payload": {"decision_id": "d" * 64, "outcome": "allow", "policy_hash": "p" * 64},
        "prev_hash": "0" * 64,
    }
    event = AuditEvent(**fields, hash=event_hash(**fields))
    named = statement()
    named["predicate"]["auditEvent"]["hash"] = event.hash
    envelope = tmp_path / "decision.json"
    envelope.write_bytes(A.sign(named, KEY))
    key = tmp_path / "key.hex"
    key.write_text(PUBLIC.hex())
    trail = tmp_path / "trail.jsonl"
    line = json.dumps({**event.model_dump(mode="json"), "time": event.time.isoformat()})
    trail.write_text('{"seq": 20}\n' + line + "\n")

    code, out, _ = offline("verify", envelope, "--key", key, "--trail", trail)
    assert code == 0 and out.rstrip().endswith(f"its audit event is in {trail}")
    trail.write_text('{"seq": 20}\n')
    code, _, err = offline("verify", envelope, "--key", key, "--trail", trail)
    assert code == 1 and "holds no audit event seq 21" in err
    trail.write_text(line.replace('"allow"', '"deny"') + "\n")
    code, _, err = offline("verify", envelope, "--key", key, "--trail", trail)
    assert code == 1 and "does not match its own hash" in err
    trail.write_text("{}\nnot json\n")
    code, _, err = offline("verify", envelope, "--key", key, "--trail", trail)
    assert code == 2 and f"{trail}:2: not a JSON line" in err


def test_verify_json_prints_the_statement(files: dict[str, Path]) -> None:
    code, out, _ = offline("verify", files["envelope"], "--key", files["hex"], "--json")
    data = json.loads(out)
    assert code == 0 and data["valid"] is True
    assert data["statement"] == statement()


def test_show_prints_the_statement_and_says_it_was_not_checked(files: dict[str, Path]) -> None:
    code, out, _ = offline("show", files["envelope"])
    assert code == 0
    assert f"credit-default@7  sha256:{ARTIFACT}" in out
    assert "policy     credit@1.2.0" in out
    assert "allow" in out and "auc_vs_champion" in out and "carol" in out
    assert "waiver     W-1 on auc_vs_champion (was fail)" in out
    assert "not checked here" in out
    code, out, _ = offline("show", files["envelope"], "--json")
    assert code == 0 and json.loads(out) == statement()


def test_show_escapes_what_the_statement_says(tmp_path: Path) -> None:
    odd = statement()
    odd["predicate"]["decision"]["summary"] = "ok\x1b[2J\nerror: forged"
    path = tmp_path / "odd.json"
    path.write_bytes(A.sign(odd, KEY))
    code, out, _ = offline("show", path)
    assert code == 0 and "\x1b" not in out and "\nerror: forged" not in out


# --- end to end, on a workspace ----------------------------------------------------------


POLICY = {
    "apiVersion": "clearance/v1",
    "kind": "Policy",
    "metadata": {"name": "credit", "version": "1.0.0", "owner": "risk@bank.example"},
    "selector": {"risk_tier": ["high"]},
    "workflow": {
        "stages": ["draft", "staging", "production"],
        "transitions": [{"from": "draft", "to": "staging", "gates": ["auc_floor"]}],
    },
    "gates": [{"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7}],
}


def _manifest(folder: Path) -> Path:
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    doc: dict[str, Any] = {
        "apiVersion": "clearance/v1",
        "kind": "ModelManifest",
        "model": {"name": "credit-default", "risk_tier": "high", "owner": "o@bank.example"},
        "version": "1",
        "metrics": {"auc": 0.8},
        "artifact": {"path": "model.bin"},
    }
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _promoted(tmp_path: Path) -> tuple[Workspace, int]:
    """A SQLite workspace where alice promoted version 1 (with an artifact) to staging."""
    ws = init_workspace(tmp_path / "ws")
    ws.registry.add_user("alice", ["ml_engineer", "policy_admin"], actor="admin", operator=True)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    ws.registry.apply_policy(policy, actor="alice")
    ws.registry.register(_manifest(tmp_path / "m"), actor="alice")
    result = ws.promotions.promote("credit-default", "1", "staging", actor="alice")
    assert result.executed, result.decision.summary
    return ws, result.request.id


def test_get_fetches_the_attestation_a_promotion_made(tmp_path: Path) -> None:
    ws, request_id = _promoted(tmp_path)
    env = {**os.environ, "CLEARANCE_WORKSPACE": str(ws.root), "COLUMNS": "200"}
    env.pop("CLEARANCE_DB_URL", None)
    env.pop("CLEARANCE_URL", None)
    out = tmp_path / "decision.intoto.json"
    got = run_cli("attest", "get", str(request_id), "-o", str(out), env=env)
    assert got.returncode == 0, got.stderr
    key = tmp_path / "audit.pub"
    assert run_cli("audit", "public-key", "-o", str(key), env=env).returncode == 0

    verified = A.verify(out.read_bytes(), public_key_raw(ws.key))
    digest = verified.statement["subject"][0]["digest"]
    assert digest == {"sha256": hashlib.sha256(b"weights").hexdigest()}
    trail = tmp_path / "trail.jsonl"
    assert run_cli("audit", "export", "-o", str(trail), env=env).returncode == 0
    checked = run_cli(
        "attest", "verify", str(out), "--key", str(key), "--trail", str(trail), env=env
    )
    assert checked.returncode == 0 and checked.stdout.startswith("valid:"), checked.stderr
    assert "its audit event is in" in checked.stdout
    printed = run_cli("attest", "get", str(request_id), env=env)
    assert json.loads(printed.stdout) == json.loads(out.read_text())
    missing = run_cli("attest", "get", "99", env=env)
    assert missing.returncode == 2 and "no promotion request 99" in missing.stderr


def test_the_sdk_fetches_the_attestation_over_the_api(tmp_path: Path) -> None:
    from api_server import running_server, token_for
    from clearance.client import Client

    ws, request_id = _promoted(tmp_path)
    local = ws.attestations.attestation(request_id)
    with running_server(ws) as url, Client(url, token_for(ws, "erin", ["auditor"])) as sdk:
        served = sdk.attestation(request_id)
        with httpx.Client() as http:
            raw = http.get(
                f"{url}/v1/requests/{request_id}/attestation",
                headers={"Authorization": f"Bearer {token_for(ws, 'erin', ['auditor'])}"},
            )
        with pytest.raises(NotFound):
            sdk.attestation(request_id, decision=99)
    assert served == local
    assert raw.status_code == 200 and set(raw.json()) == {"payload", "payloadType", "signatures"}
    assert A.verify(json.dumps(raw.json()).encode(), public_key_raw(ws.key)).keyid == (
        A.key_id(public_key_raw(ws.key))
    )
