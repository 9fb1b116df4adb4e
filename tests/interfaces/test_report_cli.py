"""``clearance report``: build a version's evidence pack (zip or HTML page) on a workspace,
verify it with nothing but the file and a public key; exit codes 0 / 1 / 2."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml

from clearance.workspace import Workspace, init_workspace
from cli_runner import run_cli

CARD = (
    "# Model card\n\n## Intended use\nScoring <script>alert(1)</script> & more.\n\n"
    "## Limitations\n- small data\n- [a link](https://evil.example/x)\n"
)
POLICY = {
    "apiVersion": "clearance/v1",
    "kind": "Policy",
    "metadata": {"name": "credit", "version": "1.0.0", "owner": "risk@bank.example"},
    "selector": {"risk_tier": ["high"]},
    "workflow": {
        "stages": ["draft", "staging", "production"],
        "transitions": [{"from": "draft", "to": "staging", "gates": ["auc_floor", "card"]}],
    },
    "gates": [
        {"id": "auc_floor", "type": "metric_threshold", "metric": "auc", "min": 0.7},
        {
            "id": "card",
            "type": "documentation",
            "documents": [{"name": "model_card", "sections": ["Intended use", "Limitations"]}],
        },
    ],
}


def run(*args: str | Path) -> tuple[int, str]:
    """Exit code and output (stdout, then stderr) of the real ``clearance`` entry point."""
    ran = run_cli(*args)
    return ran.returncode, ran.stdout + ran.stderr


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    root = tmp_path / "ws"
    workspace = init_workspace(root)
    monkeypatch.setenv("CLEARANCE_WORKSPACE", str(root))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("CLEARANCE_URL", raising=False)
    monkeypatch.delenv("CLEARANCE_DB_URL", raising=False)
    workspace.registry.add_user("alice", ["ml_engineer"], actor="admin", operator=True)
    workspace.registry.add_user("dave", ["policy_admin"], actor="admin", operator=True)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    workspace.registry.apply_policy(policy, actor="dave")
    here = tmp_path / "v1"
    here.mkdir()
    (here / "model_card.md").write_text(CARD)
    (here / "manifest.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "clearance/v1",
                "kind": "ModelManifest",
                "model": {"name": "credit", "risk_tier": "high", "owner": "o@x.example"},
                "version": "1.0.0",
                "metrics": {"auc": 0.81},
                "evidence": {"model_card": {"kind": "document", "path": "model_card.md"}},
            }
        )
    )
    workspace.registry.register(here / "manifest.yaml", actor="alice")
    result = workspace.promotions.promote("credit", "1.0.0", "staging", actor="alice")
    assert result.executed, result.decision.summary
    return workspace


def test_create_and_verify_a_pack_offline(ws: Workspace, tmp_path: Path) -> None:
    pack = tmp_path / "pack.zip"
    code, out = run("report", "credit", "1.0.0", "--out", pack)
    assert code == 2 and "no signed checkpoint covers" in out
    code, out = run("report", "credit", "1.0.0", "--out", pack, "--checkpoint")
    assert code == 0, out
    assert "checkpoint signed" in out and "1 decision(s)" in out

    key = tmp_path / "outside.pub"
    key.write_text(ws.auditing.public_key().hex() + "\n")
    code, out = run("report", "verify", pack, "--public-key", key)
    assert code == 0, out
    assert "VERIFIED: credit 1.0.0, 1 decision(s)" in out
    assert "decision 1: re-run: allow again" in out
    assert "WARNING" not in out

    page = tmp_path / "verified.html"
    assert run("report", "verify", pack, "--public-key", key, "--html", page)[0] == 0
    assert 'Verification: <span class="ok">VERIFIED</span>' in page.read_text()

    code, out = run("report", "verify", pack)  # the key inside the pack
    assert code == 0 and "WARNING" in out and "proves only that the pack" in out

    code, out = run("report", "verify", pack, "--json", "--public-key", key)
    data = json.loads(out)
    assert data["ok"] is True and data["exit_code"] == 0 and data["decisions"] == [1]
    assert {c["name"] for c in data["checks"]} >= {"files", "audit chain", "signed checkpoint"}


def test_verify_needs_no_workspace_nor_database(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auditor's machine: no workspace found from here, and no database reachable."""
    pack = tmp_path / "pack.zip"
    key = tmp_path / "outside.pub"
    key.write_text(ws.auditing.public_key().hex())
    assert run("report", "credit", "1.0.0", "--out", pack, "--checkpoint")[0] == 0
    elsewhere = tmp_path / "auditor"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("CLEARANCE_WORKSPACE")
    monkeypatch.setenv("CLEARANCE_DB_URL", "postgresql://nobody@127.0.0.1:9/none")
    code, out = run("report", "verify", pack, "--public-key", key)
    assert code == 0, out
    assert "decision 1: re-run: allow again" in out


def test_verify_exit_codes_for_tampered_and_unreadable_packs(ws: Workspace, tmp_path: Path) -> None:
    pack = tmp_path / "pack.zip"
    assert run("report", "create", "credit", "1.0.0", "-o", pack, "--checkpoint")[0] == 0
    with zipfile.ZipFile(pack) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["model_card.md"] = members["model_card.md"].replace(b"Scoring", b"Anything")
    tampered = tmp_path / "tampered.zip"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    tampered.write_bytes(out.getvalue())
    code, text = run("report", "verify", tampered)
    assert code == 1 and "FAIL files: model_card.md does not match" in text
    assert "DOES NOT VERIFY" in text

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    code, text = run("report", "verify", garbage)
    assert code == 2 and "not a zip file" in text
    code, text = run("report", "verify", tmp_path / "absent.zip")
    assert code == 2 and "cannot read it" in text


def test_the_html_page_is_self_contained_escaped_and_has_the_gate_table(
    ws: Workspace, tmp_path: Path
) -> None:
    page = tmp_path / "pack.html"
    code, out = run("report", "credit", "1.0.0", "--html", page, "--checkpoint")
    assert code == 0, out
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "@media print" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the card's text, escaped
    assert "<th>gate</th>" in html and "auc_floor" in html and "<svg" in html
    assert '<td>auc_floor</td><td>metric_threshold</td><td><span class="pass">pass</span>' in html
    assert ">0.81 &gt;= 0.7</text>" in html  # the chart's label: observed, operator, threshold
    assert "<li>[a link](https://evil.example/x)</li>" in html  # shown as text, not a link


def test_create_needs_somewhere_to_write(ws: Workspace) -> None:
    code, out = run("report", "credit", "1.0.0")
    assert code == 2 and "--out FILE.zip, --html FILE.html" in out
