"""An external signer (``signer.command`` in config.json, ADR 18): checkpoints and
attestations signed by another program, which here is a small Python script holding a key
file; every signature is checked against the configured public key before it is used."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.adapters.keyring import CommandSigner, signer_settings
from clearance.core import attestation as A
from clearance.core.audit import generate_key, key_id, private_key_pem, public_key_raw
from clearance.errors import InputError, StoreError
from clearance.service.auditing import Auditing
from clearance.testing import MemoryWorkspace

SIGNER = """
import base64, sys
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
mode = sys.argv[2]
data = sys.stdin.buffer.read()
if mode == "fail":
    sys.stderr.write("token not present\\n"); sys.exit(3)
if mode == "slow":
    import time; time.sleep(30)
if mode == "garbage":
    print("not a signature"); sys.exit(0)
signature = key.sign(data)
print(signature.hex() if mode == "hex" else base64.b64encode(signature).decode())
"""


@pytest.fixture
def held(tmp_path: Path) -> tuple[Path, bytes, Path]:
    """The 'HSM': a key file only the script reads, the script, and the public key."""
    key = generate_key()
    pem = tmp_path / "hsm" / "key.pem"
    pem.parent.mkdir()
    pem.write_bytes(private_key_pem(key))
    script = tmp_path / "sign.py"
    script.write_text(SIGNER)
    return script, public_key_raw(key), pem


def signer(held: tuple[Path, bytes, Path], mode: str = "hex", **kw: Any) -> CommandSigner:
    script, public, pem = held
    return CommandSigner([sys.executable, str(script), str(pem), mode], public, **kw)


@pytest.mark.parametrize("mode", ["hex", "base64"])
def test_checkpoints_signed_by_the_command_verify_with_its_public_key(
    held: tuple[Path, bytes, Path], tmp_path: Path, mode: str, clock: Any
) -> None:
    ws = MemoryWorkspace(tmp_path / "ws", clock)
    ws.registry.add_user("alice", ["auditor"], actor="admin", operator=True)
    external = signer(held, mode)
    auditing = Auditing(ws.store, clock, lambda: external)
    cp = auditing.checkpoint()
    assert cp.key_id == key_id(held[1])
    report = auditing.verify(held[1])
    assert report.ok and report.checkpoints == 1


def test_attestations_sign_through_the_command(held: tuple[Path, bytes, Path]) -> None:
    statement = {
        "_type": A.STATEMENT_TYPE,
        "subject": [{"name": "m@1", "digest": {"sha256": "a" * 64}}],
        "predicateType": A.PREDICATE_TYPE,
        "predicate": {"decision": {}, "policy": {}, "gates": [], "auditEvent": {}},
    }
    envelope = A.sign(statement, signer(held))
    assert A.verify(envelope, held[1]).keyid == A.key_id(held[1])


def test_a_failing_signer_says_why(held: tuple[Path, bytes, Path]) -> None:
    with pytest.raises(StoreError, match=r"failed \(exit 3\): token not present"):
        signer(held, "fail").sign(b"x")
    with pytest.raises(StoreError, match="printed no Ed25519 signature"):
        signer(held, "garbage").sign(b"x")
    with pytest.raises(StoreError, match=r"did not answer in 0\.5 s"):
        signer(held, "slow", timeout=0.5).sign(b"x")
    missing = CommandSigner(["/nonexistent/signer"], held[1])
    with pytest.raises(StoreError, match="cannot run"):
        missing.sign(b"x")


def test_a_signer_holding_another_key_is_refused(held: tuple[Path, bytes, Path]) -> None:
    other = public_key_raw(generate_key())
    script, _, pem = held
    wrong = CommandSigner([sys.executable, str(script), str(pem), "hex"], other)
    with pytest.raises(StoreError, match=f"another key than the configured .* {key_id(other)}"):
        wrong.sign(b"x")


def test_the_private_half_is_never_readable(held: tuple[Path, bytes, Path]) -> None:
    external = signer(held)
    with pytest.raises(StoreError, match="cannot be exported"):
        external.private_bytes_raw()
    with pytest.raises(StoreError, match="cannot be exported"):
        private_key_pem(external)


def _config(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    return path


def test_settings_read_the_signer(tmp_path: Path, held: tuple[Path, bytes, Path]) -> None:
    assert signer_settings(tmp_path / "absent.json") is None
    assert signer_settings(_config(tmp_path, {"db_url": "sqlite://"})) is None
    spec = {"command": ["sign-audit", "--slot", "1"], "public_key": held[1].hex()}
    found = signer_settings(_config(tmp_path, {"signer": {**spec, "timeout_seconds": 3}}))
    assert found is not None and found.command == ("sign-audit", "--slot", "1")
    assert found.timeout == 3.0 and public_key_raw(found) == held[1]


@pytest.mark.parametrize(
    ("signer_doc", "field"),
    [
        ([], "signer: must be an object"),
        ({"command": "sign", "public_key": "a" * 64}, "signer.command"),
        ({"command": [], "public_key": "a" * 64}, "signer.command"),
        ({"command": ["s"], "public_key": "A" * 64}, "signer.public_key"),
        ({"command": ["s"], "public_key": "a" * 64, "timeout_seconds": 0}, "timeout_seconds"),
        ({"command": ["s"], "public_key": "a" * 64, "timeout_seconds": True}, "timeout_seconds"),
        ({"command": ["s"], "public_key": "a" * 64, "shell": True}, "unknown field"),
    ],
)
def test_settings_name_the_wrong_field(tmp_path: Path, signer_doc: Any, field: str) -> None:
    with pytest.raises(InputError, match=field):
        signer_settings(_config(tmp_path, {"signer": signer_doc}))


def test_settings_refuse_what_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b"{not json")
    with pytest.raises(InputError, match="not JSON"):
        signer_settings(path)
    path.write_bytes(b" " * (64 * 1024 + 1))
    with pytest.raises(InputError, match="larger than"):
        signer_settings(path)


JSONS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=16), inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    spec=st.one_of(
        JSONS,
        st.fixed_dictionaries(
            {"command": JSONS, "public_key": st.sampled_from(["a" * 64, "b" * 63, 7])},
            optional={"timeout_seconds": JSONS},
        ),
    )
)
def test_any_signer_setting_is_taken_or_refused_by_field(tmp_path_factory: Any, spec: Any) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.json"
    path.write_text(json.dumps({"signer": spec}))
    try:
        found = signer_settings(path)
    except InputError as exc:
        assert "signer" in str(exc)
        return
    if spec is None:
        assert found is None
    else:
        assert found is not None and found.command == tuple(spec["command"])
